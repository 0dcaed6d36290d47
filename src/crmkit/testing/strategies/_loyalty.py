"""Loyalty: earning-rule configurations, purchase frames to earn on, and ledger entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from hypothesis import strategies as st

from crmkit.loyalty import MAX_POINTS, EntryKind, LedgerEntry
from crmkit.testing.strategies._basics import aware_datetimes, ids, texts

# ================================================================ loyalty


@st.composite
def earning_rule_configs(draw: st.DrawFn, *, every_key: bool = False) -> dict[str, Any]:
    """Valid earning-rule configurations (:class:`crmkit.loyalty.EarningRules`) in dict form.

    Campaign windows fall in March-April 2025; the formulas read the purchase
    names ``amount``, ``segment``, ``settlement`` and ``tier``. With
    *every_key*, the other keys are drawn too (``reversal_policy``,
    ``expires_after_days``, ``referral``), tier names are arbitrary text and
    some campaign windows are given as dates (midnight UTC).
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
    config: dict[str, Any] = {
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
    if every_key:
        _every_earning_key(draw, config)
    return config


def _every_earning_key(draw: st.DrawFn, config: dict[str, Any]) -> None:
    config["reversal_policy"] = draw(st.sampled_from(["refuse", "allow_negative"]))
    if draw(st.booleans()):
        config["expires_after_days"] = draw(st.integers(1, 3650))
    config["referral"] = {
        "referrer": draw(st.integers(0, 500)),
        "referred": draw(st.integers(0, 500)),
    }
    config["tier_multipliers"] |= draw(
        st.dictionaries(texts(max_size=12), st.floats(0, 10, allow_nan=False), max_size=3)
    )
    for campaign in config["campaigns"]:
        for key in ("start", "end"):
            if draw(st.booleans()):
                campaign[key] = campaign[key][:10]  # midnight UTC: the same instant


@st.composite
def tier_table_configs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid tier tables (:class:`crmkit.loyalty.TierTable`) in dict form.

    One to five tiers with distinct names (arbitrary text), the first at
    threshold 0 and the others strictly higher; keys with their default
    value are sometimes left out.
    """
    names = draw(st.lists(texts(max_size=16), min_size=1, max_size=5, unique=True))
    raised = draw(
        st.lists(
            st.floats(0, 1e9, allow_nan=False, exclude_min=True) | st.integers(1, 5000),
            min_size=len(names) - 1,
            max_size=len(names) - 1,
            unique_by=float,
        )
    )
    thresholds: list[float | int] = [draw(st.sampled_from([0, 0.0])), *sorted(raised)]
    config: dict[str, Any] = {
        "tiers": [{"name": n, "threshold": x} for n, x in zip(names, thresholds, strict=True)]
    }
    for key, values in (
        ("measure", st.sampled_from(["points", "spend"])),
        ("window_days", st.integers(1, 3650)),
        ("evaluation_months", st.sampled_from([1, 2, 3, 4, 6, 12])),
        ("grace_days", st.integers(0, 365)),
    ):
        if draw(st.booleans()):
            config[key] = draw(values)
    return config


@st.composite
def catalogue_configs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid reward catalogues (:class:`crmkit.loyalty.Catalogue`) in dict form.

    One to four rewards under arbitrary ids, with names, costs and
    (sometimes) a validity in days.
    """
    rids = draw(st.lists(ids(), min_size=1, max_size=4, unique=True))
    config: dict[str, Any] = {}
    for rid in rids:
        spec: dict[str, Any] = {
            "name": draw(texts(max_size=30)),
            "cost": draw(st.integers(1, 10**6)),
        }
        if draw(st.booleans()):
            spec["valid_days"] = draw(st.integers(1, 3650))
        config[rid] = spec
    return config


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


@st.composite
def ledger_entries(draw: st.DrawFn) -> LedgerEntry:
    """Valid :class:`crmkit.loyalty.LedgerEntry` records of every kind, up to the points bound.

    Points reach :data:`crmkit.loyalty.MAX_POINTS` either way; earns and positive
    adjusts may expire (after they are earned), taking entries carry draws, and
    reversals refer to an award. Records only: they are not a consistent ledger.
    """
    kind = draw(st.sampled_from(EntryKind))
    size = draw(st.integers(1, MAX_POINTS))
    points = {
        EntryKind.EARN: size,
        EntryKind.REDEEM: -size,
        EntryKind.EXPIRE: -size,
        EntryKind.REVERSE: 1 - size,
        EntryKind.ADJUST: draw(st.sampled_from([size, -size])),
    }[kind]
    at = draw(aware_datetimes())
    lapses = draw(st.none() | st.integers(1, 900)) if points > 0 else None
    return LedgerEntry(
        customer_id=draw(ids(prefix="c-")),
        kind=kind,
        points=points,
        at=at,
        source_kind=draw(st.sampled_from(["purchase", "reward", "refund", "staff"])),
        source_id=draw(ids(prefix="s-")),
        rule=draw(st.sampled_from(["", "base", "a|b"])),
        period=draw(st.sampled_from(["", "2025-03"])),
        expires_at=None if lapses is None else at + timedelta(days=lapses),
        refers_to=draw(ids(prefix="purchase|")) if kind is EntryKind.REVERSE else None,
        amount=draw(st.none() | st.decimals(0, 10**6, places=2)),
        draws=((draw(ids(prefix="lot-")), min(-points, 5)),) if points < 0 else (),
    )
