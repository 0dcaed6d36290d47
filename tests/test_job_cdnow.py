"""The one job on CDNOW master: the pandas job, the Dask job and one customer at a time agree.

Issue 14's "done when" on real data: 69,659 purchases of 23,570 customers
(CDNOW master, ids kept as text), scored as of 1998-06-30 with segments
fitted on the base (an exclusive and a multi-label set), the five-stage
lifecycle (a state, replayed month by month), period points with a campaign,
and tiers with evaluation periods and grace.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from crmkit.config import Config, score_transactions
from crmkit.domain import Purchase

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cdnow"

pytestmark = pytest.mark.skipif(
    not (DATA / "CDNOW_master.txt").is_file(),
    reason=f"the CDNOW data is not at {DATA} (shared/ beside the checkout)",
)

AS_OF = "1998-06-30"
SINCE = "1997-07-01"
CONFIG = Config.from_dict(
    {
        "segments": {
            "value_band": {
                "rules": {"mode": "exclusive", "default": "low"},
                "segments": {
                    "top": {"rule": "value >= quantile(value, 0.9)", "priority": 2},
                    "mid": {"rule": "value >= quantile(value, 0.5)", "priority": 1},
                },
            },
            "habits": {
                "segments": {
                    "regular": {"rule": "purchase_days >= 4"},
                    "big_basket": {"rule": "monthly_avg_spend >= quantile(monthly_avg_spend, 0.9)"},
                    "lapsed": {"rule": "days_since_last_purchase > 365"},
                }
            },
        },
        "loyalty": {
            "earning": {
                "base": {"unit": 1.0},
                "campaigns": [
                    {
                        "name": "christmas",
                        "start": "1997-12-01",
                        "end": "1998-01-01",
                        "condition": "amount >= 30",
                        "bonus": "20",
                    }
                ],
            },
            "tiers": {
                "measure": "points",
                "window_days": 365,
                "evaluation_months": 3,
                "grace_days": 30,
                "tiers": [
                    {"name": "member", "threshold": 0},
                    {"name": "silver", "threshold": 100},
                    {"name": "gold", "threshold": 400},
                ],
            },
        },
    }
)


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    frame = pd.read_csv(
        DATA / "CDNOW_master.txt",
        sep=r"\s+",
        header=0,
        names=["customer_id", "date", "cds", "amount"],
        dtype={"customer_id": "str", "date": "str"},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


@pytest.fixture(scope="module")
def job(tx: pd.DataFrame) -> Any:
    return score_transactions(tx, CONFIG, as_of=AS_OF, since=SINCE, date="date")


def test_the_job_on_cdnow_means_something(job: Any) -> None:
    scores = job.scores
    assert len(scores) == 23_570
    assert scores.index[0] == "00001"  # ids keep their zeros
    assert set(scores["stage"].dropna()) >= {"growth", "maturity", "decline", "departed"}
    assert scores["segment_value_band"].nunique() == 3
    assert scores["segment_habits__regular"].any()
    assert scores["tier"].nunique() == 3
    assert int(scores["points"].sum()) > 0


def test_the_dask_job_equals_the_pandas_job_on_cdnow(tx: pd.DataFrame, job: Any) -> None:
    dask = pytest.importorskip("dask")
    from crmkit.app import score_dask

    with dask.config.set({"scheduler": "synchronous", "dataframe.shuffle.method": "tasks"}):
        on_dask = score_dask(
            tx, CONFIG, as_of=AS_OF, since=SINCE, date="date", npartitions=4
        ).scores.compute()
    pd.testing.assert_frame_equal(
        on_dask.loc[job.scores.index], job.scores, check_exact=True, check_index_type=False
    )


def test_one_customer_at_a_time_equals_the_job_on_cdnow(
    tx: pd.DataFrame, job: Any, one_at_a_time: Any
) -> None:
    scores = job.scores
    # every 60th customer, and the ten most valuable (the top segment, gold tiers)
    sample = list(scores.index[::60]) + list(scores["value"].nlargest(10).index)
    rows = tx[tx["customer_id"].isin(sample)]
    activities: dict[str, list[Purchase]] = {cid: [] for cid in sample}
    for i, (cid, at, amount) in enumerate(
        zip(rows["customer_id"], rows["date"], rows["amount"], strict=True)
    ):
        activities[cid].append(
            Purchase(
                id=f"t-{i}",
                customer_id=cid,
                amount=f"{amount:.2f}",
                currency="USD",
                occurred_at=at.tz_localize(UTC).to_pydatetime(),
            )
        )
    checked = one_at_a_time(
        job,
        CONFIG,
        activities,
        as_of=pd.Timestamp(AS_OF, tz="UTC").to_pydatetime(),
        sample=sample,
    )
    assert checked == len(sample) >= 400
    assert scores.loc[sample, "tier"].nunique() >= 2
