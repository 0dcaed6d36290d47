"""Ledger entries and lots: the immutable facts a points balance is folded from.

One record type, ``"loyalty_entry"``, with a :class:`EntryKind` field (``earn``,
``redeem``, ``expire``, ``reverse``, ``adjust``): the persisted name never
changes when a kind is added. Points are signed integers: an earn (and a
positive adjust) adds points and opens a *lot*; a redeem, expire, reverse or
negative adjust takes points and records in ``draws`` which lots it took them
from.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

import attrs

from crmkit.core import ConflictError, ValidationError, to_optional_utc, to_utc
from crmkit.domain import (
    Record,
    check,
    check_id,
    from_record,
    is_storable,
    register_record_type,
    to_enum,
    to_optional_money,
)

__all__ = [
    "MAX_POINTS",
    "EntryKind",
    "LedgerEntry",
    "Lot",
    "entry_from_record",
    "idempotency_key",
    "same_content",
]

#: The most points one entry may carry, and the largest balance (either sign).
#:
#: 10**15 is below 2**53, so every balance, lot and frame column of points is
#: an exact float64 (and an exact JSON number for JavaScript readers), and far
#: below 2**63: no sum of a customer's entries can overflow the 64-bit
#: integers of SQLite and PostgreSQL, so a cached balance always equals the
#: fold of the entries.
MAX_POINTS: Final = 10**15


class EntryKind(enum.StrEnum):
    """What a ledger entry does to a balance."""

    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    REVERSE = "reverse"
    ADJUST = "adjust"


def escape_part(part: str) -> str:
    """One part of an idempotency key, with ``%`` and ``|`` percent-escaped."""
    if "%" in part or "|" in part:
        return part.replace("%", "%25").replace("|", "%7C")
    return part


def idempotency_key(source_kind: str, source_id: str, rule: str, period: str) -> str:
    """The idempotency key of an entry: its source kind, source id, rule and period.

    The four parts are joined with ``|`` (a ``|`` or ``%`` inside a part is
    percent-escaped, so different parts never give the same key).

    >>> idempotency_key("purchase", "p-1", "base", "")
    'purchase|p-1|base|'
    >>> idempotency_key("a|b", "c", "d", "2025-01")
    'a%7Cb|c|d|2025-01'
    """
    return f"{escape_part(source_kind)}|{escape_part(source_id)}|{escape_part(rule)}|{escape_part(period)}"


def _points(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_POINTS:
        raise ValidationError(
            field, expected=f"a whole number of points (int) within +-{MAX_POINTS}", got=value
        )
    return int(value)


def check_part(field: str, value: object) -> str:
    """A rule, period or source id part: a printable string of at most 1000 characters."""
    if not isinstance(value, str) or len(value) > 1000 or (value and not is_storable(value)):
        raise ValidationError(
            field, expected="a string of at most 1000 printable characters", got=value
        )
    return value


def _source_id(field: str, value: object) -> str:
    if isinstance(value, str) and not value:
        raise ValidationError(field, expected="a non-empty string", got=value)
    return check_part(field, value)


def _draws(field: str, value: object) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, (list, tuple)):
        raise ValidationError(field, expected="a sequence of (lot key, points) pairs", got=value)
    out: list[tuple[str, int]] = []
    for item in value:
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 2
            or not isinstance(item[0], str)
            or isinstance(item[1], bool)
            or not isinstance(item[1], int)
            or item[1] <= 0
        ):
            raise ValidationError(
                field, expected="(lot key, points > 0) pairs", got=item, hint="as in draws"
            )
        out.append((item[0], int(item[1])))
    return tuple(out)


@register_record_type
@attrs.frozen(kw_only=True)
class LedgerEntry(Record):
    """One immutable entry of the points ledger.

    Attributes:
        customer_id: whose points.
        kind: what the entry does (:class:`EntryKind`).
        points: signed points: > 0 for earn, < 0 for redeem and expire,
            <= 0 for reverse, non-zero for adjust.
        at: when (aware, stored in UTC).
        source_kind: what caused it (``"purchase"``, ``"refund"``, ``"reward"``...).
        source_id: the id of the cause (a purchase id, a month...).
        rule: the earning rule (or ``""``).
        period: the period the entry is for (``"2025-03"``, or ``""``).
        expires_at: when the points of an earn / positive adjust lapse (``None``: never).
        refers_to: the key of the award a reversal reverses.
        amount: the money amount of the source (a purchase's amount for an
            earn, a refund's for a reversal), used for proportional reversals.
        draws: the lots a taking entry took its points from, as ``(lot key, points)``.

    >>> from datetime import UTC, datetime
    >>> e = LedgerEntry(customer_id="c-1", kind="earn", points=12,
    ...                 at=datetime(2025, 1, 2, tzinfo=UTC),
    ...                 source_kind="purchase", source_id="p-1", rule="base")
    >>> e.key, e.kind
    ('purchase|p-1|base|', <EntryKind.EARN: 'earn'>)
    """

    type_name: ClassVar[str] = "loyalty_entry"

    customer_id: str = attrs.field(metadata=check(check_id))
    kind: EntryKind = attrs.field(metadata=check(lambda f, v: to_enum(f, EntryKind, v)))
    points: int = attrs.field(metadata=check(_points))
    at: datetime = attrs.field(metadata=check(to_utc))
    source_kind: str = attrs.field(metadata=check(check_id))
    source_id: str = attrs.field(metadata=check(_source_id))
    rule: str = attrs.field(default="", metadata=check(check_part))
    period: str = attrs.field(default="", metadata=check(check_part))
    expires_at: datetime | None = attrs.field(default=None, metadata=check(to_optional_utc))
    refers_to: str | None = attrs.field(
        default=None, metadata=check(lambda f, v: None if v is None else _source_id(f, v))
    )
    amount: Decimal | None = attrs.field(default=None, metadata=check(to_optional_money))
    draws: tuple[tuple[str, int], ...] = attrs.field(default=(), metadata=check(_draws))

    @property
    def key(self) -> str:
        """The idempotency key (:func:`idempotency_key` of source kind, source id, rule, period)."""
        return self._key

    @functools.cached_property
    def _key(self) -> str:
        # Computed once per entry (a slot, not a field: never compared, stored or encoded).
        return idempotency_key(self.source_kind, self.source_id, self.rule, self.period)

    @property
    def opens_lot(self) -> bool:
        """Whether this entry adds points (an earn, or a positive adjust): it is a lot."""
        return self.points > 0

    def _validate(self) -> None:
        kind, points = self.kind, self.points
        ok = {
            EntryKind.EARN: points > 0,
            EntryKind.REDEEM: points < 0,
            EntryKind.EXPIRE: points < 0,
            EntryKind.REVERSE: points <= 0,
            EntryKind.ADJUST: points != 0,
        }[kind]
        if not ok:
            expected = {
                EntryKind.EARN: "> 0",
                EntryKind.REDEEM: "< 0",
                EntryKind.EXPIRE: "< 0",
                EntryKind.REVERSE: "<= 0",
                EntryKind.ADJUST: "!= 0",
            }[kind]
            raise ValidationError(
                "LedgerEntry.points", expected=f"points {expected} for a {kind} entry", got=points
            )
        if self.draws and points >= 0:
            raise ValidationError(
                "LedgerEntry.draws",
                expected="no draws on an entry that adds points",
                got=self.draws,
            )
        if points < 0 and sum(p for _, p in self.draws) > -points:
            raise ValidationError(
                "LedgerEntry.draws",
                expected=f"draws totalling at most {-points} points",
                got=self.draws,
            )
        if self.expires_at is not None and points <= 0:
            raise ValidationError(
                "LedgerEntry.expires_at",
                expected="None on an entry that takes points",
                got=self.expires_at,
            )
        if self.expires_at is not None and self.expires_at <= self.at:
            raise ValidationError(
                "LedgerEntry.expires_at",
                expected=f"an expiry after the entry's time ({self.at.isoformat()})",
                got=self.expires_at,
                hint="points that lapse when they are earned are never spendable",
            )
        if (self.kind is EntryKind.REVERSE) != (self.refers_to is not None):
            raise ValidationError(
                "LedgerEntry.refers_to",
                expected="the key of the reversed award on a reverse entry, and only there",
                got=self.refers_to,
            )

    @property
    def uncovered(self) -> int:
        """Points this entry took beyond the lots it drew from (a negative balance)."""
        return max(0, -self.points - sum(p for _, p in self.draws))


_new = object.__new__
_set = object.__setattr__


def checked_earn(
    *,
    customer_id: str,
    points: int,
    at: datetime,
    source_kind: str,
    source_id: str,
    rule: str,
    expires_at: datetime | None,
    amount: Decimal | None,
    key: str,
) -> LedgerEntry:
    """An earn entry from values checked already, built without running the checks again.

    The bulk path of the earning rules (one entry per purchase and rule):
    the caller vouches for what :class:`LedgerEntry`'s checks would find,
    and keeps them unchanged: *customer_id* and *source_id* pass
    :func:`~crmkit.domain.check_id` (a :class:`~crmkit.domain.Purchase`'s
    ids do), *source_kind* too, *rule* is a printable string of at most
    1000 characters, *points* an ``int`` in ``1..MAX_POINTS``, *at* a plain
    ``datetime`` in UTC, *expires_at* ``None`` or a later one in UTC,
    *amount* ``None`` or a finite ``Decimal`` >= 0, and *key* is
    :func:`idempotency_key` of the source kind, source id, rule and ``""``.
    The result equals ``LedgerEntry(kind="earn", ...)`` of the same values
    (the tests check it).
    """
    entry: LedgerEntry = _new(LedgerEntry)
    _set(entry, "customer_id", customer_id)
    _set(entry, "kind", EntryKind.EARN)
    _set(entry, "points", points)
    _set(entry, "at", at)
    _set(entry, "source_kind", source_kind)
    _set(entry, "source_id", source_id)
    _set(entry, "rule", rule)
    _set(entry, "period", "")
    _set(entry, "expires_at", expires_at)
    _set(entry, "refers_to", None)
    _set(entry, "amount", amount)
    _set(entry, "draws", ())
    _set(entry, "_key", key)
    return entry


def same_content(stored: LedgerEntry, entry: LedgerEntry) -> bool:
    """Whether *entry* repeats *stored* (same key): same customer, kind, points, amount and award.

    The time, expiry and draws are not compared: a repeat computed later (earning
    rules run again, a retried redemption) is the same write. Anything else under
    a stored key is a :class:`~crmkit.core.ConflictError`.
    """
    return (
        stored.customer_id == entry.customer_id
        and stored.kind is entry.kind
        and stored.points == entry.points
        and stored.amount == entry.amount
        and stored.refers_to == entry.refers_to
    )


def _describe(customer_id: str, kind: object, points: int, amount: Decimal | None) -> str:
    money = "" if amount is None else f", amount {amount}"
    return f"{kind} of {points} points for customer {customer_id!r}{money}"


def conflict(
    stored: LedgerEntry,
    customer_id: str,
    points: int,
    *,
    kind: object = None,
    amount: Decimal | None = None,
) -> ConflictError:
    """The error for a key stored with other content (customer, kind, points, amount)."""
    return ConflictError(
        "ledger entry",
        stored.key,
        expected=_describe(stored.customer_id, stored.kind, stored.points, stored.amount)
        + " (as stored)",
        got=_describe(customer_id, kind or stored.kind, points, amount),
    )


def entry_from_record(data: Mapping[str, Any]) -> LedgerEntry:
    """Rebuild an entry from :func:`crmkit.domain.to_record`'s output.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import to_record
    >>> e = LedgerEntry(customer_id="c-1", kind="redeem", points=-5,
    ...                 at=datetime(2025, 1, 2, tzinfo=UTC), source_kind="reward",
    ...                 source_id="r-1", draws=[("purchase|p-1|base|", 5)])
    >>> entry_from_record(to_record(e)) == e
    True
    """
    if not isinstance(data, Mapping) or data.get("type") != LedgerEntry.type_name:
        got = data.get("type") if isinstance(data, Mapping) else data
        raise ValidationError("record.type", expected=repr(LedgerEntry.type_name), got=got)
    entry = from_record(data)
    if not isinstance(entry, LedgerEntry):  # pragma: no cover - the name is registered above
        raise ValidationError("record.type", expected="a ledger entry", got=type(entry).__name__)
    return entry


@attrs.frozen(kw_only=True)
class Lot:
    """What is left of one award: the points a redemption or an expiry may still take.

    Attributes:
        key: the key of the entry that opened the lot.
        customer_id: whose points.
        points: the points the lot opened with.
        remaining: the points not yet taken (``0 <= remaining <= points``).
        expires_at: when it lapses (``None``: never).
        seq: posting order (ties in expiry are drawn in posting order).
    """

    key: str
    customer_id: str
    points: int
    remaining: int
    expires_at: datetime | None
    seq: int

    def order(self) -> tuple[bool, datetime | None, int]:
        """The draw order: soonest expiry first, never-expiring last, ties by posting order."""
        return (self.expires_at is None, self.expires_at, self.seq)
