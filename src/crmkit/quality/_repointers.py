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

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from crmkit.core import NotFoundError, ValidationError, to_instant, to_utc

if TYPE_CHECKING:
    from crmkit.lifecycle import LifecycleTransition, TransitionHistory
    from crmkit.loyalty import Build, Ledger

__all__ = ["LedgerRePointer", "TransitionRePointer"]


class LedgerRePointer:
    """Transfers the points of merged customers to the survivor through a :class:`~crmkit.loyalty.Ledger`.

    Lots that have lapsed at the merge time are expired first (as a
    redemption would); then each live lot moves with its remaining points and
    its expiry date, so the survivor spends them in the same order. The
    balance of the group is the same before and after.

    The whole transfer, for every merged customer, is **one posting** (one
    transaction of the ledger's store): a process killed during it leaves
    either nothing or everything posted. Every entry is keyed by the merge
    (survivor, merged ids, time), so running :meth:`repoint` again with the
    same arguments posts nothing new and returns the same information; the
    undo information is read back from the stored entries, so it is never
    lost with a crash. (So a transfer is identified by survivor, merged ids
    and time: to merge a group again after undoing it, merge at another time.)

    :meth:`undo` gives each merged customer back, exactly, the lots that were
    transferred (points and expiry dates), again in one posting, drawing only
    from those transferred lots: it never takes points the survivor had of
    its own. A transferred lot that has lapsed since is not given back (it
    would have lapsed with its first owner too; its remainder is expired).
    If the survivor has spent points of a transferred lot that has not
    lapsed, they cannot be given back exactly: undo refuses, posting
    nothing, with a :class:`~crmkit.errors.ValidationError` whose ``got``
    names each such lot and the points missing.

    >>> from datetime import UTC, datetime
    >>> from crmkit.loyalty import InMemoryLedgerRepository, Ledger
    >>> ledger = Ledger(InMemoryLedgerRepository())
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> _ = ledger.earn("c-2", 40, at=t, source_kind="purchase", source_id="p-1")
    >>> mover = LedgerRePointer(ledger)
    >>> info = mover.repoint(["c-2"], "c-1", at=t)
    >>> ledger.balance("c-1"), ledger.balance("c-2"), info["moved"]
    (40, 0, [['c-2', [[40, None]]]])
    >>> mover.repoint(["c-2"], "c-1", at=t) == info   # a retry: nothing new
    True
    >>> mover.undo(info, at=t)
    >>> mover.undo(info, at=t)   # a retry: nothing new
    >>> ledger.balance("c-1"), ledger.balance("c-2")
    (0, 40)
    """

    name = "ledger"

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def plan(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> dict[str, Any]:
        """The undo information of a transfer before it is made (reads nothing).

        ``{"key": ..., "to": to_id, "from": [ids]}``: enough for :meth:`apply`
        and :meth:`undo`, which read what moved from the ledger itself.
        """
        when = to_instant(at, field="at")
        key = f"{to_id}<-{','.join(from_ids)}@{when.isoformat()}"
        return {"key": key, "to": to_id, "from": list(from_ids), "at": when.isoformat()}

    def apply(self, info: Mapping[str, Any]) -> dict[str, Any]:
        """Make the transfer *info* plans, in one posting (again: posts nothing new).

        Returns *info* with ``"moved"``: ``[[customer id, [[points, expiry], ...]]]``
        (expiry as ISO 8601 text, or ``None``).
        """
        from crmkit.loyalty import EntryKind, LedgerEntry, LedgerView, expiry_entry

        key, to_id = info["key"], info["to"]
        when = to_utc("at", info["at"])

        def build(view: LedgerView) -> list[LedgerEntry]:
            out: list[LedgerEntry] = []
            for fid in _from(info):
                done = view.find(_key("merge", key, f"out:{fid}"))
                if done is not None:
                    out.append(done)
                    continue
                lapsed = [
                    expiry_entry(lot)
                    for lot in view.lots(fid)
                    if lot.expires_at is not None and lot.expires_at <= when
                ]
                live = [
                    lot
                    for lot in view.lots(fid)
                    if lot.remaining > 0 and (lot.expires_at is None or lot.expires_at > when)
                ]
                live.sort(key=lambda lot: lot.order())
                total = sum(lot.remaining for lot in live)
                out.extend(lapsed)
                if total <= 0:
                    continue
                out.append(
                    LedgerEntry(
                        customer_id=fid,
                        kind=EntryKind.ADJUST,
                        points=-total,
                        at=when,
                        source_kind="merge",
                        source_id=key,
                        rule=f"out:{fid}",
                        draws=tuple((lot.key, lot.remaining) for lot in live),
                    )
                )
                out.extend(
                    LedgerEntry(
                        customer_id=to_id,
                        kind=EntryKind.ADJUST,
                        points=lot.remaining,
                        at=when,
                        source_kind="merge",
                        source_id=key,
                        rule=f"in:{fid}:{i}",
                        expires_at=lot.expires_at,
                    )
                    for i, lot in enumerate(live)
                )
            return out

        self._ledger.repository.post(build)
        return {**info, "moved": self.moved(info)}

    def moved(self, info: Mapping[str, Any]) -> list[list[Any]]:
        """What the transfer of *info* moved, read from the stored entries."""
        repo = self._ledger.repository
        moved: list[list[Any]] = []
        for fid in _from(info):
            out = repo.find(_key("merge", info["key"], f"out:{fid}"))
            if out is None:
                continue
            lots: list[list[Any]] = []
            for i in range(len(out.draws)):
                entry = repo.find(_key("merge", info["key"], f"in:{fid}:{i}"))
                if entry is not None:
                    expiry = entry.expires_at
                    lots.append([entry.points, None if expiry is None else expiry.isoformat()])
            moved.append([fid, lots])
        return moved

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Transfer each merged customer's points to *to_id* (:meth:`plan`, then :meth:`apply`).

        Returns ``{"key": ..., "to": to_id, "from": [ids], "at": ..., "moved":
        [[customer id, [[points, expiry], ...]]]}`` (expiry as ISO 8601 text, or ``None``).
        """
        return self.apply(self.plan(from_ids, to_id, at=at))

    def _undo_build(self, info: Mapping[str, Any], when: datetime) -> Build:
        from crmkit.loyalty import EntryKind, LedgerEntry, LedgerView, expiry_entry

        key, to_id = info["key"], info["to"]

        def build(view: LedgerView) -> list[LedgerEntry]:
            out: list[LedgerEntry] = []
            missing: dict[str, str] = {}
            for fid in _from(info):
                transfer = view.find(_key("merge", key, f"out:{fid}"))
                if transfer is None:
                    continue
                done = view.find(_key("merge-undo", key, f"out:{fid}"))
                if done is not None:
                    out.append(done)
                    continue
                back: list[tuple[str, int, datetime | None]] = []
                for i in range(len(transfer.draws)):
                    lot_key = _key("merge", key, f"in:{fid}:{i}")
                    given = view.find(lot_key)
                    lot = view.find_lot(lot_key)
                    if given is None or lot is None:
                        missing[lot_key] = "not stored"
                        continue
                    if lot.expires_at is not None and lot.expires_at <= when:
                        if lot.remaining > 0:
                            out.append(expiry_entry(lot))
                        continue
                    if lot.remaining < given.points:
                        missing[lot_key] = f"{given.points - lot.remaining} of {given.points} spent"
                        continue
                    back.append((lot_key, lot.remaining, lot.expires_at))
                if not back:
                    continue
                out.append(
                    LedgerEntry(
                        customer_id=to_id,
                        kind=EntryKind.ADJUST,
                        points=-sum(points for _, points, _ in back),
                        at=when,
                        source_kind="merge-undo",
                        source_id=key,
                        rule=f"out:{fid}",
                        draws=tuple((lot_key, points) for lot_key, points, _ in back),
                    )
                )
                out.extend(
                    LedgerEntry(
                        customer_id=fid,
                        kind=EntryKind.ADJUST,
                        points=points,
                        at=when,
                        source_kind="merge-undo",
                        source_id=key,
                        rule=f"in:{fid}:{i}",
                        expires_at=expires_at,
                    )
                    for i, (_, points, expires_at) in enumerate(back)
                )
            if missing:
                raise ValidationError(
                    "merge.ledger",
                    expected="the transferred lots unspent by the survivor, to give them back exactly",
                    got=missing,
                    hint="give the points back by hand (Ledger.adjust) and re-merge, or keep the merge",
                )
            return out

        return build

    def check_undo(self, info: Any, *, at: datetime) -> None:
        """Raise what :meth:`undo` would raise, posting nothing (a dry run of its decision)."""
        when = to_instant(at, field="at")
        build = self._undo_build(info, when)
        build(self._ledger.repository)

    def undo(self, info: Any, *, at: datetime) -> None:
        """Give the transferred lots back to the customers they came from, in one posting.

        Running it again posts nothing new. See the class for what cannot be given back.
        """
        when = to_instant(at, field="at")
        self._ledger.repository.post(self._undo_build(info, when))


def _from(info: Mapping[str, Any]) -> list[str]:
    """The merged ids of ledger undo information (records written before 0.x had only ``moved``)."""
    if "from" in info:
        return list(info["from"])
    return [fid for fid, _ in info.get("moved", ())]


def _key(kind: str, key: str, rule: str) -> str:
    from crmkit.loyalty import idempotency_key

    return idempotency_key(kind, key, rule, "")


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

    def plan(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """What :meth:`apply` will move, moving nothing yet.

        ``{"to": to_id, "moved": [[old customer id, at, transition]],
        "kept_apart": [[customer id, at, transition]]}`` (``at`` as ISO 8601 text).
        """
        taken = {(t.at, t.transition) for t in self._history.for_customer(to_id)}
        info: dict[str, Any] = {"to": to_id, "moved": [], "kept_apart": []}
        for fid in from_ids:
            for t in self._history.for_customer(fid):
                row = [fid, t.at.isoformat(), t.transition]
                if (t.at, t.transition) in taken:
                    info["kept_apart"].append(row)
                    continue
                taken.add((t.at, t.transition))
                info["moved"].append(row)
        return info

    def _move(self, rows: Sequence[Sequence[str]], src: str | None, dst: str | None) -> None:
        """Rewrite each row's transition from its *src* customer to *dst* (``None``: the row's own)."""
        changes: list[tuple[LifecycleTransition, LifecycleTransition]] = []
        cache: dict[str, dict[tuple[datetime, str], LifecycleTransition]] = {}

        def stored(cid: str) -> dict[tuple[datetime, str], LifecycleTransition]:
            if cid not in cache:
                cache[cid] = {(t.at, t.transition): t for t in self._history.for_customer(cid)}
            return cache[cid]

        for fid, when, name in rows:
            source, target = src or fid, dst or fid
            key = (to_utc("at", when), name)
            found = stored(source).get(key)
            if found is None:
                if key in stored(target):
                    continue  # moved already (a retry)
                raise NotFoundError(
                    "lifecycle transition",
                    (source, *key),
                    hint="it was re-pointed again since the merge; undo that first",
                )
            changes.append((found, attrs.evolve(found, customer_id=target)))
        self._history.rewrite(changes)

    def apply(self, info: Any) -> Any:
        """Move the planned transitions in one rewrite (those moved already are skipped)."""
        self._move(info["moved"], None, info["to"])
        return info

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Move the transitions of *from_ids* to *to_id* (:meth:`plan`, then :meth:`apply`)."""
        return self.apply(self.plan(from_ids, to_id, at=at))

    def undo(self, info: Any, *, at: datetime) -> None:
        """Give each moved transition its old customer back, in one rewrite (again: nothing)."""
        self._move(info["moved"], info["to"], None)
