"""Dask DataFrames partitioned by customer, and a pandas function run on each customer partition.

Needs the ``dask`` extra (``pip install 'crmkit[dask]'``); dask is imported
here and nowhere else in crmkit.

This module is the engine of the one job on Dask
(:func:`crmkit.app.score_dask`, which runs :func:`crmkit.app.score_transactions`
on each partition); it knows nothing of the job itself:

* :func:`partition_frames` shuffles several frames (transactions, refunds,
  complaints, ..., profiles) so that every customer's rows are in the
  partition of the same number in each of them;
* :func:`map_partitions_by_customer` calls a pandas function with one
  partition of each frame, every frame's rows back in their input order, so
  that the function sees each customer's rows exactly as the pandas path does
  and gives the same numbers bit for bit.

:func:`features` is :func:`crmkit.features` run that way.

>>> import dask
>>> import dask.dataframe as dd
>>> import pandas as pd
>>> tx = pd.DataFrame({
...     "customer_id": ["ann", "bo", "ann", "cy"],
...     "occurred_at": pd.to_datetime(["2025-01-05", "2025-02-01", "2025-03-10", "2025-03-20"]),
...     "amount": [20.0, 12.5, 40.0, 7.0],
... })
>>> with dask.config.set(scheduler="synchronous"):
...     out = features(dd.from_pandas(tx, npartitions=2), as_of="2025-03-31").compute()
>>> out.sort_index()[["total_spend", "purchase_count"]]
             total_spend  purchase_count
customer_id
ann                 60.0               2
bo                  12.5               1
cy                   7.0               1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from crmkit.adapters.frames import to_pandas
from crmkit.core import AsOf, ValidationError, check_frame, date_ticks, parse_as_of
from crmkit.scoring import FeatureExtension, TimeUnit, check_extensions
from crmkit.scoring import features as pandas_features

__all__ = [
    "POSITION",
    "features",
    "map_partitions_by_customer",
    "partition_by_customer",
    "partition_frames",
]

POSITION: Final = "__crmkit_position__"
"""The column :func:`partition_frames` adds: an int64 that orders the rows as in the input."""

_PARTITION: Final = "__crmkit_partition__"


# ---------------------------------------------------------------- input


def _map(frame: dd.DataFrame, fn: Callable[..., Any], *args: Any, meta: Any) -> dd.DataFrame:
    """``frame.map_partitions(fn, *args, meta=meta)``, typed (dask's own is not)."""
    out: dd.DataFrame = frame.map_partitions(fn, *args, meta=meta)  # type: ignore[no-untyped-call]
    return out


def _dask_frame(frame: Any, npartitions: int | None, what: str) -> dd.DataFrame:
    """A dask DataFrame from a dask, pandas or polars DataFrame or a pyarrow Table.

    pandas input keeps its dtypes (dask's string conversion is off for it), so
    the partitions hold exactly the columns the pandas path reads.
    """
    if isinstance(frame, dd.DataFrame):
        return frame
    pandas = check_frame(to_pandas(frame), what, [])
    with dask.config.set({"dataframe.convert-string": False}):
        out: dd.DataFrame = dd.from_pandas(  # type: ignore[no-untyped-call]
            pandas, npartitions=npartitions or 1, sort=False
        )
    return out


_ROW_BITS: Final = 40  # up to 2**40 rows per input partition, 2**23 partitions


def _number(
    part: pd.DataFrame, customer: str, n: int, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Each row's input position, and the partition its customer goes to (a hash of the id)."""
    if partition_info is None:  # pragma: no cover - map_partitions always passes it
        raise RuntimeError("dask did not pass partition_info")
    start = int(partition_info["number"]) << _ROW_BITS
    position = np.arange(start, start + len(part), dtype=np.int64)
    ids = np.asarray(part[customer], dtype=object)
    target = (pd.util.hash_array(ids) % np.uint64(n)).astype(np.int64)
    return part.assign(**{POSITION: position, _PARTITION: target})


def partition_frames(
    frames: Mapping[str, Any], *, customer: str = "customer_id", npartitions: int | None = None
) -> dict[str, dd.DataFrame]:
    """Shuffle every frame so that each customer's rows are in partition *k* of each, the same *k*.

    Each row first gets its position in its input (column :data:`POSITION`:
    the input partition's number times ``2**40`` plus the row's place in it,
    so no pass is needed to count rows), so that a customer's rows can be put
    back in their original order inside the partition (a shuffle does not
    keep it). The partition of a customer is a hash of the id (as an object:
    the same id gives the same partition in every frame, whatever the
    column's dtype), so partition *k* of every frame holds the same customers.

    Args:
        frames: name -> a dask DataFrame (or a pandas/polars DataFrame or pyarrow
            Table, which becomes a one-partition dask DataFrame), each with a
            *customer* column.
        customer: the customer-id column.
        npartitions: partitions after the shuffle (default: the first frame's).

    Returns:
        name -> the shuffled frame, with the :data:`POSITION` column (and a
        private partition column) added.

    Raises:
        ValidationError: no frames, or *npartitions* is not a positive int.
        MissingColumnError: a frame has no *customer* column.

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "b", "a"], "amount": [1.0, 2.0, 3.0]})
    >>> refunds = pd.DataFrame({"customer_id": ["b"], "amount": [2.0]})
    >>> parts = partition_frames({"transactions": tx, "refunds": refunds}, npartitions=2)
    >>> sorted(parts), parts["refunds"].npartitions
    (['refunds', 'transactions'], 2)
    """
    if not isinstance(customer, str) or not customer:
        raise ValidationError("customer", expected="a column name (a non-empty str)", got=customer)
    if not frames:
        raise ValidationError("frames", expected="at least one frame", got="none")
    ddfs = {name: _dask_frame(frame, None, name) for name, frame in frames.items()}
    n = npartitions if npartitions is not None else next(iter(ddfs.values())).npartitions
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError("npartitions", expected="a positive int", got=npartitions)
    out: dict[str, dd.DataFrame] = {}
    for name, ddf in ddfs.items():
        check_frame(ddf._meta, name, [customer])
        meta = ddf._meta.assign(
            **{POSITION: np.empty(0, dtype=np.int64), _PARTITION: np.empty(0, dtype=np.int64)}
        )
        numbered = _map(ddf, _number, customer, n, meta=meta)
        out[name] = numbered.shuffle(on=_PARTITION, npartitions=n)
    return out


def partition_by_customer(
    transactions: Any, *, customer: str = "customer_id", npartitions: int | None = None
) -> dd.DataFrame:
    """Shuffle one frame so that each customer's rows are in one partition (see :func:`partition_frames`).

    >>> import dask
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "b", "a"], "amount": [1.0, 2.0, 3.0]})
    >>> with dask.config.set(scheduler="synchronous"):
    ...     parts = partition_by_customer(dd.from_pandas(tx, npartitions=2)).compute()
    >>> parts.sort_values(POSITION)["amount"].tolist()
    [1.0, 2.0, 3.0]
    """
    return partition_frames(
        {"transactions": transactions}, customer=customer, npartitions=npartitions
    )["transactions"]


# ---------------------------------------------------------------- per partition


def _in_order(part: pd.DataFrame, meta: pd.DataFrame, positions: bool) -> pd.DataFrame:
    """The partition's rows in input order, with the input's dtypes, without the helper columns."""
    position = part[POSITION].to_numpy()
    if len(position) > 1 and not bool(np.all(position[1:] > position[:-1])):
        part = part.take(np.argsort(position, kind="stable"))
    keep = [c for c in part.columns if c != _PARTITION and (positions or c != POSITION)]
    part = part[keep]
    # A shuffle may hand columns back in another dtype (strings in Arrow memory);
    # the function gets the input's own.
    changed = {
        c: meta[c].dtype for c in keep if c in meta.columns and part[c].dtype != meta[c].dtype
    }
    return part.astype(changed) if changed else part


def _none_at_or_before(parts: dict[str, pd.DataFrame], date: str, stamp: pd.Timestamp) -> bool:
    """Whether the partition has rows, none of them (in frames with a *date* column) at or before *stamp*."""
    dated = [(name, part) for name, part in parts.items() if date in part.columns]
    if not any(len(part) for _, part in dated):
        return False
    for name, part in dated:
        if len(part):
            ticks = date_ticks(part, name, date)
            if bool((ticks.values <= ticks.scalar(int(stamp.value))).any()):
                return False
    return True


def _apply(
    *items: Any,
    fn: Callable[..., pd.DataFrame],
    names: tuple[str, ...],
    metas: tuple[pd.DataFrame, ...],
    positions: bool,
    cut: tuple[pd.Timestamp, str] | None,
) -> pd.DataFrame:
    k = len(names)
    parts = {
        name: _in_order(part, meta, positions)
        for name, part, meta in zip(names, items[:k], metas, strict=True)
    }
    if cut is not None and _none_at_or_before(parts, cut[1], cut[0]):
        parts = {name: part.iloc[:0] for name, part in parts.items()}
    return fn(parts, *items[k:])


def map_partitions_by_customer(
    fn: Callable[..., pd.DataFrame],
    frames: Mapping[str, dd.DataFrame],
    *args: Any,
    positions: bool = False,
    as_of: AsOf | None = None,
    date: str = "occurred_at",
    meta: pd.DataFrame | None = None,
) -> dd.DataFrame:
    """``fn(parts, *args)`` on each customer partition of *frames*, one pandas frame per name.

    *frames* are the result of :func:`partition_frames`. For each partition
    number *k*, *fn* gets a dict name -> partition *k* of that frame as a
    pandas DataFrame, its rows in input order, with the input's dtypes and
    without the helper columns (:data:`POSITION` kept when *positions*), and
    returns a pandas frame; the results make one dask DataFrame.

    Args:
        fn: a picklable function (module-level) of ``(parts, *args)``.
        frames: the partitioned frames (all with the same number of partitions).
        args: further arguments of *fn* (the same for every partition).
        positions: keep :data:`POSITION` in the frames *fn* gets.
        as_of: when given, a partition whose rows (in the frames with a *date*
            column) all come after it is handed over with every frame empty:
            it has no customer as of *as_of*.
        date: the timestamp column *as_of* is compared with.
        meta: the empty result (default: *fn* of the empty frames).

    >>> import dask
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "b", "a"], "amount": [1.0, 2.0, 3.0]})
    >>> def first_amount(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    ...     return parts["tx"].groupby("customer_id", sort=False)[["amount"]].first()
    >>> frames = partition_frames({"tx": tx}, npartitions=2)
    >>> with dask.config.set(scheduler="synchronous"):
    ...     out = map_partitions_by_customer(first_amount, frames).compute()
    >>> out.sort_index()["amount"].tolist()
    [1.0, 2.0]
    """
    names = tuple(frames)
    ddfs = tuple(frames[name] for name in names)
    if not ddfs or len({d.npartitions for d in ddfs}) != 1:
        raise ValidationError(
            "frames",
            expected="the frames of one partition_frames call (the same number of partitions)",
            got=", ".join(f"{n}: {d.npartitions}" for n, d in zip(names, ddfs, strict=True)),
        )
    metas = tuple(d._meta.drop(columns=[POSITION, _PARTITION], errors="ignore") for d in ddfs)
    cut = None if as_of is None else (parse_as_of(as_of), date)
    options: dict[str, Any] = {
        "fn": fn,
        "names": names,
        "metas": metas,
        "positions": positions,
        "cut": cut,
    }
    if meta is None:
        meta = _apply(*(d._meta for d in ddfs), *args, **options)
    out: dd.DataFrame = dd.map_partitions(  # type: ignore[no-untyped-call]
        _apply, *ddfs, *args, meta=meta, align_dataframes=False, **options
    )
    return out


# ---------------------------------------------------------------- features


def _features_part(parts: dict[str, pd.DataFrame], options: dict[str, Any]) -> pd.DataFrame:
    others: dict[str, Any] = dict(parts)
    transactions = others.pop("transactions")
    return pandas_features(transactions, **others, **options)


def features(
    transactions: Any,
    *,
    as_of: AsOf,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    settlement: str | None = None,
    refunds: Any = None,
    complaints: Any = None,
    referrals: Any = None,
    interactions: Any = None,
    surveys: Any = None,
    severity: str = "severity",
    channel: str = "channel",
    score: str = "score",
    scale: str | None = None,
    time_unit: TimeUnit = "D",
    extensions: Iterable[FeatureExtension] = (),
    npartitions: int | None = None,
) -> dd.DataFrame:
    """:func:`crmkit.features` of dask DataFrames of activity, partitioned by customer.

    The arguments mean what they mean for :func:`crmkit.features`; every
    activity frame is partitioned by customer with the transactions
    (:func:`partition_frames`) and :func:`crmkit.features` runs on each
    partition (:func:`map_partitions_by_customer`). Returns a lazy dask
    DataFrame indexed by customer with the columns of ``FEATURE_COLUMNS``,
    equal to the pandas path's result up to the order of customers. For the
    whole job (value, segments, stage, points, tiers) use
    :func:`crmkit.app.score_dask`. Bad arguments and missing columns raise
    when the graph is built; bad values raise when it is computed. Unlike the
    pandas path, *as_of* before all data gives an empty result instead of an
    error.

    Args:
        transactions: a dask DataFrame (pandas, polars and pyarrow input
            becomes a one-partition dask DataFrame); so may every other frame be.
        as_of: the point in time.
        customer: customer-id column.
        date: timestamp column.
        amount: amount column.
        settlement: optional settlement-method column.
        refunds: optional frame of refunds.
        complaints: optional frame of complaints.
        referrals: optional frame of referrals made.
        interactions: optional frame of interactions.
        surveys: optional frame of survey responses.
        severity: severity column of *complaints*.
        channel: channel column of *interactions*.
        score: score column of *surveys*.
        scale: optional scale column of *surveys*.
        time_unit: unit of ``repeat_span`` and ``age``: ``"D"`` or ``"W"``.
        extensions: feature extensions (e.g. :class:`crmkit.clv.ClvFeatures`),
            computed on each partition as :func:`crmkit.features` computes them.
        npartitions: partitions after the shuffle (default: as many as the transactions').

    >>> import dask
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "b", "a"],
    ...     "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-09"]),
    ...     "amount": [5.0, 7.0, 1.5]})
    >>> refunds = pd.DataFrame({"customer_id": ["a"], "amount": [1.5],
    ...     "occurred_at": pd.to_datetime(["2025-01-10"])})
    >>> with dask.config.set(scheduler="synchronous"):
    ...     out = features(tx, refunds=refunds, as_of="2025-02-01", npartitions=2).compute()
    >>> out.sort_index()[["total_spend", "refund_total"]]
                 total_spend  refund_total
    customer_id
    a                    5.0           1.5
    b                    7.0           0.0
    """
    stamp = parse_as_of(as_of)
    others = {
        "refunds": refunds,
        "complaints": complaints,
        "referrals": referrals,
        "interactions": interactions,
        "surveys": surveys,
    }
    given = {"transactions": transactions, **{k: v for k, v in others.items() if v is not None}}
    frames = partition_frames(given, customer=customer, npartitions=npartitions)
    options = {
        "as_of": stamp,
        "customer": customer,
        "date": date,
        "amount": amount,
        "settlement": settlement,
        "severity": severity,
        "channel": channel,
        "score": score,
        "scale": scale,
        "time_unit": time_unit,
        "extensions": check_extensions(extensions),
    }
    return map_partitions_by_customer(_features_part, frames, options, as_of=stamp, date=date)
