"""Consent: may this customer (or contact) be contacted for this purpose over this channel?"""

from __future__ import annotations

from datetime import datetime

from crmkit.core import ValidationError, to_instant
from crmkit.domain import Channel, Consent, Contact, Customer, check_text, to_enum

__all__ = ["ANY_PURPOSE", "may_contact"]

#: A consent record with this purpose applies to every purpose on its channel
#: (e.g. a blanket opt-out from all messages by email).
ANY_PURPOSE = "*"


def may_contact(
    party: Customer | Contact,
    purpose: str,
    channel: Channel | str,
    *,
    as_of: datetime,
) -> bool:
    """Whether *party* may be contacted for *purpose* over *channel* at *as_of*.

    Opt-in by default: with no applicable consent record the answer is
    ``False``. The records that apply are those for this channel and either
    this purpose or :data:`ANY_PURPOSE` (``"*"``), made at or before *as_of*.
    For each of the two (purpose, channel) histories the latest record
    decides (a withdrawal wins a tie in time); when both histories have a
    say, the least permissive answer is given: a blanket withdrawal beats a
    specific grant, and a blanket grant does not override a specific
    withdrawal.

    Args:
        party: a customer or a contact (both carry ``consents``).
        purpose: what the contact is for (``"marketing"``, ``"service"``).
        channel: a :class:`~crmkit.domain.Channel` or its value (``"email"``).
        as_of: the time of the contact; timezone-aware.

    Raises:
        ValidationError: a bad party, purpose, channel or naive *as_of*.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Consent, Customer
    >>> t = lambda m: datetime(2025, m, 1, tzinfo=UTC)
    >>> ann = Customer(id="c-1", name="Ann", created_at=t(1), consents=(
    ...     Consent(purpose="marketing", channel="email", granted=True, at=t(1), source="signup"),
    ...     Consent(purpose="*", channel="email", granted=False, at=t(6), source="unsubscribe link"),
    ... ))
    >>> may_contact(ann, "marketing", "email", as_of=t(3))
    True
    >>> may_contact(ann, "marketing", "email", as_of=t(7))   # the blanket opt-out applies
    False
    >>> may_contact(ann, "marketing", "sms", as_of=t(3))     # never asked: opt-in by default
    False
    """
    if not isinstance(party, (Customer, Contact)):
        raise ValidationError("party", expected="a Customer or a Contact", got=type(party).__name__)
    wanted_purpose = check_text("purpose", purpose)
    wanted_channel = to_enum("channel", Channel, channel)
    when = to_instant(as_of, field="as_of")
    latest: dict[str, Consent] = {}
    for record in party.consents:
        if record.channel is not wanted_channel or record.at > when:
            continue
        if record.purpose not in (wanted_purpose, ANY_PURPOSE):
            continue
        seen = latest.get(record.purpose)
        if (
            seen is None
            or record.at > seen.at
            or (record.at == seen.at and seen.granted and not record.granted)
        ):
            latest[record.purpose] = record
    return bool(latest) and all(r.granted for r in latest.values())
