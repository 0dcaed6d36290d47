"""The ledger repository Protocol and its in-memory implementation.

A repository stores entries (append-only) and two derived caches kept in the
same transaction as the entries: each customer's running balance and each
lot's remaining points. The caches make balance and lot look-ups O(1) in the
size of the ledger; they are never the truth: the contract suite checks them
against the fold of the entries after every operation.

:meth:`LedgerRepository.post` is the one write. It runs a *build* function
inside one write transaction, handing it a consistent :class:`LedgerView`, and
stores what it returns all-or-nothing. Reading the balance and writing the
redemption inside one transaction is what makes "two processes can never
overspend" true.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from crmkit.core import ValidationError
from crmkit.loyalty._entries import (
    MAX_POINTS,
    EntryKind,
    LedgerEntry,
    Lot,
    conflict,
    same_content,
)

__all__ = [
    "Build",
    "InMemoryLedgerRepository",
    "LedgerRepository",
    "LedgerView",
    "check_posting",
]


@runtime_checkable
class LedgerView(Protocol):
    """What a build function may read, consistently, inside a posting."""

    def balance(self, customer_id: str) -> int:
        """The customer's balance: the sum of the points of their entries (0 if none)."""
        ...

    def lots(self, customer_id: str) -> list[Lot]:
        """The customer's lots with points left, in draw order (:meth:`Lot.order`)."""
        ...

    def find(self, key: str) -> LedgerEntry | None:
        """The entry stored under an idempotency key, or ``None``."""
        ...

    def find_lot(self, key: str) -> Lot | None:
        """The lot opened by the entry with this key (even if empty), or ``None``."""
        ...

    def reversals_of(self, key: str) -> list[LedgerEntry]:
        """The reverse entries that refer to the award with this key, in posting order."""
        ...


Build = Callable[[LedgerView], Sequence[LedgerEntry]]


@runtime_checkable
class LedgerRepository(LedgerView, Protocol):
    """An append-only points ledger: entries, lots and balances, written atomically."""

    def post(self, build: Build) -> list[LedgerEntry]:
        """Run *build* inside one write transaction and store what it returns, all or nothing.

        For each returned entry, in order: if an entry with its key is stored
        (or earlier in this posting), the stored one is returned in its place
        and nothing changes (a :class:`~crmkit.core.ConflictError` if the
        two differ in customer, kind, points, amount or award); otherwise it is appended, its draws are taken
        from the lots it names, a lot is opened if it adds points, and the
        balance moves by its points.

        Returns:
            The stored entries, one per returned entry.

        Raises:
            ValidationError: a draw names an unknown lot, a lot of another
                customer, or more points than the lot has left; a reversal
                refers to no earn entry of its customer; or a balance would
                leave ``[-MAX_POINTS, MAX_POINTS]``. Nothing is stored.
            ConflictError: a key is stored with other content. Nothing is stored.
            Exception: whatever *build* raises. Nothing is stored.
        """
        ...

    def entries(self, customer_id: str) -> list[LedgerEntry]:
        """Every entry of the customer, in posting order."""
        ...

    def lapsed_lots(self, as_of: datetime) -> list[Lot]:
        """Lots of every customer with points left whose expiry is at or before *as_of*."""
        ...

    def __len__(self) -> int:
        """The number of entries."""
        ...


def check_posting(
    entries: Iterable[LedgerEntry],
    find: Callable[[str], LedgerEntry | None],
    lot: Callable[[str], Lot | None],
    balances: Callable[[list[str]], Mapping[str, int]] | None = None,
) -> list[tuple[LedgerEntry, bool]]:
    """Decide what a posting stores: ``(entry, is_new)`` per entry, checking every draw.

    Shared by crmkit's repositories (a host may use it too): keys already
    stored or earlier in the posting are duplicates (a
    :class:`~crmkit.core.ConflictError` if the repeat differs in customer,
    kind, points, amount or award); draws must name lots of the same customer
    with enough points left, counting earlier draws of the posting; a reversal
    must refer to an earn entry of the same customer. With *balances* (stored
    balances of the customers named, ``{customer id: balance}``; missing means
    0), no balance may leave ``[-MAX_POINTS, MAX_POINTS]``.
    """
    staged: dict[str, LedgerEntry] = {}
    taken: dict[str, int] = defaultdict(int)
    out: list[tuple[LedgerEntry, bool]] = []
    for entry in entries:
        if not isinstance(entry, LedgerEntry):
            raise ValidationError("entry", expected="a LedgerEntry", got=type(entry).__name__)
        key = entry.key
        existing = staged.get(key) or find(key)
        if existing is not None:
            if not same_content(existing, entry):
                raise conflict(
                    existing, entry.customer_id, entry.points, kind=entry.kind, amount=entry.amount
                )
            out.append((existing, False))
            continue
        if entry.refers_to is not None:
            award = staged.get(entry.refers_to) or find(entry.refers_to)
            if (
                award is None
                or award.kind is not EntryKind.EARN
                or award.customer_id != entry.customer_id
            ):
                raise ValidationError(
                    "LedgerEntry.refers_to",
                    expected="the key of an earn entry of the same customer",
                    got=entry.refers_to,
                )
        for lot_key, points in entry.draws:
            owner: str | None
            opened = staged.get(lot_key)
            if opened is not None and opened.opens_lot:
                owner, left = opened.customer_id, opened.points - taken[lot_key]
            else:
                found = lot(lot_key)
                owner = None if found is None else found.customer_id
                left = -1 if found is None else found.remaining - taken[lot_key]
            if owner is None or owner != entry.customer_id or left < points:
                raise ValidationError(
                    "LedgerEntry.draws",
                    expected="draws from lots of the same customer within what is left of them",
                    got=(lot_key, points),
                    hint="no lot with this key" if owner is None else f"{max(left, 0)} left",
                )
            taken[lot_key] += points
        staged[key] = entry
        out.append((entry, True))
    if balances is not None:
        check_balances([e for e, is_new in out if is_new], balances)
    return out


