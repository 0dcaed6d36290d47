"""Hypothesis strategies for crmkit's data: the one package of them for the whole project.

crmkit's own tests draw from here, and so can a host's: every strategy
returns valid values (entities that construct without error), spread over the
edges that matter (unicode ids and names, zones other than UTC, microseconds,
Decimal scales, optional fields left out).

The package is organised in private modules by subject (``_basics``,
``_entities``, ``_activities``, ``_features``, ``_formulas``, ``_lifecycle``,
``_segments``, ``_loyalty``, ``_merge``, ``_config``, ``_clv``,
``_backtest``); add new strategies to the module
they belong to, or add a module, and re-export them here.

>>> from hypothesis import given
>>> from crmkit.testing import strategies as cks
>>> @given(cks.customers())
... def test_name_is_trimmed(customer):
...     assert customer.name == customer.name.strip()
>>> test_name_is_trimmed()
"""

from crmkit.testing.strategies._activities import (
    activities,
    activity_logs,
    complaints,
    interactions,
    purchases,
    referrals,
    refunds,
    survey_responses,
)
from crmkit.testing.strategies._backtest import score_outcomes, transaction_logs
from crmkit.testing.strategies._basics import (
    amounts,
    aware_datetimes,
    column_names,
    currencies,
    e164_phones,
    emails,
    id_columns,
    ids,
    names,
    phones,
    texts,
    timezones,
)
from crmkit.testing.strategies._clv import (
    bgbb_models,
    bgbb_summaries,
    bgnbd_models,
    clv_feature_extensions,
    gamma_gamma_models,
    mbgnbd_models,
    pareto_models,
    purchase_models,
    spend_summaries,
    summaries,
)
from crmkit.testing.strategies._config import config_file_configs
from crmkit.testing.strategies._entities import (
    consents,
    contacts,
    customers,
    memberships,
    records,
)
from crmkit.testing.strategies._features import (
    FeatureHistory,
    feature_histories,
    transaction_frames,
    value_frames,
    value_model_configs,
)
from crmkit.testing.strategies._formulas import (
    FormulaType,
    formula_frames,
    formula_names,
    formula_schemas,
    formula_tables,
    formula_values,
    formulas,
)
from crmkit.testing.strategies._lifecycle import (
    lifecycle_configs,
    lifecycle_transitions,
    replay_lifecycle_configs,
    replay_transaction_frames,
)
from crmkit.testing.strategies._loyalty import (
    catalogue_configs,
    earning_frames,
    earning_rule_configs,
    ledger_entries,
    tier_table_configs,
)
from crmkit.testing.strategies._merge import MergeBase, merge_bases
from crmkit.testing.strategies._segments import (
    rfm_configs,
    segment_frames,
    segment_labels,
    segment_rule_configs,
)

__all__ = [
    "FeatureHistory",
    "FormulaType",
    "MergeBase",
    "activities",
    "activity_logs",
    "amounts",
    "aware_datetimes",
    "bgbb_models",
    "bgbb_summaries",
    "bgnbd_models",
    "catalogue_configs",
    "clv_feature_extensions",
    "column_names",
    "complaints",
    "config_file_configs",
    "consents",
    "contacts",
    "currencies",
    "customers",
    "e164_phones",
    "earning_frames",
    "earning_rule_configs",
    "emails",
    "feature_histories",
    "formula_frames",
    "formula_names",
    "formula_schemas",
    "formula_tables",
    "formula_values",
    "formulas",
    "gamma_gamma_models",
    "id_columns",
    "ids",
    "interactions",
    "ledger_entries",
    "lifecycle_configs",
    "lifecycle_transitions",
    "mbgnbd_models",
    "memberships",
    "merge_bases",
    "names",
    "pareto_models",
    "phones",
    "purchase_models",
    "purchases",
    "records",
    "referrals",
    "refunds",
    "replay_lifecycle_configs",
    "replay_transaction_frames",
    "rfm_configs",
    "score_outcomes",
    "segment_frames",
    "segment_labels",
    "segment_rule_configs",
    "spend_summaries",
    "summaries",
    "survey_responses",
    "texts",
    "tier_table_configs",
    "timezones",
    "transaction_frames",
    "transaction_logs",
    "value_frames",
    "value_model_configs",
]
