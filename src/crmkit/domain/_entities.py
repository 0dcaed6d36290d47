"""Parties: customers (who buy) and contacts (who are cared for on a customer's behalf)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from crmkit.core import ValidationError, to_optional_utc, to_utc
from crmkit.domain._record import Record, check, personal_repr
from crmkit.domain._values import (
    Channel,
    CustomerKind,
    FrozenDict,
    check_id,
    check_optional_id,
    check_optional_text,
    check_text,
    normalize_email,
    normalize_phone,
    to_enum,
    to_fraction,
    to_frozen_dict,
    to_optional_money,
)

__all__ = ["Consent", "Contact", "Customer", "Membership"]


def _kind(field: str, value: object) -> CustomerKind:
    return to_enum(field, CustomerKind, value)


def _channel(field: str, value: object) -> Channel:
    return to_enum(field, Channel, value)


def _bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, expected="True or False", got=value)
    return value


def _version(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(field, expected="an integer version >= 0", got=value)
    return value


def _personal_text(field: str, value: object) -> str:
    return check_text(field, value, personal=True)


def _personal_optional_utc(field: str, value: object) -> datetime | None:
    try:
        return to_optional_utc(field, value)
    except ValidationError as exc:
        raise ValidationError(
            field, expected=exc.expected or "a timestamp", got=value, hint=exc.hint, personal=True
        ) from None


def _personal_attributes(field: str, value: object) -> FrozenDict[str, Any]:
    try:
        return to_frozen_dict(field, value)
    except ValidationError as exc:
        raise ValidationError(
            exc.field, expected=exc.expected or "a mapping", got=value, personal=True
        ) from None


def _consents(field: str, value: object) -> tuple[Consent, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValidationError(field, expected="a sequence of Consent records", got=value)
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            item = Consent(**item)
        if not isinstance(item, Consent):
            raise ValidationError(f"{field}[{i}]", expected="a Consent", got=item)
        out.append(item)
    return tuple(out)


def _membership(field: str, value: object) -> Membership | None:
    if isinstance(value, dict):
        value = Membership(**value)
    if value is not None and not isinstance(value, Membership):
        raise ValidationError(field, expected="a Membership or None", got=value)
    return value


@attrs.frozen(kw_only=True)
class Consent(Record):
    """A record of consent given or withdrawn for one purpose over one channel.

    Consents are kept as a history: a later record for the same purpose and
    channel supersedes an earlier one.

    >>> from datetime import UTC, datetime
    >>> c = Consent(purpose="marketing", channel="email", granted=True,
    ...             at=datetime(2025, 1, 1, tzinfo=UTC), source="signup form")
    >>> c.channel
    <Channel.EMAIL: 'email'>
    """

    type_name: ClassVar[str] = "consent"

    purpose: str = attrs.field(metadata=check(check_text))
    channel: Channel = attrs.field(metadata=check(_channel))
    granted: bool = attrs.field(metadata=check(_bool))
    at: datetime = attrs.field(metadata=check(to_utc))
    source: str | None = attrs.field(default=None, metadata=check(check_optional_text))


@attrs.frozen(kw_only=True)
class Membership(Record):
    """Enrolment in the loyalty programme: since when, and at which tier."""

    type_name: ClassVar[str] = "membership"

    since: datetime = attrs.field(metadata=check(to_utc))
    tier: str = attrs.field(metadata=check(check_text))


@attrs.frozen(kw_only=True)
class Customer(Record):
    """A party that buys: a person (individual) or an organisation (company).

    An individual may be attached to a company customer (``company_id``), so that
    the company's spend, scattered over its staff's own records, can be rolled
    up to it. Profile attributes that staff enter (spending budget, share of
    wallet, influence tier) feed the composite value model; anything else goes
    into ``attributes``.

    Attributes:
        id: the host's identifier.
        name: display name (personal data).
        created_at: when the customer was first recorded (UTC).
        kind: ``individual`` or ``company``.
        company_id: for an individual, the company customer they buy for.
        email: normalised email address (personal data).
        phone: normalised phone number (personal data).
        spending_budget: what the customer can spend in the category per year.
        share_of_wallet: the share (0-1) of that budget spent with us.
        influence: influence tier label; the default labels are ``none``,
            ``senior_position`` and ``celebrity``, and a value model maps any
            labels it declares.
        membership: loyalty-programme enrolment, if any.
        consents: consent records for contacting this customer.
        attributes: further profile attributes (str, number or bool values);
            personal data, since free-form values may identify a person.
        version: optimistic-concurrency version; repositories manage it.

    >>> from datetime import UTC, datetime
    >>> acme = Customer(id="c-1", name="ACME Trading", kind="company",
    ...                 created_at=datetime(2024, 3, 1, tzinfo=UTC))
    >>> ann = Customer(id="c-2", name="Ann Lee", company_id="c-1",
    ...                created_at=datetime(2024, 3, 2, tzinfo=UTC), email=" Ann@Example.COM ")
    >>> ann.email
    'ann@example.com'
    >>> ann
    Customer(id='c-2', name=<withheld>, created_at=..., kind=<CustomerKind.INDIVIDUAL: 'individual'>, company_id='c-1', email=<withheld>, ...)
    """

    type_name: ClassVar[str] = "customer"

    id: str = attrs.field(metadata=check(check_id))
    name: str = attrs.field(metadata=check(_personal_text, personal=True), repr=personal_repr)
    created_at: datetime = attrs.field(metadata=check(to_utc))
    kind: CustomerKind = attrs.field(default=CustomerKind.INDIVIDUAL, metadata=check(_kind))
    company_id: str | None = attrs.field(default=None, metadata=check(check_optional_id))
    email: str | None = attrs.field(
        default=None, metadata=check(normalize_email, personal=True), repr=personal_repr
    )
    phone: str | None = attrs.field(
        default=None, metadata=check(normalize_phone, personal=True), repr=personal_repr
    )
    spending_budget: Decimal | None = attrs.field(default=None, metadata=check(to_optional_money))
    share_of_wallet: float | None = attrs.field(default=None, metadata=check(to_fraction))
    influence: str = attrs.field(default="none", metadata=check(check_text))
    membership: Membership | None = attrs.field(default=None, metadata=check(_membership))
    consents: tuple[Consent, ...] = attrs.field(default=(), metadata=check(_consents))
    attributes: FrozenDict[str, Any] = attrs.field(
        factory=FrozenDict,
        metadata=check(_personal_attributes, personal=True),
        repr=personal_repr,
    )
    version: int = attrs.field(default=0, metadata=check(_version))

    def _validate(self) -> None:
        if self.company_id is not None:
            if self.kind is CustomerKind.COMPANY:
                raise ValidationError(
                    "Customer.company_id",
                    expected="None for a company customer (only individuals belong to a company)",
                    got=self.company_id,
                )
            if self.company_id == self.id:
                raise ValidationError(
                    "Customer.company_id",
                    expected="the id of another customer",
                    got=self.company_id,
                )

    @property
    def is_member(self) -> bool:
        """Whether the customer is enrolled in the loyalty programme."""
        return self.membership is not None


def _contact_role(field: str, value: object) -> str:
    return check_text(field, value, max_len=100)


@attrs.frozen(kw_only=True)
class Contact(Record):
    """A person cared for (greeted, reminded, invited) on a customer's behalf.

    A company customer's contacts are its staff; an individual's are family
    members or an assistant. Spend is analysed on customers; care and
    communication go to customers and their contacts.

    Attributes:
        id: the host's identifier.
        customer_id: the customer this contact belongs to.
        name: the contact's name (personal data).
        role: free text such as ``purchasing manager``, ``spouse``, ``assistant``.
        primary: whether this is the customer's main contact.
        email: normalised email address (personal data).
        phone: normalised phone number (personal data).
        birthday: for greetings, if known (personal data).
        consents: consent records per purpose and channel.
        version: optimistic-concurrency version; repositories manage it.

    >>> from datetime import UTC, datetime
    >>> Contact(id="k-1", customer_id="c-1", name="Bo Chen", role="purchasing manager",
    ...         phone="+86 (10) 1234-5678").phone
    '+861012345678'
    """

    type_name: ClassVar[str] = "contact"

    id: str = attrs.field(metadata=check(check_id))
    customer_id: str = attrs.field(metadata=check(check_id))
    name: str = attrs.field(metadata=check(_personal_text, personal=True), repr=personal_repr)
    role: str = attrs.field(metadata=check(_contact_role))
    primary: bool = attrs.field(default=False, metadata=check(_bool))
    email: str | None = attrs.field(
        default=None, metadata=check(normalize_email, personal=True), repr=personal_repr
    )
    phone: str | None = attrs.field(
        default=None, metadata=check(normalize_phone, personal=True), repr=personal_repr
    )
    birthday: datetime | None = attrs.field(
        default=None,
        metadata=check(_personal_optional_utc, personal=True),
        repr=personal_repr,
    )
    consents: tuple[Consent, ...] = attrs.field(default=(), metadata=check(_consents))
    version: int = attrs.field(default=0, metadata=check(_version))
