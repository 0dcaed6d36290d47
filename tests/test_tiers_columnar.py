"""TierTable.assign (the whole base, numpy) gives exactly TierTable.history's tier per customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.errors import FrameError, ValidationError
from crmkit.loyalty import Tier, TierTable

T0 = datetime(2023, 1, 1, tzinfo=UTC)


@st.composite
def tier_tables(draw: st.DrawFn) -> TierTable:
    steps = draw(st.lists(st.integers(1, 400), min_size=1, max_size=3))
    thresholds = np.cumsum([0, *steps]).tolist()
    return TierTable(
        tiers=tuple(Tier(name=f"t{i}", threshold=float(v)) for i, v in enumerate(thresholds)),
        measure=draw(st.sampled_from(["points", "spend"])),
        window_days=draw(st.integers(1, 500)),
        evaluation_months=draw(st.integers(1, 13)),
        grace_days=draw(st.integers(0, 60)),
    )


@st.composite
def tier_events(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 40))
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", "c", "d"]),
                # whole seconds and some exact repeats (ties at one instant)
                st.integers(0, 3 * 365 * 86_400).map(lambda s: s - s % 3600),
                st.integers(-150, 500).map(float) | st.floats(-50, 500, allow_nan=False),
            ),
            min_size=n,
            max_size=n,
        )
    )
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "occurred_at": pd.to_datetime([T0 + timedelta(seconds=r[1]) for r in rows]),
            "points": [r[2] for r in rows],
        }
    )


def _by_history(table: TierTable, events: pd.DataFrame, as_of: datetime) -> dict[str, str]:
    out = {}
    for cid, rows in events.groupby("customer_id", sort=False):
        pairs = [
            (ts.to_pydatetime().replace(tzinfo=UTC), float(x))
            for ts, x in zip(rows["occurred_at"], rows["points"], strict=True)
        ]
        if min(at for at, _ in pairs) > as_of:
            continue
        out[str(cid)] = table.tier_at(table.history(pairs, until=as_of), as_of)
    return out


@settings(max_examples=300, deadline=None)
@given(table=tier_tables(), events=tier_events(), days=st.integers(0, 4 * 365))
def test_assign_equals_the_history_of_every_customer(
    table: TierTable, events: pd.DataFrame, days: int
) -> None:
    as_of = T0 + timedelta(days=days, hours=7)
    got = table.assign(events, as_of=as_of)
    assert got["tier"].astype(str).to_dict() == _by_history(table, events, as_of)


@settings(max_examples=100, deadline=None)
@given(table=tier_tables(), events=tier_events(), days=st.integers(0, 4 * 365))
def test_tier_since_is_the_time_of_the_last_change(
    table: TierTable, events: pd.DataFrame, days: int
) -> None:
    as_of = T0 + timedelta(days=days)
    got = table.assign(events, as_of=as_of)
    for cid, rows in events.groupby("customer_id"):
        pairs = [
            (ts.to_pydatetime().replace(tzinfo=UTC), float(x))
            for ts, x in zip(rows["occurred_at"], rows["points"], strict=True)
        ]
        history = table.history(pairs, until=as_of)
        if cid not in got.index:
            assert not history
            continue
        since = got.loc[cid, "tier_since"]
        if history:
            assert since == pd.Timestamp(history[-1].at)
        else:
            assert pd.isna(since)


def test_a_join_date_moves_the_evaluation_periods() -> None:
    table = TierTable.from_dict(
        {
            "measure": "spend",
            "window_days": 90,
            "evaluation_months": 12,
            "tiers": [{"name": "member", "threshold": 0}, {"name": "gold", "threshold": 100}],
        }
    )
    events = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": pd.to_datetime(["2024-12-20"]), "points": [150.0]}
    )
    joined = pd.Series({"a": pd.Timestamp("2025-01-05", tz="UTC")})
    # With the first event as start, the period ending 2025-01-01 downgrades nothing yet
    # (the window still holds the spend); a year later it does.
    for start in (None, joined):
        got = table.assign(events, as_of="2026-02-01", start=start)
        pairs = [(datetime(2024, 12, 20, tzinfo=UTC), 150.0)]
        s = None if start is None else datetime(2025, 1, 5, tzinfo=UTC)
        expected = table.tier_at(
            table.history(pairs, until=datetime(2026, 2, 1, tzinfo=UTC), start=s),
            datetime(2026, 2, 1, tzinfo=UTC),
        )
        assert got.loc["a", "tier"] == expected


def test_bad_events_are_refused_naming_the_column() -> None:
    table = TierTable.from_dict({"tiers": [{"name": "m", "threshold": 0}]})
    bad = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": pd.to_datetime(["2024-01-01"]), "points": [np.inf]}
    )
    with pytest.raises(FrameError, match="points"):
        table.assign(bad, as_of="2025-01-01")
    with pytest.raises(FrameError, match="missing customer ids"):
        table.assign(bad.assign(customer_id=[None], points=[1.0]), as_of="2025-01-01")


@pytest.mark.parametrize("value", ["20", float("nan"), True, None])
def test_tier_for_refuses_what_is_not_a_finite_number(value: Any) -> None:
    table = TierTable.from_dict({"tiers": [{"name": "m", "threshold": 0}]})
    with pytest.raises(ValidationError, match="qualifying"):
        table.tier_for(value)


def test_an_event_at_as_of_counts_and_one_after_it_does_not() -> None:
    table = TierTable.from_dict(
        {"tiers": [{"name": "m", "threshold": 0}, {"name": "gold", "threshold": 10}]}
    )
    events = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "occurred_at": pd.to_datetime(["2025-01-01 00:00:00", "2025-01-01 00:00:01"]),
            "points": [10.0, 10.0],
        }
    )
    got = table.assign(events, as_of="2025-01-01")
    assert got["tier"].astype(str).to_dict() == {"a": "gold"}
