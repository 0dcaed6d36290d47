"""The same job in crmkit, polars and DuckDB, on the same synthetic log, in the same run.

The job: the transaction features, the default value model (transaction-only
components), four fitted segments (one quantile, one mean, two thresholds)
and the stage (``Lifecycle.five_stage().classify`` from the initial state).
The polars version is lazy expressions, the DuckDB version one SQL query;
both compute the same features with the same definitions as crmkit (checked
against crmkit on a sample first: every feature, the value, the segments and
the stage, per customer).

Ids come in three kinds, the same customers and rows for all: ``int64``,
short Arrow strings (``c0000001``) and UUIDs (36-character Arrow strings).
Each engine takes the log in its own in-memory form (pandas with
``string[pyarrow]`` ids for crmkit, a polars DataFrame, an Arrow table
registered in DuckDB), loaded before the clock starts. Parquet end to end
times reading the file and the job.

Every engine runs in a subprocess of its own (so one engine's memory does not
sit under another's peak): it loads the log from an Arrow IPC file, times the
job, and reports the peak resident memory of one run above what the loaded
input holds (``VmHWM`` reset through ``/proc/self/clear_refs`` after loading).
polars and DuckDB use every core (2 here); crmkit one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._util import Section, fmt_seconds

AS_OF = "2024-10-01"
ENGINES = ("crmkit", "polars", "duckdb")
ID_KINDS = ("int64", "arrow string", "uuid")
_AS_OF = pd.Timestamp(AS_OF)
_LAST3 = _AS_OF - pd.DateOffset(months=3)
_PREV3 = _AS_OF - pd.DateOffset(months=6)
_METHODS = ("prepaid", "cash", "on_time", "on_account")
_RATES = {"prepaid": 0.5, "cash": 0.4, "on_time": 0.25, "on_account": 0.0}
_DAYS_PER_MONTH = 365.25 / 12


def _uuids(n: int, seed: int) -> np.ndarray[Any, Any]:
    import uuid

    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    return np.array([str(uuid.UUID(bytes=bytes(row))) for row in raw], dtype=object)


def make_log(rows: int, customers: int, kind: str) -> Any:
    """The synthetic log as a pyarrow Table with ids of *kind* (the same rows for every kind)."""
    import pyarrow as pa

    from crmkit.app import synthetic_transactions

    tx = synthetic_transactions(rows, customers, seed=42)
    number = tx["customer_id"].to_numpy(dtype=object)
    index = np.fromiter((int(s[1:]) for s in pd.unique(number)), dtype=np.int64)
    codes, uniques = pd.factorize(number)
    as_int = np.fromiter((int(s[1:]) for s in uniques), dtype=np.int64, count=len(uniques))[codes]
    del index
    if kind == "int64":
        ids: Any = pa.array(as_int)
    elif kind == "arrow string":
        ids = pa.array(number, type=pa.large_string())
    else:
        ids = pa.array(_uuids(customers, seed=7)[as_int], type=pa.large_string())
    return pa.table(
        {
            "customer_id": ids,
            "date": pa.array(tx["date"].to_numpy()),
            "amount": pa.array(tx["amount"].to_numpy()),
            "settlement": pa.array(tx["settlement"].to_numpy(dtype=object), type=pa.large_string()),
        }
    )


# -- the job in each engine -------------------------------------------------------------


def crmkit_job(tx: pd.DataFrame) -> pd.DataFrame:
    import crmkit as ck

    model = ck.ValueModel.default().drop("growth_potential", "brand")
    rules = ck.SegmentRules(
        [
            ck.Segment("big", "total_spend >= quantile(total_spend, 0.8)"),
            ck.Segment("above_mean", "value >= mean(value)"),
            ck.Segment("recent", "days_since_last_purchase <= 30"),
            ck.Segment("lapsed", "days_since_last_purchase > 180"),
        ]
    )
    feats = ck.features(tx, as_of=AS_OF, date="date", settlement="settlement")
    joined = feats.join(model.score(feats))
    fitted = rules.fit(joined)
    stage = ck.Lifecycle.five_stage().classify(joined)
    return pd.concat([joined, fitted.assign(joined), stage], axis=1)


def polars_job(tx: Any) -> Any:
    import polars as pl

    as_of = _AS_OF.to_pydatetime()
    date, amount = pl.col("date"), pl.col("amount")
    lf = tx.lazy().filter(date <= as_of)
    day = date.dt.truncate("1d")
    days = (
        lf.group_by("customer_id", day.alias("day"))
        .agg(amount.sum().alias("day_spend"))
        .group_by("customer_id")
        .agg(
            pl.len().alias("purchase_days"),
            pl.col("day").min().alias("first_day"),
            pl.col("day").max().alias("last_day"),
            pl.col("day_spend").sort_by("day").first().alias("first_spend"),
        )
    )
    shares = [
        (amount.filter(pl.col("settlement") == m).sum() / amount.sum()).alias(
            f"settlement_share_{m}"
        )
        for m in _METHODS
    ]
    main = lf.group_by("customer_id").agg(
        amount.sum().alias("total_spend"),
        pl.len().alias("purchase_count"),
        date.min().alias("first_purchase"),
        date.max().alias("last_purchase"),
        date.dt.truncate("1mo").n_unique().alias("active_months"),
        amount.filter(date > _LAST3.to_pydatetime()).sum().alias("spend_last_3m"),
        amount.filter((date > _PREV3.to_pydatetime()) & (date <= _LAST3.to_pydatetime()))
        .sum()
        .alias("spend_prev_3m"),
        *shares,
    )
    day_ns = 86_400_000_000
    as_us = pl.lit(as_of)
    dslp = (as_us - pl.col("last_purchase")).dt.total_microseconds() / day_ns
    tenure = (as_us - pl.col("first_purchase")).dt.total_microseconds() / day_ns / _DAYS_PER_MONTH
    out = main.join(days, on="customer_id").with_columns(
        dslp.alias("days_since_last_purchase"), tenure.alias("tenure_months")
    )
    denominator = pl.max_horizontal(pl.col("tenure_months"), pl.lit(1.0))
    repeat = pl.col("purchase_days") - 1
    out = out.with_columns(
        (pl.col("purchase_count") / denominator).alias("monthly_frequency"),
        (pl.col("total_spend") / denominator).alias("monthly_avg_spend"),
        repeat.alias("repeat_purchases"),
        ((pl.col("last_day") - pl.col("first_day")).dt.total_microseconds() / day_ns).alias(
            "repeat_span"
        ),
        ((as_us - pl.col("first_day")).dt.total_microseconds() / day_ns).alias("age"),
        pl.when(repeat > 0)
        .then((pl.col("total_spend") - pl.col("first_spend")) / repeat)
        .otherwise(None)
        .alias("repeat_avg_spend"),
    )
    credit = pl.col("total_spend") * sum(
        pl.col(f"settlement_share_{m}").fill_null(0.0) * _RATES[m] for m in _METHODS
    )
    tenure_points = pl.min_horizontal(
        pl.max_horizontal(
            pl.col("tenure_months") - pl.col("days_since_last_purchase") / 30.4375, pl.lit(0.0)
        )
        * 2.0,
        pl.lit(120.0),
    )
    out = out.with_columns(
        (
            pl.col("total_spend") * 0.01
            + pl.col("monthly_frequency") * 20.0
            + pl.col("monthly_avg_spend") * 0.1
            + credit * 0.01
            + tenure_points
        ).alias("value")
    )
    out = out.with_columns(
        (pl.col("total_spend") >= pl.col("total_spend").quantile(0.8, "linear")).alias("big"),
        (pl.col("value") >= pl.col("value").mean()).alias("above_mean"),
        (pl.col("days_since_last_purchase") <= 30).alias("recent"),
        (pl.col("days_since_last_purchase") > 180).alias("lapsed"),
        pl.when((pl.col("purchase_days") <= 1) & (pl.col("days_since_last_purchase") > 365))
        .then(pl.lit("departed"))
        .when(pl.col("purchase_days") >= 2)
        .then(pl.lit("growth"))
        .otherwise(pl.lit("introduction"))
        .alias("stage"),
    )
    return out.collect()


_SQL = """
WITH t AS (SELECT * FROM tx WHERE date <= TIMESTAMP '{as_of}'),
days AS (
  SELECT customer_id, count(*) AS purchase_days, min(day) AS first_day, max(day) AS last_day,
         arg_min(day_spend, day) AS first_spend
  FROM (SELECT customer_id, date_trunc('day', date) AS day, sum(amount) AS day_spend
        FROM t GROUP BY customer_id, day)
  GROUP BY customer_id),
