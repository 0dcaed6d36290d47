"""The one job on Dask (``crmkit.app.score_dask``) against the pandas job on the same data.

Both run the whole ``Config``-driven job (features of every activity frame and
the profiles, value, segment rule sets with statistics, the replayed stage,
points and tiers) on the same synthetic base (``synthetic_frames``):

* the pandas job, ``score_transactions``, one process, frames in memory;
* the Dask job, ``score_dask``, on a 2-worker ``LocalCluster`` (one thread
  each, processes), every frame read from parquet files. It fits the
  segment statistics once on the whole base (a first pass over the
  partitions), then runs ``score_transactions`` on each customer partition.

The Dask result is checked equal to the pandas job's (every column, exact)
before anything is timed.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._util import Section, time_it
from crmkit.app import synthetic_frames
from crmkit.config import Config, score_dask, score_transactions

AS_OF = "2024-10-01"
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
                    "big": {"rule": "total_spend >= quantile(total_spend, 0.8)"},
                    "above_mean": {"rule": "value >= mean(value)"},
                    "recent": {"rule": "days_since_last_purchase <= 30"},
                    "unhappy": {"rule": "complaint_count >= 2"},
                }
            },
        },
        "loyalty": {
            "earning": {"base": {"unit": 10.0}},
            "tiers": {
                "measure": "points",
                "window_days": 365,
                "tiers": [
                    {"name": "member", "threshold": 0},
                    {"name": "silver", "threshold": 40},
                    {"name": "gold", "threshold": 150},
                ],
            },
        },
    }
)
OPTIONS: dict[str, Any] = {
    "as_of": AS_OF,
    "date": "date",
    "settlement": "settlement",
    "scale": "scale",
}


def pandas_job(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    others = {k: v for k, v in frames.items() if k != "transactions"}
    return score_transactions(frames["transactions"], CONFIG, **others, **OPTIONS).scores


def dask_job(paths: dict[str, str], npartitions: int) -> pd.DataFrame:
    import dask
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False}):
        frames = {name: dd.read_parquet(path) for name, path in paths.items()}
    job = score_dask(
        frames.pop("transactions"), CONFIG, npartitions=npartitions, **frames, **OPTIONS
    )
    out: pd.DataFrame = job.scores.compute()
    return out


def _write(frames: dict[str, pd.DataFrame], folder: Path, files: int) -> dict[str, str]:
    paths: dict[str, str] = {}
    for name, frame in frames.items():
        where = folder / name
        where.mkdir()
        parts = files if name == "transactions" else max(files // 4, 1)
        bounds = np.linspace(0, len(frame), parts + 1).astype(int)
        for i in range(parts):
            frame.iloc[bounds[i] : bounds[i + 1]].to_parquet(where / f"part-{i:04d}.parquet")
        paths[name] = str(where)
    return paths


def _check(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Every value equal (exact); the dtypes of text columns may differ (parquet reads Arrow strings)."""
    pd.testing.assert_frame_equal(
        got.sort_index(),
        want.sort_index(),
        check_exact=True,
        check_dtype=False,
        check_index_type=False,
    )


def run(*, quick: bool = False) -> list[Section]:
    try:
        import distributed
    except ImportError:  # pragma: no cover - the dask extra is in dev
        return []
    rows, customers = (200_000, 20_000) if quick else (2_000_000, 200_000)
    repeat = 1 if quick else 3
    files = 8 if quick else 40
    npartitions = 4 if quick else 20
    frames = synthetic_frames(rows, customers, seed=11)

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's shutdown chatter is not a result
        paths = _write(frames, Path(tmp), files)
        want = pandas_job(frames)
        t_pandas = time_it(lambda: pandas_job(frames), repeat=repeat, warmup=0)
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster),
        ):
            _check(dask_job(paths, npartitions), want)  # same answers before timing (warm-up)
            t_dask = time_it(lambda: dask_job(paths, npartitions), repeat=repeat, warmup=0)
    size = f"{rows:,} activity rows / {customers:,} customers"
    return [
        Section(
            title="The one job: pandas and Dask",
            header=["path", size, "vs pandas"],
            rows=[
                ["`score_transactions`, one process (in memory)", str(t_pandas), "1.00x"],
                [
                    "`score_dask`, 2-worker LocalCluster, parquet",
                    str(t_dask),
                    f"{t_dask.median / t_pandas.median:.2f}x",
                ],
            ],
            notes=[
                "The whole Config-driven job (features of every activity frame and profiles, "
                "value, two segment rule sets with statistics, replayed stage, points, tiers). "
                f"Input: transactions in {files} parquet files, each other frame in "
                f"{max(files // 4, 1)}; {npartitions} partitions after the shuffle; medians of "
                f"{repeat} runs after a warm-up run; results collected to the client. The Dask "
                "result is checked equal to the pandas job's (every column, exact) first."
            ],
        )
    ]
