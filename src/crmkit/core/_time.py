"""The one time module: instants, ``as_of``, day and month arithmetic.

Two rules, one parser (:func:`parse_iso`, ISO 8601 text only: ``"2025-03-01"``,
``"2025-03-01T09:30+08:00"``, ``"20250301"``; ``"01/07/1998"`` is refused, never
read as 7 January or 1 July):

* **recorded facts** (entity and activity timestamps, :func:`to_utc`) must be
  timezone-aware: a naive value is refused, because guessing its zone would
  silently move activity across day and month boundaries;
* **points in time a caller asks about** (``as_of``, ``at=``, window and
  campaign bounds in configurations: :func:`parse_as_of`, :func:`to_instant`)
  take a date as midnight UTC at the start of that day and a naive value as
  UTC, as naive timestamp columns are.

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
import re
from datetime import UTC, date, datetime
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core._errors import ValidationError

__all__ = [
    "DAYS_PER_MONTH",
    "NS_PER_DAY",
    "TICKS_PER_SECOND",
    "AsOf",
    "check_window",
    "day_of",
    "days_between",
    "days_between_array",
    "month_index",
    "month_start",
    "parse_as_of",
    "parse_iso",
    "shift_months",
    "to_instant",
    "to_ns",
    "to_optional_utc",
    "to_utc",
]

AsOf: TypeAlias = str | date | datetime | pd.Timestamp
"""What ``as_of`` accepts: an ISO 8601 string, a ``date``, a ``datetime`` or a ``pandas.Timestamp``."""

NS_PER_DAY: Final = 86_400_000_000_000
TICKS_PER_SECOND: Final = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
DAYS_PER_MONTH: Final = 365.25 / 12  # 30.4375, exact in binary

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_MONTH = re.compile(r"^\d{4}-\d{2}$")
_AS_OF_EXPECTED = "a date, datetime, pandas Timestamp or ISO 8601 string"


def parse_iso(text: str, *, field: str, expected: str = _AS_OF_EXPECTED) -> datetime:
    """Parse ISO 8601 *text* (a date, or a date and time with an optional zone).

    Only ISO 8601 is read (Python's :meth:`datetime.fromisoformat`, and a
    calendar month such as ``"2025-03"``, its first day): locale
    formats such as ``"01/07/1998"`` are ambiguous and refused. The result is
    naive when the text has no zone.

    >>> parse_iso("2025-03-01", field="start")
    datetime.datetime(2025, 3, 1, 0, 0)
    >>> parse_iso("2025-03-01T09:30Z", field="start")
    datetime.datetime(2025, 3, 1, 9, 30, tzinfo=datetime.timezone.utc)
    >>> parse_iso("01/07/1998", field="start")
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: start is invalid: expected a date, datetime, pandas Timestamp or ISO 8601 string, got '01/07/1998' (only ISO 8601 is read, e.g. '1998-07-01' or '1998-07-01T09:30:00+08:00')
    """
    text = text.strip()
    try:
        if _YEAR_MONTH.match(text):  # ISO 8601 calendar month, e.g. "2025-03"
            return datetime(int(text[:4]), int(text[5:7]), 1)
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            field,
            expected=expected,
            got=text,
            hint="only ISO 8601 is read, e.g. '1998-07-01' or '1998-07-01T09:30:00+08:00'",
        ) from None


def parse_as_of(value: object, *, field: str = "as_of") -> pd.Timestamp:
    """Return *value* as a UTC ``pandas.Timestamp`` with nanosecond resolution.

    A ``date`` (or a date-only string) means midnight UTC at the start of that
    day. A naive ``datetime`` or string is taken as UTC, as naive timestamp
    columns are; an aware one is converted to UTC. Strings are ISO 8601 only
    (:func:`parse_iso`).

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
        parsed = parse_iso(value, field=field)
        try:
            stamp = pd.Timestamp(parsed)
        except (ValueError, OverflowError):
            raise ValidationError(
                field, expected="a time between 1677-09-22 and 2262-04-11", got=value
            ) from None
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