main AS (
  SELECT customer_id, sum(amount) AS total_spend, count(*) AS purchase_count,
         min(date) AS first_purchase, max(date) AS last_purchase,
         count(DISTINCT date_trunc('month', date)) AS active_months,
         coalesce(sum(amount) FILTER (WHERE date > TIMESTAMP '{last3}'), 0) AS spend_last_3m,
         coalesce(sum(amount) FILTER (WHERE date > TIMESTAMP '{prev3}'
                                       AND date <= TIMESTAMP '{last3}'), 0) AS spend_prev_3m,
         {shares}
  FROM t GROUP BY customer_id),
f AS (
  SELECT m.*, d.purchase_days, d.first_day, d.last_day, d.first_spend,
         epoch_us(TIMESTAMP '{as_of}' - m.last_purchase) / 86400e6 AS days_since_last_purchase,
         epoch_us(TIMESTAMP '{as_of}' - m.first_purchase) / 86400e6 / {dpm} AS tenure_months
  FROM main m JOIN days d USING (customer_id)),
g AS (
  SELECT *, purchase_count / greatest(tenure_months, 1.0) AS monthly_frequency,
         total_spend / greatest(tenure_months, 1.0) AS monthly_avg_spend,
         purchase_days - 1 AS repeat_purchases,
         epoch_us(last_day - first_day) / 86400e6 AS repeat_span,
         epoch_us(TIMESTAMP '{as_of}' - first_day) / 86400e6 AS age,
         CASE WHEN purchase_days > 1
              THEN (total_spend - first_spend) / (purchase_days - 1) END AS repeat_avg_spend
  FROM f),
