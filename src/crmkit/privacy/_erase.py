"""Erasure (the right to be forgotten) and export (a data subject access request) of a customer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from crmkit.core import ValidationError, to_instant
from crmkit.domain import (
    Activity,
    Contact,
    Customer,
    FrozenDict,
    RepositorySet,
    RewritableActivityRepository,
    check_id,
    check_optional_text,
    personal_fields,
    to_record,
)

__all__ = ["ERASED", "ErasureRecord", "erase", "export", "is_erased"]

#: What an erased name becomes (names are required, so they are replaced, not removed).
ERASED = "erased"

#: The attribute that marks an erased customer, holding the erasure time (ISO 8601).
ERASED_AT = "crmkit_erased_at"

#: The export format: ``/2`` added ``named_in`` (other customers' records that name her).
EXPORT_FORMAT = "crmkit-export/2"


@attrs.frozen(kw_only=True)
class ErasureRecord:
    """What :func:`erase` did: keep it as the proof that the request was honoured.

    It holds no personal data: ids, counts and field names only.

    Attributes:
        customer_id: the erased customer (ids are kept so aggregates and the
            points ledger still add up).
        at: when the erasure was made.
        reason: why (e.g. ``"GDPR art. 17 request #123"``), if given.
        customer_fields: the customer's fields that held data and were erased.
        contacts: ids of the contacts whose personal data was erased.
        activities_redacted: ids of activities whose free text was removed.
        activities_kept: how many activities the customer still has (amounts,
            times and types are kept: anonymous aggregates).
    """

    customer_id: str
    at: datetime
    reason: str | None
    customer_fields: tuple[str, ...]
    contacts: tuple[str, ...]
    activities_redacted: tuple[str, ...]
    activities_kept: int

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON types.

        >>> from datetime import UTC, datetime
        >>> ErasureRecord(customer_id="c-1", at=datetime(2025, 1, 1, tzinfo=UTC), reason=None,
        ...               customer_fields=("name",), contacts=(), activities_redacted=(),
        ...               activities_kept=3).to_dict()["at"]
        '2025-01-01T00:00:00+00:00'
        """
        return {
            "customer_id": self.customer_id,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "customer_fields": list(self.customer_fields),
            "contacts": list(self.contacts),
            "activities_redacted": list(self.activities_redacted),
            "activities_kept": self.activities_kept,
        }


def is_erased(customer: Customer) -> bool:
    """Whether *customer* has been erased by :func:`erase`."""
    return ERASED_AT in customer.attributes


def _erased_customer(customer: Customer, at: datetime) -> Customer:
    return attrs.evolve(
        customer,
        name=ERASED,
        email=None,
        phone=None,
        consents=(),
        attributes=FrozenDict({ERASED_AT: at.isoformat()}),
    )


def _erased_contact(contact: Contact) -> Contact:
    return attrs.evolve(contact, name=ERASED, email=None, phone=None, birthday=None, consents=())


def _redacted(activity: Activity) -> Activity:
    fields = personal_fields(type(activity))
    changes: dict[str, Any] = {f: None for f in fields if getattr(activity, f) is not None}
    return attrs.evolve(activity, **changes) if changes else activity


