"""Merge then undo over generated bases: every total and every reference is conserved."""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.adapters.sqlite import SQLiteLedgerRepository, SQLiteStore
from crmkit.domain import Activity, Customer, Purchase, Referral, Refund
from crmkit.errors import InsufficientPointsError
from crmkit.loyalty import InMemoryLedgerRepository, Ledger
from crmkit.quality import (
    MERGED_INTO,
    InMemoryMergeJournal,
    LedgerRePointer,
    default_repointers,
    merge,
    undo_merge,
)
from crmkit.testing import Repositories, check_ledger
from crmkit.testing import strategies as cks


def load(base: cks.MergeBase, repos: Any, ledger: Ledger) -> None:
    """Store *base* in *repos* and *ledger* (redemptions that cannot be paid are skipped)."""
    for c in base.customers:
        repos.customers.add(c)
    repos.activities.append_many(base.activities)
    for i, (cid, points, at, expires) in enumerate(base.awards):
        ledger.earn(cid, points, at=at, source_kind="award", source_id=str(i), expires_at=expires)
    for i, (cid, points, at) in enumerate(base.redemptions):
        with suppress(InsufficientPointsError):
            ledger.redeem(cid, points, at=at, source_kind="reward", source_id=str(i))


def everything(repos: Any) -> list[Activity]:
    return [a for batch in repos.activities.iter_batches() for a in batch]


def customers(repos: Any) -> dict[str, Customer]:
    return {c.id: attrs.evolve(c, version=0) for b in repos.customers.iter_all() for c in b}


def totals(log: list[Activity]) -> tuple[Counter[str], Decimal, Decimal, int, int]:
    """Counts by type, spend, refunds, guest entries and referrals: what a merge keeps."""
    return (
        Counter(a.type_name for a in log),
        sum((a.amount for a in log if isinstance(a, Purchase)), Decimal(0)),
        sum((a.amount for a in log if isinstance(a, Refund)), Decimal(0)),
        sum(len(a.guests) for a in log if isinstance(a, Purchase)),
        sum(1 for a in log if isinstance(a, Referral)),
    )


def lots(ledger: Ledger, cid: str) -> list[tuple[int, str]]:
    return sorted((lot.remaining, str(lot.expires_at)) for lot in ledger.lots(cid))


def ledger_state(ledger: Ledger, ids: list[str], at: datetime) -> dict[str, Any]:
    ledger.expire(as_of=at)
    return {cid: (ledger.balance(cid), lots(ledger, cid)) for cid in ids}


class Stop(BaseException):
    """Where an interrupted run stops (as a killed process would: nothing after it runs)."""


class StoppingJournal:
    """A journal that stops the merge right after its *n*-th write (if it gets that far)."""

    def __init__(self, inner: InMemoryMergeJournal, n: int) -> None:
        self.inner, self.n = inner, n

    def get(self, key: str) -> Any:
        return self.inner.get(key)

    def put(self, key: str, entry: Any) -> None:
        self.inner.put(key, entry)
        self.n -= 1
        if self.n == 0:
            raise Stop

    def remove(self, key: str) -> None:
        self.inner.remove(key)

    def pending(self) -> Any:
        return self.inner.pending()


class StopAfterUndo:
    """A re-pointer that undoes, then stops the run (the steps after it never run)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    def repoint(self, from_ids: Any, to_id: str, *, at: datetime) -> Any:
        raise AssertionError("only for undo")

    def undo(self, info: Any, *, at: datetime) -> None:
        self.inner.undo(info, at=at)
        raise Stop


def merge_and_undo(
    base: cks.MergeBase, repos: Any, ledger: Ledger, stops: list[int] | None = None
) -> None:
    """Merge every group, check what must hold while merged, undo them all, check all is back.

    With *stops*, each merge runs with a journal that stops it after that many
    writes, and each undo stops after one of its re-pointers; then each runs
    again (as after a kill) to complete it.
    """
    ids = [c.id for c in base.customers]
    load(base, repos, ledger)
    twin = Ledger(InMemoryLedgerRepository())  # the same points, never merged
    load(base, Repositories.in_memory(), twin)
    before_customers = customers(repos)
    before_log = {a.id: a for a in everything(repos)}
    movers = [*default_repointers(repos), LedgerRePointer(ledger)]
    records = []
    journal = InMemoryMergeJournal()
    for i, group in enumerate(base.groups):
        if stops is None:
            records.append(merge(list(group), repos, at=base.merge_at, repointers=movers))
            continue
        with suppress(Stop):
            merge(
                list(group),
                repos,
                at=base.merge_at,
                repointers=movers,
                journal=StoppingJournal(journal, stops[i % len(stops)]),
            )
        records.append(
            merge(list(group), repos, at=base.merge_at, repointers=movers, journal=journal)
        )

    # while merged: totals kept, no reference to a merged-away id outside what is kept apart
    log = everything(repos)
    assert totals(log) == totals(list(before_log.values()))
    kept_apart = {aid for r in records for aid in r.repointed["activities"]["kept_apart"]}
    gone = {m for r in records for m in r.merged_ids}
    for a in log:
        assert not (isinstance(a, Purchase) and a.customer_id in a.guests)
        if a.id in kept_apart:  # would name one customer twice: left as it was by its merge
            continue
        named = {a.customer_id, *getattr(a, "guests", ()), getattr(a, "referred_id", None)}
        assert not named & gone, (a, gone)
    now = customers(repos)
    for c in now.values():
        if MERGED_INTO not in c.attributes:
            assert c.company_id not in gone
    merged_state = ledger_state(ledger, ids, base.merge_at)
    twin_state = ledger_state(twin, ids, base.merge_at)
    assert sum(b for b, _ in merged_state.values()) == sum(b for b, _ in twin_state.values())
    check_ledger(ledger.repository, ids)

    for i, record in enumerate(reversed(records)):
        if stops is not None:  # stop the undo after one of its steps, then run it again
            j = stops[i % len(stops)] % len(movers)
            stopping = [StopAfterUndo(m) if k == j else m for k, m in enumerate(movers)]
            with suppress(Stop):
                undo_merge(record, repos, at=base.undo_at, repointers=stopping)
        undo_merge(record, repos, at=base.undo_at, repointers=movers)
    assert customers(repos) == before_customers
    assert {a.id: a for a in everything(repos)} == before_log
    assert ledger_state(ledger, ids, base.undo_at) == ledger_state(twin, ids, base.undo_at)
    check_ledger(ledger.repository, ids)


@settings(max_examples=60, deadline=None)
@given(cks.merge_bases())
def test_merge_then_undo_conserves_totals_and_references_in_memory(base: cks.MergeBase) -> None:
    with Repositories.in_memory() as repos:
        merge_and_undo(base, repos, Ledger(InMemoryLedgerRepository()))


@settings(max_examples=15, deadline=None)
@given(cks.merge_bases(max_customers=6))
def test_merge_then_undo_conserves_totals_and_references_in_sqlite(base: cks.MergeBase) -> None:
    with SQLiteStore(":memory:") as store:
        merge_and_undo(base, store, Ledger(SQLiteLedgerRepository(store)))


@settings(max_examples=40, deadline=None)
@given(cks.merge_bases(), st.lists(st.integers(1, 9), min_size=1, max_size=3))
def test_merges_stopped_at_any_step_and_run_again_conserve_the_same(
    base: cks.MergeBase, stops: list[int]
) -> None:
    with Repositories.in_memory() as repos:
        merge_and_undo(base, repos, Ledger(InMemoryLedgerRepository()), stops)
