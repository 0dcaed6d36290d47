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

__all__ = ["ActivityRepository", "ContactRepository", "CustomerRepository"]


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