def erase(
    customer_id: str,
    repositories: RepositorySet,
    *,
    at: datetime,
    reason: str | None = None,
    contacts: bool = True,
) -> ErasureRecord:
    """Erase a customer's personal data through the repositories; keep what is not personal.

    The customer's name becomes ``"erased"``; email, phone, consents and
    free-form attributes are removed (the attributes keep only the erasure
    time, see :func:`is_erased`). With *contacts* the customer's contacts are
    erased the same way (birthday included). Every activity is kept, with its
    type, time, amounts and currency, so totals, features and the points
    ledger still add up; its free text (complaint topics, survey comments,
    refund reasons) is removed through
    :meth:`~crmkit.domain.RewritableActivityRepository.rewrite`. Finally, if
    the repository set has a ``purge()`` method, it is called so that old
    copies are cleared from the storage (the SQLite store overwrites them).

    The customer id stays: it is the host's key, and should not itself be
    personal data (re-key first if it is an email address or a phone number).
    Backups, logs and copies the host made are the host's to erase.

    Args:
        customer_id: whom to erase.
        repositories: customers, contacts and activities (see :class:`RepositorySet`).
        at: when the erasure is made (timezone-aware).
        reason: why, for the record (do not put personal data here).
        contacts: erase the customer's contacts too.

    Raises:
        NotFoundError: no such customer.
        ValidationError: an activity has free text to remove but the activity
            repository cannot rewrite; nothing was changed.
        StorageError: ``purge()`` could not clear the SQLite journal (another
            connection is reading); the data is erased, call ``purge()`` again.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Customer, Complaint
    >>> from crmkit.testing import Repositories
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> repos = Repositories.in_memory()
    >>> repos.customers.add(Customer(id="c-1", name="Ann Lee", created_at=t, email="ann@x.com"))
    >>> _ = repos.activities.append(Complaint(id="a-1", customer_id="c-1", occurred_at=t,
    ...                                      severity="low", topic="Ann's order 17 was late"))
    >>> record = erase("c-1", repos, at=t, reason="request #12")
    >>> record.customer_fields, record.activities_redacted, record.activities_kept
    (('email', 'name'), ('a-1',), 1)
    >>> repos.customers.get("c-1").name, repos.activities.get("a-1").topic
    ('erased', None)
    """
    check_id("customer_id", customer_id)
    when = to_instant(at, field="at")
    why = check_optional_text("reason", reason)
    customer = repositories.customers.get(customer_id)
    people = repositories.contacts.for_customer(customer_id) if contacts else []
    log = repositories.activities.for_customer(customer_id)
    redacted = [r for a in log if (r := _redacted(a)) is not a]
    activities = repositories.activities
    rewriter = activities if isinstance(activities, RewritableActivityRepository) else None
    if redacted and rewriter is None:
        raise ValidationError(
            "repositories.activities",
            expected="a RewritableActivityRepository (with rewrite()) to remove free text",
            got=type(activities).__name__,
            hint="implement rewrite(), or erase with a repository that has it",
        )
    erased = _erased_customer(customer, when)
    changed = tuple(
        sorted(
            f
            for f in personal_fields(Customer) | {"consents"}
            if getattr(customer, f) and getattr(customer, f) != getattr(erased, f)
        )
    )
    repositories.customers.update(erased)
    touched: list[str] = []
    for person in people:
        clean = _erased_contact(person)
        if clean != person:
            repositories.contacts.update(clean)
            touched.append(person.id)
    if redacted and rewriter is not None:
        rewriter.rewrite(redacted)
    purge = getattr(repositories, "purge", None)
    if callable(purge):
        purge()
    return ErasureRecord(
        customer_id=customer_id,
        at=when,
        reason=why,
        customer_fields=changed,
        contacts=tuple(touched),
        activities_redacted=tuple(a.id for a in redacted),
        activities_kept=len(log),
    )


def export(
    customer_id: str,
    repositories: RepositorySet,
    *,
    sections: Mapping[str, Callable[[str], Any]] | None = None,
) -> dict[str, Any]:
    """Everything held about a customer, as JSON types (a data subject access request).

    The customer record (consents included), its contacts and its activities,
    each as :func:`~crmkit.domain.to_record` writes it, and under
    ``named_in`` the activities of other customers that name her
    (:meth:`~crmkit.domain.ActivityRepository.naming`: a purchase she was a
    guest at, the referral that brought her in). Parts of the host's
    (or of other crmkit layers, such as a points ledger) are added through
    *sections*: a name and a function from the customer id to JSON types.
    ``json.dumps`` the result to hand it over.

    Args:
        customer_id: whose data.
        repositories: customers, contacts and activities (see :class:`RepositorySet`).
        sections: further named parts of the export.

    Raises:
        NotFoundError: no such customer.

    >>> import json
    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Customer
    >>> from crmkit.testing import Repositories
    >>> repos = Repositories.in_memory()
    >>> repos.customers.add(Customer(id="c-1", name="Ann Lee",
    ...                              created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    >>> data = export("c-1", repos, sections={"notes": lambda cid: []})
    >>> customer = data["customer"]
    >>> sorted(data), customer["name"]
    (['activities', 'contacts', 'customer', 'format', 'named_in', 'notes'], 'Ann Lee')
    >>> len(json.dumps(data)) > 0
    True
    """
    check_id("customer_id", customer_id)
    customer = repositories.customers.get(customer_id)
    data: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "customer": to_record(customer),
        "contacts": [to_record(c) for c in repositories.contacts.for_customer(customer_id)],
        "activities": [to_record(a) for a in repositories.activities.for_customer(customer_id)],
        "named_in": [to_record(a) for a in repositories.activities.naming(customer_id)],
    }
    for name, fn in (sections or {}).items():
        if name in data:
            raise ValidationError(
                "sections", expected="names other than " + ", ".join(sorted(data)), got=name
            )
        data[name] = fn(customer_id)
    return data
