"""Continuing a replay from the stages a host stored (a frame, or a transition history)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.domain import Purchase
from crmkit.errors import FrameError, MissingColumnError
from crmkit.lifecycle import InMemoryTransitionHistory, Lifecycle, LifecycleTransition, replay
from crmkit.testing import strategies as cks

FIVE = Lifecycle.five_stage()


def _purchases(tx: pd.DataFrame, who: Any, customer: str, date: str, amount: str) -> list[Purchase]:
    mine = tx[tx[customer] == who]
    return [
        Purchase(
            id=f"p{i}",
            customer_id=str(who),
            amount=Decimal(str(a)),
            currency="EUR",
            occurred_at=pd.Timestamp(t).tz_localize("UTC").to_pydatetime(),
        )
        for i, (t, a) in enumerate(zip(mine[date], mine[amount], strict=True))
    ]


def _stored_at(full: Any, m: int, as_datetime: bool) -> pd.DataFrame:
    """The stages the full replay gave at period end *m*, as a host would store them."""
    column = full.stages.iloc[:, m].dropna()
    end = full.ends[m]
    at = end.floor("us") if as_datetime else end  # a datetime holds microseconds
    return pd.DataFrame(
        {
            "stage": column.astype(str).to_numpy(),
            "at": pd.DatetimeIndex([at] * len(column), dtype="datetime64[ns, UTC]"),
        },
        index=column.index,
    )


@pytest.mark.parametrize("as_datetime", [True, False], ids=["datetime", "period-end"])
@pytest.mark.parametrize("generated", [False, True], ids=["five-stage", "generated"])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_resuming_from_stored_stages_gives_the_full_replay(
    data: st.DataObject, as_datetime: bool, generated: bool
) -> None:
    """Stored at a month end (as a datetime, or the period's last nanosecond), then resumed."""
    cols = data.draw(cks.column_names("customer", "date", "amount"))
    tx = data.draw(cks.replay_transaction_frames(**cols))
    lc = (
        data.draw(cks.replay_lifecycle_configs().map(Lifecycle.from_dict), label="lifecycle")
        if generated
        else FIVE
    )
    first = pd.Timestamp("2024-02-01", tz="UTC")
    as_of = data.draw(
        st.integers(0, 480 * 86_400 - 1).map(lambda s: first + pd.Timedelta(seconds=s))
        | st.integers(1, 16).map(
            lambda k: first + pd.DateOffset(months=k) - pd.Timedelta(microseconds=1)
        ),
        label="as_of",
    )
    kw: dict[str, Any] = {"start": "2024-01", "as_of": as_of, **cols}
    full = lc.replay(tx, **kw)
    p = len(full.periods)
    m = data.draw(st.integers(0, p - 2), label="stored month") if p > 1 else 0
    if p < 2:
        return
    stored = _stored_at(full, m, as_datetime)
    if data.draw(st.booleans(), label="customer column"):
        stored = stored.reset_index()

    again = lc.replay(tx, **kw, resume=stored)
    later = full.stages.iloc[:, m + 1 :]
    assert again.stages.iloc[:, m + 1 :].equals(later)
    # at the stored month end: the stored stages; before it: not replayed
    assert again.stages.iloc[:, m].equals(full.stages.iloc[:, m])
    held = full.stages.iloc[:, m].notna()
    assert again.stages.loc[held].iloc[:, :m].isna().all().all()
    # what fired after the stored month end is what the full replay recorded
    after = full.transitions[full.transitions["period"] > full.periods[m]].reset_index(drop=True)
    assert again.transitions.equals(after)
    assert again.matrix(full.periods[-1]).equals(full.matrix(full.periods[-1]))

    # the same through a transition history filled with the replay's records up to m
    history = InMemoryTransitionHistory()
    cut = full.ends[m].floor("us").to_pydatetime()
    history.append_many(r for r in full.records() if r.at <= cut)
    from_history = lc.replay(tx, **kw, resume=history)
    assert from_history.stages.iloc[:, m + 1 :].equals(later)
    # a history with every record: the latest at or before the last period end
    everything = InMemoryTransitionHistory()
    everything.append_many(full.records())
    assert lc.replay(tx, **kw, resume=everything).stages.iloc[:, -1].equals(full.stages.iloc[:, -1])

    # and stepping one customer month by month from the stored stage
    final = full.stages.iloc[:, -1]
    picked = (
        data.draw(st.sampled_from(list(held[held].index)), label="customer") if held.any() else None
    )
    if picked is not None:
        buys = _purchases(tx, picked, cols["customer"], cols["date"], cols["amount"])
        steps = lc.replay_one(
            buys,
            customer_id=str(picked),
            as_of=as_of,
            stage=str(full.stages.iloc[:, m][picked]),
            since=full.ends[m].floor("us").to_pydatetime(),
        )
        assert steps[-1].stage == final[picked]
        assert [s.stage for s in steps] == list(full.stages.loc[picked].iloc[m + 1 :].astype(str))


def test_a_stored_stage_mid_month_steps_at_that_month_end() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a"],
            "occurred_at": pd.to_datetime(["2024-01-05", "2024-02-05", "2024-03-05"]),
            "amount": [10.0, 10.0, 10.0],
        }
    )
    stored = pd.DataFrame(
        {"stage": ["maturity"], "at": pd.to_datetime(["2024-02-10 12:00"], utc=True)},
        index=pd.Index(["a"], name="customer_id"),
    )
    r = FIVE.replay(tx, start="2024-01", end="2024-03", resume=stored)
    got = r.stages.loc["a"]
    assert got.iloc[0] != got.iloc[0]  # January: not replayed (NaN)
    assert (
        got.iloc[1]
        == FIVE.next_stage("maturity", _features(tx, "2024-02-29 23:59:59.999999999"))[0]
    )
    # the transitions start from the stored stage
    if len(r.transitions):
        assert r.transitions["from_stage"].iloc[0] == "maturity"