v AS (
  SELECT *, total_spend * 0.01 + monthly_frequency * 20.0 + monthly_avg_spend * 0.1
            + total_spend * ({credit}) * 0.01
            + least(greatest(tenure_months - days_since_last_purchase / 30.4375, 0) * 2.0, 120.0)
            AS value
  FROM g)
SELECT *, total_spend >= (SELECT quantile_cont(total_spend, 0.8) FROM v) AS big,
       value >= (SELECT avg(value) FROM v) AS above_mean,
       days_since_last_purchase <= 30 AS recent, days_since_last_purchase > 180 AS lapsed,
       CASE WHEN purchase_days <= 1 AND days_since_last_purchase > 365 THEN 'departed'
            WHEN purchase_days >= 2 THEN 'growth' ELSE 'introduction' END AS stage
FROM v
"""


def duckdb_sql(source: str = "tx") -> str:
    shares = ",\n         ".join(
        f"coalesce(sum(amount) FILTER (WHERE settlement = '{m}'), 0) / sum(amount)"
        f" AS settlement_share_{m}"
        for m in _METHODS
    )
    credit = " + ".join(f"coalesce(settlement_share_{m}, 0) * {_RATES[m]}" for m in _METHODS)
    sql = _SQL.format(
        as_of=_AS_OF,
        last3=_LAST3,
        prev3=_PREV3,
        shares=shares,
        credit=credit,
        dpm=repr(_DAYS_PER_MONTH),
    )
    return sql.replace("FROM tx WHERE", f"FROM {source} WHERE")


def duckdb_job(con: Any, source: str = "tx") -> Any:
    return con.sql(duckdb_sql(source)).fetch_arrow_table()


# -- loading each engine's input ----------------------------------------------------------


def to_crmkit(table: Any) -> pd.DataFrame:
    """The Arrow table as crmkit's file reader gives it: strings stay Arrow, the rest numpy."""

    def mapper(arrow_type: Any) -> Any:
        import pyarrow as pa

        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            return pd.StringDtype("pyarrow")
        return None

    frame: pd.DataFrame = table.to_pandas(types_mapper=mapper)
    return frame


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _peak() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def worker(engine: str, source: str, repeat: int, parquet: bool) -> dict[str, Any]:
    """Run in a subprocess: load, time *repeat* runs after a warm-up, measure one run's peak."""
    import gc

    import pyarrow.feather as feather

    base = _rss()
    con: Any = None
    if parquet:
        if engine == "crmkit":
            from crmkit.adapters.files import read_table

            def run() -> Any:
                return crmkit_job(read_table(source))
        elif engine == "polars":
            import polars as pl

            def run() -> Any:
                return polars_job(pl.read_parquet(source))
        else:
            import duckdb

            con = duckdb.connect()

            def run() -> Any:
                return duckdb_job(con, f"read_parquet('{source}')")

        loaded = 0
    else:
        table = feather.read_table(source)
        loaded_obj: Any
        if engine == "crmkit":
            loaded_obj = to_crmkit(table)
            del table

            def run() -> Any:
                return crmkit_job(loaded_obj)
        elif engine == "polars":
            import polars as pl

            loaded_obj = pl.from_arrow(table)
            del table

            def run() -> Any:
                return polars_job(loaded_obj)
        else:
            import duckdb

            con = duckdb.connect()
            loaded_obj = table
            con.register("tx", loaded_obj)

            def run() -> Any:
                return duckdb_job(con)

        gc.collect()
        loaded = _rss() - base
    run()
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    gc.collect()
    before = _rss()
    _reset_peak()
    run()
    peak = _peak() - before
    return {"times": times, "loaded": loaded, "peak_extra": peak}


