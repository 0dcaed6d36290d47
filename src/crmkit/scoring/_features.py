"""``features``: per-customer features from a transaction frame and optional activity frames."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import (
    TICKS_PER_SECOND,
    AsOf,
    FrameError,
    Ticks,
    ValidationError,
    amount_array,
    check_frame,
    date_ticks,
    enum_codes,
    first_rows,
    id_codes,
    id_index,
    parse_as_of,
    score_array,
    shift_months,
)
from crmkit.domain import Channel, SettlementMethod, Severity, SurveyScale
from crmkit.scoring._columns import (
    CHANNEL_COLUMNS,
    FEATURE_COLUMNS,
    FEATURE_KINDS,
    SETTLEMENT_COLUMNS,
    SEVERITY_COLUMNS,
)
from crmkit.scoring._derive import derive
from crmkit.scoring._extension import FeatureExtension, check_extensions, extend_frame
from crmkit.scoring._kernels import (
    INT64_MIN,
    category_counts,
    latest_mean,
    purchase_kernel,
    row_counts,
    weighted_sums,
)

__all__ = ["TimeUnit", "features", "id_index", "unit_days"]

TimeUnit: TypeAlias = Literal["D", "W"]
"""The unit of ``repeat_span`` and ``age``: days (``"D"``) or weeks (``"W"``, 7 days)."""

_UNIT_DAYS: Final = {"D": 1, "W": 7}

Array: TypeAlias = npt.NDArray[Any]


def unit_days(time_unit: object) -> int:
    """Days in one *time_unit* (``"D"`` or ``"W"``); anything else is a ValidationError."""
    if not isinstance(time_unit, str) or time_unit not in _UNIT_DAYS:
        raise ValidationError("time_unit", expected="'D' (days) or 'W' (weeks)", got=time_unit)
    return _UNIT_DAYS[time_unit]


def _name(field: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(field, expected="a column name (a non-empty str)", got=value)
    return value


def _optional_name(field: str, value: object) -> str | None:
    return None if value is None else _name(field, value)


class _Input:
    """One input frame, its customer codes and its timestamps."""

    __slots__ = ("codes", "frame", "ticks", "what")

    def __init__(self, what: str, frame: pd.DataFrame) -> None:
        self.what = what
        self.frame = frame
        self.codes: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
        self.ticks = Ticks(np.empty(0, dtype=np.int64), "ns")


def _customer_codes(inputs: list[_Input], customer: str) -> pd.Index[Any]:
    """Factorise the customer column of every input onto one set of customers.

    Customers are numbered in order of first appearance: in the transactions,
    then (for those not seen yet) in each further frame in turn.
    """
    index: pd.Index[Any] | None = None
    for item in inputs:
        codes, ids = id_codes(item.frame, item.what, customer)
        if index is None:
            index = ids
        elif len(ids):
            position = index.get_indexer(ids)
            new = position < 0
            if new.any():
                position[new] = len(index) + np.arange(int(new.sum()))
                extra = ids[new]
                combined = index.append(extra)
                if extra.dtype == index.dtype and combined.dtype != index.dtype:
                    # pandas infers a dtype when appending object indexes (object ->
                    # str): keep the column's own, whatever the data.
                    combined = combined.astype(index.dtype)
                index = combined
            codes = position.astype(np.intp, copy=False)[codes]
        item.codes = codes
    if index is None:  # pragma: no cover - transactions are always an input
        raise RuntimeError("no input frames")
    return index


def _survey_scores(frame: pd.DataFrame, score: str, scale: str | None) -> npt.NDArray[np.float64]:
    values = score_array(frame, "surveys", score)
    if scale is None:
        return values
    scales = enum_codes(frame, "surveys", scale, SurveyScale)
    low = np.array([m.bounds[0] for m in SurveyScale], dtype=np.float64)[scales]
    high = np.array([m.bounds[1] for m in SurveyScale], dtype=np.float64)[scales]
    bad = (values < low) | (values > high) | (values != np.floor(values))
    if bad.any():
        raise FrameError(
            f"surveys[{score!r}] has scores outside their scale",
            column=score,
            rows=first_rows(frame, bad),
            expected="integers from 1 to 5 on the csat scale and from 0 to 10 on nps",
            got=repr(float(values[np.argmax(bad)])),
        )
    return values


def features(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    settlement: str | None = None,
    refunds: pd.DataFrame | None = None,
    complaints: pd.DataFrame | None = None,
    referrals: pd.DataFrame | None = None,
    interactions: pd.DataFrame | None = None,
    surveys: pd.DataFrame | None = None,
    severity: str = "severity",
    channel: str = "channel",
    score: str = "score",
    scale: str | None = None,
    time_unit: TimeUnit = "D",
    extensions: Iterable[FeatureExtension] = (),
) -> pd.DataFrame:
    """Compute every customer's features as of a point in time.

    Each input row is one activity. Rows after *as_of* are ignored; activity
    at or before it counts. Every column is defined in
    [Features](../concepts/features.md); in short: spend and purchase counts,
    first and last purchase, RFM recency (``days_since_last_purchase``),
    tenure and monthly rates, spend in the last and previous three months,
    settlement shares, the repeat-purchase summary (``repeat_purchases``,
    ``repeat_span``, ``age``, ``repeat_avg_spend``), and counts from the other
    activity frames.

    Args:
        transactions: one row per purchase: a pandas DataFrame, or a polars
            DataFrame or pyarrow Table (converted once, keeping Arrow buffers).
        as_of: the point in time; a date means midnight UTC at its start, a
            naive datetime or string is taken as UTC.
        customer: customer-id column, in every frame.
        date: timestamp column, in every frame; naive values are UTC, aware
            ones are converted; ISO 8601 text is parsed.
        amount: amount column of ``transactions`` and ``refunds`` (float or
            int, finite and >= 0, one currency).
        settlement: optional settlement-method column of ``transactions``
            (``SettlementMethod`` values; missing = unknown).
        refunds: optional frame of refunds (``customer``, ``date``, ``amount``).
        complaints: optional frame of complaints (``customer``, ``date``, ``severity``).
        referrals: optional frame of referrals made (``customer`` is the referrer).
        interactions: optional frame of interactions (``customer``, ``date``, ``channel``).
        surveys: optional frame of survey responses (``customer``, ``date``,
            ``score`` and, if given, ``scale``).
        severity: severity column of ``complaints`` (``Severity`` values).
        channel: channel column of ``interactions`` (``Channel`` values).
        score: score column of ``surveys``.
        scale: optional scale column of ``surveys`` (``SurveyScale`` values);
            when given, each score must lie on its scale.
        time_unit: unit of ``repeat_span`` and ``age``: ``"D"`` or ``"W"``.
        extensions: feature extensions (:class:`FeatureExtension`, e.g.
            :class:`crmkit.clv.ClvFeatures`) whose columns are added after the
            features, computed from them (as of *as_of*).

    Returns:
        A new frame indexed by customer (index named *customer*, of the
        customer column's dtype; categorical ids give their values), one row
        per customer with any activity at or before *as_of*, in order of first
        appearance (``.sort_index()`` sorts it), with the columns of
        ``FEATURE_COLUMNS``. An empty input gives an empty frame with the same
        columns and dtypes. A frame not given counts as an empty one.
        ``frame.attrs`` records ``"crmkit.time_unit"`` and ``"crmkit.as_of"``
        (ISO 8601), which the customer-base models of ``crmkit.clv`` check.

    Raises:
        MissingColumnError: a named column is not in its frame.
        FrameError: a column has the wrong dtype or bad values (naming the
            column and the first offending rows), or *as_of* is before all data.
        ValidationError: a bad argument (``as_of``, ``time_unit``, a column name).

    >>> import pandas as pd
    >>> tx = pd.DataFrame({
    ...     "cust": ["ann", "ann", "bo", "ann"],
    ...     "when": pd.to_datetime(["2025-01-05", "2025-01-05 18:00", "2025-02-01", "2025-03-10"],
    ...                           format="ISO8601"),
    ...     "paid": [20.0, 5.0, 12.5, 40.0],
    ... })
    >>> f = features(tx, as_of="2025-03-31", customer="cust", date="when", amount="paid")
    >>> f[["total_spend", "purchase_count", "purchase_days", "repeat_purchases"]]
          total_spend  purchase_count  purchase_days  repeat_purchases
    cust
    ann          65.0               3              2                 1
    bo           12.5               1              1                 0
    >>> f.loc["ann", ["repeat_span", "age", "repeat_avg_spend", "days_since_last_purchase"]].tolist()
    [64.0, 85.0, 40.0, 21.0]
    """
    stamp = parse_as_of(as_of)
    as_of_ns = int(stamp.value)
    days_per_unit = unit_days(time_unit)
    customer_ = _name("customer", customer)
    date_ = _name("date", date)
    amount_ = _name("amount", amount)
    settlement_ = _optional_name("settlement", settlement)
    severity_ = _name("severity", severity)
    channel_ = _name("channel", channel)
    score_ = _name("score", score)
    scale_ = _optional_name("scale", scale)
    exts = check_extensions(extensions)

    tx = _Input(
        "transactions",
        check_frame(transactions, "transactions", [customer_, date_, amount_, settlement_]),
    )
    wanted: dict[str, tuple[pd.DataFrame | None, list[str | None]]] = {
        "refunds": (refunds, [customer_, date_, amount_]),
        "complaints": (complaints, [customer_, date_, severity_]),
        "referrals": (referrals, [customer_, date_]),
        "interactions": (interactions, [customer_, date_, channel_]),
        "surveys": (surveys, [customer_, date_, score_, scale_]),
    }
    others: dict[str, _Input] = {}
    for what, (frame, needed) in wanted.items():
        if frame is not None:
            others[what] = _Input(what, check_frame(frame, what, needed))
    inputs = [tx, *others.values()]

    # Values first (cheap checks, clear errors), then the kernels.
    index = _customer_codes(inputs, customer_)
    n = len(index)
    total_rows = 0
    kept_rows = 0
    for item in inputs:
        ticks = date_ticks(item.frame, item.what, date_)
        late = ticks.values > ticks.scalar(as_of_ns)
        item.codes[late] = n
        item.ticks = ticks
        total_rows += len(late)
        kept_rows += len(late) - int(late.sum())
    amounts = amount_array(tx.frame, "transactions", amount_)
    methods = (
        None
        if settlement_ is None
        else enum_codes(tx.frame, "transactions", settlement_, SettlementMethod, missing_code=4)
    )
    refund_amounts = (
        amount_array(others["refunds"].frame, "refunds", amount_) if "refunds" in others else None
    )
    severities = (
        enum_codes(others["complaints"].frame, "complaints", severity_, Severity)
        if "complaints" in others
        else None
    )
    channels = (
        enum_codes(others["interactions"].frame, "interactions", channel_, Channel)
        if "interactions" in others
        else None
    )
    scores = (
        _survey_scores(others["surveys"].frame, score_, scale_) if "surveys" in others else None
    )
    if total_rows and not kept_rows:
        earliest = min(
            int(item.ticks.values.min()) * (10**9 // TICKS_PER_SECOND[item.ticks.unit])
            for item in inputs
            if len(item.ticks.values)
        )
        raise FrameError(
            "as_of is before all data: no activity at or before it",
            column=date_,
            expected=f"as_of at or after the earliest activity ({pd.Timestamp(earliest, tz='UTC')})",
            got=str(stamp),
        )

    tx_ticks = tx.ticks
    parts: dict[str, Array] = purchase_kernel(
        tx.codes,
        n,
        tx_ticks.values,
        tx_ticks.per_day,
        amounts,
        methods,
        last3_start=tx_ticks.scalar(int(shift_months(stamp, -3).value)),
        prev3_start=tx_ticks.scalar(int(shift_months(stamp, -6).value)),
    )
    seen = parts["count"] > 0
    zeros = np.zeros(n, dtype=np.int64)
    parts["refund_total"] = np.zeros(n)
    parts["complaints"] = np.zeros((len(SEVERITY_COLUMNS), n), dtype=np.int64)
    parts["referrals"] = zeros
    parts["interactions"] = np.zeros((len(CHANNEL_COLUMNS), n), dtype=np.int64)
    parts["survey"] = np.full(n, np.nan)
    if "refunds" in others and refund_amounts is not None:
        item = others["refunds"]
        parts["refund_total"] = weighted_sums(item.codes, n, refund_amounts)
        seen |= row_counts(item.codes, n) > 0
    if "complaints" in others and severities is not None:
        parts["complaints"] = category_counts(
            others["complaints"].codes, n, severities, len(SEVERITY_COLUMNS)
        )
        seen |= parts["complaints"].sum(axis=0) > 0
    if "referrals" in others:
        parts["referrals"] = row_counts(others["referrals"].codes, n)
        seen |= parts["referrals"] > 0
    if "interactions" in others and channels is not None:
        parts["interactions"] = category_counts(
            others["interactions"].codes, n, channels, len(CHANNEL_COLUMNS)
        )
        seen |= parts["interactions"].sum(axis=0) > 0
    if "surveys" in others and scores is not None:
        item = others["surveys"]
        parts["survey"] = latest_mean(item.codes, n, item.ticks.values, scores)
        seen |= ~np.isnan(parts["survey"])

    for item in inputs:  # free the row-sized arrays before building the result
        item.codes = np.empty(0, dtype=np.intp)
    del amounts, methods, refund_amounts, severities, channels, scores
    keep = np.flatnonzero(seen)
    if len(keep) < n:
        parts = {key: value[..., keep] for key, value in parts.items()}
    columns = _assemble(parts, tx_ticks, as_of_ns, days_per_unit, date_)
    result = pd.DataFrame(columns, index=index[keep].rename(customer_), copy=False)
    # Recorded for the models that read the repeat-purchase summary (crmkit.clv).
    result.attrs["crmkit.time_unit"] = time_unit
    result.attrs["crmkit.as_of"] = stamp.isoformat()
    return extend_frame(result, exts, time_unit)


def _to_ns(ticks: npt.NDArray[np.int64], unit: str, column: str) -> npt.NDArray[np.int64]:
    """Tick timestamps (with INT64_MIN for none) as nanoseconds; refuses dates outside 1677-2262."""
    factor = 10**9 // TICKS_PER_SECOND[unit]
    if factor == 1:
        return ticks
    none = ticks == INT64_MIN
    limit = np.iinfo(np.int64).max // factor
    outside = ~none & ((ticks > limit) | (ticks < -limit))
    if outside.any():
        raise FrameError(
            f"transactions[{column!r}] has purchase dates outside 1677-09-22 .. 2262-04-11",
            column=column,
            expected="purchase dates that fit a datetime64[ns] (1677-09-22 .. 2262-04-11)",
        )
    out = np.where(none, INT64_MIN, ticks * factor)
    return out.astype(np.int64, copy=False)


def _assemble(
    parts: dict[str, Array], ticks: Ticks, as_of_ns: int, days_per_unit: int, date: str
) -> dict[str, Any]:
    """The feature columns from the kernels' per-customer parts (only per-customer arrays)."""
    count = parts["count"]
    has = count > 0
    first_ns = _to_ns(np.where(has, parts["first"], INT64_MIN), ticks.unit, date)
    last_ns = _to_ns(np.where(has, parts["last"], INT64_MIN), ticks.unit, date)
    base = {
        **parts,
        "first_ns": first_ns,
        "last_ns": last_ns,
        "as_of_ns": as_of_ns,
        "days_per_unit": days_per_unit,
    }
    d = derive(base)
    columns: dict[str, Any] = {
        "total_spend": d["total_spend"],
        "refund_total": parts["refund_total"],
        "purchase_count": count,
        "purchase_days": parts["days"],
        "first_purchase": _utc(first_ns),
        "last_purchase": _utc(last_ns),
        "days_since_last_purchase": d["days_since_last_purchase"],
        "tenure_months": d["tenure_months"],
        "active_months": parts["months"],
        "monthly_frequency": d["monthly_frequency"],
        "monthly_avg_spend": d["monthly_avg_spend"],
        "spend_last_3m": parts["spend_last3"],
        "spend_prev_3m": parts["spend_prev3"],
    }
    for i, name in enumerate(SETTLEMENT_COLUMNS):
        columns[name] = d["settlement_shares"][i]
    for name in ("repeat_purchases", "repeat_span", "age", "repeat_avg_spend"):
        columns[name] = d[name]
    columns["complaint_count"] = d["complaint_count"]
    for i, name in enumerate(SEVERITY_COLUMNS):
        columns[name] = parts["complaints"][i]
    columns["referrals_made"] = parts["referrals"]
    columns["interaction_count"] = d["interaction_count"]
    for i, name in enumerate(CHANNEL_COLUMNS):
        columns[name] = parts["interactions"][i]
    columns["latest_survey_score"] = parts["survey"]
    for name, values in columns.items():  # one dtype per kind, whatever numpy chose
        kind = FEATURE_KINDS[name]
        if kind == "int":
            columns[name] = np.ascontiguousarray(values, dtype=np.int64)
        elif kind == "float":
            columns[name] = np.ascontiguousarray(values, dtype=np.float64)
    if tuple(columns) != FEATURE_COLUMNS:  # pragma: no cover - a bug in this module
        raise RuntimeError("feature columns out of order")
    return columns


def _utc(ns: npt.NDArray[np.int64]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
