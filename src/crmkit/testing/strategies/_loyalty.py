"""Loyalty: earning-rule configurations and purchase frames to earn on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from hypothesis import strategies as st

# ================================================================ loyalty


@st.composite
def earning_rule_configs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid earning-rule configurations (:class:`crmkit.loyalty.EarningRules`) in dict form.

    Campaign windows fall in March-April 2025; the formulas read the purchase
    names ``amount``, ``segment``, ``settlement`` and ``tier``.
    """
    campaigns = []
    for i in range(draw(st.integers(0, 2))):
        start = draw(st.integers(1, 40))
        campaigns.append(
            {
                "name": f"c{i}",
                "start": (datetime(2025, 2, 28, tzinfo=UTC) + timedelta(days=start)).isoformat(),
                "end": (
                    datetime(2025, 2, 28, tzinfo=UTC)
                    + timedelta(days=start + draw(st.integers(1, 30)))
                ).isoformat(),
                "condition": draw(
                    st.sampled_from(
                        [
                            "segment == 'vip'",
                            "amount >= 20 and settlement == 'cash'",
                            "tier != 'tin'",
                            "True",
                        ]
                    )
                ),
                "bonus": draw(st.sampled_from(["amount / 5", "10", "amount * 0.15 + 1", "-3"])),
            }
        )
    return {
        "rounding": draw(st.sampled_from(["floor", "half_up", "ceil"])),
        "base": {
            "unit": draw(st.sampled_from([1.0, 2.5, 10.0])),
            "points_per_unit": draw(st.sampled_from([0.5, 1, 3])),
        },
        "tier_multipliers": draw(
            st.dictionaries(st.sampled_from(["silver", "gold"]), st.sampled_from([1.0, 1.25, 1.5]))
        ),
        "campaigns": campaigns,
    }


@st.composite
def earning_frames(
    draw: st.DrawFn,
    *,
    columns: dict[str, str] | None = None,
    max_rows: int = 25,
) -> pd.DataFrame:
    """Purchase frames for earning (:meth:`crmkit.loyalty.EarningRules.earn_frame`).

    Columns: customer, a naive-UTC timestamp, amount (some null or negative),
    segment, settlement and tier (some null), under the names in *columns*
    (keys ``customer``, ``date``, ``amount``, ``segment``, ``settlement``, ``tier``).
    """
    names = {
        "customer": "customer_id",
        "date": "occurred_at",
        "amount": "amount",
        "segment": "segment",
        "settlement": "settlement",
        "tier": "tier",
        **(columns or {}),
    }
    n = draw(st.integers(0, max_rows))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    base = datetime(2025, 2, 20)
    return pd.DataFrame(
        {
            names["customer"]: column(st.sampled_from(["a", "b", "c"])),
            names["date"]: [
                base + timedelta(seconds=s) for s in column(st.integers(0, 60 * 86400))
            ],
            names["amount"]: column(st.none() | st.floats(-10, 1e4, allow_nan=False)),
            names["segment"]: column(st.sampled_from([None, "vip", "std"])),
            names["settlement"]: column(st.sampled_from([None, "cash", "prepaid"])),
            names["tier"]: column(st.sampled_from([None, "gold", "silver", "tin"])),
        }
    )
