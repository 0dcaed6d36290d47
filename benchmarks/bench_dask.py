"""The whole job (features, value, segments, stage) on Dask against a hand-written Dask baseline.

Three ways to run the same job on the same transactions, in the same run:

* crmkit's Dask path, ``crmkit.adapters.dask.score``, on a 2-worker
  ``LocalCluster`` (one thread each, processes), reading parquet;
* the hand-written baseline a Dask user would write: ``shuffle`` on the
  customer column, ``map_partitions`` of the same crmkit functions, a global
  fit of the segment statistics, ``map_partitions`` of assign + classify. It
  keeps no row order, so it is not guaranteed to equal the pandas path to the
  last bit; crmkit's path pays for that guarantee (row numbering and a sort
  per partition) and must stay within 1.2x of it;
* the single-process pandas path on the frame in memory.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import crmkit as ck
from benchmarks._util import Section, time_it
from crmkit.app import synthetic_transactions

AS_OF = "2024-10-01"
MODEL = ck.ValueModel.default().drop("growth_potential", "brand")
RULES = ck.SegmentRules(
    [
        ck.Segment("big", "total_spend >= quantile(total_spend, 0.8)"),
        ck.Segment("above_mean", "value >= mean(value)"),
        ck.Segment("recent", "days_since_last_purchase <= 30"),
        ck.Segment("lapsed", "days_since_last_purchase > 180"),
    ]
)
LIFECYCLE = ck.Lifecycle.five_stage()
OPTIONS: dict[str, Any] = {"as_of": AS_OF, "date": "date", "settlement": "settlement"}


def pandas_job(tx: pd.DataFrame) -> pd.DataFrame:
    feats = ck.features(tx, **OPTIONS)
    joined = feats.join(MODEL.score(feats))
    fitted = RULES.fit(joined)
    return pd.concat([joined, fitted.assign(joined), LIFECYCLE.classify(joined)], axis=1)


def _features_value(part: pd.DataFrame) -> pd.DataFrame:
    if not len(part):
        part = part.iloc[:0]
    feats = ck.features(part, **OPTIONS)
    return feats.join(MODEL.score(feats))


def _finish(part: pd.DataFrame, rules: ck.SegmentRules) -> pd.DataFrame:
    return pd.concat([part, rules.assign(part), LIFECYCLE.classify(part)], axis=1)


def baseline_job(path: str, npartitions: int) -> pd.DataFrame:
    """Shuffle + map_partitions of the same crmkit functions, written by hand."""
    import dask.dataframe as dd

    ddf = dd.read_parquet(path)
    shuffled = ddf.shuffle(on="customer_id", npartitions=npartitions)
    meta = _features_value(ddf._meta)
    base = shuffled.map_partitions(_features_value, meta=meta).persist()
    stats = base[["total_spend", "value"]].compute()
    fitted = RULES.fit(stats)
    out = base.map_partitions(_finish, fitted, meta=_finish(meta, fitted))
    return out.compute()


def crmkit_job(path: str, npartitions: int) -> pd.DataFrame:
    import dask.dataframe as dd

    from crmkit.adapters import dask as ckd

    out = ckd.score(
        dd.read_parquet(path),
        model=MODEL,
        segments=RULES,
        lifecycle=LIFECYCLE,
        npartitions=npartitions,
        **OPTIONS,
    )
    return out.compute()


def _write(tx: pd.DataFrame, folder: Path, files: int) -> str:
    bounds = np.linspace(0, len(tx), files + 1).astype(int)
    for i in range(files):
        tx.iloc[bounds[i] : bounds[i + 1]].to_parquet(folder / f"part-{i:04d}.parquet")
    return str(folder)


def _check(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_index()
    want = want.sort_index()
    if got.index.astype(object).tolist() != want.index.astype(object).tolist():
        raise AssertionError("bench_dask: the Dask path has other customers than pandas")
    for name in want.columns:
        a, b = got[name], want[name]
        same = (
            np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True)
            if a.dtype.kind == "f"
            else a.tolist() == b.tolist()
        )
        if not same:
            raise AssertionError(f"bench_dask: {name} differs between Dask and pandas")


def run(*, quick: bool = False) -> list[Section]:
    try:
        import distributed
    except ImportError:  # pragma: no cover - the dask extra is in dev
        return []
    rows, customers = (200_000, 20_000) if quick else (10_000_000, 1_000_000)
    repeat = 1 if quick else 3
    files = 8 if quick else 40
    npartitions = 4 if quick else 20
    tx = synthetic_transactions(rows, customers, seed=11)

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's shutdown chatter is not a result
        path = _write(tx, Path(tmp), files)
        want = pandas_job(tx)
        t_pandas = time_it(lambda: pandas_job(tx), repeat=repeat, warmup=0)
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster),
        ):
            _check(crmkit_job(path, npartitions), want)  # same answers before timing (warm-up)
            baseline_job(path, npartitions)
            t_ours = time_it(lambda: crmkit_job(path, npartitions), repeat=repeat, warmup=0)
            t_base = time_it(lambda: baseline_job(path, npartitions), repeat=repeat, warmup=0)
    ratio = t_ours.median / t_base.median
    size = f"{rows:,} rows / {customers:,} customers"
    return [
        Section(
            title="Dask: features + value + segments + stage",
            header=["path", size, "vs hand-written Dask", "target"],
            rows=[
                [
                    "`crmkit.adapters.dask.score`, 2-worker LocalCluster",
                    str(t_ours),
                    f"{ratio:.2f}x",
                    "<= 1.2x" if not quick else "",
                ],
                [
                    "hand-written `shuffle` + `map_partitions`, same cluster",
                    str(t_base),
                    "1.00x",
                    "",
                ],
                [
                    "pandas path, one process (in memory)",
                    str(t_pandas),
                    f"{t_pandas.median / t_base.median:.2f}x",
                    "",
                ],
            ],
            notes=[
                f"Input: {files} parquet files; {npartitions} partitions after the shuffle; "
                f"medians of {repeat} runs after a warm-up run; results collected to the client. "
                "The crmkit path is checked equal to the pandas path (every column, exact) first."
            ],
        )
    ]
