"""Value objects, enumerations and the converters that validate entity fields.

The time rule (documented in Concepts): every timestamp is timezone-aware and
stored in UTC. A naive ``datetime`` is rejected with a :class:`ValidationError`
naming the field, because guessing its zone silently shifts activity across
day and month boundaries, which moves features, stages and points.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, overload

from crmkit.domain._errors import ValidationError, did_you_mean

__all__ = [
    "Channel",
    "ComplaintStatus",
    "CustomerKind",
    "Direction",
    "FrozenDict",
    "ReferralStatus",
    "SettlementMethod",
    "Severity",
    "SurveyScale",
]


class CustomerKind(enum.StrEnum):
    """Whether a customer is a person or an organisation."""

    INDIVIDUAL = "individual"
    COMPANY = "company"


class SettlementMethod(enum.StrEnum):
    """How a purchase was settled; the credit component values each at its own rate."""

    PREPAID = "prepaid"
    CASH = "cash"
    ON_TIME = "on_time"
    ON_ACCOUNT = "on_account"


class Severity(enum.StrEnum):
    """How serious a complaint is, from least to most."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ComplaintStatus(enum.StrEnum):
    """Where a complaint stands."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class ReferralStatus(enum.StrEnum):
    """Whether the referred person became a customer."""

    PENDING = "pending"
    CONVERTED = "converted"
    DECLINED = "declined"


class Channel(enum.StrEnum):
    """A channel through which the business and a customer interact."""

    PHONE = "phone"
    CALL_CENTRE = "call_centre"
    SMS = "sms"
    EMAIL = "email"
    DIRECT_MAIL = "direct_mail"
    SOCIAL = "social"
    WEB = "web"
    IN_PERSON = "in_person"


class Direction(enum.StrEnum):
    """Who started an interaction: the customer (inbound) or the business (outbound)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class SurveyScale(enum.StrEnum):
    """The scale of a survey score: CSAT is 1-5, NPS is 0-10."""

    CSAT = "csat"
    NPS = "nps"

    @property
    def bounds(self) -> tuple[int, int]:
        """The lowest and highest valid score on this scale."""
        return (1, 5) if self is SurveyScale.CSAT else (0, 10)


_K = TypeVar("_K")
_V = TypeVar("_V")


class FrozenDict(Mapping[_K, _V]):
    """An immutable, hashable mapping (used for free-form profile attributes).

    >>> attrs_ = FrozenDict({"vip": True, "region": "north"})
    >>> attrs_["region"]
    'north'
    >>> attrs_ == {"region": "north", "vip": True}
    True
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[_K, _V] | Iterable[tuple[_K, _V]] = ()) -> None:
        self._data: dict[_K, _V] = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: _K) -> _V:
        return self._data[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


# ---------------------------------------------------------------- converters
# Each converter takes the field name so that errors can name it.

_ID_MAX = 200


def _storable(text: str) -> bool:
    """Whether *text* has no control characters and no lone surrogates.

    Ids are keys in every store: a lone surrogate cannot be encoded as UTF-8
    (so no database can hold it), and control characters are invisible.
    """
    if text.isascii():
        return text.isprintable()
    return not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def check_id(field: str, value: object) -> str:
    """Return *value* if it is a usable identifier: a non-empty, trimmed string.

    It must not contain control characters or lone surrogates.
    """
    if (
        not isinstance(value, str)
        or not value
        or value != value.strip()
        or len(value) > _ID_MAX
        or not _storable(value)
    ):
        raise ValidationError(
            field,
            expected=(
                f"a non-empty string id without surrounding spaces or control characters,"
                f" at most {_ID_MAX} chars"
            ),
            got=value,
        )
    return value


def check_optional_id(field: str, value: object) -> str | None:
    """Like :func:`check_id`, allowing ``None``."""
    return None if value is None else check_id(field, value)


def check_text(field: str, value: object, *, personal: bool = False, max_len: int = 500) -> str:
    """Return *value* with surrounding white space removed; it must not be empty."""
    if not isinstance(value, str):
        raise ValidationError(field, expected="a string", got=value, personal=personal)
    text = " ".join(value.split())
    if not text or len(text) > max_len:
        raise ValidationError(
            field,
            expected=f"a non-empty string of at most {max_len} characters",
            got=value,
            personal=personal,
        )
    return text


def check_optional_text(field: str, value: object, *, personal: bool = False) -> str | None:
    """Like :func:`check_text`, allowing ``None``."""
    return None if value is None else check_text(field, value, personal=personal)


def to_utc(field: str, value: object) -> datetime:
    """Return an aware datetime in UTC; reject naive datetimes, accept ISO 8601 strings.

    *field* names the argument in the error.

    >>> from datetime import timedelta, timezone
    >>> to_utc("at", datetime(2025, 1, 1, 9, tzinfo=timezone(timedelta(hours=8))))
    datetime.datetime(2025, 1, 1, 1, 0, tzinfo=datetime.timezone.utc)
    >>> to_utc("at", "2025-01-01T09:00:00+08:00").hour
    1
    >>> to_utc("at", datetime(2025, 1, 1))
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: at is invalid: expected a timezone-aware datetime, got datetime.datetime(2025, 1, 1, 0, 0) (naive datetimes are rejected; attach a zone, e.g. datetime(..., tzinfo=UTC))
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                field, expected="an ISO 8601 timestamp with a UTC offset", got=value
            ) from None
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
    """Like :func:`to_utc`, allowing ``None`` (an open end of a time window).

    >>> to_optional_utc("start", None) is None
    True
    """
    return None if value is None else to_utc(field, value)