def to_instant(value: object, *, field: str) -> datetime:
    """A point in time a caller asks about (``at=``, a window bound), as a plain UTC ``datetime``.

    The :func:`parse_as_of` rule: a date is midnight UTC, a naive value is UTC,
    text is ISO 8601.

    >>> to_instant("2025-03-05", field="at")
    datetime.datetime(2025, 3, 5, 0, 0, tzinfo=datetime.timezone.utc)
    >>> to_instant(date(2025, 3, 5), field="at") == to_instant("2025-03-05T08:00+08:00", field="at")
    True
    """
    if isinstance(value, datetime) and not isinstance(value, pd.Timestamp):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            value = value.replace(tzinfo=UTC)
        return to_utc(field, value)
    # datetime holds microseconds: the instant is truncated to them (pandas would warn)
    return to_utc(field, parse_as_of(value, field=field).floor("us").to_pydatetime())


def check_window(start: object, end: object) -> tuple[datetime | None, datetime | None]:
    """The ``start`` / ``end`` of a query (either may be ``None``), by the :func:`to_instant` rule.

    Every repository query over a time window (activities, transitions)
    reads its bounds with this, so hosts' adapters can too.

    >>> check_window("2025-01-01", None)
    (datetime.datetime(2025, 1, 1, 0, 0, tzinfo=datetime.timezone.utc), None)
    """
    return (
        None if start is None else to_instant(start, field="start"),
        None if end is None else to_instant(end, field="end"),
    )


def to_utc(field: str, value: object) -> datetime:
    """A recorded fact's timestamp: an aware datetime (or ISO 8601 text with a zone), in UTC.

    Naive datetimes and zone-less text are refused (see the module's rules).
    The result is a plain ``datetime`` (never a ``pandas.Timestamp``), so
    records compare equal whatever they were built from.

    >>> to_utc("occurred_at", "2025-03-01T09:30+08:00")
    datetime.datetime(2025, 3, 1, 1, 30, tzinfo=datetime.timezone.utc)
    >>> to_utc("occurred_at", datetime(2025, 3, 1))
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: occurred_at is invalid: expected a timezone-aware datetime, got datetime.datetime(2025, 3, 1, 0, 0) (naive datetimes are rejected; attach a zone, e.g. datetime(..., tzinfo=UTC))
    """
    if isinstance(value, str):
        value = parse_iso(value, field=field, expected="an ISO 8601 timestamp with a UTC offset")
    if not isinstance(value, datetime):
        hint = "a date is not a timestamp; use datetime(y, m, d, tzinfo=UTC)"
        raise ValidationError(
            field,
            expected="a timezone-aware datetime",
            got=value,
            hint=hint if isinstance(value, date) else None,
        )
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValidationError(
            field,
            expected="a timezone-aware datetime",
            got=value,
            hint="naive datetimes are rejected; attach a zone, e.g. datetime(..., tzinfo=UTC)",
        )
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            field, expected="a timestamp whose UTC time is within years 1-9999", got=value
        ) from None
    # pandas.Timestamp is a datetime subclass; store the plain type so records compare equal.
    if type(value) is not datetime:
        value = datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=UTC,
        )
    return value


def to_optional_utc(field: str, value: object) -> datetime | None:
    """Like :func:`to_utc`, allowing ``None``."""
    return None if value is None else to_utc(field, value)


def month_index(when: datetime) -> int:
    """The calendar month of *when* as one integer (``year * 12 + month - 1``).

    >>> month_index(datetime(2025, 3, 31, tzinfo=UTC)) - month_index(datetime(2024, 12, 1, tzinfo=UTC))
    3
    """
    return when.year * 12 + when.month - 1


def month_start(index: int) -> datetime:
    """Midnight UTC on the first day of the month :func:`month_index` numbers *index*.

    >>> month_start(month_index(datetime(2025, 3, 31, tzinfo=UTC)))
    datetime.datetime(2025, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def shift_months(stamp: pd.Timestamp, months: int) -> pd.Timestamp:
    """Move *stamp* by whole calendar months, clipping the day to the month's length.

    This is how ``pandas.DateOffset(months=n)`` moves a timestamp; the time of
    day is kept.

    >>> shift_months(pd.Timestamp("2025-05-31 10:00", tz="UTC"), -3)
    Timestamp('2025-02-28 10:00:00+0000', tz='UTC')
    """
    index = month_index(stamp) + months
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
