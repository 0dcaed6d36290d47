"""What merge, undo and re-point guarantee when a step fails, time passes or others name the merged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from crmkit.adapters.sqlite import SQLiteMergeJournal, SQLiteStore
from crmkit.domain import Customer, Purchase, Referral, Refund
from crmkit.errors import ValidationError
from crmkit.lifecycle import InMemoryTransitionHistory, LifecycleTransition
from crmkit.loyalty import InMemoryLedgerRepository, Ledger, LedgerRepository
from crmkit.privacy import export
from crmkit.quality import (
    MERGED_INTO,
    InMemoryMergeJournal,
    LedgerRePointer,
    MergeJournal,
    TransitionRePointer,
    default_repointers,
    merge,
    undo_merge,
)
from crmkit.testing import Repositories

T = datetime(2025, 6, 1, tzinfo=UTC)


def _t(day: int) -> datetime:
    return datetime(2025, 1, day, tzinfo=UTC)


def _customer(cid: str, day: int, **changes: Any) -> Customer:
    return Customer(id=cid, name="Ann Lee", created_at=_t(day), **changes)


class Killable:
    """A ledger repository whose *fail_at*-th posting (1-based) raises, as a killed process would stop."""

    def __init__(self, inner: LedgerRepository, fail_at: int) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.posts = 0

    def post(self, build: Any) -> Any:
        self.posts += 1
        if self.posts == self.fail_at:
            raise KeyboardInterrupt("killed")
        return self.inner.post(build)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _earn(ledger: Ledger, cid: str, points: int, *, day: int, expires: int | None = None) -> None:
    ledger.earn(
        cid,
        points,
        at=_t(day),
        source_kind="purchase",
        source_id=f"{cid}-{day}-{points}",
        expires_at=None if expires is None else _t(1) + timedelta(days=expires),
    )


def _lots(ledger: Ledger, cid: str) -> list[tuple[int, datetime | None]]:
    return sorted(
        ((lot.remaining, lot.expires_at) for lot in ledger.lots(cid)),
        key=lambda x: (x[1] is None, x[1] or T, x[0]),
    )


# ---------------------------------------------------------------- 1. the ledger transfer


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_transfer_interrupted_at_any_posting_loses_nothing_and_a_retry_completes_it(
    fail_at: int,
) -> None:
    inner = InMemoryLedgerRepository()
    ledger = Ledger(inner)
    _earn(ledger, "b", 300, day=2, expires=400)
    _earn(ledger, "b", 200, day=3)
    _earn(ledger, "c", 70, day=4, expires=300)
    lots_before = _lots(ledger, "b") + _lots(ledger, "c")
    mover = LedgerRePointer(Ledger(Killable(inner, fail_at)))  # type: ignore[arg-type]
    with suppress(KeyboardInterrupt):
        mover.repoint(["b", "c"], "a", at=T)
    # Whatever was interrupted: the group still holds every point.
    assert ledger.balance("a") + ledger.balance("b") + ledger.balance("c") == 570
    info = LedgerRePointer(ledger).repoint(["b", "c"], "a", at=T)
    assert (ledger.balance("a"), ledger.balance("b"), ledger.balance("c")) == (570, 0, 0)
    assert sorted(_lots(ledger, "a"), key=str) == sorted(lots_before, key=str)
    assert [fid for fid, _ in info["moved"]] == ["b", "c"]
    LedgerRePointer(ledger).undo(info, at=T)
    assert (ledger.balance("a"), ledger.balance("b"), ledger.balance("c")) == (0, 500, 70)
    assert _lots(ledger, "b") + _lots(ledger, "c") == lots_before


# ---------------------------------------------------------------- 2. undo


def _ledger_group(repos: Any) -> tuple[Ledger, InMemoryLedgerRepository]:
    repos.customers.add(_customer("a", 1))
    repos.customers.add(_customer("b", 2, email="b@example.com"))
    repos.activities.append(
        Purchase(id="p", customer_id="b", occurred_at=_t(3), amount=5, currency="EUR")
    )
    inner = InMemoryLedgerRepository()
    ledger = Ledger(inner)
    _earn(ledger, "a", 100, day=2)  # the survivor's own points, never to be taken
    _earn(ledger, "b", 40, day=3, expires=170)  # lapses 2025-06-20, after the merge
    _earn(ledger, "b", 60, day=4, expires=400)
    return ledger, inner


def test_undo_that_fails_half_way_is_completed_by_running_it_again() -> None:
    with Repositories.in_memory() as repos:
        ledger, inner = _ledger_group(repos)
        history = InMemoryTransitionHistory()
        history.append(
            LifecycleTransition(
                customer_id="b",
                from_stage="introduction",
                to_stage="growth",
                at=_t(20),
                transition="second_purchase",
                lifecycle="five-stage",
                version="1",
            )
        )
        movers = [*default_repointers(repos), LedgerRePointer(ledger), TransitionRePointer(history)]
        record = merge(["a", "b"], repos, at=T, repointers=movers)
        broken = Killable(inner, fail_at=1)
        flaky = [*default_repointers(repos), LedgerRePointer(Ledger(broken)), movers[-1]]  # type: ignore[arg-type]
        with pytest.raises(KeyboardInterrupt):
            undo_merge(record, repos, at=T, repointers=flaky)
        undo_merge(record, repos, at=T, repointers=movers)  # the retry completes it
        undo_merge(record, repos, at=T, repointers=movers)  # and once done, changes nothing
        assert repos.activities.get("p").customer_id == "b"
        assert [t.customer_id for t in history.for_customer("b")] == ["b"]
        assert (ledger.balance("a"), ledger.balance("b")) == (100, 100)
        assert repos.customers.get("a").email is None
        assert MERGED_INTO not in repos.customers.get("b").attributes


def test_undo_gives_back_lots_with_their_expiry_and_never_the_survivors_own_points() -> None:
    with Repositories.in_memory() as repos:
        ledger, _ = _ledger_group(repos)
        b_lots = _lots(ledger, "b")
        movers = [*default_repointers(repos), LedgerRePointer(ledger)]
        record = merge(["a", "b"], repos, at=T, repointers=movers)
        assert ledger.balance("a") == 200
        # right after: everything back exactly, expiry dates included
        undo_merge(record, repos, at=T + timedelta(days=1), repointers=movers)
        assert (ledger.balance("a"), ledger.balance("b")) == (100, 100)
        assert _lots(ledger, "b") == b_lots
        assert _lots(ledger, "a") == [(100, None)]


def test_undo_30_days_later_when_a_transferred_lot_lapsed_costs_the_survivor_nothing() -> None:
    with Repositories.in_memory() as repos:
        ledger, _ = _ledger_group(repos)
        movers = [*default_repointers(repos), LedgerRePointer(ledger)]
        record = merge(["a", "b"], repos, at=T, repointers=movers)
        later = T + timedelta(days=30)
        ledger.expire(as_of=later)  # the 40 points lapse at the survivor
        undo_merge(record, repos, at=later, repointers=movers)
        # the survivor keeps exactly its own 100; b gets back what had not lapsed, same expiry
        assert (ledger.balance("a"), ledger.balance("b")) == (100, 60)
        assert _lots(ledger, "b") == [(60, _t(1) + timedelta(days=400))]


def test_undo_refuses_to_take_points_the_survivor_spent_and_changes_nothing() -> None:
    with Repositories.in_memory() as repos:
        ledger, _ = _ledger_group(repos)
        movers = [*default_repointers(repos), LedgerRePointer(ledger)]
        record = merge(["a", "b"], repos, at=T, repointers=movers)
        ledger.redeem("a", 30, at=T, source_kind="reward", source_id="r-1")  # soonest lot: b's 40
        with pytest.raises(ValidationError) as caught:
            undo_merge(record, repos, at=T, repointers=movers)
        assert caught.value.field == "merge.ledger"
        assert "30 of 40 spent" in str(caught.value)
        # nothing was undone: still merged
        assert repos.activities.get("p").customer_id == "a"
        assert (ledger.balance("a"), ledger.balance("b")) == (170, 0)


# ---------------------------------------------------------------- 3. refunds of kept-apart purchases


def test_a_duplicate_with_a_refunded_purchase_naming_the_survivor_as_guest_merges() -> None:
    with Repositories.in_memory() as repos:
        repos.customers.add(_customer("a", 1))
        repos.customers.add(_customer("b", 2))
        p = Purchase(
            id="p", customer_id="b", occurred_at=_t(3), amount=50, currency="EUR", guests={"a"}
        )
        r = Refund(
            id="r", customer_id="b", occurred_at=_t(4), purchase_id="p", amount=10, currency="EUR"
        )
        repos.activities.append_many([p, r])
        record = merge(["a", "b"], repos, at=T)
        assert repos.activities.get("p") == p  # kept apart, unchanged
        assert repos.activities.get("r") == r  # the refund stays with its purchase
        assert sorted(record.repointed["activities"]["kept_apart"]) == ["p", "r"]
        undo_merge(record, repos, at=T)
        assert repos.activities.get("p") == p


# ---------------------------------------------------------------- 4. references held by others


@contextmanager
def _memory() -> Iterator[Any]:
    with Repositories.in_memory() as repos:
        yield repos


@contextmanager
def _sqlite() -> Iterator[Any]:
    with SQLiteStore(":memory:") as store:
        yield store


BACKENDS: dict[str, Callable[[], Any]] = {"memory": _memory, "sqlite": _sqlite}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_references_held_by_other_customers_are_re_pointed_and_restored(backend: str) -> None:
    with BACKENDS[backend]() as repos:
        repos.customers.add(_customer("co-a", 1, kind="company"))
        repos.customers.add(_customer("co-b", 2, kind="company"))
        repos.customers.add(_customer("s-1", 3, company_id="co-b"))  # staff of the duplicate
        repos.customers.add(_customer("s-2", 3, company_id="co-a"))
        repos.customers.add(_customer("x", 3))
        log = [
            # x treated both: re-pointing would list co-a twice, so it stays apart
            Purchase(
                id="p-both",
                customer_id="x",
                occurred_at=_t(5),
                amount=9,
                currency="EUR",
                guests={"co-a", "co-b"},
            ),
            # x treated the duplicate: the guest is re-pointed
            Purchase(
                id="p-x",
                customer_id="x",
                occurred_at=_t(6),
                amount=9,
                currency="EUR",
                guests={"co-b", "s-1"},
            ),
            # the survivor treated the duplicate: it would be its own guest, so it stays apart
            Purchase(
                id="p-self",
                customer_id="co-a",
                occurred_at=_t(7),
                amount=9,
                currency="EUR",
                guests={"co-b"},
            ),
            Referral(id="f-x", customer_id="x", occurred_at=_t(8), referred_id="co-b"),
            Referral(id="f-b", customer_id="co-b", occurred_at=_t(9), referred_id="s-2"),
            Referral(id="f-self", customer_id="co-a", occurred_at=_t(9), referred_id="co-b"),
        ]
        repos.activities.append_many(log)
        before = {a.id: a for a in log}
        record = merge(["co-a", "co-b"], repos, at=T)
        assert repos.customers.get("s-1").company_id == "co-a"
        assert repos.customers.get("s-2").company_id == "co-a"
        assert repos.activities.get("p-x").guests == frozenset({"co-a", "s-1"})
        assert repos.activities.get("f-x").referred_id == "co-a"
        assert repos.activities.get("f-b").customer_id == "co-a"
        for kept in ("p-both", "p-self", "f-self"):
            assert repos.activities.get(kept) == before[kept]
        assert sorted(record.repointed["activities"]["kept_apart"]) == [
            "f-self",
            "p-both",
            "p-self",
        ]
        every = [a for batch in repos.activities.iter_batches() for a in batch]
        assert not [a for a in every if isinstance(a, Purchase) and a.customer_id in a.guests]
        assert repos.activities.naming("co-b") == [
            before["p-both"],
            before["p-self"],
            before["f-self"],
        ]
        undo_merge(record, repos, at=T)
        assert repos.customers.get("s-1").company_id == "co-b"
        assert repos.customers.get("s-2").company_id == "co-a"
        assert {a.id: a for a in [a for b in repos.activities.iter_batches() for a in b]} == before


# ---------------------------------------------------------------- the journal


class KillingJournal:
    """A journal that stops the merge (as a kill would) after its *n*-th write."""

    def __init__(self, inner: MergeJournal, n: int) -> None:
        self.inner, self.n, self.writes = inner, n, 0

    def get(self, key: str) -> Any:
        return self.inner.get(key)

    def put(self, key: str, entry: Any) -> None:
        self.inner.put(key, entry)
        self.writes += 1
        if self.writes == self.n:
            raise KeyboardInterrupt("killed")

    def remove(self, key: str) -> None:
        self.inner.remove(key)

    def pending(self) -> Any:
        return self.inner.pending()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8])
def test_a_journaled_merge_stopped_at_any_step_is_completed_by_running_it_again(
    kind: str, n: int
) -> None:
    with BACKENDS[kind]() as repos:
        journal: MergeJournal = (
            SQLiteMergeJournal(repos) if kind == "sqlite" else InMemoryMergeJournal()
        )
        ledger, _ = _ledger_group(repos)
        repos.customers.add(_customer("s", 5, company_id="b"))
        movers = [*default_repointers(repos), LedgerRePointer(ledger)]
        survivor_before = repos.customers.get("a")
        with pytest.raises(KeyboardInterrupt):
            merge(["a", "b"], repos, at=T, repointers=movers, journal=KillingJournal(journal, n))
        assert len(journal.pending()) == 1
        record = merge(["a", "b"], repos, at=T, repointers=movers, journal=journal)
        assert [e.get("done") for e in journal.pending()] == [True]
        assert merge(["a", "b"], repos, at=T, repointers=movers, journal=journal) == record
        assert record.survivor_before == survivor_before
        assert repos.customers.get("a").email == "b@example.com"
        assert repos.customers.get("s").company_id == "a"
        assert repos.activities.get("p").customer_id == "a"
        assert (ledger.balance("a"), ledger.balance("b")) == (200, 0)
        undo_merge(record, repos, at=T, repointers=movers)
        assert repos.customers.get("a") == attrs.evolve(
            survivor_before, version=survivor_before.version + 2
        )
        assert repos.customers.get("s").company_id == "b"
        assert (ledger.balance("a"), ledger.balance("b")) == (100, 100)


# ---------------------------------------------------------------- 5. export


def test_export_includes_the_records_of_others_that_name_her() -> None:
    with Repositories.in_memory() as repos:
        repos.customers.add(_customer("a", 1))
        repos.customers.add(_customer("b", 2))
        repos.activities.append_many(
            [
                Purchase(
                    id="p",
                    customer_id="b",
                    occurred_at=_t(3),
                    amount=5,
                    currency="EUR",
                    guests={"a"},
                ),
                Referral(id="f", customer_id="b", occurred_at=_t(2), referred_id="a"),
            ]
        )
        data = export("a", repos)
        assert [r["id"] for r in data["named_in"]] == ["f", "p"]
        assert data["activities"] == []


def test_the_re_pointers_refuse_repositories_without_the_queries_they_need() -> None:
    class OldCustomers:
        def get(self, customer_id: str) -> Any:
            raise AssertionError

    class OldLog:
        def rewrite(self, activities: Any) -> int:
            return 0

        def append(self, activity: Any) -> bool:
            return True

        def append_many(self, activities: Any) -> int:
            return 0

        def get(self, activity_id: str) -> Any:
            raise AssertionError

        def for_customer(self, customer_id: str, **window: Any) -> list[Any]:
            return []

        def iter_batches(self, **kw: Any) -> Any:
            return iter(())

    from crmkit.quality import ActivityRePointer, StaffRePointer

    with pytest.raises(ValidationError, match="staff_of"):
        StaffRePointer(OldCustomers())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="naming"):
        ActivityRePointer(OldLog())  # type: ignore[arg-type]
