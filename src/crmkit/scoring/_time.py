"""The time rule for frames and features: ``as_of``, timestamp columns, day and month arithmetic.

Everything is UTC. Timestamps travel as ``int64`` ticks (seconds, milliseconds,
microseconds or nanoseconds since the epoch, whatever the column holds), so
that a column is never copied just to change its resolution; the few scalars
(``as_of``, window bounds) are converted to the column's tick instead. Results
in days are computed as ``whole_days + remainder / ticks_per_day``, which gives
the same float for every tick size (and in the scalar path), so the frame and
scalar paths agree exactly.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.errors import ValidationError

__all__ = [
    "DAYS_PER_MONTH",
    "NS_PER_DAY",
    "TICKS_PER_SECOND",
    "AsOf",
    "day_of",
    "days_between",
    "days_between_array",
    "parse_as_of",
    "shift_months",
    "to_ns",
]

AsOf: TypeAlias = str | date | datetime | pd.Timestamp
"""What ``as_of`` accepts: an ISO 8601 string, a ``date``, a ``datetime`` or a ``pandas.Timestamp``."""

NS_PER_DAY: Final = 86_400_000_000_000
TICKS_PER_SECOND: Final = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
DAYS_PER_MONTH: Final = 365.25 / 12  # 30.4375, exact in binary

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AS_OF_EXPECTED = "a date, datetime, pandas Timestamp or ISO 8601 string"


def parse_as_of(value: object, *, field: str = "as_of") -> pd.Timestamp:
    """Return *value* as a UTC ``pandas.Timestamp`` with nanosecond resolution.

    A ``date`` (or a date-only string) means midnight UTC at the start of that
    day. A naive ``datetime`` or string is taken as UTC, as naive timestamp
    columns are; an aware one is converted to UTC.

    >>> parse_as_of("1997-09-30")
    Timestamp('1997-09-30 00:00:00+0000', tz='UTC')
    >>> parse_as_of("2025-01-01T08:00+08:00")
    Timestamp('2025-01-01 00:00:00+0000', tz='UTC')
    >>> parse_as_of(date(2025, 1, 1)) == parse_as_of(datetime(2025, 1, 1))
    True
    """
    if isinstance(value, bool) or value is None:
        raise ValidationError(field, expected=_AS_OF_EXPECTED, got=value)
    if isinstance(value, str):
        try:
            stamp = pd.Timestamp(value.strip())
        except (ValueError, TypeError, OverflowError):
            raise ValidationError(field, expected=_AS_OF_EXPECTED, got=value) from None
    elif isinstance(value, datetime):  # includes pandas.Timestamp
        stamp = pd.Timestamp(value)
    elif isinstance(value, date):
        stamp = pd.Timestamp(value.year, value.month, value.day)
    else:
        raise ValidationError(field, expected=_AS_OF_EXPECTED, got=value)
    if pd.isna(stamp):
        raise ValidationError(field, expected=_AS_OF_EXPECTED, got=value)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    try:
        return stamp.as_unit("ns")
    except (ValueError, OverflowError):
        raise ValidationError(
            field, expected="a time between 1677-09-22 and 2262-04-11", got=value
        ) from None


def shift_months(stamp: pd.Timestamp, months: int) -> pd.Timestamp:
    """Move *stamp* by whole calendar months, clipping the day to the month's length.

    This is how ``pandas.DateOffset(months=n)`` moves a timestamp; the time of
    day is kept.

    >>> shift_months(pd.Timestamp("2025-05-31 10:00", tz="UTC"), -3)
    Timestamp('2025-02-28 10:00:00+0000', tz='UTC')
    """
    index = stamp.year * 12 + stamp.month - 1 + months
    year, month0 = divmod(index, 12)
    day = min(stamp.day, calendar.monthrange(year, month0 + 1)[1])
    return stamp.replace(year=year, month=month0 + 1, day=day)


def to_ns(when: datetime) -> int:
    """Nanoseconds since the epoch of an aware ``datetime`` (exact, integer arithmetic)."""
    if isinstance(when, pd.Timestamp):
        return int(when.as_unit("ns").value)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def day_of(ns: int) -> int:
    """The UTC calendar day (days since 1970-01-01) of a nanosecond timestamp."""
    return ns // NS_PER_DAY


def days_between(later_ns: int, earlier_ns: int) -> float:
    """``(later - earlier)`` in days, computed as whole days plus a fraction.

    >>> days_between(NS_PER_DAY * 3 // 2, 0)
    1.5
    """
    whole, rest = divmod(later_ns - earlier_ns, NS_PER_DAY)
    return whole + rest / NS_PER_DAY


def days_between_array(
    later: int, earlier: npt.NDArray[np.int64], ticks_per_day: int
) -> npt.NDArray[np.float64]:
    """Vector form of :func:`days_between` for ticks of any size (same floats)."""
    diff = later - earlier
    whole = diff // ticks_per_day
    rest = diff - whole * ticks_per_day
    out: npt.NDArray[np.float64] = whole.astype(np.float64)
    out += rest / ticks_per_day
    return out
