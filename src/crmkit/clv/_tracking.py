"""Tracking a fitted purchase model against a transaction log, period by period."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from crmkit.clv._bgnbd import BGNBD
from crmkit.clv._pareto import ParetoNBD
from crmkit.core import FrameError, MissingColumnError, ValidationError

__all__ = ["tracking"]

_DAYS = {"D": 1, "W": 7}
_NS_PER_DAY = 86_400 * 10**9


def _day(value: object, field: str) -> int:
    """A date-like value as whole days since the epoch (UTC; a naive value is UTC)."""
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(
            field, expected="a date, datetime or ISO 8601 string", got=value
        ) from None
    if pd.isna(stamp):
        raise ValidationError(field, expected="a date, datetime or ISO 8601 string", got=value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // _NS_PER_DAY)


def tracking(
    model: BGNBD | ParetoNBD,
    transactions: pd.DataFrame,
    *,
    start: Any,
    calibration_end: Any,
    end: Any,
    customer: str = "customer_id",
    date: str = "occurred_at",
    period_days: int = 7,
) -> pd.DataFrame:
    """Repeat purchases per period, actual against what *model* expects, for a cohort.

    The cohort is every customer whose first purchase falls between *start*
    and *calibration_end* (inclusive). Purchases on one day form one
    purchase occasion, as in ``features``; the first is not a repeat. The
    expectation of each customer is the model's ``expected_purchases_new``
    from their first purchase day on, so the periods after *calibration_end*
    are a true holdout for a model fitted at *calibration_end*.

    Args:
        model: a fitted (or published) BG/NBD, MBG/NBD or Pareto/NBD model.
        transactions: one row per purchase.
        start: first day of the first period (a date; naive values are UTC).
        calibration_end: last day a cohort member may first purchase on.
        end: last day tracked.
        customer: customer-id column.
        date: timestamp column (naive values are UTC).
        period_days: length of a period in days (7: weeks).

    Returns:
        A frame indexed by each period's first day (``period``) with
        ``actual`` and ``expected`` repeat purchases and their cumulative
        sums ``actual_cumulative`` and ``expected_cumulative``.

    >>> import pandas as pd
    >>> from crmkit.clv import BGNBD
    >>> m = BGNBD(r=0.2426, alpha=4.4135, a=0.7929, b=2.4258, time_unit="W")
    >>> tx = pd.DataFrame({"customer_id": [1, 1, 2],
    ...                    "occurred_at": pd.to_datetime(["2025-01-01", "2025-01-09", "2025-01-02"])})
    >>> t = tracking(m, tx, start="2025-01-01", calibration_end="2025-01-07", end="2025-01-21")
    >>> t["actual"].tolist(), [round(v, 3) for v in t["expected_cumulative"]]
    ([0, 1, 0], [0.084, 0.185, 0.281])
    """
    if not isinstance(model, BGNBD | ParetoNBD):
        raise ValidationError(
            "model", expected="a BGNBD, MBGNBD or ParetoNBD", got=type(model).__name__
        )
    if not isinstance(transactions, pd.DataFrame):
        raise ValidationError(
            "transactions", expected="a pandas DataFrame", got=type(transactions).__name__
        )
    if isinstance(period_days, bool) or not isinstance(period_days, int) or period_days < 1:
        raise ValidationError(
            "period_days", expected="a whole number of days >= 1", got=period_days
        )
    missing = [c for c in (customer, date) if c not in transactions.columns]
    if missing:
        raise MissingColumnError(missing, list(transactions.columns))
    first_day, cal_day, end_day = (
        _day(start, "start"),
        _day(calibration_end, "calibration_end"),
        _day(end, "end"),
    )
    if not first_day <= cal_day <= end_day:
        raise ValidationError("end", expected="start <= calibration_end <= end", got=end)
    column = transactions[date]
    try:
        stamps = pd.to_datetime(column, utc=True)
    except (TypeError, ValueError):
        raise FrameError(
            f"transactions[{date!r}] is not a timestamp column", column=date, expected="timestamps"
        ) from None
    if stamps.isna().any():
        raise FrameError(
            f"transactions[{date!r}] has missing timestamps",
            column=date,
            rows=list(transactions.index[stamps.isna().to_numpy()][:10]),
            expected="a timestamp in every row",
        )
    days = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64) // _NS_PER_DAY
    occasions = pd.DataFrame({"c": transactions[customer].to_numpy(), "d": days})
    occasions = occasions[(occasions["d"] >= first_day) & (occasions["d"] <= end_day)]
    occasions = occasions.drop_duplicates()
    firsts = occasions.groupby("c", sort=False)["d"].min()
    cohort = firsts[firsts <= cal_day]
    repeats = occasions[occasions["c"].isin(cohort.index)]
    repeats = repeats[repeats["d"] > repeats["c"].map(cohort).to_numpy()]

    periods = math.ceil((end_day - first_day + 1) / period_days)
    actual = np.bincount(
        ((repeats["d"].to_numpy() - first_day) // period_days).astype(np.intp), minlength=periods
    )[:periods]
    offsets, counts = np.unique(cohort.to_numpy() - first_day, return_counts=True)
    last = np.minimum(first_day + period_days * np.arange(1, periods + 1) - 1, end_day) - first_day
    ages = last[:, None] - offsets[None, :]  # days from each first purchase to each period's end
    unit = _DAYS[model.unit]
    values, inverse = np.unique(np.maximum(ages, 0), return_inverse=True)
    expected_at = model.expected_purchases_new(values / unit)[inverse.reshape(ages.shape)]
    expected_at = np.where(ages >= 0, expected_at, 0.0)
    cumulative = np.add.reduce(expected_at * counts.astype(np.float64), axis=1)
    index = pd.DatetimeIndex(
        ((first_day + period_days * np.arange(periods)) * _NS_PER_DAY).astype("datetime64[ns]"),
        name="period",
    ).tz_localize("UTC")
    actual_cumulative = np.cumsum(actual)
    return pd.DataFrame(
        {
            "actual": actual.astype(np.int64),
            "expected": np.diff(cumulative, prepend=0.0),
            "actual_cumulative": actual_cumulative.astype(np.int64),
            "expected_cumulative": cumulative,
        },
        index=index,
    )
