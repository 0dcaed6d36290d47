"""The preset rule sets of the domain, as configuration mappings (see the presets how-to)."""

from __future__ import annotations

from typing import Any

__all__ = ["DAYS_PER_MONTH", "positioning", "recency_view", "value_tiers"]

DAYS_PER_MONTH = 365.25 / 12
"""``tenure_months`` counts months of 365.25 / 12 days."""


def _num(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() else repr(float(x))


def positioning(
    *,
    top: float = 0.8,
    old_top: float = 0.7,
    old_tenure_months: float = 24.0,
    potential_top: float = 0.8,
    potential_days: int = 2,
) -> dict[str, Any]:
    """The positioning segments (multi-label) as a configuration mapping."""
    per_purchase = "total_spend / purchase_count"
    return {
        "rules": {
            "name": "positioning",
            "mode": "multi",
            "description": "which customers we focus on (DOMAIN.md section 2)",
        },
        "inputs": {"guest_purchases": {"type": "number", "default": 0}},
        "segments": {
            "big": {
                "rule": f"total_spend >= quantile(total_spend, {_num(top)}) and "
                f"monthly_frequency >= quantile(monthly_frequency, {_num(top)})",
                "description": "high spend and high purchase frequency",
            },
            "old": {
                "rule": f"total_spend >= quantile(total_spend, {_num(old_top)}) and "
                f"monthly_frequency >= quantile(monthly_frequency, {_num(old_top)}) and "
                f"tenure_months >= {_num(old_tenure_months)}",
                "description": "high spend, high frequency and a long tenure",
            },
            "potential": {
                "rule": f"(1 <= purchase_days <= {_num(potential_days)} and "
                f"{per_purchase} >= quantile({per_purchase}, {_num(potential_top)})) or "
                f"(guest_purchases >= 1 and coalesce(purchase_days, 0) <= {_num(potential_days)})",
                "description": "came once or twice with a high value per purchase, "
                "or was the guest of hosted purchases",
            },
            "complaint": {
                "rule": "complaint_count >= 1",
                "description": "has complained",
            },
            "complaint_severe": {
                "rule": "complaints_high + complaints_critical >= 1",
                "description": "has made a complaint of high or critical severity",
            },
            "member": {
                "rule": "is_member",
                "description": "enrolled in the membership programme (from profile_frame)",
            },
        },
    }


def recency_view(
    *, new_days: float = 30.0, active_days: float = 90.0, lapsed_days: float = 365.0
) -> dict[str, Any]:
    """The e-commerce recency view (exclusive) as a configuration mapping."""
    return {
        "rules": {
            "name": "recency",
            "mode": "exclusive",
            "default": "no_purchase",
            "description": "new, active, lapsed and churned customers (the e-commerce case)",
        },
        "segments": {
            "new": {
                "rule": f"tenure_months * {DAYS_PER_MONTH!r} <= {_num(new_days)}",
                "priority": 4,
                "description": f"first purchase within the last {_num(new_days)} days",
            },
            "active": {
                "rule": f"days_since_last_purchase <= {_num(active_days)}",
                "priority": 3,
                "description": f"last purchase within the last {_num(active_days)} days",
            },
            "lapsed": {
                "rule": f"days_since_last_purchase <= {_num(lapsed_days)}",
                "priority": 2,
                "description": f"last purchase {_num(active_days)} to {_num(lapsed_days)} days ago",
            },
            "churned": {
                "rule": f"days_since_last_purchase > {_num(lapsed_days)}",
                "priority": 1,
                "description": f"no purchase for more than {_num(lapsed_days)} days",
            },
        },
    }


def value_tiers(*, high: float = 0.8, medium: float = 0.5, column: str = "value") -> dict[str, Any]:
    """Value tiers (exclusive) by quantiles of the composite value, as a configuration mapping."""
    return {
        "rules": {
            "name": "value_tiers",
            "mode": "exclusive",
            "default": "low",
            "description": "high / medium / low value by quantiles of the value",
        },
        "segments": {
            "high": {
                "rule": f"{column} >= quantile({column}, {_num(high)})",
                "priority": 2,
                "description": f"value at or above the {_num(high)} quantile",
            },
            "medium": {
                "rule": f"{column} >= quantile({column}, {_num(medium)})",
                "priority": 1,
                "description": f"value at or above the {_num(medium)} quantile",
            },
        },
    }