def _spawn(engine: str, source: str, repeat: int, parquet: bool) -> dict[str, Any]:
    code = (
        "import json, sys; from benchmarks.bench_compare import worker; "
        f"print(json.dumps(worker({engine!r}, {source!r}, {repeat}, {parquet})))"
    )
    env = dict(os.environ)
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{engine} on {source} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- agreement -------------------------------------------------------------------------------

_COMPARED = (
    "total_spend",
    "purchase_count",
    "purchase_days",
    "days_since_last_purchase",
    "tenure_months",
    "active_months",
    "monthly_frequency",
    "monthly_avg_spend",
    "spend_last_3m",
    "spend_prev_3m",
    *(f"settlement_share_{m}" for m in _METHODS),
    "repeat_purchases",
    "repeat_span",
    "age",
    "repeat_avg_spend",
    "value",
    "big",
    "above_mean",
    "recent",
    "lapsed",
    "stage",
)


def check_agree(table: Any) -> None:
    """crmkit, polars and DuckDB give the same numbers, per customer, on *table*."""
    import duckdb
    import polars as pl

    ours = crmkit_job(to_crmkit(table))
    ours.index = ours.index.astype(str) if ours.index.dtype != np.int64 else ours.index
    con = duckdb.connect()
    con.register("tx", table)
    others = {
        "polars": polars_job(pl.from_arrow(table)).to_pandas(),
        "duckdb": duckdb_job(con).to_pandas(),
    }
    for name, frame in others.items():
        frame = frame.set_index("customer_id")
        frame.index = frame.index.astype(ours.index.dtype)
        frame = frame.loc[ours.index]
        if len(frame) != len(ours):
            raise AssertionError(f"{name}: {len(frame)} customers, crmkit {len(ours)}")
        for column in _COMPARED:
            mine, theirs = ours[column], frame[column]
            if column == "stage":
                equal = (mine.astype(str).to_numpy() == theirs.astype(str).to_numpy()).all()
            elif mine.dtype == bool:
                equal = (mine.to_numpy() == theirs.to_numpy(dtype=bool)).all()
            else:
                a = mine.to_numpy(dtype=float, na_value=np.nan)
                b = theirs.to_numpy(dtype=float, na_value=np.nan)
                equal = np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)
            if not equal:
                raise AssertionError(f"{name} differs from crmkit in {column!r}")


