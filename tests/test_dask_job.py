"""One job: the Dask job, the pandas job and one customer at a time give the same answers.

``score_dask`` runs ``score_transactions`` itself on each customer partition
(after fitting what is fitted on the whole base once), so every column must
equal the pandas job's exactly: features of every activity frame, profile
attributes, value, segments, stage, points and tier. One 2-worker
``LocalCluster`` (processes) for the module; 210k activity rows of every kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402
import dask.dataframe as dd  # noqa: E402

import crmkit as ck  # noqa: E402
from crmkit.adapters import dask as ckd  # noqa: E402
from crmkit.app import segment_column, synthetic_base, synthetic_frames  # noqa: E402
from crmkit.config import Config, score_dask, score_transactions  # noqa: E402
from crmkit.testing import strategies as cks  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore:Sending large graph:UserWarning"),
]

AS_OF = "2024-10-01"  # inside the data: some rows of every frame are after as_of
SINCE = "2023-04-01"
ROWS = 210_000
CUSTOMERS = 15_000
# In this process, whether or not the module's cluster is up (p2p needs the cluster).
LOCAL: dict[str, Any] = {"scheduler": "synchronous", "dataframe.shuffle.method": "tasks"}
COLUMNS: dict[str, Any] = {"date": "date", "settlement": "settlement", "scale": "scale"}

# No [value] section: the default model, whose growth_potential and brand
# components read the profiles. Statistics on features, value and a profile column.
CONFIG = Config.from_dict(
    {
        "segments": {
            "tiers": {
                "rules": {"mode": "exclusive", "default": "low"},
                "segments": {
                    "high": {"rule": "value >= quantile(value, 0.8)", "priority": 2},
                    "medium": {"rule": "value >= quantile(value, 0.5)", "priority": 1},
                },
            },
            "flags": {
                "segments": {
                    "spread": {
                        "rule": "monthly_avg_spend >= mean(monthly_avg_spend) + std(monthly_avg_spend)"
                    },
                    "budget": {"rule": "spending_budget >= quantile(spending_budget, 0.9)"},
                    "unhappy": {"rule": "complaint_count >= 2 or latest_survey_score <= 2"},
                    "refunder": {"rule": "refund_total > 0.2 * total_spend"},
                    "talker": {"rule": "interaction_count >= 3 or referrals_made >= 1"},
                }
            },
        },
        "loyalty": {
            "earning": {
                "base": {"unit": 10.0},
                "campaigns": [
                    {
                        "name": "summer",
                        "start": "2024-06-01",
                        "end": "2024-09-01",
                        "condition": "amount >= 50",
                        "bonus": "10",
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
                    {"name": "silver", "threshold": 40},
                    {"name": "gold", "threshold": 150},
                ],
            },
        },
    }
)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return synthetic_frames(ROWS, CUSTOMERS, seed=5)


def _others(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: frame for name, frame in frames.items() if name != "transactions"}


@pytest.fixture(scope="module")
def pandas_job(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return score_transactions(
        frames["transactions"], CONFIG, as_of=AS_OF, since=SINCE, **_others(frames), **COLUMNS
    ).scores


def _dask(frames: dict[str, Any], config: Config = CONFIG, **kw: Any) -> ck.config.DaskJobResult:
    # dask's own string conversion off: the partitions hold the pandas job's very dtypes
    with dask.config.set({"dataframe.convert-string": False}):
        parts = {name: dd.from_pandas(f, npartitions=3, sort=False) for name, f in frames.items()}
    return score_dask(
        parts.pop("transactions"), config, as_of=AS_OF, since=SINCE, **parts, **COLUMNS, **kw
    )


def test_the_base_has_every_kind_and_the_job_means_something(
    frames: dict[str, pd.DataFrame], pandas_job: pd.DataFrame
) -> None:
    assert sum(len(f) for n, f in frames.items() if n != "profiles") >= 200_000
    for name in ("refunds", "complaints", "referrals", "interactions", "surveys"):
        assert len(frames[name]) > 1_000, name
    scores = pandas_job
    assert scores["stage"].nunique() >= 4
    assert scores["stage"].isna().any()  # customers with other activity only
    assert scores["tier"].nunique() == 3
    assert (scores["points"] > 0).mean() > 0.5
    assert scores["segment_tiers"].nunique() == 3
    assert scores["value_growth_potential"].gt(0).any()  # profiles reach the value
    assert scores["value_brand"].gt(0).any()
    for column in ("refund_total", "complaint_count", "referrals_made", "interaction_count"):
        assert scores[column].gt(0).any(), column
    assert scores["latest_survey_score"].notna().any()
    assert scores[segment_column("flags", "budget")].any()


def test_the_dask_job_equals_the_pandas_job_exactly(
    client: Any, frames: dict[str, pd.DataFrame], pandas_job: pd.DataFrame
) -> None:
    job = _dask(frames, npartitions=5)
    assert isinstance(job.scores, dd.DataFrame)
    got = job.scores.compute()
    assert got.index.is_unique
    pd.testing.assert_frame_equal(got.sort_index(), pandas_job.sort_index(), check_exact=True)
    # the statistics were fitted once, on the whole base: the pandas job's thresholds
    want = CONFIG.fit(pandas_job)
    for name in ("tiers", "flags"):
        assert job.config.segments[name].thresholds == want.segments[name].thresholds


def test_a_fitted_configuration_and_pandas_input_give_the_same_lazily(
    client: Any, frames: dict[str, pd.DataFrame], pandas_job: pd.DataFrame
) -> None:
    # Fitted rules are used as they are: nothing is computed until asked. pandas
    # input (one partition before the shuffle) and profiles with the ids as a
    # column, not the index, give the same job.
    fitted = CONFIG.fit(pandas_job)
    given = dict(frames)
    given["profiles"] = frames["profiles"].reset_index()
    tx = given.pop("transactions")
    with dask.config.set(scheduler=_no_compute):
        job = score_dask(tx, fitted, as_of=AS_OF, since=SINCE, npartitions=3, **given, **COLUMNS)
    assert job.config is fitted
    pd.testing.assert_frame_equal(
        job.scores.compute().sort_index(), pandas_job.sort_index(), check_exact=True
    )


def _no_compute(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("computed while building the graph")


def test_the_features_building_block_reads_every_frame(
    client: Any, frames: dict[str, pd.DataFrame], pandas_job: pd.DataFrame
) -> None:
    activity = {k: v for k, v in _others(frames).items() if k != "profiles"}
    with dask.config.set({"dataframe.convert-string": False}):
        tx = dd.from_pandas(frames["transactions"], npartitions=4, sort=False)
    got = ckd.features(
        tx,
        as_of=AS_OF,
        npartitions=3,
        **activity,
        **COLUMNS,
    ).compute()
    want = pandas_job[list(ck.FEATURE_COLUMNS)]
    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index(), check_exact=True)


def test_rows_are_put_back_in_input_order_within_a_partition() -> None:
    # Whatever order a shuffle delivers the rows in, the function sees input order.
    tx = synthetic_frames(5_000, 300, seed=2)["transactions"]
    frames = ckd.partition_frames({"tx": tx}, npartitions=1)
    seen: list[pd.DataFrame] = []

    def keep(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
        seen.append(parts["tx"])
        return parts["tx"].iloc[:0]

    scrambled = frames["tx"].map_partitions(
        lambda p: p.sample(frac=1.0, random_state=1), meta=frames["tx"]._meta
    )
    with dask.config.set(LOCAL):
        ckd.map_partitions_by_customer(keep, {"tx": scrambled}).compute()
    pd.testing.assert_frame_equal(seen[-1], tx, check_exact=True)


def test_partition_numbers_agree_across_dtypes() -> None:
    # The same id in an object, a Python string and an Arrow string column: one partition.
    ids = [f"c{i}" for i in range(50)]
    frames = {
        "a": pd.DataFrame({"customer_id": pd.array(ids, dtype=object)}),
        "b": pd.DataFrame({"customer_id": pd.array(ids, dtype=pd.StringDtype("python"))}),
        "c": pd.DataFrame({"customer_id": pd.Categorical(ids)}),
    }
    parts = ckd.partition_frames(frames, npartitions=4)

    def where(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
        return pd.DataFrame(
            {name: [sorted(map(str, p["customer_id"]))] for name, p in parts.items()}
        )

    with dask.config.set(LOCAL):
        out = ckd.map_partitions_by_customer(where, parts).compute()
    for _, row in out.iterrows():
        assert row["a"] == row["b"] == row["c"]
    assert sum(len(x) for x in out["a"]) == 50


def test_as_of_before_a_partition_gives_no_rows_there() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "occurred_at": pd.to_datetime(["2024-01-01", "2025-01-01"]),
            "amount": [1.0, 2.0],
        }
    )
    with dask.config.set(LOCAL):
        out = score_dask(tx, Config(), as_of="2024-06-01", npartitions=2).scores.compute()
    assert out.index.tolist() == ["a"]


def test_bad_arguments_raise_when_the_graph_is_built() -> None:
    tx = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": pd.to_datetime(["2024-01-01"]), "amount": [1.0]}
    )
    with pytest.raises(ck.ValidationError) as exc:
        score_dask(tx, Config(), as_of="2024-06-01", since="2024-07-01")
    assert exc.value.field == "since"
    with pytest.raises(ck.MissingColumnError):
        score_dask(tx, Config(), as_of="2024-06-01", complaints=tx.drop(columns=["customer_id"]))
    with pytest.raises(ck.ValidationError) as exc:
        score_dask(tx, Config(), as_of="2024-06-01", npartitions=0)
    assert exc.value.field == "npartitions"
    with pytest.raises(ck.ValidationError) as exc:
        score_dask(tx, {"value": {}}, as_of="2024-06-01")  # type: ignore[arg-type]
    assert exc.value.field == "config"


def test_profiles_are_checked() -> None:
    tx = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": pd.to_datetime(["2024-01-01"]), "amount": [1.0]}
    )
    twice = pd.DataFrame({"customer_id": ["a", "a"], "is_member": [True, False]})
    with pytest.raises(ck.FrameError) as exc:
        score_transactions(tx, Config(), as_of="2024-06-01", profiles=twice)
    assert exc.value.column == "customer_id"
    clash = pd.DataFrame({"customer_id": ["a"], "total_spend": [1.0]})
    with pytest.raises(ck.FrameError) as exc:
        score_transactions(tx, Config(), as_of="2024-06-01", profiles=clash)
    assert exc.value.column == "total_spend"


# ---------------------------------------------------------------- one customer at a time


def test_one_customer_at_a_time_agrees_with_both_jobs(client: Any, one_at_a_time: Any) -> None:
    """features_one + score_one + assign_one + replay_one + points per purchase == the job."""
    from crmkit.domain import InMemoryActivityRepository

    base = synthetic_base(seed=4, individuals=150, companies=6)
    # ids as pandas' own text dtype (activity_frames gives object: see the test above)
    kinds = {
        name: frame.astype({"customer_id": "str"})
        for name, frame in ck.activity_frames(base.activities)._asdict().items()
    }
    profiles = ck.profile_frame(base.customers)
    profiles.index = profiles.index.astype("str")
    tx = kinds.pop("transactions")
    assert all(len(f) for f in kinds.values())  # every kind of activity
    options: dict[str, Any] = {
        "as_of": base.as_of,
        "settlement": "settlement",
        "scale": "scale",
        "profiles": profiles,
        **kinds,
    }
    result = score_transactions(tx, CONFIG, **options)
    scores = result.scores
    with dask.config.set({"dataframe.shuffle.method": "tasks"}):
        on_dask = score_dask(tx, CONFIG, npartitions=3, **options).scores.compute()
    pd.testing.assert_frame_equal(on_dask.sort_index(), scores.sort_index(), check_exact=True)

    repo = InMemoryActivityRepository()
    repo.append_many(list(base.activities))
    sample = scores.index[:: max(len(scores) // 40, 1)]
    checked = one_at_a_time(
        result,
        CONFIG,
        {cid: repo.for_customer(str(cid)) for cid in sample},
        as_of=base.as_of,
        profiles=profiles,
        sample=sample,
    )
    assert checked >= 30
    assert np.unique(scores.loc[sample, "stage"].dropna()).size >= 2


# ---------------------------------------------------------------- any base, any partitioning


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=st.lists(
        cks.aware_datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2025, 6, 30)),
        min_size=1,
        max_size=6,
    ).flatmap(
        lambda instants: st.tuples(
            cks.activity_logs(
                min_size=1, max_size=40, customer_ids=["a", "b", "c", "d", "e"], instants=instants
            ),
            st.sampled_from(instants),
        )
    ),
    npartitions=st.integers(1, 4),
)
def test_any_base_on_any_partitioning_gives_the_pandas_job(
    log: tuple[list[Any], datetime], npartitions: int
) -> None:
    activities, as_of = log
    # ids as pandas' own text dtype (what read_csv and parquet give): with object ids,
    # pandas 3 infers str when dask concatenates the partitions (the values are equal)
    frames = {
        name: frame.astype({"customer_id": "str"})
        for name, frame in ck.activity_frames(activities)._asdict().items()
    }
    tx = frames.pop("transactions")
    # profiles for some customers only: the others get nulls from the left join
    profiles = pd.DataFrame(
        {"spending_budget": [50_000.0, np.nan, 3_000.0], "share_of_wallet": [0.2, 0.5, np.nan]},
        index=pd.Index(["a", "b", "c"], dtype="str", name="customer_id"),
    )
    options: dict[str, Any] = {
        "as_of": as_of,
        "settlement": "settlement",
        "scale": "scale",
        "profiles": profiles,
    }
    with dask.config.set(LOCAL):
        job = score_dask(tx, CONFIG, npartitions=npartitions, **frames, **options)
        got = job.scores.compute()
    try:
        want = score_transactions(tx, CONFIG, **frames, **options).scores
    except ck.FrameError:  # as_of before all data: the Dask job gives no rows (documented)
        assert got.empty
        return
    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index(), check_exact=True)


# ---------------------------------------------------------------- stored stages


def test_stored_stages_reach_the_partitions_of_their_customers() -> None:
    """Continuing from stored stages on Dask gives the pandas job with them, and the full job."""
    from crmkit.lifecycle import InMemoryTransitionHistory, Lifecycle

    tx = ck.app.synthetic_transactions(4_000, 400, seed=8, start="2023-02-01", end="2024-11-30")
    tx["amount"] = np.round(tx["amount"] * 4) / 4
    tx = tx.astype({"customer_id": "str"})
    options: dict[str, Any] = {"as_of": "2024-09-30", "date": "date"}
    config = Config.from_dict(
        {
            "segments": {
                "size": {"segments": {"big": {"rule": "total_spend >= median(total_spend)"}}}
            },
            "loyalty": {"earning": {"base": {"unit": 10.0}}},
        }
    )
    replayed = Lifecycle.five_stage().replay(tx, start="2023-02", end="2024-05", date="date")
    column = replayed.stages.iloc[:, -1].dropna()
    at = pd.Timestamp("2024-05-31 23:59:59.999999", tz="UTC")
    stored = pd.DataFrame({"stage": column.astype(str), "at": at}, index=column.index)
    # stages of the host's own (departed, for customers quiet since April): both jobs
    # continue from them, so these customers stay departed
    last = tx.groupby("customer_id")["date"].max()
    quiet = last.index[last < "2024-05-01"].intersection(
        stored.index[stored["stage"] != "departed"]
    )
    assert len(quiet) >= 5
    stored.loc[quiet, "stage"] = "departed"
    want = score_transactions(tx, config, stages=stored, **options).scores
    assert (want.loc[quiet, "stage"] == "departed").all()
    assert not want["stage"].equals(score_transactions(tx, config, **options).scores["stage"])
    history = InMemoryTransitionHistory()
    history.append_many(replayed.records())
    full = score_transactions(tx, config, **options).scores
    with dask.config.set(LOCAL):
        got = score_dask(tx, config, stages=stored, npartitions=3, **options).scores.compute()
        from_history = score_dask(tx, config, stages=history, npartitions=3, **options)
        got_history = from_history.scores.compute()
    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index(), check_exact=True)
    pd.testing.assert_frame_equal(got_history.sort_index(), full.sort_index(), check_exact=True)
    with pytest.raises(ck.ValidationError, match="stages"):
        score_dask(tx, config, stages=dd.from_pandas(stored, npartitions=1), **options)