def check_balances(
    new: Sequence[LedgerEntry], balances: Callable[[list[str]], Mapping[str, int]]
) -> None:
    """Refuse entries that would take a balance outside ``[-MAX_POINTS, MAX_POINTS]``."""
    moves: dict[str, int] = defaultdict(int)
    for e in new:
        moves[e.customer_id] += e.points
    if not moves:
        return
    stored = balances(list(moves))
    for customer, move in moves.items():
        after = stored.get(customer, 0) + move
        if abs(after) > MAX_POINTS:
            raise ValidationError(
                "LedgerEntry.points",
                expected=f"a balance within +-{MAX_POINTS} points (MAX_POINTS)",
                got=after,
                hint=f"customer {customer!r} would hold {after} points",
            )


class InMemoryLedgerRepository:
    """A points ledger held in memory (thread-safe; one process).

    >>> from datetime import UTC, datetime
    >>> repo = InMemoryLedgerRepository()
    >>> e = LedgerEntry(customer_id="c-1", kind="earn", points=10,
    ...                 at=datetime(2025, 1, 1, tzinfo=UTC), source_kind="purchase",
    ...                 source_id="p-1", rule="base")
    >>> repo.post(lambda view: [e, e])[1] is e, repo.balance("c-1"), len(repo)
    (True, 10, 1)
    """

    def __init__(self) -> None:
        self._entries: dict[str, LedgerEntry] = {}
        self._by_customer: dict[str, list[LedgerEntry]] = defaultdict(list)
        self._reversals: dict[str, list[LedgerEntry]] = defaultdict(list)
        self._lots: dict[str, Lot] = {}
        self._open: dict[str, dict[str, Lot]] = defaultdict(dict)
        self._balances: dict[str, int] = {}
        self._seq = 0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------ reads

    def balance(self, customer_id: str) -> int:
        """The customer's balance (a cached running sum; O(1))."""
        return self._balances.get(customer_id, 0) if isinstance(customer_id, str) else 0

    def lots(self, customer_id: str) -> list[Lot]:
        """The customer's lots with points left, in draw order."""
        with self._lock:
            found = (
                list(self._open.get(customer_id, {}).values())
                if isinstance(customer_id, str)
                else []
            )
        return sorted(found, key=Lot.order)

    def find(self, key: str) -> LedgerEntry | None:
        """The entry with this idempotency key, or ``None``."""
        return self._entries.get(key) if isinstance(key, str) else None

    def find_lot(self, key: str) -> Lot | None:
        """The lot opened by the entry with this key, or ``None``."""
        return self._lots.get(key) if isinstance(key, str) else None

    def reversals_of(self, key: str) -> list[LedgerEntry]:
        """The reversals of the award with this key, in posting order."""
        with self._lock:
            return list(self._reversals.get(key, ())) if isinstance(key, str) else []

    def entries(self, customer_id: str) -> list[LedgerEntry]:
        """Every entry of the customer, in posting order."""
        with self._lock:
            return (
                list(self._by_customer.get(customer_id, ())) if isinstance(customer_id, str) else []
            )

    def lapsed_lots(self, as_of: datetime) -> list[Lot]:
        """Lots with points left that expire at or before *as_of*."""
        with self._lock:
            found = [
                lot
                for lots in self._open.values()
                for lot in lots.values()
                if lot.expires_at is not None and lot.expires_at <= as_of
            ]
        return sorted(found, key=lambda lot: (lot.customer_id, *lot.order()))

    def _balances_of(self, customer_ids: list[str]) -> dict[str, int]:
        return {c: self._balances.get(c, 0) for c in customer_ids}

    # ------------------------------------------------------------ the write

    def post(self, build: Build) -> list[LedgerEntry]:
        """Run *build* and store its entries atomically (see :class:`LedgerRepository`)."""
        with self._lock:
            decided = check_posting(build(self), self.find, self.find_lot, self._balances_of)
            # Everything is checked: applying cannot fail half-way.
            for entry, is_new in decided:
                if is_new:
                    self._apply(entry)
            return [entry for entry, _ in decided]

    def _apply(self, entry: LedgerEntry) -> None:
        key, customer = entry.key, entry.customer_id
        self._seq += 1
        self._entries[key] = entry
        self._by_customer[customer].append(entry)
        if entry.refers_to is not None:
            self._reversals[entry.refers_to].append(entry)
        for lot_key, points in entry.draws:
            lot = self._lots[lot_key]
            lot = attrs.evolve(lot, remaining=lot.remaining - points)
            self._lots[lot_key] = lot
            if lot.remaining:
                self._open[customer][lot_key] = lot
            else:
                self._open[customer].pop(lot_key, None)
        if entry.opens_lot:
            lot = Lot(
                key=key,
                customer_id=customer,
                points=entry.points,
                remaining=entry.points,
                expires_at=entry.expires_at,
                seq=self._seq,
            )
            self._lots[key] = lot
            self._open[customer][key] = lot
        self._balances[customer] = self._balances.get(customer, 0) + entry.points
