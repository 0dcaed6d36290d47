"""The job continues from the stages the host stored: the same stages as the full replay."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from crmkit.app import synthetic_transactions
from crmkit.config import Config, score_transactions
from crmkit.errors import FrameError
from crmkit.lifecycle import InMemoryTransitionHistory, Lifecycle

AS_OF = "2024-10-01 12:00"
CONFIG = Config.from_dict({"loyalty": {"earning": {"base": {"unit": 10.0}}}})


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    out = synthetic_transactions(5_000, 500, seed=3, start="2023-01-05", end="2024-12-20")
    out["amount"] = np.round(out["amount"] * 4) / 4
    return out


def _month_end(month: str) -> pd.Timestamp:
    return pd.Period(month, freq="M").end_time.tz_localize("UTC").floor("us")


@pytest.mark.parametrize("month", ["2023-06", "2024-08", "2024-09"])
def test_the_job_from_stored_stages_equals_the_full_job(tx: pd.DataFrame, month: str) -> None:
    lc = Lifecycle.five_stage()
    full = score_transactions(tx, CONFIG, as_of=AS_OF, date="date").scores
    replayed = lc.replay(tx, start="2023-01", end=month, date="date")
    column = replayed.stages.iloc[:, -1].dropna()
    stored = pd.DataFrame(
        {"stage": column.astype(str), "at": _month_end(month)}, index=column.index
    )
    assert stored["stage"].nunique() >= 3
    got = score_transactions(tx, CONFIG, as_of=AS_OF, date="date", stages=stored).scores
    pd.testing.assert_frame_equal(got, full, check_exact=True)
    # the same from a history holding the replay's transitions up to that month end
    history = InMemoryTransitionHistory()
    history.append_many(replayed.records())
    got = score_transactions(tx, CONFIG, as_of=AS_OF, date="date", stages=history).scores
    pd.testing.assert_frame_equal(got, full, check_exact=True)


def test_the_job_continues_from_the_hosts_own_stage(tx: pd.DataFrame) -> None:
    """A stage the replay would not give is honoured: the customer steps on from it."""
    lc = Lifecycle.five_stage()
    full = score_transactions(tx, CONFIG, as_of=AS_OF, date="date").scores
    who = full.index[full["stage"] == "growth"][0]
    stored = pd.DataFrame(
        {"customer_id": [who], "stage": ["departed"], "at": [_month_end("2024-08")]}
    )
    got = score_transactions(tx, CONFIG, as_of=AS_OF, date="date", stages=stored).scores
    buys = _purchases(tx, who)
    steps = lc.replay_one(
        buys, customer_id=str(who), as_of=AS_OF, stage="departed", since=_month_end("2024-08")
    )
    assert got.loc[who, "stage"] == steps[-1].stage
    others = full.index != who
    assert got["stage"][others].equals(full["stage"][others])


def _purchases(tx: pd.DataFrame, who: Any) -> list[Any]:
    from decimal import Decimal

    from crmkit.domain import Purchase

    mine = tx[tx["customer_id"] == who]
    return [
        Purchase(
            id=f"p{i}",
            customer_id=str(who),
            amount=Decimal(str(a)),
            currency="EUR",
            occurred_at=pd.Timestamp(t).tz_localize("UTC").to_pydatetime(),
        )
        for i, (t, a) in enumerate(zip(mine["date"], mine["amount"], strict=True))
    ]


def test_stored_stages_after_as_of_or_unknown_are_refused(tx: pd.DataFrame) -> None:
    who = tx["customer_id"].iloc[0]
    late = pd.DataFrame({"customer_id": [who], "stage": ["growth"], "at": [_month_end("2024-10")]})
    with pytest.raises(FrameError) as err:
        score_transactions(tx, CONFIG, as_of=AS_OF, date="date", stages=late)
    assert err.value.column == "at"
    unknown = late.assign(stage=["grown"], at=[_month_end("2024-08")])
    with pytest.raises(FrameError) as err:
        score_transactions(tx, CONFIG, as_of=AS_OF, date="date", stages=unknown)
    assert err.value.column == "stage"
    assert list(err.value.rows) == [who]
