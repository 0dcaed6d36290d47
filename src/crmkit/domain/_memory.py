"""In-memory repositories: for tests, notebooks and small apps. Thread-safe.

They pass the same contract suite (:mod:`crmkit.testing`) as the SQLite ones.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Generic, TypeVar

import attrs

from crmkit.core import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    ValidationError,
    check_window,
)
from crmkit.domain._activities import (
    ACTIVITY_TYPES,
    Activity,
    Purchase,
    Referral,
    Refund,
    check_refund,
    check_refund_owner,
    check_rewrite,
)
from crmkit.domain._entities import Contact, Customer

__all__ = [
    "InMemoryActivityRepository",
    "InMemoryContactRepository",
    "InMemoryCustomerRepository",
    "check_activity",
    "check_batch_size",
    "check_entity",
]

_T = TypeVar("_T", Customer, Contact)


def check_batch_size(batch_size: object) -> int:
    """Return *batch_size* if it is an integer >= 1 (shared by every repository).

    Every ``iter_all``/``iter_batches`` of crmkit's repositories checks its
    argument with this; a host's repository may too (the contract suite
    expects a :class:`~crmkit.errors.ValidationError` naming ``batch_size``).

    >>> check_batch_size(500)
    500
    >>> check_batch_size(True)
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: batch_size is invalid: expected an integer >= 1, got True
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError("batch_size", expected="an integer >= 1", got=batch_size)
    return batch_size


_ACTIVITY_CLASSES = tuple(ACTIVITY_TYPES.values())


def check_entity(value: object, cls: type[Customer] | type[Contact], field: str) -> None:
    """Raise ValidationError unless *value* is a *cls* (shared by every repository).

    *field* names the argument in the error (``"customer"``, ``"contact"``).

    >>> from datetime import UTC, datetime
    >>> check_entity(Customer(id="c-1", name="Ann", created_at=datetime(2025, 1, 1, tzinfo=UTC)),
    ...              Customer, "customer")
    >>> check_entity("c-1", Customer, "customer")
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: customer is invalid: expected a Customer, got 'str'
    """
    if not isinstance(value, cls):
        raise ValidationError(field, expected=f"a {cls.__name__}", got=type(value).__name__)


def check_activity(value: object) -> None:
    """Raise ValidationError unless *value* is an activity (shared by every repository).

    >>> check_activity("p-1")
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: activity is invalid: expected one of Purchase, Refund, Complaint, Referral, Interaction, SurveyResponse, got 'str'
    """
    if not isinstance(value, _ACTIVITY_CLASSES):
        raise ValidationError(
            "activity",
            expected="one of " + ", ".join(c.__name__ for c in _ACTIVITY_CLASSES),
            got=type(value).__name__,
        )


class _Versioned(Generic[_T]):
    """Shared store logic for versioned entities (customers and contacts)."""

    _entity = ""
    _type: type[Customer] | type[Contact]

    def __init__(self) -> None:
        self._items: dict[str, _T] = {}
        self._lock = threading.Lock()

    def add(self, item: _T) -> None:
        check_entity(item, self._type, self._entity)
        with self._lock:
            if item.id in self._items:
                raise AlreadyExistsError(self._entity, item.id, hint="use update() to change it")
            self._items[item.id] = item

    def get(self, item_id: str) -> _T:
        try:
            return self._items[item_id]
        except KeyError:
            raise NotFoundError(self._entity, item_id) from None

    def update(self, item: _T) -> _T:
        check_entity(item, self._type, self._entity)
        with self._lock:
            stored = self.get(item.id)
            if stored.version != item.version:
                raise ConflictError(
                    self._entity,
                    item.id,
                    expected_version=item.version,
                    actual_version=stored.version,
                )
            new = attrs.evolve(item, version=item.version + 1)
            self._items[item.id] = new
            return new

    def __len__(self) -> int:
        return len(self._items)


