"""Splitting a transaction log at a calibration end: what was known then, and what happened next."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np
import pandas as pd

from crmkit.core import (
    TICKS_PER_SECOND,
    FrameError,
    ValidationError,
    check_frame,
    date_ticks,
    parse_as_of,
)
from crmkit.scoring import AsOf, FeatureExtension, TimeUnit, check_extensions, features

__all__ = ["Split", "split"]

_NS_PER_DAY = 86_400 * 10**9


def _instant(value: object, field: str) -> pd.Timestamp:
    """*value* by the as_of rule (crmkit.core): a date is midnight UTC, naive means UTC."""
    return parse_as_of(value, field=field)


def _times(frame: pd.DataFrame, column: str) -> pd.Series[Any]:
    """The timestamp column as UTC datetimes, read by the frame boundary (naive = UTC)."""
    ticks = date_ticks(frame, "transactions", column)
    ns = ticks.values * (1_000_000_000 // TICKS_PER_SECOND[ticks.unit])
    return pd.Series(
        pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC"), index=frame.index
    )


@attrs.frozen(eq=False)
class Split:
    """A transaction log split at a calibration end (build it with :func:`split`).

    The *base* is every customer with a purchase in the calibration period;
    the outcome of each is what they did in the holdout.

    Attributes:
        calibration: the transactions at or before ``calibration_end`` (and
            at or after ``calibration_start`` when given).
        holdout: the transactions after ``calibration_end`` and at or before
            ``holdout_end``, of customers in the base.
        calibration_start: the first calibration transaction's time (or the
            ``calibration_start`` given), UTC; a lifecycle replay starts here.
        calibration_end: the end of the calibration period (UTC); scores are
            computed as of this instant.
        holdout_end: the end of the holdout period (UTC).
        outcome: one row per customer of the base (index named after the
            customer column): ``buys_again`` (bool, a purchase in the
            holdout), ``holdout_purchases`` (purchase days in the holdout:
            purchases on one day are one occasion) and ``holdout_spend``.
        newcomers: customers whose first purchase is in the holdout (not in
            the base: nothing was known about them at the calibration end).
        customer: the customer-id column name.
        date: the timestamp column name.
        amount: the amount column name.
        extensions: feature extensions (e.g. :class:`crmkit.clv.ClvFeatures`)
            added to :meth:`features` and read by a replayed lifecycle.
    """

    calibration: pd.DataFrame
    holdout: pd.DataFrame
    calibration_start: pd.Timestamp
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    outcome: pd.DataFrame
    newcomers: int
    customer: str
    date: str
    amount: str
    extensions: tuple[FeatureExtension, ...] = ()
    _cache: dict[str, pd.DataFrame] = attrs.field(factory=dict, repr=False, alias="_cache")

    @property
    def customers(self) -> pd.Index:
        """The customers of the base, in the order of :attr:`outcome`."""
        return self.outcome.index

    @property
    def holdout_days(self) -> float:
        """The length of the holdout in days (a horizon for predictions)."""
        return float((self.holdout_end - self.calibration_end).value / _NS_PER_DAY)

    def features(self, time_unit: TimeUnit = "D") -> pd.DataFrame:
        """Every base customer's features as of the calibration end (computed once per unit).

        ``time_unit="W"`` gives the repeat-purchase summary in weeks, the
        input of the customer-base models. The split's extensions' columns
        are added (computed from the calibration period only).
        """
        if time_unit not in self._cache:
            self._cache[time_unit] = features(
                self.calibration,
                as_of=self.calibration_end,
                customer=self.customer,
                date=self.date,
                amount=self.amount,
                time_unit=time_unit,
                extensions=self.extensions,
            )
        return self._cache[time_unit]


def split(
    transactions: pd.DataFrame,
    *,
    calibration_end: AsOf,
    holdout_end: AsOf | None = None,
    calibration_start: AsOf | None = None,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    extensions: Iterable[FeatureExtension] = (),
) -> Split:
    """Split *transactions* at *calibration_end*: the calibration log, and each customer's holdout.

    As everywhere in crmkit, a date means midnight UTC at its start and
    activity at or before an instant counts, so with
    ``calibration_end="1997-09-30"`` purchases stamped 30 September are in the
    calibration period. The holdout is what comes after, up to *holdout_end*
    (default: the last transaction). *extensions* (e.g.
    :class:`crmkit.clv.ClvFeatures`) add their columns to the split's features,
    so that scores may read a model's forecasts: fit those models on the
    calibration period only (``split(...).features(time_unit="W")``), or the
    holdout leaks into the scores.

    Raises:
        MissingColumnError: a named column is absent.
        FrameError: bad timestamps or amounts (naming the column and rows),
            no purchase in the calibration period, or none after it.
        ValidationError: the periods are out of order.

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b", "a", "c"],
    ...     "occurred_at": pd.to_datetime(["2025-01-05", "2025-02-01", "2025-02-03",
    ...                                    "2025-04-02", "2025-04-09"]),
    ...     "amount": [10.0, 20.0, 5.0, 30.0, 8.0]})
    >>> s = split(tx, calibration_end="2025-03-01", holdout_end="2025-06-30")
    >>> s.outcome
                 buys_again  holdout_purchases  holdout_spend
    customer_id
    a                  True                  1           30.0
    b                 False                  0            0.0
    >>> s.newcomers, s.holdout_days
    (1, 121.0)
    """
    exts = check_extensions(extensions)
    for field, name in (("customer", customer), ("date", date), ("amount", amount)):
        if not isinstance(name, str) or not name:
            raise ValidationError(field, expected="a column name", got=name)
    transactions = check_frame(transactions, "transactions", [customer, date, amount])
    cal_end = _instant(calibration_end, "calibration_end")
    times = _times(transactions, date)
    if holdout_end is None:
        hold_end = times.max()
        if hold_end <= cal_end:
            raise FrameError(
                f"no purchase in the holdout (after {cal_end.isoformat()})",
                column=date,
                expected="a calibration_end before the last transaction",
                got=f"the last transaction is at {hold_end.isoformat()}",
            )
    else:
        hold_end = _instant(holdout_end, "holdout_end")
    if hold_end <= cal_end:
        raise ValidationError(
            "holdout_end",
            expected=f"an instant after calibration_end ({cal_end.isoformat()})",
            got=hold_end.isoformat(),
        )
    start = None if calibration_start is None else _instant(calibration_start, "calibration_start")
    if start is not None and start >= cal_end:
        raise ValidationError(
            "calibration_start",
            expected=f"an instant before calibration_end ({cal_end.isoformat()})",
            got=start.isoformat(),
        )
    spend = transactions[amount]
    if not pd.api.types.is_numeric_dtype(spend.dtype) or pd.api.types.is_bool_dtype(spend.dtype):
        raise FrameError(
            f"column {amount!r} is not numeric",
            column=amount,
            expected="numbers",
            got=str(spend.dtype),
        )
    values = spend.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise FrameError(
            f"column {amount!r} has amounts that are missing, infinite or negative",
            column=amount,
            rows=list(transactions.index[bad]),
            expected="finite amounts >= 0",
        )
    in_cal = (times <= cal_end).to_numpy()
    if start is not None:
        in_cal &= (times >= start).to_numpy()
    if not in_cal.any():
        first = times.min().isoformat()
        raise FrameError(
            f"no purchase in the calibration period (up to {cal_end.isoformat()})",
            column=date,
            expected="a calibration_end after the first transaction",
            got=f"the first transaction is at {first}",
        )
    calibration = transactions.loc[in_cal]
    base = pd.Index(pd.unique(calibration[customer]), name=customer)
    after = ((times > cal_end) & (times <= hold_end)).to_numpy()
    if not after.any():
        last = times.max().isoformat()
        raise FrameError(
            f"no purchase in the holdout ({cal_end.isoformat()} .. {hold_end.isoformat()}]",
            column=date,
            expected="a calibration_end before the last transaction",
            got=f"the last transaction is at {last}",
        )
    later = transactions.loc[after]
    known = later[customer].isin(base).to_numpy()
    earlier = set(transactions.loc[(times <= cal_end).to_numpy(), customer])
    newcomers = int(pd.Index(pd.unique(later.loc[~known, customer])).difference(earlier).size)
    holdout = later.loc[known]
    days = times[after][known].dt.floor("D")
    grouped = pd.DataFrame(
        {"c": holdout[customer].to_numpy(), "d": days.to_numpy(), "a": values[after][known]}
    )
    purchases = grouped.groupby("c", sort=False)["d"].nunique()
    spent = grouped.groupby("c", sort=False)["a"].sum()
    outcome = pd.DataFrame(
        {
            "holdout_purchases": purchases.reindex(base, fill_value=0).astype(np.int64).to_numpy(),
            "holdout_spend": spent.reindex(base, fill_value=0.0).astype(np.float64).to_numpy(),
        },
        index=base,
    )
    outcome.insert(0, "buys_again", outcome["holdout_purchases"].to_numpy() > 0)
    return Split(
        calibration=calibration,
        holdout=holdout,
        calibration_start=times[in_cal].min() if start is None else start,
        calibration_end=cal_end,
        holdout_end=hold_end,
        outcome=outcome,
        newcomers=newcomers,
        customer=customer,
        date=date,
        amount=amount,
        extensions=exts,
    )