def _features(tx: pd.DataFrame, at: str) -> pd.Series[Any]:
    import crmkit as ck

    return ck.features(tx, as_of=pd.Timestamp(at, tz="UTC")).iloc[0]


def test_a_customer_without_a_stored_stage_replays_as_before() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "b", "b"],
            "occurred_at": pd.to_datetime(["2024-01-05", "2024-01-06", "2024-02-07"]),
            "amount": [10.0, 5.0, 5.0],
        }
    )
    stored = pd.DataFrame(
        {"stage": ["departed"], "at": [datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)]},
        index=pd.Index(["a"], name="customer_id"),
    )
    plain = replay(FIVE, tx, start="2024-01", end="2024-03")
    r = replay(FIVE, tx, start="2024-01", end="2024-03", resume=stored)
    assert r.stages.loc["b"].equals(plain.stages.loc["b"])
    assert list(r.stages.loc["a"].astype(str)) == ["departed"] * 3  # departed is final
    # a stored stage at the last period end is the stage there: nothing is stepped
    last = stored.assign(at=[datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)])
    assert (
        replay(FIVE, tx, start="2024-01", end="2024-03", resume=last).stages.loc["a"].iloc[-1]
        == "departed"
    )


def _transition(
    cid: str, to: str, at: datetime, lifecycle: str = "five-stage"
) -> LifecycleTransition:
    return LifecycleTransition(
        customer_id=cid,
        from_stage="introduction" if to != "introduction" else "growth",
        to_stage=to,
        at=at,
        transition="t",
        lifecycle=lifecycle,
        version="2",
    )


def test_stored_stages_from_a_history_take_the_latest_of_this_lifecycle_up_to_until() -> None:
    history = InMemoryTransitionHistory()
    history.append_many(
        [
            _transition("a", "growth", datetime(2024, 1, 31, tzinfo=UTC)),
            _transition("a", "maturity", datetime(2024, 3, 31, tzinfo=UTC)),
            _transition("a", "won", datetime(2024, 4, 30, tzinfo=UTC), lifecycle="b2b-funnel"),
            _transition("b", "decline", datetime(2024, 5, 31, tzinfo=UTC)),
        ]
    )
    got = FIVE.stored_stages(history, until="2024-04-30")
    assert list(got.index) == ["a"]
    assert got.loc["a", "stage"] == "maturity"
    assert got.loc["a", "at"] == pd.Timestamp("2024-03-31", tz="UTC")
    assert sorted(FIVE.stored_stages(history).index) == ["a", "b"]