class InMemoryCustomerRepository(_Versioned[Customer]):
    """Customers held in a dict.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Customer
    >>> repo = InMemoryCustomerRepository()
    >>> repo.add(Customer(id="c-1", name="Ann", created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    >>> ann = repo.get("c-1")
    >>> repo.update(attrs.evolve(ann, influence="celebrity")).version
    1
    >>> repo.update(ann)  # still version 0: someone else changed it meanwhile
    Traceback (most recent call last):
    ...
    crmkit.errors.ConflictError: customer 'c-1' was changed by someone else: expected stored version 0, got version 1 (read it again, re-apply your change and retry)
    """

    _entity = "customer"
    _type = Customer

    def get_many(self, customer_ids: Iterable[str]) -> dict[str, Customer]:
        """Return the stored customers among *customer_ids*, by id."""
        items = self._items
        return {cid: items[cid] for cid in customer_ids if cid in items}

    def iter_all(self, *, batch_size: int = 1000) -> Iterator[list[Customer]]:
        """Yield every customer in batches, ordered by id (a snapshot taken at the call)."""
        check_batch_size(batch_size)  # at the call, not at the first next()
        with self._lock:
            ordered = [self._items[k] for k in sorted(self._items)]
        return _batches(ordered, batch_size)

    def staff_of(self, company_id: str) -> list[Customer]:
        """Return the customers whose ``company_id`` is *company_id*, ordered by id."""
        with self._lock:
            found = [c for c in self._items.values() if c.company_id == company_id]
        return sorted(found, key=lambda c: c.id)


class InMemoryContactRepository(_Versioned[Contact]):
    """Contacts held in a dict."""

    _entity = "contact"
    _type = Contact

    def for_customer(self, customer_id: str) -> list[Contact]:
        """Return a customer's contacts, ordered by id."""
        with self._lock:
            found = [c for c in self._items.values() if c.customer_id == customer_id]
        return sorted(found, key=lambda c: c.id)


def _order_key(a: Activity) -> tuple[datetime, str]:
    return (a.occurred_at, a.id)