def to_money(field: str, value: object, *, allow_none: bool = False) -> Decimal:
    """Return a finite, non-negative Decimal amount.

    Floats are converted through their shortest repr, so ``0.1`` becomes
    ``Decimal("0.1")`` rather than its binary expansion.
    """
    expected = "a finite amount >= 0 (Decimal, int, float or numeric string)"
    if isinstance(value, bool):
        raise ValidationError(field, expected=expected, got=value)
    try:
        if isinstance(value, Decimal):
            amount = value
        elif isinstance(value, int):
            amount = Decimal(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValidationError(field, expected=expected, got=value)
            amount = Decimal(repr(value))
        elif isinstance(value, str):
            amount = Decimal(value.strip())
        else:
            raise ValidationError(field, expected=expected, got=value)
    except InvalidOperation:
        raise ValidationError(field, expected=expected, got=value) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError(field, expected=expected, got=value)
    return amount


def to_optional_money(field: str, value: object) -> Decimal | None:
    """Like :func:`to_money`, allowing ``None``."""
    return None if value is None else to_money(field, value)


_E = TypeVar("_E", bound=enum.StrEnum)


@overload
def to_enum(field: str, enum_type: type[_E], value: object) -> _E: ...
@overload
def to_enum(field: str, enum_type: type[_E], value: object, *, optional: bool) -> _E | None: ...
def to_enum(field: str, enum_type: type[_E], value: object, *, optional: bool = False) -> _E | None:
    """Return the enum member named by *value* (its string value or the member itself)."""
    if value is None and optional:
        return None
    if isinstance(value, enum_type):
        return value
    allowed = [m.value for m in enum_type]
    if isinstance(value, str):
        try:
            return enum_type(value.strip().lower())
        except ValueError:
            pass
    hint = did_you_mean(value, allowed) if isinstance(value, str) else None
    raise ValidationError(
        field, expected="one of " + ", ".join(repr(a) for a in allowed), got=value, hint=hint
    )


def to_fraction(field: str, value: object) -> float | None:
    """Return a float in [0, 1] (a share), or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValidationError(field, expected="a number between 0 and 1", got=value)
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValidationError(field, expected="a number between 0 and 1", got=value)
    share = float(value)
    if not (0.0 <= share <= 1.0):
        raise ValidationError(field, expected="a number between 0 and 1", got=value)
    return share


_EMAIL = re.compile(r"^[^@\s]+@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def normalize_email(field: str, value: object) -> str | None:
    """Trim an email address and lower-case it; reject malformed ones.

    The whole address is lower-cased: mailbox names are case-insensitive at every
    provider that matters, and one spelling per address is what duplicate
    detection needs.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, expected="an email address", got=value, personal=True)
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationError(
            field, expected="an email address like name@example.com", got=value, personal=True
        )
    return email


_PHONE_SEPARATORS = re.compile(r"[\s\-.()/]")


def normalize_phone(field: str, value: object) -> str | None:
    """Strip separators from a phone number; keep a leading ``+`` (``00`` becomes ``+``).

    The result is digits only, optionally after ``+``, 5 to 15 digits (the
    E.164 maximum). Country-aware normalisation to E.164 lives in the data
    quality module.
    """
    if value is None:
        return None
    expected = "a phone number of 5-15 digits, optionally starting with + (e.g. +86 10 1234 5678)"
    if not isinstance(value, str):
        raise ValidationError(field, expected=expected, got=value, personal=True)
    phone = _PHONE_SEPARATORS.sub("", value.strip())
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    digits = phone[1:] if phone.startswith("+") else phone
    if not digits.isascii() or not digits.isdigit() or not (5 <= len(digits) <= 15):
        raise ValidationError(field, expected=expected, got=value, personal=True)
    return phone


def to_frozen_dict(field: str, value: object) -> FrozenDict[str, Any]:
    """Return an immutable mapping of attribute name to a scalar (str, number, bool, None)."""
    if isinstance(value, FrozenDict):
        return value
    if not isinstance(value, Mapping):
        raise ValidationError(field, expected="a mapping of names to scalars", got=value)
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"{field} key", expected="a non-empty string", got=key)
        if (item is not None and not isinstance(item, (str, int, float, bool))) or (
            isinstance(item, float) and not math.isfinite(item)
        ):
            # Non-finite floats are not JSON, so no store could keep them.
            raise ValidationError(
                f"{field}[{key!r}]", expected="a str, int, finite float, bool or None", got=item
            )
    return FrozenDict(value)