def test_bad_stored_stages_name_the_column_and_the_customers() -> None:
    at = pd.to_datetime(["2024-01-31", "2024-01-31"], utc=True)
    good = pd.DataFrame({"stage": ["growth", "decline"], "at": at}, index=pd.Index(["a", "b"]))
    with pytest.raises(FrameError) as err:
        FIVE.stored_stages(good.assign(stage=["growth", "declin"]))
    assert err.value.column == "stage"
    assert list(err.value.rows) == ["b"]
    assert "decline" in str(err.value)
    with pytest.raises(FrameError) as err:
        FIVE.stored_stages(good.assign(stage=["growth", None]))
    assert err.value.column == "stage"
    assert list(err.value.rows) == ["b"]
    with pytest.raises(FrameError) as err:
        FIVE.stored_stages(good.assign(at=[at[0], pd.NaT]))
    assert err.value.column == "at"
    assert list(err.value.rows) == ["b"]
    with pytest.raises(FrameError) as err:
        FIVE.stored_stages(good.assign(at=at.tz_localize(None)))
    assert err.value.column == "at"
    with pytest.raises(FrameError) as err:
        FIVE.stored_stages(good.assign(at=[at[0].to_pydatetime(), datetime(2024, 1, 31)]))
    assert err.value.column == "at"
    assert list(err.value.rows) == ["b"]
    with pytest.raises(FrameError) as err:
        FIVE.stored_stages(good.assign(at=["2024-01-31", "x"]))
    assert err.value.column == "at"
    assert list(err.value.rows) == ["a", "b"]
    with pytest.raises(FrameError) as err:
        FIVE.stored_stages(pd.concat([good, good.iloc[:1]]))
    assert err.value.column == "customer_id"
    assert list(err.value.rows) == ["a"]
    with pytest.raises(FrameError) as err:
        FIVE.stored_stages(good, until="2024-01-30")
    assert err.value.column == "at"
    assert list(err.value.rows) == ["a", "b"]
    with pytest.raises(MissingColumnError):
        FIVE.stored_stages(good.drop(columns=["at"]))
    # a replay checks them too, against its last period end
    tx = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": pd.to_datetime(["2024-01-05"]), "amount": [1.0]}
    )
    with pytest.raises(FrameError) as err:
        FIVE.replay(tx, start="2024-01", as_of="2024-01-20", resume=good)
    assert err.value.column == "at"


@pytest.mark.parametrize(
    "since",
    [
        datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),  # a datetime: microseconds
        pd.Timestamp("2024-01-31 23:59:59.999999999", tz="UTC"),  # the period's last nanosecond
    ],
    ids=["datetime", "nanosecond"],
)
def test_replay_one_from_a_stored_month_end_steps_the_months_after_it(since: Any) -> None:
    buys = [
        Purchase(
            id=f"p{m}",
            customer_id="c",
            amount=Decimal(10),
            currency="EUR",
            occurred_at=datetime(2024, m, 3, tzinfo=UTC),
        )
        for m in (1, 2)
    ]
    steps = FIVE.replay_one(
        buys,
        customer_id="c",
        as_of="2024-03-31T23:59:59.999999Z",
        stage="introduction",
        since=since,
    )
    assert [s.transition.at.month if s.transition else None for s in steps] == [2, None]
    assert [s.stage for s in steps] == ["growth", "growth"]


def test_a_sqlite_history_resumes_too_and_ids_must_be_of_one_kind() -> None:
    from crmkit.adapters.sqlite import SQLiteStore, SQLiteTransitionHistory

    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "a", "b"],
            "occurred_at": pd.to_datetime(
                ["2024-01-04", "2024-01-20", "2024-02-02", "2024-05-15", "2024-06-10"]
            ),
            "amount": [40.0, 25.0, 60.0, 30.0, 20.0],
        }
    )
    full = FIVE.replay(tx, start="2024-01", end="2024-09")
    with SQLiteStore(":memory:") as store:
        history = SQLiteTransitionHistory(store)
        history.append_many(r for r in full.records() if r.at.month <= 3)
        again = FIVE.replay(tx, start="2024-01", end="2024-09", resume=history)
        assert again.stages.equals(full.stages)  # a: held at January's end, stepped after
        assert again.resumed is not None
        assert again.resumed_from is not None
        resumed = [str(c) for c in again.customers[again.resumed >= 0]]
        assert resumed == sorted(history.latest_stages())
        assert list(again.resumed_from[again.resumed >= 0]) == [1]
        numbered = tx.assign(customer_id=tx["customer_id"].map({"a": 1, "b": 2}))
        stored = FIVE.stored_stages(history)
        with pytest.raises(FrameError) as err:
            FIVE.replay(numbered, start="2024-01", end="2024-09", resume=stored)
        assert err.value.column == "customer_id"
