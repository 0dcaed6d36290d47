"""The scoring job on a Dask DataFrame: partition by customer, run the same kernels per partition.

Needs the ``dask`` extra (``pip install 'crmkit[dask]'``); dask is imported
here and nowhere else in crmkit.

Every customer's rows are moved into one partition (a shuffle on the customer
column) and, inside each partition, put back in their original order; then
the very functions of the pandas path run on each partition:
:func:`crmkit.features`, :meth:`ValueModel.score <crmkit.ValueModel.score>`,
:meth:`SegmentRules.assign <crmkit.SegmentRules.assign>` and
:meth:`Lifecycle.classify <crmkit.Lifecycle.classify>`. Each customer's rows
reach the same kernels in the same order, so every feature, value, segment
and stage equals the pandas path's bit for bit. Only the order of the
customers differs (the pandas path lists them in order of first appearance;
sort both by customer to compare).

Population statistics in segment rules (``quantile``, ``mean``...) describe
the whole customer base, never one partition: :func:`score` fits unfitted
rules once on the whole base (it computes the features and values, persists
them, collects the columns the statistics read, in the pandas path's order of
customers, and fits on them), then assigns every partition with the frozen
rules. Rules that are already fitted are used as they are.

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

from collections.abc import Callable, Iterable
from typing import Any, Final

import dask.dataframe as dd
import numpy as np
import pandas as pd

from crmkit.adapters.frames import to_pandas
from crmkit.core import (
    AsOf,
    ValidationError,
    check_frame,
    date_ticks,
    factorize_first,
    id_index,
    parse_as_of,
)
from crmkit.lifecycle import Lifecycle
from crmkit.scoring import FeatureExtension, TimeUnit, ValueModel, check_extensions
from crmkit.scoring import features as pandas_features
from crmkit.segmentation import SegmentRules

__all__ = ["POSITION", "features", "partition_by_customer", "score"]

POSITION: Final = "__crmkit_position__"
"""The column :func:`partition_by_customer` adds: an int64 that orders the rows as in the input."""

_FIRST: Final = "__crmkit_first__"


# ---------------------------------------------------------------- input


def _map(frame: dd.DataFrame, fn: Callable[..., Any], *args: Any, meta: Any) -> dd.DataFrame:
    """``frame.map_partitions(fn, *args, meta=meta)``, typed (dask's own is not)."""
    out: dd.DataFrame = frame.map_partitions(fn, *args, meta=meta)  # type: ignore[no-untyped-call]
    return out


def _dask_frame(frame: Any, npartitions: int | None) -> dd.DataFrame:
    """A dask DataFrame from a dask, pandas or polars DataFrame or a pyarrow Table."""
    if isinstance(frame, dd.DataFrame):
        return frame
    pandas = to_pandas(frame)
    out: dd.DataFrame = dd.from_pandas(  # type: ignore[no-untyped-call]
        pandas, npartitions=npartitions or 1, sort=False
    )
    return out


_ROW_BITS: Final = 40  # up to 2**40 rows per input partition, 2**23 partitions


def _number(part: pd.DataFrame, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    if partition_info is None:  # pragma: no cover - map_partitions always passes it
        raise RuntimeError("dask did not pass partition_info")
    start = int(partition_info["number"]) << _ROW_BITS
    position = np.arange(start, start + len(part), dtype=np.int64)
    return part.assign(**{POSITION: position})


def partition_by_customer(
    transactions: Any, *, customer: str = "customer_id", npartitions: int | None = None
) -> dd.DataFrame:
    """Shuffle *transactions* so that each customer's rows are in one partition.

    Each row first gets its position in the input (column :data:`POSITION`:
    the input partition's number times ``2**40`` plus the row's place in
    it, so no pass is needed to count rows), so that the rows of a customer
    can be put back in their original order inside the partition (a shuffle
    does not keep it).

    Args:
        transactions: a dask DataFrame (or a pandas/polars DataFrame or pyarrow
            Table, which becomes a one-partition dask DataFrame).
        customer: the customer-id column.
        npartitions: partitions after the shuffle (default: as many as before).

    >>> import dask
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "b", "a"], "amount": [1.0, 2.0, 3.0]})
    >>> with dask.config.set(scheduler="synchronous"):
    ...     parts = partition_by_customer(dd.from_pandas(tx, npartitions=2)).compute()
    >>> parts.sort_values(POSITION)["amount"].tolist()
    [1.0, 2.0, 3.0]
    """
    ddf = _dask_frame(transactions, None)
    if not isinstance(customer, str) or customer not in ddf.columns:
        check_frame(ddf._meta, "transactions", [customer])
    meta = ddf._meta.assign(**{POSITION: np.empty(0, dtype=np.int64)})
    numbered = _map(ddf, _number, meta=meta)
    out: dd.DataFrame = numbered.shuffle(on=customer, npartitions=npartitions or ddf.npartitions)
    return out


# ---------------------------------------------------------------- per partition


def _in_order(part: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The partition's *columns* and position, rows in their original order."""
    part = part[[*columns, POSITION]]
    position = part[POSITION].to_numpy()
    if len(position) > 1 and not bool(np.all(position[1:] > position[:-1])):
        part = part.take(np.argsort(position, kind="stable"))
    return part


def _features_part(part: pd.DataFrame, options: dict[str, Any]) -> pd.DataFrame:
    """``crmkit.features`` on one partition (in original row order), with each customer's first position.

    The customer ids are factorised once here (with crmkit's own factorize,
    in order of first appearance) and ``crmkit.features`` runs on the integer
    codes, which it numbers in the same order; the ids are put back on the
    result's index. So the ids are hashed once, not twice.
    """
    customer = options["customer"]
    date = options["date"]
    columns = [customer, date, options["amount"], options["settlement"]]
    check_frame(part, "transactions", columns)
    part = _in_order(part, [c for c in dict.fromkeys(columns) if c is not None])
    stamp = parse_as_of(options["as_of"])
    if len(part):
        # A partition with rows but none at or before as_of has no customer to
        # report; crmkit.features would call that "as_of before all data".
        ticks = date_ticks(part, "transactions", date)
        if not bool((ticks.values <= ticks.scalar(int(stamp.value))).any()):
            part = part.iloc[:0]
    codes, first_row = factorize_first(part[customer])
    frame = part.drop(columns=[POSITION])
    if len(codes) and codes.min() < 0:  # missing ids: let crmkit.features report them
        return pandas_features(frame, **options)
    out = pandas_features(frame.assign(**{customer: codes}), **options)
    kept = out.index.to_numpy(dtype=np.intp)
    rows = first_row[kept]
    # The index crmkit.features would build from the ids (the same factorize, the same uniques).
    out.index = id_index(part[customer], first_row).take(kept).rename(customer)
    out[_FIRST] = part[POSITION].to_numpy()[rows]
    return out


def _score_part(
    part: pd.DataFrame,
    options: dict[str, Any],
    model: ValueModel | None,
) -> pd.DataFrame:
    out = _features_part(part, options)
    if model is not None:
        out = out.join(model.score(out))
    return out


def _finish_part(
    base: pd.DataFrame, segments: SegmentRules | None, lifecycle: Lifecycle | None
) -> pd.DataFrame:
    out = base.drop(columns=[_FIRST])
    pieces = [out]
    if segments is not None:
        pieces.append(segments.assign(out))
    if lifecycle is not None:
        pieces.append(lifecycle.classify(out))
    return pd.concat(pieces, axis=1) if len(pieces) > 1 else out


def _meta_of(fn: Callable[..., pd.DataFrame], meta: pd.DataFrame, *args: Any) -> pd.DataFrame:
    """The empty result of *fn* on an empty partition: the exact columns and dtypes."""
    return fn(meta.iloc[:0], *args)


# ---------------------------------------------------------------- public


def _options(
    *,
    as_of: AsOf,
    customer: str,
    date: str,
    amount: str,
    settlement: str | None,
    time_unit: TimeUnit,
    extensions: Iterable[FeatureExtension] = (),
) -> dict[str, Any]:
    return {
        "as_of": parse_as_of(as_of),
        "customer": customer,
        "date": date,
        "amount": amount,
        "settlement": settlement,
        "time_unit": time_unit,
        "extensions": check_extensions(extensions),
    }


def _base(
    transactions: Any,
    options: dict[str, Any],
    model: ValueModel | None,
    npartitions: int | None,
) -> dd.DataFrame:
    customer = options["customer"]
    if not isinstance(customer, str) or not customer:
        raise ValidationError("customer", expected="a column name (a non-empty str)", got=customer)
    shuffled = partition_by_customer(transactions, customer=customer, npartitions=npartitions)
    meta = _meta_of(_score_part, shuffled._meta, options, model)
    return _map(shuffled, _score_part, options, model, meta=meta)


def features(
    transactions: Any,
    *,
    as_of: AsOf,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    settlement: str | None = None,
    time_unit: TimeUnit = "D",
    npartitions: int | None = None,
    extensions: Iterable[FeatureExtension] = (),
) -> dd.DataFrame:
    """:func:`crmkit.features` of a dask DataFrame of transactions, partitioned by customer.

    The arguments mean what they mean for :func:`crmkit.features` (only
    transactions: refunds and the other activity frames are not supported on
    Dask yet). Returns a lazy dask DataFrame indexed by customer with the
    columns of ``FEATURE_COLUMNS``, equal to the pandas path's result up to
    the order of customers. Bad arguments and missing columns raise when the
    graph is built; bad values raise when it is computed. Unlike the pandas
    path, *as_of* before all data gives an empty result instead of an error.

    Args:
        transactions: a dask DataFrame (pandas, polars and pyarrow input
            becomes a dask DataFrame of *npartitions* partitions).
        as_of: the point in time.
        customer: customer-id column.
        date: timestamp column.
        amount: amount column.
        settlement: optional settlement-method column.
        time_unit: unit of ``repeat_span`` and ``age``: ``"D"`` or ``"W"``.
        npartitions: partitions after the shuffle (default: as many as the input).
        extensions: feature extensions (e.g. :class:`crmkit.clv.ClvFeatures`),
            computed per partition from its customers' features, as on pandas.

    >>> import dask
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "b", "a"],
    ...     "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-09"]),
    ...     "amount": [5.0, 7.0, 1.5]})
    >>> with dask.config.set(scheduler="synchronous"):
    ...     out = features(tx, as_of="2025-02-01", npartitions=2).compute()
    >>> out.sort_index()["total_spend"].tolist()
    [6.5, 7.0]
    """
    options = _options(
        as_of=as_of,
        customer=customer,
        date=date,
        amount=amount,
        settlement=settlement,
        time_unit=time_unit,
        extensions=extensions,
    )
    base = _base(transactions, options, None, npartitions)
    meta = _meta_of(_finish_part, base._meta, None, None)
    return _map(base, _finish_part, None, None, meta=meta)


def _fit_segments(base: dd.DataFrame, segments: SegmentRules) -> SegmentRules:
    """Fit *segments* on the whole base, in the pandas path's order of customers."""
    if segments.is_fitted:
        return segments
    names = sorted(segments._stat_names() & set(base.columns))
    collected = base[[_FIRST, *names]].compute()
    collected = collected.sort_values(_FIRST, kind="stable").drop(columns=[_FIRST])
    return segments.fit(collected)


def score(
    transactions: Any,
    *,
    as_of: AsOf,
    model: ValueModel | None = None,
    segments: SegmentRules | None = None,
    lifecycle: Lifecycle | None = None,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    settlement: str | None = None,
    time_unit: TimeUnit = "D",
    npartitions: int | None = None,
    extensions: Iterable[FeatureExtension] = (),
) -> dd.DataFrame:
    """The whole job on Dask: features, value, segments and stage per customer.

    Per partition, exactly the pandas path: ``f = crmkit.features(...)``,
    ``f.join(model.score(f))``, then ``segments.assign`` and
    ``lifecycle.classify`` on that frame, their columns side by side. Unfitted
    *segments* are fitted on the whole base first: that computes the
    features and values once (persisted, so the final result does not
    recompute them) and collects the columns the statistics read to the
    client; fitted rules are used as they are and the result stays lazy.

    Args:
        transactions: a dask DataFrame (or pandas/polars/pyarrow input, see
            :func:`features`).
        as_of: the point in time.
        model: a value model (its columns: ``value``, ``value_<component>``,
            ``value_model``); ``None`` skips the value.
        segments: segment rules, fitted or not; ``None`` skips segments.
        lifecycle: a lifecycle; every customer starts at its initial state.
        customer: customer-id column.
        date: timestamp column.
        amount: amount column.
        settlement: optional settlement-method column.
        time_unit: unit of ``repeat_span`` and ``age``.
        npartitions: partitions after the shuffle.
        extensions: feature extensions whose columns the value model, the
            segments and the lifecycle may read (as for :func:`features`).

    >>> import dask
    >>> import pandas as pd
    >>> from crmkit import Lifecycle, Segment, SegmentRules
    >>> tx = pd.DataFrame({"customer_id": ["a", "b", "a", "c"],
    ...     "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-09", "2025-03-01"]),
    ...     "amount": [5.0, 7.0, 1.5, 30.0]})
    >>> rules = SegmentRules([Segment("big", "total_spend >= median(total_spend)")])
    >>> with dask.config.set(scheduler="synchronous"):
    ...     out = score(tx, as_of="2025-03-31", segments=rules,
    ...                 lifecycle=Lifecycle.five_stage(), npartitions=2).compute()
    >>> out.sort_index()[["total_spend", "big", "stage"]]
                 total_spend    big         stage
    customer_id
    a                    6.5  False        growth
    b                    7.0   True  introduction
    c                   30.0   True  introduction
    """
    for field, value, kind in (
        ("model", model, ValueModel),
        ("segments", segments, SegmentRules),
        ("lifecycle", lifecycle, Lifecycle),
    ):
        if value is not None and not isinstance(value, kind):
            raise ValidationError(field, expected=f"a {kind.__name__} or None", got=value)
    options = _options(
        as_of=as_of,
        customer=customer,
        date=date,
        amount=amount,
        settlement=settlement,
        time_unit=time_unit,
        extensions=extensions,
    )
    base = _base(transactions, options, model, npartitions)
    if segments is not None and not segments.is_fitted:
        base = base.persist()  # type: ignore[no-untyped-call]
        segments = _fit_segments(base, segments)
    meta = _meta_of(_finish_part, base._meta, segments, lifecycle)
    return _map(base, _finish_part, segments, lifecycle, meta=meta)
