"""Repository interfaces: small Protocols a host implements over its own database.

A host does not inherit from these: any class with these methods is a
repository (structural typing). Run :mod:`crmkit.testing`'s contract suite
against your implementation to check it behaves like crmkit's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

from crmkit.domain._activities import Activity
from crmkit.domain._entities import Contact, Customer

__all__ = [
    "ActivityRepository",
    "ContactRepository",
    "CustomerRepository",
    "RepositorySet",
    "RewritableActivityRepository",
]


@runtime_checkable
class CustomerRepository(Protocol):
    """Stores customers, with optimistic concurrency on update."""

    def add(self, customer: Customer) -> None:
        """Store a new customer.

        Raises:
            AlreadyExistsError: a customer with this id is stored already.
        """
        ...

    def get(self, customer_id: str) -> Customer:
        """Return the stored customer.

        Raises:
            NotFoundError: no customer has this id.
        """
        ...

    def get_many(self, customer_ids: Iterable[str]) -> dict[str, Customer]:
        """Return the stored customers among *customer_ids*, by id; unknown ids are left out."""
        ...

    def update(self, customer: Customer) -> Customer:
        """Replace a stored customer if nobody changed it since it was read.

        ``customer.version`` must equal the stored version; the stored record gets
        ``version + 1`` and is returned.

        Raises:
            NotFoundError: no customer has this id.
            ConflictError: the stored version differs; nothing was written.
        """
        ...

    def iter_all(self, *, batch_size: int = 1000) -> Iterator[list[Customer]]:
        """Yield every customer, in batches of at most *batch_size*, ordered by id."""
        ...

    def staff_of(self, company_id: str) -> list[Customer]:
        """Return the customers whose ``company_id`` is *company_id* (its staff), ordered by id.

        A merge of companies re-points them (:func:`crmkit.quality.merge`);
        an id that names no stored customer has no staff (an empty list).
        """
        ...


@runtime_checkable
class ContactRepository(Protocol):
    """Stores contacts, with optimistic concurrency on update."""

    def add(self, contact: Contact) -> None:
        """Store a new contact.

        Raises:
            AlreadyExistsError: a contact with this id is stored already.
        """
        ...

    def get(self, contact_id: str) -> Contact:
        """Return the stored contact.

        Raises:
            NotFoundError: no contact has this id.
        """
        ...

    def update(self, contact: Contact) -> Contact:
        """Replace a stored contact if its version matches (see ``CustomerRepository.update``).

        Raises:
            NotFoundError: no contact has this id.
            ConflictError: the stored version differs; nothing was written.
        """
        ...

    def for_customer(self, customer_id: str) -> list[Contact]:
        """Return the contacts of a customer, ordered by id."""
        ...


@runtime_checkable
class ActivityRepository(Protocol):
    """An append-only log of activities, idempotent on activity id."""

    def append(self, activity: Activity) -> bool:
        """Store *activity*; return ``False`` if this very activity was stored already.

        Raises:
            AlreadyExistsError: another activity with the same id is stored.
            ValidationError: a refund that does not fit its purchase.
        """
        ...

    def append_many(self, activities: Iterable[Activity]) -> int:
        """Append several activities all-or-nothing; return how many were new.

        Raises:
            AlreadyExistsError, ValidationError: as ``append``; then nothing is stored.
        """
        ...

    def get(self, activity_id: str) -> Activity:
        """Return the stored activity.

        Raises:
            NotFoundError: no activity has this id.
        """
        ...

    def for_customer(
        self,
        customer_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Activity]:
        """Return a customer's activities with ``start <= occurred_at < end``.

        Ordered by ``occurred_at``, then id. ``None`` leaves that side open.
        """
        ...

    def iter_batches(self, *, batch_size: int = 10_000) -> Iterator[list[Activity]]:
        """Yield every activity in batches of at most *batch_size*, ordered by time then id."""
        ...

    def naming(self, customer_id: str) -> list[Activity]:
        """Return the activities that name *customer_id* without being hers.

        That is every purchase with *customer_id* among its ``guests`` and
        every referral whose ``referred_id`` is *customer_id* (the referral
        that brought her in), ordered by ``occurred_at``, then id. A merge
        re-points these references (:func:`crmkit.quality.merge`) and an
        export includes them (:func:`crmkit.privacy.export`).
        """
        ...


@runtime_checkable
class RewritableActivityRepository(ActivityRepository, Protocol):
    """An activity log that can also re-point and redact stored activities.

    Activities are append-only facts, and stay so for their money-like content;
    but a merge of duplicate customers must move a customer's activities to the
    survivor, and an erasure must remove personal free text. ``rewrite`` does
    exactly that much and nothing more: see :func:`check_rewrite` for what
    may change. crmkit's in-memory and SQLite activity repositories implement it.
    """

    def rewrite(self, activities: Iterable[Activity]) -> int:
        """Replace stored activities by changed versions of themselves, all-or-nothing.

        Each activity must have the id and type of a stored one; only its
        ``customer_id``, its references to other customers (``guests``,
        ``referred_id``) and its personal fields may differ. Afterwards every
        refund must still belong to the customer of its purchase. Returns how
        many stored activities changed.

        Raises:
            NotFoundError: an id is not stored; nothing was written.
            ValidationError: a change outside what may change, or a refund left
                apart from its purchase; nothing was written.
        """
        ...


@runtime_checkable
class RepositorySet(Protocol):
    """Anything with customer, contact and activity repositories: what merge, erase and export take.

    :class:`crmkit.adapters.sqlite.SQLiteStore` and
    :class:`crmkit.testing.Repositories` are such sets; so is any host object
    with these three attributes (no inheritance needed). Some operations use
    more when it is there: :func:`crmkit.privacy.erase` calls a ``purge()``
    method to clear old copies from disk, the contract suites call ``close()``.

    >>> from crmkit.testing import Repositories
    >>> isinstance(Repositories.in_memory(), RepositorySet)
    True
    """

    @property
    def customers(self) -> CustomerRepository:
        """The customer repository."""
        ...

    @property
    def contacts(self) -> ContactRepository:
        """The contact repository."""
        ...

    @property
    def activities(self) -> ActivityRepository:
        """The activity repository."""
        ...