def run(*, quick: bool = False) -> list[Section]:
    import pyarrow.feather as feather

    try:
        import duckdb  # noqa: F401
        import polars  # noqa: F401
    except ImportError as err:  # pragma: no cover - the bench extra brings both
        raise RuntimeError(
            f"bench_compare needs polars and duckdb (the bench extra): {err}"
        ) from err
    rows, customers = (20_000, 2_000) if quick else (10_000_000, 1_000_000)
    repeat = 1 if quick else 3
    for kind in ID_KINDS:
        check_agree(make_log(20_000, 2_000, kind))
    section = Section(
        title=f"crmkit, polars and DuckDB: the same job, {rows:,} rows / {customers:,} customers",
        header=[
            "input",
            *ENGINES,
            "crmkit / polars",
            "crmkit / DuckDB",
            "input in memory (crmkit)",
            *(f"peak above input, {e}" for e in ENGINES),
        ],
    )
    with tempfile.TemporaryDirectory() as folder:
        inputs: list[tuple[str, str, bool]] = []
        for kind in ID_KINDS:
            table = make_log(rows, customers, kind)
            path = str(Path(folder) / f"{kind.replace(' ', '_')}.arrow")
            feather.write_feather(table, path, compression="uncompressed")
            inputs.append((f"{kind} ids", path, False))
            if kind == "int64":
                import pyarrow.parquet as pq

                parquet = str(Path(folder) / "int64.parquet")
                pq.write_table(table, parquet)
                inputs.append(("Parquet file, int64 ids (read + job)", parquet, True))
            del table
        for label, path, is_parquet in inputs:
            results = {e: _spawn(e, path, repeat, is_parquet) for e in ENGINES}
            medians = {e: float(np.median(r["times"])) for e, r in results.items()}
            loaded = results["crmkit"]["loaded"]
            row = [
                label,
                *(fmt_seconds(medians[e]) for e in ENGINES),
                f"{medians['crmkit'] / medians['polars']:.2f}",
                f"{medians['crmkit'] / medians['duckdb']:.2f}",
                f"{loaded / 1e6:,.0f} MB" if loaded else "-",
            ]
            for e in ENGINES:
                extra = results[e]["peak_extra"]
                ratio = f" ({extra / results[e]['loaded']:.2f}x)" if results[e]["loaded"] else ""
                row.append(f"{extra / 1e6:,.0f} MB{ratio}")
            section.rows.append(row)
            print(section.rows[-1], flush=True)
    section.notes.append(
        "The job: features (transaction columns), the default value model without the profile "
        "components, four fitted segments (`total_spend >= quantile(total_spend, 0.8)`, "
        "`value >= mean(value)`, two recency thresholds) and the five-stage lifecycle's "
        "`classify` from the initial state. polars (lazy) and DuckDB (one SQL query) compute "
        "the same per-customer numbers, checked against crmkit first on 20,000 rows for every "
        "id kind (1e-9). Each engine runs in its own subprocess on the same log (read from an "
        "Arrow IPC file before the clock starts; Parquet rows include the read); medians of "
        f"{repeat} runs after a warm-up. Peak above input: the highest resident memory of one "
        "run above the resident memory before it (VmHWM reset), and in brackets its ratio to "
        "what loading the input added to the process. polars and DuckDB use both cores, "
        "crmkit one."
    )
    return [section]
