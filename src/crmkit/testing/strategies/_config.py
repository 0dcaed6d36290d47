"""The one configuration file (:class:`crmkit.config.Config`): every section together."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from crmkit.testing.strategies._clv import clv_feature_extensions
from crmkit.testing.strategies._features import value_model_configs
from crmkit.testing.strategies._formulas import formula_names, formula_schemas
from crmkit.testing.strategies._lifecycle import lifecycle_configs
from crmkit.testing.strategies._loyalty import earning_rule_configs, tier_table_configs
from crmkit.testing.strategies._segments import segment_rule_configs

# ================================================================ configuration files


@st.composite
def config_file_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid one-file configuration (:class:`crmkit.config.Config`) in dict form (the TOML layout).

    Every section is optional and, when present, drawn from its own
    strategy: ``value`` (:func:`value_model_configs`), zero to two named
    ``segments`` rule sets (:func:`segment_rule_configs`), ``lifecycle``
    (:func:`lifecycle_configs`), ``loyalty.earning``
    (:func:`earning_rule_configs` with every key) and ``loyalty.tiers``
    (:func:`tier_table_configs`) and ``clv`` (:func:`clv_feature_extensions`).
    """
    config: dict[str, Any] = {}
    if draw(st.booleans()):
        config["value"] = draw(value_model_configs())
    rule_sets = draw(st.lists(formula_names(), max_size=2, unique=True))
    if rule_sets:
        config["segments"] = {}
        for name in rule_sets:
            columns = draw(st.lists(formula_names(), min_size=1, max_size=3, unique=True))
            config["segments"][name] = draw(segment_rule_configs(columns=columns))
    if draw(st.booleans()):
        config["lifecycle"] = draw(lifecycle_configs(draw(formula_schemas(max_size=3))))
    loyalty: dict[str, Any] = {}
    if draw(st.booleans()):
        loyalty["earning"] = draw(earning_rule_configs(every_key=True))
    if draw(st.booleans()):
        loyalty["tiers"] = draw(tier_table_configs())
    if loyalty:
        config["loyalty"] = loyalty
    if draw(st.booleans()):
        config["clv"] = draw(clv_feature_extensions()).to_dict()
    return config
