"""Re-pointers for other layers' records: the points ledger and the lifecycle history.

The ledger is append-only (a balance is the sum of its entries), so points
are not re-pointed by rewriting entries: they are *transferred*, one adjust
entry taking the merged customer's balance and one adjust entry per open lot
giving it to the survivor with the lot's own expiry date. Undo transfers them
back the same way. Every entry is keyed (idempotent), and nothing is deleted.

Lifecycle transitions are facts about when a customer changed stage; they
are re-pointed in place through
:meth:`~crmkit.lifecycle.RewritableTransitionHistory.rewrite`, which may
change a transition's customer and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from crmkit.core import NotFoundError, ValidationError, to_instant, to_utc

if TYPE_CHECKING:
    from crmkit.lifecycle import LifecycleTransition, TransitionHistory
    from crmkit.loyalty import Ledger

__all__ = ["LedgerRePointer", "TransitionRePointer"]


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
        when = to_instant(at, field="at")
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
        when = to_instant(at, field="at")
        key = info["key"]
        to_id = info["to"]
        for fid, lots in info["moved"]:
            back = [(int(p), None if e is None else to_utc("expires_at", e)) for p, e in lots]
            self._move(to_id, fid, back, key + ":" + fid, when, kind="merge-undo")


class TransitionRePointer:
    """Re-points lifecycle transitions through a :class:`~crmkit.lifecycle.RewritableTransitionHistory`.

    Every transition keeps its stages, time, name, inputs and definition;
    only ``customer_id`` changes, and the undo information records the
    original one. A history is idempotent on ``(customer_id, at,
    transition)``, so a transition of a merged customer whose ``(at,
    transition)`` the survivor already has (both were classified at the same
    period end, say) stays with the merged customer and is listed as kept
    apart: nothing is lost or overwritten, and each key still names one
    record. Transitions added to the survivor after the merge stay with it on undo.

    >>> from datetime import UTC, datetime
    >>> from crmkit.lifecycle import InMemoryTransitionHistory, LifecycleTransition
    >>> history = InMemoryTransitionHistory()
    >>> t = datetime(2025, 1, 31, tzinfo=UTC)
    >>> _ = history.append(LifecycleTransition(customer_id="c-2", from_stage="introduction",
    ...     to_stage="growth", at=t, transition="second_purchase",
    ...     lifecycle="five-stage", version="1"))
    >>> mover = TransitionRePointer(history)
    >>> info = mover.repoint(["c-2"], "c-1", at=t)
    >>> history.latest_stages()
    {'c-1': 'growth'}
    >>> mover.undo(info, at=t)
    >>> history.latest_stages()
    {'c-2': 'growth'}
    """

    name = "transitions"

    def __init__(self, history: TransitionHistory) -> None:
        from crmkit.lifecycle import RewritableTransitionHistory

        if not isinstance(history, RewritableTransitionHistory):
            raise ValidationError(
                "history",
                expected="a RewritableTransitionHistory (with rewrite()) to re-point transitions",
                got=type(history).__name__,
            )
        self._history = history

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Move the transitions of *from_ids* to *to_id* in one rewrite.

        Returns ``{"to": to_id, "moved": [[old customer id, at, transition]],
        "kept_apart": [[customer id, at, transition]]}`` (``at`` as ISO 8601 text).
        """
        taken = {(t.at, t.transition) for t in self._history.for_customer(to_id)}
        changes: list[tuple[LifecycleTransition, LifecycleTransition]] = []
        info: dict[str, Any] = {"to": to_id, "moved": [], "kept_apart": []}
        for fid in from_ids:
            for t in self._history.for_customer(fid):
                row = [fid, t.at.isoformat(), t.transition]
                if (t.at, t.transition) in taken:
                    info["kept_apart"].append(row)
                    continue
                taken.add((t.at, t.transition))
                changes.append((t, attrs.evolve(t, customer_id=to_id)))
                info["moved"].append(row)
        self._history.rewrite(changes)
        return info

    def undo(self, info: Any, *, at: datetime) -> None:
        """Give each moved transition its old customer back, in one rewrite."""
        to_id = info["to"]
        now = {(t.at, t.transition): t for t in self._history.for_customer(to_id)}
        changes: list[tuple[LifecycleTransition, LifecycleTransition]] = []
        for fid, when, name in info["moved"]:
            key = (to_utc("at", when), name)
            stored = now.get(key)
            if stored is None:
                raise NotFoundError(
                    "lifecycle transition",
                    (to_id, *key),
                    hint="it was re-pointed again since the merge; undo that first",
                )
            changes.append((stored, attrs.evolve(stored, customer_id=fid)))
        self._history.rewrite(changes)
