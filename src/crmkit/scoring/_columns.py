"""The feature columns: names, order and kinds (one list for the frame and the scalar path)."""

from __future__ import annotations

from typing import Final, Literal

from crmkit.core import FrozenDict
from crmkit.domain import Channel, SettlementMethod, Severity

__all__ = [
    "CHANNEL_COLUMNS",
    "FEATURE_COLUMNS",
    "FEATURE_INPUTS",
    "FEATURE_KINDS",
    "SETTLEMENT_COLUMNS",
    "SEVERITY_COLUMNS",
    "Kind",
]

Kind = Literal["float", "int", "time"]

SETTLEMENT_COLUMNS: Final = tuple(f"settlement_share_{m.value}" for m in SettlementMethod)
SEVERITY_COLUMNS: Final = tuple(f"complaints_{s.value}" for s in Severity)
CHANNEL_COLUMNS: Final = tuple(f"interactions_{c.value}" for c in Channel)

_KINDS: dict[str, Kind] = {
    "total_spend": "float",
    "refund_total": "float",
    "purchase_count": "int",
    "purchase_days": "int",
    "first_purchase": "time",
    "last_purchase": "time",
    "days_since_last_purchase": "float",
    "tenure_months": "float",
    "active_months": "int",
    "monthly_frequency": "float",
    "monthly_avg_spend": "float",
    "spend_last_3m": "float",
    "spend_prev_3m": "float",
    **dict.fromkeys(SETTLEMENT_COLUMNS, "float"),
    "repeat_purchases": "int",
    "repeat_span": "float",
    "age": "float",
    "repeat_avg_spend": "float",
    "complaint_count": "int",
    **dict.fromkeys(SEVERITY_COLUMNS, "int"),
    "referrals_made": "int",
    "interaction_count": "int",
    **dict.fromkeys(CHANNEL_COLUMNS, "int"),
    "latest_survey_score": "float",
}
FEATURE_KINDS: Final = FrozenDict(_KINDS)

FEATURE_COLUMNS: Final = tuple(FEATURE_KINDS)
"""Every column :func:`~crmkit.scoring.features` returns, in order."""

#: The features a formula may read, with their formula type (every feature but the timestamps).
FEATURE_INPUTS: Final = FrozenDict(
    {name: "number" for name, kind in FEATURE_KINDS.items() if kind != "time"}
)
