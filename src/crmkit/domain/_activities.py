"""Activities: what happened between the business and a customer, as immutable facts.

Every activity has an ``id`` (the host's, and the idempotency key when it is
appended), the ``customer_id`` it belongs to, and when it ``occurred_at`` (UTC).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

import attrs

from crmkit.core import ValidationError, to_optional_utc, to_utc
from crmkit.domain._record import Record, check, personal_fields, personal_repr
from crmkit.domain._values import (
    Channel,
    ComplaintStatus,
    Direction,
    ReferralStatus,
    SettlementMethod,
    Severity,
    SurveyScale,
    check_id,
    check_optional_id,
    check_optional_text,
    to_enum,
    to_money,
)

__all__ = [
    "ACTIVITY_TYPES",
    "Activity",
    "ActivityBase",
    "Complaint",
    "Interaction",
    "Purchase",
    "Referral",
    "Refund",
    "SurveyResponse",
    "check_refund",
    "check_refund_owner",
    "check_rewrite",
    "refundable_amount",
]


def _currency(field: str, value: object) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
        raise ValidationError(field, expected="a 3-letter ISO 4217 code such as 'CNY'", got=value)
    return value.upper()


def _settlement(field: str, value: object) -> SettlementMethod | None:
    return to_enum(field, SettlementMethod, value, optional=True)


def _guests(field: str, value: object) -> frozenset[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError(field, expected="a set of customer ids", got=value)
    return frozenset(check_id(f"{field} item", g) for g in value)


def _severity(field: str, value: object) -> Severity:
    return to_enum(field, Severity, value)


def _complaint_status(field: str, value: object) -> ComplaintStatus:
    return to_enum(field, ComplaintStatus, value)


def _referral_status(field: str, value: object) -> ReferralStatus:
    return to_enum(field, ReferralStatus, value)


def _channel(field: str, value: object) -> Channel:
    return to_enum(field, Channel, value)


def _optional_channel(field: str, value: object) -> Channel | None:
    return to_enum(field, Channel, value, optional=True)


def _direction(field: str, value: object) -> Direction:
    return to_enum(field, Direction, value)


def _scale(field: str, value: object) -> SurveyScale:
    return to_enum(field, SurveyScale, value)


def _free_text(field: str, value: object) -> str | None:
    # Free text written about a customer (a complaint's topic, a survey comment)
    # may name or describe a person: personal data, withheld from repr and errors.
    return check_optional_text(field, value, personal=True)


def _score(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, expected="an integer score", got=value)
    return value


@attrs.frozen(kw_only=True)
class ActivityBase(Record):
    """Fields every activity has."""

    id: str = attrs.field(metadata=check(check_id))
    customer_id: str = attrs.field(metadata=check(check_id))
    occurred_at: datetime = attrs.field(metadata=check(to_utc))


@attrs.frozen(kw_only=True)
class Purchase(ActivityBase):
    """A purchase paid by ``customer_id``, possibly hosting guests.

    Attributes:
        amount: what was paid, ``Decimal`` >= 0 (floats are converted exactly as written).
        currency: ISO 4217 code.
        settlement: how it was settled (prepaid, cash, on_time, on_account), if recorded.
        guests: ids of customers who were treated (invited guests); never the payer.

    >>> from datetime import UTC, datetime
    >>> p = Purchase(id="p-1", customer_id="c-1", occurred_at=datetime(2025, 5, 1, tzinfo=UTC),
    ...              amount=88.5, currency="cny", settlement="on_account", guests={"c-7"})
    >>> p.amount, p.currency, p.settlement
    (Decimal('88.5'), 'CNY', <SettlementMethod.ON_ACCOUNT: 'on_account'>)
    """

    type_name: ClassVar[str] = "purchase"

    amount: Decimal = attrs.field(metadata=check(to_money))
    currency: str = attrs.field(metadata=check(_currency))
    settlement: SettlementMethod | None = attrs.field(default=None, metadata=check(_settlement))
    guests: frozenset[str] = attrs.field(default=frozenset(), metadata=check(_guests))

    def _validate(self) -> None:
        if self.customer_id in self.guests:
            raise ValidationError(
                "Purchase.guests",
                expected="guests other than the paying customer",
                got=sorted(self.guests),
                hint=f"{self.customer_id!r} pays, so cannot also be a guest",
            )


@attrs.frozen(kw_only=True)
class Refund(ActivityBase):
    """Money given back for (part of) a purchase. It never deletes the purchase.

    Repositories check on append that the purchase exists, belongs to the same
    customer and currency, and that all its refunds together do not exceed it
    (see :func:`refundable_amount`).
    """

    type_name: ClassVar[str] = "refund"

    purchase_id: str = attrs.field(metadata=check(check_id))
    amount: Decimal = attrs.field(metadata=check(to_money))
    currency: str = attrs.field(metadata=check(_currency))
    reason: str | None = attrs.field(
        default=None, metadata=check(_free_text, personal=True), repr=personal_repr
    )

    def _validate(self) -> None:
        if self.amount == 0:
            raise ValidationError("Refund.amount", expected="an amount > 0", got=self.amount)


@attrs.frozen(kw_only=True)
class Complaint(ActivityBase):
    """A complaint, opened at ``occurred_at``, with a severity and a status."""

    type_name: ClassVar[str] = "complaint"

    severity: Severity = attrs.field(metadata=check(_severity))
    status: ComplaintStatus = attrs.field(
        default=ComplaintStatus.OPEN, metadata=check(_complaint_status)
    )
    resolved_at: datetime | None = attrs.field(default=None, metadata=check(to_optional_utc))
    channel: Channel | None = attrs.field(default=None, metadata=check(_optional_channel))
    topic: str | None = attrs.field(
        default=None, metadata=check(_free_text, personal=True), repr=personal_repr
    )

    def _validate(self) -> None:
        done = self.status in (ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED)
        if done and self.resolved_at is None:
            raise ValidationError(
                "Complaint.resolved_at",
                expected=f"a timestamp when status is {self.status.value!r}",
                got=None,
            )
        if not done and self.resolved_at is not None:
            raise ValidationError(
                "Complaint.resolved_at",
                expected=f"None while status is {self.status.value!r}",
                got=self.resolved_at,
            )
        if self.resolved_at is not None and self.resolved_at < self.occurred_at:
            raise ValidationError(
                "Complaint.resolved_at",
                expected=f"a time at or after occurred_at ({self.occurred_at.isoformat()})",
                got=self.resolved_at,
            )


@attrs.frozen(kw_only=True)
class Referral(ActivityBase):
    """``customer_id`` (the referrer) brought ``referred_id`` to the business."""

    type_name: ClassVar[str] = "referral"

    referred_id: str = attrs.field(metadata=check(check_id))
    channel: str | None = attrs.field(default=None, metadata=check(check_optional_text))
    status: ReferralStatus = attrs.field(
        default=ReferralStatus.PENDING, metadata=check(_referral_status)
    )

    def _validate(self) -> None:
        if self.referred_id == self.customer_id:
            raise ValidationError(
                "Referral.referred_id",
                expected="a customer other than the referrer",
                got=self.referred_id,
            )


@attrs.frozen(kw_only=True)
class Interaction(ActivityBase):
    """A contact between the business and a customer (or one of its contacts)."""

    type_name: ClassVar[str] = "interaction"

    channel: Channel = attrs.field(metadata=check(_channel))
    direction: Direction = attrs.field(metadata=check(_direction))
    contact_id: str | None = attrs.field(default=None, metadata=check(check_optional_id))
    topic: str | None = attrs.field(
        default=None, metadata=check(_free_text, personal=True), repr=personal_repr
    )


@attrs.frozen(kw_only=True)
class SurveyResponse(ActivityBase):
    """A satisfaction score: CSAT on 1-5 or NPS on 0-10.

    >>> from datetime import UTC, datetime
    >>> SurveyResponse(id="s-1", customer_id="c-1", occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
    ...                scale="nps", score=11)
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: SurveyResponse.score is invalid: expected an integer from 0 to 10 on the nps scale, got 11
    """

    type_name: ClassVar[str] = "survey_response"

    scale: SurveyScale = attrs.field(metadata=check(_scale))
    score: int = attrs.field(metadata=check(_score))
    comment: str | None = attrs.field(
        default=None, metadata=check(_free_text, personal=True), repr=personal_repr
    )

    def _validate(self) -> None:
        low, high = self.scale.bounds
        if not low <= self.score <= high:
            raise ValidationError(
                "SurveyResponse.score",
                expected=f"an integer from {low} to {high} on the {self.scale.value} scale",
                got=self.score,
            )


Activity = Purchase | Refund | Complaint | Referral | Interaction | SurveyResponse
"""Any activity."""

ACTIVITY_TYPES: dict[str, type[ActivityBase]] = {
    cls.type_name: cls
    for cls in (Purchase, Refund, Complaint, Referral, Interaction, SurveyResponse)
}


def refundable_amount(purchase: Purchase, refunds: Iterable[Refund]) -> Decimal:
    """What is left of *purchase* to refund after *refunds* (those of other purchases are ignored).

    >>> from datetime import UTC, datetime
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> p = Purchase(id="p", customer_id="c", occurred_at=t, amount=100, currency="EUR")
    >>> r = Refund(id="r", customer_id="c", occurred_at=t, purchase_id="p", amount=30, currency="EUR")
    >>> refundable_amount(p, [r])
    Decimal('70')
    """
    spent = sum((r.amount for r in refunds if r.purchase_id == purchase.id), Decimal(0))
    return purchase.amount - spent


def check_refund(purchase: Purchase | None, earlier: Iterable[Refund], refund: Refund) -> None:
    """Raise :class:`ValidationError` unless *refund* may be appended after *earlier* refunds.

    Every :class:`ActivityRepository` calls this before it stores a refund:
    *purchase* is the stored activity named by ``refund.purchase_id`` (``None``
    if there is none, or if it is not a purchase) and *earlier* the refunds of
    it stored so far. The purchase must exist, belong to the same customer and
    currency, not be later than the refund, and all refunds together must not
    exceed it.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> p = Purchase(id="p", customer_id="c", occurred_at=t, amount=100, currency="EUR")
    >>> r1 = Refund(id="r1", customer_id="c", occurred_at=t, purchase_id="p", amount=70, currency="EUR")
    >>> r2 = Refund(id="r2", customer_id="c", occurred_at=t, purchase_id="p", amount=40, currency="EUR")
    >>> check_refund(p, [], r1)
    >>> check_refund(p, [r1], r2)
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: Refund.amount is invalid: expected at most 30 (what is left of purchase 'p'), got Decimal('40')
    """
    if purchase is None:
        raise ValidationError(
            "Refund.purchase_id",
            expected="the id of a purchase already recorded",
            got=refund.purchase_id,
        )
    if purchase.customer_id != refund.customer_id:
        raise ValidationError(
            "Refund.customer_id",
            expected=f"the paying customer of purchase {purchase.id!r} ({purchase.customer_id!r})",
            got=refund.customer_id,
        )
    if purchase.currency != refund.currency:
        raise ValidationError(
            "Refund.currency",
            expected=f"the purchase's currency {purchase.currency!r}",
            got=refund.currency,
        )
    if refund.occurred_at < purchase.occurred_at:
        raise ValidationError(
            "Refund.occurred_at",
            expected=f"a time at or after the purchase ({purchase.occurred_at.isoformat()})",
            got=refund.occurred_at,
        )
    left = refundable_amount(purchase, earlier)
    if refund.amount > left:
        raise ValidationError(
            "Refund.amount",
            expected=f"at most {left} (what is left of purchase {purchase.id!r})",
            got=refund.amount,
        )


_REWRITABLE = frozenset({"customer_id", "guests", "referred_id"})


def check_rewrite(stored: Activity, new: object) -> None:
    """Raise :class:`ValidationError` unless *new* may replace the *stored* activity.

    Only the customer an activity belongs to, its references to other
    customers (``guests``, ``referred_id``) and its personal fields may change
    (a merge re-points, an erasure redacts). Type, times, amounts, currencies
    and every other field must stay as they are: money-like history is never
    changed. Every :class:`RewritableActivityRepository` calls this.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> p = Purchase(id="p", customer_id="c-1", occurred_at=t, amount=100, currency="EUR")
    >>> check_rewrite(p, attrs.evolve(p, customer_id="c-2"))
    >>> check_rewrite(p, attrs.evolve(p, amount=99))
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: Purchase.amount is invalid: expected the stored value (only customer_id, guests, referred_id and personal fields may be rewritten), got Decimal('99')
    """
    if type(new) is not type(stored):
        raise ValidationError(
            "activity",
            expected=f"a {type(stored).__name__} (the type of the stored activity {stored.id!r})",
            got=type(new).__name__,
        )
    may_change = _REWRITABLE | personal_fields(type(stored))
    for f in attrs.fields(type(stored)):
        if f.name in may_change:
            continue
        if getattr(stored, f.name) != getattr(new, f.name):
            raise ValidationError(
                f"{type(stored).__name__}.{f.name}",
                expected=(
                    "the stored value (only customer_id, guests, referred_id and personal"
                    " fields may be rewritten)"
                ),
                got=getattr(new, f.name),
            )


def check_refund_owner(purchase: Activity | None, refund: Refund) -> None:
    """Raise :class:`ValidationError` if *refund* belongs to another customer than *purchase*.

    Rewritable repositories check every refund a rewrite touches (directly, or
    through its purchase), so a purchase and its refunds move together. The
    error names the field ``Refund.customer_id``.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> p = Purchase(id="p", customer_id="c-1", occurred_at=t, amount=100, currency="EUR")
    >>> r = Refund(id="r", customer_id="c-2", occurred_at=t, purchase_id="p", amount=5, currency="EUR")
    >>> check_refund_owner(attrs.evolve(p, customer_id="c-2"), r)
    >>> check_refund_owner(p, r)
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: Refund.customer_id is invalid: expected the customer of purchase 'p' ('c-1'); re-point a purchase and its refunds together, got 'c-2'
    """
    if purchase is not None and purchase.customer_id != refund.customer_id:
        raise ValidationError(
            "Refund.customer_id",
            expected=(
                f"the customer of purchase {purchase.id!r} ({purchase.customer_id!r});"
                " re-point a purchase and its refunds together"
            ),
            got=refund.customer_id,
        )
