"""Re-pointers for other layers' records: the points ledger.

The ledger is append-only (a balance is the sum of its entries), so points
are not re-pointed by rewriting entries: they are *transferred*, one adjust
entry taking the merged customer's balance and one adjust entry per open lot
giving it to the survivor with the lot's own expiry date. Undo transfers them
back the same way. Every entry is keyed (idempotent), and nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmkit.domain._values import to_utc

if TYPE_CHECKING:
    from crmkit.loyalty import Ledger

__all__ = ["LedgerRePointer"]


class LedgerRePointer:
    """Transfers the points of merged customers to the survivor through a :class:`~crmkit.loyalty.Ledger`.

    Lots that have lapsed at the merge time are expired first (as a
    redemption would); then each live lot moves with its remaining points and
    its expiry date, so the survivor spends them in the same order. The
    balance of the group is the same before and after, and undo gives each
    merged customer its points back (it needs the survivor to still hold
    them; under the ledger's ``refuse`` policy it raises
    :class:`~crmkit.loyalty.InsufficientPointsError` otherwise, posting nothing).

    >>> from datetime import UTC, datetime
    >>> from crmkit.loyalty import InMemoryLedgerRepository, Ledger
    >>> ledger = Ledger(InMemoryLedgerRepository())
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> _ = ledger.earn("c-2", 40, at=t, source_kind="purchase", source_id="p-1")
    >>> mover = LedgerRePointer(ledger)
    >>> info = mover.repoint(["c-2"], "c-1", at=t)
    >>> ledger.balance("c-1"), ledger.balance("c-2")
    (40, 0)
    >>> mover.undo(info, at=t)
    >>> ledger.balance("c-1"), ledger.balance("c-2")
    (0, 40)
    """

    name = "ledger"

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Transfer each merged customer's points to *to_id*.

        Returns ``{"key": ..., "to": to_id, "moved": [[customer id, [[points, expiry], ...]]]}``
        (expiry as ISO 8601 text, or ``None``).
        """
        when = to_utc("at", at)
        key = f"{to_id}<-{','.join(from_ids)}@{when.isoformat()}"
        moved: list[list[Any]] = []
        for fid in from_ids:
            self._ledger.expire(as_of=when, customer_id=fid)
            lots = [
                lot
                for lot in self._ledger.repository.lots(fid)
                if lot.remaining > 0 and (lot.expires_at is None or lot.expires_at > when)
            ]
            lots.sort(key=lambda lot: lot.order())
            total = sum(lot.remaining for lot in lots)
            if total <= 0:
                continue
            self._move(fid, to_id, [(lot.remaining, lot.expires_at) for lot in lots], key, when)
            moved.append(
                [
                    fid,
                    [
                        [
                            lot.remaining,
                            None if lot.expires_at is None else lot.expires_at.isoformat(),
                        ]
                        for lot in lots
                    ],
                ]
            )
        return {"key": key, "to": to_id, "moved": moved}

    def _move(
        self,
        from_id: str,
        to_id: str,
        lots: list[tuple[int, datetime | None]],
        key: str,
        at: datetime,
        *,
        kind: str = "merge",
    ) -> None:
        total = sum(points for points, _ in lots)
        self._ledger.adjust(
            from_id, -total, at=at, source_kind=kind, source_id=key, rule=f"out:{from_id}"
        )
        for i, (points, expires_at) in enumerate(lots):
            self._ledger.adjust(
                to_id,
                points,
                at=at,
                source_kind=kind,
                source_id=key,
                rule=f"in:{from_id}:{i}",
                expires_at=expires_at,
            )

    def undo(self, info: Any, *, at: datetime) -> None:
        """Transfer the points back to the customers they came from (same lots and expiries)."""
        when = to_utc("at", at)
        key = info["key"]
        to_id = info["to"]
        for fid, lots in info["moved"]:
            back = [(int(p), None if e is None else to_utc("expires_at", e)) for p, e in lots]
            self._move(to_id, fid, back, key + ":" + fid, when, kind="merge-undo")