class InMemoryActivityRepository:
    """An append-only activity log held in memory, indexed by customer.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Purchase
    >>> log = InMemoryActivityRepository()
    >>> p = Purchase(id="p-1", customer_id="c-1", amount=10, currency="EUR",
    ...              occurred_at=datetime(2025, 1, 1, tzinfo=UTC))
    >>> log.append(p), log.append(p)   # the second append is a no-op
    (True, False)
    """

    def __init__(self) -> None:
        self._by_id: dict[str, Activity] = {}
        self._by_customer: dict[str, list[tuple[tuple[datetime, str], Activity]]] = defaultdict(
            list
        )
        self._refunds: dict[str, list[Refund]] = defaultdict(list)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_id)

    def _admit(self, activity: Activity, staged: dict[str, Activity]) -> bool:
        """Check *activity* against what is stored plus *staged*; True if it is new."""
        existing = self._by_id.get(activity.id) or staged.get(activity.id)
        if existing is not None:
            if existing == activity:
                return False
            raise AlreadyExistsError(
                "activity",
                activity.id,
                hint="activity ids are idempotency keys; a different activity needs a new id",
            )
        if isinstance(activity, Refund):
            purchase = self._by_id.get(activity.purchase_id) or staged.get(activity.purchase_id)
            earlier = [
                *self._refunds.get(activity.purchase_id, ()),
                *(s for s in staged.values() if isinstance(s, Refund)),
            ]
            check_refund(purchase if isinstance(purchase, Purchase) else None, earlier, activity)
        return True

    def _store(self, activity: Activity, *, replacing: Activity | None = None) -> None:
        self._by_id[activity.id] = activity
        bisect.insort(
            self._by_customer[activity.customer_id],
            (_order_key(activity), activity),
            key=lambda pair: pair[0],
        )
        if isinstance(activity, Refund):
            refunds = self._refunds[activity.purchase_id]
            if isinstance(replacing, Refund):
                refunds[refunds.index(replacing)] = activity
            else:
                refunds.append(activity)

    def append(self, activity: Activity) -> bool:
        """Store *activity*; ``False`` if this very activity was stored already."""
        check_activity(activity)
        with self._lock:
            if not self._admit(activity, {}):
                return False
            self._store(activity)
            return True

    def append_many(self, activities: Iterable[Activity]) -> int:
        """Append all-or-nothing; return how many were new."""
        with self._lock:
            staged: dict[str, Activity] = {}
            for activity in activities:
                check_activity(activity)
                if self._admit(activity, staged):
                    staged[activity.id] = activity
            for activity in staged.values():
                self._store(activity)
            return len(staged)

    def rewrite(self, activities: Iterable[Activity]) -> int:
        """Replace stored activities by re-pointed or redacted versions, all-or-nothing.

        See :class:`~crmkit.domain.RewritableActivityRepository`; returns how many changed.

        >>> from datetime import UTC, datetime
        >>> from crmkit.domain import Purchase
        >>> log = InMemoryActivityRepository()
        >>> p = Purchase(id="p-1", customer_id="c-1", amount=10, currency="EUR",
        ...              occurred_at=datetime(2025, 1, 1, tzinfo=UTC))
        >>> log.append(p)
        True
        >>> log.rewrite([attrs.evolve(p, customer_id="c-2")])
        1
        >>> [a.id for a in log.for_customer("c-2")], log.for_customer("c-1")
        (['p-1'], [])
        """
        with self._lock:
            staged: dict[str, Activity] = {}
            for activity in activities:
                check_activity(activity)
                stored = self._by_id.get(activity.id)
                if stored is None:
                    raise NotFoundError("activity", activity.id)
                check_rewrite(stored, activity)
                if stored != activity:
                    staged[activity.id] = activity

            def now(activity_id: str) -> Activity | None:
                return staged.get(activity_id) or self._by_id.get(activity_id)

            for activity in staged.values():
                if isinstance(activity, Refund):
                    check_refund_owner(now(activity.purchase_id), activity)
                elif isinstance(activity, Purchase):
                    for refund in self._refunds.get(activity.id, ()):
                        current = now(refund.id)
                        if isinstance(current, Refund):
                            check_refund_owner(activity, current)
            for activity in staged.values():
                old = self._by_id[activity.id]
                rows = self._by_customer[old.customer_id]
                rows.remove((_order_key(old), old))
                if not rows:
                    del self._by_customer[old.customer_id]
                self._store(activity, replacing=old)
            return len(staged)

    def get(self, activity_id: str) -> Activity:
        """Return the stored activity."""
        try:
            return self._by_id[activity_id]
        except KeyError:
            raise NotFoundError("activity", activity_id) from None

    def for_customer(
        self,
        customer_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Activity]:
        """Return a customer's activities with ``start <= occurred_at < end``, in time order."""
        start, end = check_window(start, end)
        with self._lock:
            rows = list(self._by_customer.get(customer_id, ()))
        return [
            a for (at, _), a in rows if (start is None or at >= start) and (end is None or at < end)
        ]

    def naming(self, customer_id: str) -> list[Activity]:
        """Return the purchases with *customer_id* as guest and the referrals that referred her.

        >>> from datetime import UTC, datetime
        >>> from crmkit.domain import Purchase
        >>> log = InMemoryActivityRepository()
        >>> _ = log.append(Purchase(id="p-1", customer_id="c-1", amount=10, currency="EUR",
        ...                         occurred_at=datetime(2025, 1, 1, tzinfo=UTC), guests={"c-2"}))
        >>> [a.id for a in log.naming("c-2")], log.naming("c-1")
        (['p-1'], [])
        """
        with self._lock:
            found = [
                a
                for a in self._by_id.values()
                if (isinstance(a, Purchase) and customer_id in a.guests)
                or (isinstance(a, Referral) and a.referred_id == customer_id)
            ]
        return sorted(found, key=_order_key)

    def iter_batches(self, *, batch_size: int = 10_000) -> Iterator[list[Activity]]:
        """Yield every activity in batches, ordered by time then id (a snapshot taken at the call)."""
        check_batch_size(batch_size)  # at the call, not at the first next()
        with self._lock:
            ordered = sorted(self._by_id.values(), key=_order_key)
        return _batches(ordered, batch_size)


_B = TypeVar("_B")


def _batches(ordered: list[_B], batch_size: int) -> Iterator[list[_B]]:
    for i in range(0, len(ordered), batch_size):
        yield ordered[i : i + batch_size]
