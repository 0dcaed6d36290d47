"""The ledger contract suites: pytest base classes a host subclasses for its ledger repository.

:class:`LedgerContract` checks the promises of
:class:`crmkit.loyalty.LedgerRepository` (and so of the four promises of the
ledger) against one hook, :meth:`LedgerContract.create_ledger_repository`;
:class:`PersistentLedgerContract` adds close-and-reopen and two processes
redeeming from one account at once. Both include a hypothesis state machine
that runs random sequences of earn, redeem, refund, expire and duplicate posts
and checks all four promises after every step.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from crmkit.core import ConflictError, ValidationError
from crmkit.loyalty import (
    MAX_POINTS,
    EntryKind,
    InMemoryLedgerRepository,
    InsufficientPointsError,
    Ledger,
    LedgerEntry,
    LedgerRepository,
    Lot,
    ReversalPolicy,
    idempotency_key,
)
from crmkit.testing._race import race

__all__ = ["LedgerContract", "LedgerOpener", "PersistentLedgerContract", "check_ledger"]

LedgerOpener = Callable[[], LedgerRepository]

_T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _close(repo: object) -> None:
    close = getattr(repo, "close", None)
    if callable(close):
        close()


def _earn(source_id: str, points: int, *, customer: str = "c-1", **more: Any) -> LedgerEntry:
    return LedgerEntry(
        customer_id=customer,
        kind=EntryKind.EARN,
        points=points,
        at=more.pop("at", _T0),
        source_kind="purchase",
        source_id=source_id,
        rule="base",
        **more,
    )


def check_ledger(repo: LedgerRepository, customer_ids: list[str]) -> None:
    """Assert the four promises hold for *customer_ids* in *repo* (used after every step).

    1. keys are unique; every reversal refers to an earn of the same customer
       and reverses at most its points;
    2. (with 3) every lot's remainder is its points minus the draws on it;
    3. no lot is overdrawn, and each taking entry draws at most its points;
    4. the cached balance equals the sum of the entries, and equals the lots'
       remainders minus the points no lot covered.
    """
    keys: set[str] = set()
    for customer in customer_ids:
        entries = repo.entries(customer)
        fold = 0
        drawn: dict[str, int] = {}
        opened: dict[str, LedgerEntry] = {}
        uncovered = 0
        reversed_of: dict[str, int] = {}
        for e in entries:
            assert e.key not in keys, f"key {e.key!r} stored twice"
            keys.add(e.key)
            assert repo.find(e.key) == e
            fold += e.points
            if e.opens_lot:
                opened[e.key] = e
            for lot_key, points in e.draws:
                assert lot_key in opened, f"{e.key!r} draws from a lot not opened before it"
                drawn[lot_key] = drawn.get(lot_key, 0) + points
            uncovered += e.uncovered
            if e.kind is EntryKind.REVERSE:
                assert e.refers_to is not None
                award = repo.find(e.refers_to)
                assert award is not None
                assert award.kind is EntryKind.EARN
                assert award.customer_id == customer
                reversed_of[e.refers_to] = reversed_of.get(e.refers_to, 0) - e.points
                assert reversed_of[e.refers_to] <= award.points
        assert repo.balance(customer) == fold, "the cached balance drifted from the fold"
        open_lots = repo.lots(customer)
        assert open_lots == sorted(open_lots, key=Lot.order)
        remaining = 0
        for key, e in opened.items():
            lot = repo.find_lot(key)
            assert lot is not None
            assert lot.remaining == e.points - drawn.get(key, 0) >= 0
            assert lot.points == e.points
            assert lot.expires_at == e.expires_at
            remaining += lot.remaining
        assert {lot.key for lot in open_lots} == {k for k in opened if repo.find_lot(k).remaining}  # type: ignore[union-attr]
        assert fold == remaining - uncovered


def _just(entry: LedgerEntry, _view: object) -> list[LedgerEntry]:
    return [entry]


class LedgerContract:
    """The contract every ledger repository must meet: subclass it as ``Test...``.

    Implement :meth:`create_ledger_repository`. If the repository has a
    ``close()`` method, the suite calls it when a test is done.

    Example::

        import crmkit.testing
        from crmkit.loyalty import InMemoryLedgerRepository

        class TestMyLedger(crmkit.testing.LedgerContract):
            def create_ledger_repository(self):
                return InMemoryLedgerRepository()
    """

    #: Generated sequences per state-machine test; ``None`` lets the hypothesis profile decide.
    max_examples: int | None = None
    #: Steps per generated sequence.
    step_count: int = 30

    def create_ledger_repository(self) -> LedgerRepository:
        """Return a fresh, empty ledger repository (called once per test and per sequence)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement create_ledger_repository() to run the contract"
        )

    @contextmanager
    def fresh_ledger(self) -> Iterator[LedgerRepository]:
        """A fresh repository, closed on exit."""
        repo = self.create_ledger_repository()
        try:
            yield repo
        finally:
            _close(repo)

    # ------------------------------------------------------------ promise 1

    def test_posting_a_key_again_returns_the_stored_entry_and_changes_nothing(self) -> None:
        with self.fresh_ledger() as repo:
            first = _earn("p-1", 10)
            assert repo.post(lambda _v: [first]) == [first]
            later = _earn("p-1", 10, at=_T0 + timedelta(days=3))  # same award, computed later
            assert repo.post(lambda _v: [later]) == [first]
            assert repo.post(lambda _v: [_earn("p-2", 5), later, _earn("p-2", 5)]) == [
                _earn("p-2", 5),
                first,
                _earn("p-2", 5),
            ]
            assert len(repo) == 2
            assert repo.balance("c-1") == 15
            check_ledger(repo, ["c-1"])

    def test_a_key_reused_for_another_customer_or_amount_is_a_conflict(self) -> None:
        with self.fresh_ledger() as repo:
            first = _earn("p-1", 10, amount=Decimal("5.00"))
            repo.post(lambda _v: [first])
            for other in (
                _earn("p-1", 10, customer="c-2", amount=Decimal("5.00")),  # another customer
                _earn("p-1", 99, amount=Decimal("5.00")),  # other points
                _earn("p-1", 10, amount=Decimal("6.00")),  # another amount
            ):
                with pytest.raises(ConflictError) as info:
                    repo.post(lambda _v, e=other: [_earn("p-9", 1), e])  # type: ignore[misc]
                assert info.value.key == first.key
            with pytest.raises(ConflictError):  # a repeat within one posting too
                repo.post(lambda _v: [_earn("p-3", 1), _earn("p-3", 2)])
            assert len(repo) == 1  # nothing of the refused postings is stored
            assert repo.balance("c-1") == 10
            assert repo.balance("c-2") == 0
            ledger = Ledger(repo)
            with pytest.raises(ConflictError):
                ledger.earn(
                    "c-2",
                    10,
                    at=_T0,
                    source_kind="purchase",
                    source_id="p-1",
                    rule="base",
                    amount="5.00",
                )
            ledger.redeem("c-1", 4, at=_T0, source_kind="reward", source_id="r-1")
            with pytest.raises(ConflictError):
                ledger.redeem("c-2", 4, at=_T0, source_kind="reward", source_id="r-1")
            with pytest.raises(ConflictError):
                ledger.redeem("c-1", 5, at=_T0, source_kind="reward", source_id="r-1")
            assert (
                ledger.redeem("c-1", 4, at=_T0, source_kind="reward", source_id="r-1").points == -4
            )
            check_ledger(repo, ["c-1", "c-2"])

    # ------------------------------------------------------------ the points bound

    def test_points_and_balances_are_bounded_by_max_points(self) -> None:
        with self.fresh_ledger() as repo:
            ledger = Ledger(repo)
            for points in (10**30, MAX_POINTS + 1, 2**63):
                with pytest.raises(ValidationError) as info:
                    ledger.earn("c-1", points, at=_T0, source_kind="purchase", source_id="p-0")
                assert info.value.field == "points"
            ledger.earn("c-1", MAX_POINTS, at=_T0, source_kind="purchase", source_id="p-1")
            for i in range(3):  # each would take the balance past the bound (and past 2**63)
                with pytest.raises(ValidationError):
                    ledger.earn(
                        "c-1", MAX_POINTS, at=_T0, source_kind="purchase", source_id=f"p-{i + 2}"
                    )
                with pytest.raises(ValidationError):
                    repo.post(lambda _v: [_earn("q-1", MAX_POINTS), _earn("q-2", MAX_POINTS)])
            assert repo.balance("c-1") == MAX_POINTS
            big = [_earn(f"b-{i}", MAX_POINTS // 4, customer="c-2") for i in range(4)]
            assert len(ledger.post_many(big, chunk_size=3)) == 4
            assert repo.balance("c-2") == 4 * (MAX_POINTS // 4)
            check_ledger(repo, ["c-1", "c-2"])  # the cached balances equal the fold

    def test_an_award_that_lapses_when_it_is_earned_is_refused(self) -> None:
        with self.fresh_ledger() as repo:
            ledger = Ledger(repo)
            for expires in (_T0, _T0 - timedelta(days=1)):
                with pytest.raises(ValidationError) as info:
                    ledger.earn(
                        "c-1",
                        5,
                        at=_T0,
                        source_kind="purchase",
                        source_id="p-1",
                        expires_at=expires,
                    )
                assert info.value.field == "LedgerEntry.expires_at"
            assert len(repo) == 0

    # ------------------------------------------------------------ atomicity

    def test_a_failure_in_the_middle_of_a_posting_stores_nothing(self) -> None:
        with self.fresh_ledger() as repo:
            repo.post(lambda _v: [_earn("p-0", 10)])
            bad_draw = LedgerEntry(
                customer_id="c-1",
                kind=EntryKind.REDEEM,
                points=-50,
                at=_T0,
                source_kind="reward",
                source_id="r-1",
                draws=(("purchase|p-0|base|", 50),),  # more than the lot holds
            )
            with pytest.raises(ValidationError):
                repo.post(lambda _v: [_earn("p-1", 10), _earn("p-2", 20, customer="c-2"), bad_draw])

            def failing(_view: object) -> list[LedgerEntry]:
                raise RuntimeError("the build failed")

            with pytest.raises(RuntimeError):
                repo.post(failing)
            assert len(repo) == 1
            assert repo.find("purchase|p-1|base|") is None
            assert repo.balance("c-1") == 10
            assert repo.balance("c-2") == 0
            assert repo.entries("c-2") == []
            check_ledger(repo, ["c-1", "c-2"])

    def test_draws_must_name_a_lot_of_the_same_customer_with_enough_left(self) -> None:
        with self.fresh_ledger() as repo:
            repo.post(lambda _v: [_earn("p-1", 10), _earn("p-2", 10, customer="c-2")])

            def redeem(source_id: str, customer: str, *draws: tuple[str, int]) -> LedgerEntry:
                return LedgerEntry(
                    customer_id=customer,
                    kind=EntryKind.REDEEM,
                    points=-sum(p for _, p in draws),
                    at=_T0,
                    source_kind="reward",
                    source_id=source_id,
                    draws=draws,
                )

            for entry in (
                redeem("r-1", "c-1", ("purchase|nope|base|", 1)),
                redeem("r-2", "c-1", ("purchase|p-2|base|", 1)),
            ):
                with pytest.raises(ValidationError):
                    repo.post(functools.partial(_just, entry))
            # Two draws in one posting count together.
            with pytest.raises(ValidationError):
                repo.post(
                    lambda _v: [
                        redeem("r-3", "c-1", ("purchase|p-1|base|", 6)),
                        redeem("r-4", "c-1", ("purchase|p-1|base|", 6)),
                    ]
                )
            # A lot opened earlier in the same posting may be drawn from.
            repo.post(lambda _v: [_earn("p-3", 4), redeem("r-5", "c-1", ("purchase|p-3|base|", 4))])
            assert repo.balance("c-1") == 10
            check_ledger(repo, ["c-1", "c-2"])

    def test_a_reversal_must_refer_to_an_earn_of_the_same_customer(self) -> None:
        with self.fresh_ledger() as repo:
            repo.post(lambda _v: [_earn("p-1", 10), _earn("p-2", 10, customer="c-2")])
            for target in ("nope", "purchase|p-2|base|"):
                bad = LedgerEntry(
                    customer_id="c-1",
                    kind=EntryKind.REVERSE,
                    points=0,
                    at=_T0,
                    source_kind="refund",
                    source_id="f-1",
                    refers_to=target,
                )
                with pytest.raises(ValidationError):
                    repo.post(functools.partial(_just, bad))
            assert len(repo) == 2
            check_ledger(repo, ["c-1", "c-2"])

    # ------------------------------------------------------------ reads

    def test_reads_of_unknown_keys_find_nothing(self) -> None:
        with self.fresh_ledger() as repo:
            repo.post(lambda _v: [_earn("p-1", 10)])
            assert repo.find("nope") is None
            assert repo.find_lot("nope") is None
            assert repo.balance("c-9") == 0
            assert repo.entries("c-9") == []
            assert repo.lots("c-9") == []
            assert repo.reversals_of("nope") == []
            assert repo.find(5) is None  # type: ignore[arg-type]
            assert repo.balance(5) == 0  # type: ignore[arg-type]

    def test_lots_come_soonest_expiry_first_and_lapsed_lots_are_found(self) -> None:
        with self.fresh_ledger() as repo:
            d = timedelta(days=1)
            repo.post(
                lambda _v: [
                    _earn("never", 1),
                    _earn("late", 2, expires_at=_T0 + 30 * d),
                    _earn("soon", 3, expires_at=_T0 + 10 * d),
                    _earn("soon-2", 4, expires_at=_T0 + 10 * d),
                    _earn("other", 5, customer="c-2", expires_at=_T0 + 5 * d),
                ]
            )
            assert [lot.points for lot in repo.lots("c-1")] == [3, 4, 2, 1]
            lapsed = repo.lapsed_lots(_T0 + 10 * d)
            assert [(lot.customer_id, lot.points) for lot in lapsed] == [
                ("c-1", 3),
                ("c-1", 4),
                ("c-2", 5),
            ]
            assert repo.lapsed_lots(_T0) == []

    def test_the_ledger_service_keeps_the_promises_on_a_worked_example(self) -> None:
        with self.fresh_ledger() as repo:
            ledger = Ledger(repo)
            d = timedelta(days=1)
            a = ledger.earn(
                "c-1",
                100,
                at=_T0,
                source_kind="purchase",
                source_id="p-1",
                expires_at=_T0 + 60 * d,
                amount="40",
            )
            ledger.earn(
                "c-1", 50, at=_T0, source_kind="purchase", source_id="p-2", expires_at=_T0 + 30 * d
            )
            r = ledger.redeem("c-1", 70, at=_T0 + d, source_kind="reward", source_id="r-1")
            assert r.draws == (("purchase|p-2||", 50), ("purchase|p-1||", 20))
            parts = [
                ledger.reverse(a.key, at=_T0 + 2 * d, source_id=f"f-{i}", amount="10")
                for i in range(3)
            ]
            assert [p.points for p in parts] == [-25, -25, -25]
            with pytest.raises(InsufficientPointsError):
                ledger.reverse(a.key, at=_T0 + 2 * d, source_id="f-3", amount="10")
            assert ledger.balance("c-1") == 5
            expired = ledger.expire(as_of=_T0 + 60 * d)
            assert [e.points for e in expired] == [-5]
            assert ledger.expire(as_of=_T0 + 60 * d) == []
            assert ledger.balance("c-1") == 0
            check_ledger(repo, ["c-1"])

    # ------------------------------------------------------------ bulk

    def test_post_many_leaves_the_ledger_posting_one_by_one_leaves(self) -> None:
        """Bulk awards (repeats included) against crmkit's in-memory ledger fed one by one."""
        # A repeated key repeats its award (customer and points follow the key; a key
        # reused for other content is a ConflictError, tested on its own); the expiry may differ.
        awards = st.builds(
            lambda s, life: _earn(
                f"p-{s}",
                1 + (s * 7) % 50,
                customer=f"c-{s % 5}",
                expires_at=None if life is None else _T0 + timedelta(days=life),
            ),
            st.integers(0, 40),
            st.sampled_from([None, 10, 30]),
        )
        chosen = settings(deadline=None)
        if self.max_examples is not None:
            chosen = settings(chosen, max_examples=self.max_examples)

        @chosen
        @given(st.lists(awards, max_size=80), st.integers(1, 30))
        def check(entries: list[LedgerEntry], chunk_size: int) -> None:
            reference = InMemoryLedgerRepository()
            expected = [reference.post(functools.partial(_just, e))[0] for e in entries]
            customers = [f"c-{c}" for c in range(5)]
            with self.fresh_ledger() as repo:
                got = Ledger(repo).post_many(entries, chunk_size=chunk_size)
                assert got == expected
                assert len(repo) == len(reference)
                for customer in customers:
                    assert repo.entries(customer) == reference.entries(customer)
                    assert repo.balance(customer) == reference.balance(customer)
                    assert [(lot.key, lot.remaining) for lot in repo.lots(customer)] == [
                        (lot.key, lot.remaining) for lot in reference.lots(customer)
                    ]
                assert Ledger(repo).post_many(entries, chunk_size=chunk_size) == expected
                assert len(repo) == len(reference)
                check_ledger(repo, customers)

        check()

    # ------------------------------------------------------------ random sequences

    def test_random_sequences_keep_the_four_promises(self) -> None:
        factory = self.create_ledger_repository
        machine = type("LedgerMachine", (_LedgerMachine,), {"factory": staticmethod(factory)})
        chosen = settings(deadline=None, stateful_step_count=self.step_count)
        if self.max_examples is not None:
            chosen = settings(chosen, max_examples=self.max_examples)
        run_state_machine_as_test(machine, settings=chosen)


_CUSTOMERS = ["c-0", "c-1"]


class _LedgerMachine(RuleBasedStateMachine):
    """Random earn, redeem, refund, expire and duplicate posts; the promises after every step."""

    factory: Callable[[], LedgerRepository]

    def __init__(self) -> None:
        super().__init__()
        self.repo = self.factory()
        self.ledger = Ledger(self.repo)
        self.now = _T0
        self.earned: list[LedgerEntry] = []
        self.seen: dict[str, list[LedgerEntry]] = {c: [] for c in _CUSTOMERS}

    def teardown(self) -> None:
        _close(self.repo)

    @initialize(policy=st.sampled_from(list(ReversalPolicy)))
    def choose_policy(self, policy: ReversalPolicy) -> None:
        self.ledger = Ledger(self.repo, reversal_policy=policy)

    @rule(days=st.integers(0, 40))
    def tick(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule(
        customer=st.sampled_from(_CUSTOMERS),
        points=st.integers(1, 60),
        source=st.integers(0, 30),
        life=st.sampled_from([None, 5, 20, 60]),
        amount=st.integers(0, 100),
    )
    def earn(self, customer: str, points: int, source: int, life: int | None, amount: int) -> None:
        key_taken = self.repo.find(f"purchase|{customer}-{source}|base|")
        before = self.repo.balance(customer)
        if key_taken is not None and (
            key_taken.points != points or key_taken.amount != Decimal(amount)
        ):  # the key names another award: refused, nothing changes
            with pytest.raises(ConflictError):
                self.ledger.earn(
                    customer,
                    points,
                    at=self.now,
                    source_kind="purchase",
                    source_id=f"{customer}-{source}",
                    rule="base",
                    amount=amount,
                )
            assert self.repo.balance(customer) == before
            return
        entry = self.ledger.earn(
            customer,
            points,
            at=self.now,
            source_kind="purchase",
            source_id=f"{customer}-{source}",
            rule="base",
            expires_at=None if life is None else self.now + timedelta(days=life),
            amount=amount,
        )
        if key_taken is not None:  # promise 1: the stored entry, nothing changes
            assert entry == key_taken
            assert self.repo.balance(customer) == before
        else:
            self.earned.append(entry)
            assert self.repo.balance(customer) == before + points

    @precondition(lambda self: bool(self.earned))
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        entry = data.draw(st.sampled_from(self.earned))
        length, before = len(self.repo), self.repo.balance(entry.customer_id)
        assert self.ledger.post([entry]) == [self.repo.find(entry.key)]
        assert (len(self.repo), self.repo.balance(entry.customer_id)) == (length, before)

    @rule(
        customer=st.sampled_from(_CUSTOMERS), points=st.integers(1, 80), source=st.integers(0, 30)
    )
    def redeem(self, customer: str, points: int, source: int) -> None:
        key = f"reward|{customer}-{source}||"
        existing = self.repo.find(key)
        lapsed = sum(
            lot.remaining
            for lot in self.repo.lots(customer)
            if lot.expires_at is not None and lot.expires_at <= self.now
        )
        live = [
            lot
            for lot in self.repo.lots(customer)
            if lot.expires_at is None or lot.expires_at > self.now
        ]
        available = self.repo.balance(customer) - lapsed
        length = len(self.repo)
        if existing is not None and existing.points != -points:
            with pytest.raises(ConflictError):  # the request names another redemption
                self.ledger.redeem(
                    customer,
                    points,
                    at=self.now,
                    source_kind="reward",
                    source_id=f"{customer}-{source}",
                )
            assert len(self.repo) == length
            return
        try:
            entry = self.ledger.redeem(
                customer,
                points,
                at=self.now,
                source_kind="reward",
                source_id=f"{customer}-{source}",
            )
        except InsufficientPointsError:
            assert existing is None
            assert points > available
            assert len(self.repo) == length
            return
        if existing is not None:
            assert entry == existing
            assert len(self.repo) == length
            return
        assert points <= available
        # promise 3: the lots that expire soonest, in order, and nothing lapsed
        expected: list[tuple[str, int]] = []
        left = points
        for lot in live:
            take = min(left, lot.remaining)
            if take:
                expected.append((lot.key, take))
                left -= take
        assert list(entry.draws) == expected

    @precondition(lambda self: bool(self.earned))
    @rule(data=st.data(), share=st.integers(0, 100), refund=st.integers(0, 5))
    def refund(self, data: st.DataObject, share: int, refund: int) -> None:
        award = data.draw(st.sampled_from(self.earned))
        assert award.amount is not None
        earlier = self.repo.reversals_of(award.key)
        refunded = sum((e.amount or Decimal(0) for e in earlier), Decimal(0))
        amount = (award.amount - refunded) * share // 100
        source_id = f"{award.key}-{refund}"
        existing = self.repo.find(idempotency_key("refund", source_id, "reverse", award.key))
        length = len(self.repo)
        if existing is not None and existing.amount != amount:
            with pytest.raises(ConflictError):  # the refund id names another refund
                self.ledger.reverse(award.key, at=self.now, source_id=source_id, amount=amount)
            assert len(self.repo) == length
            return
        try:
            entry = self.ledger.reverse(award.key, at=self.now, source_id=source_id, amount=amount)
        except InsufficientPointsError:
            assert existing is None
            assert self.ledger.reversal_policy is ReversalPolicy.REFUSE
            assert len(self.repo) == length
            return
        if existing is not None:
            assert entry == existing
            assert len(self.repo) == length
            return
        # promise 2: floor(P * R / A) reversed in all, so refunds of the whole amount reverse P,
        # except points of the award that expired (taken once already)
        before = -sum(e.points for e in earlier)
        total = -sum(e.points for e in self.repo.reversals_of(award.key))
        target = (
            award.points
            if award.amount == 0
            else int(award.points * (refunded + amount) // award.amount)
        )
        expiry = self.repo.find(idempotency_key("lot", award.key, "expiry", ""))
        lapsed = 0 if expiry is None else sum(p for _, p in expiry.draws)
        assert total == max(before, min(target, award.points - lapsed))
        assert entry.refers_to == award.key

    @rule(
        customer=st.sampled_from(_CUSTOMERS),
        points=st.integers(-60, 60).filter(bool),
        source=st.integers(0, 30),
    )
    def adjust(self, customer: str, points: int, source: int) -> None:
        existing = self.repo.find(idempotency_key("staff", f"{customer}-{source}", "", ""))
        before, length = self.repo.balance(customer), len(self.repo)
        if existing is not None and existing.points != points:
            with pytest.raises(ConflictError):  # the correction id names another correction
                self.ledger.adjust(
                    customer,
                    points,
                    at=self.now,
                    source_kind="staff",
                    source_id=f"{customer}-{source}",
                )
            assert len(self.repo) == length
            return
        try:
            entry = self.ledger.adjust(
                customer, points, at=self.now, source_kind="staff", source_id=f"{customer}-{source}"
            )
        except InsufficientPointsError:
            assert existing is None
            assert self.ledger.reversal_policy is ReversalPolicy.REFUSE
            assert len(self.repo) == length
            return
        if existing is not None:
            assert entry == existing
            assert self.repo.balance(customer) == before
        else:
            assert entry.points == points

    @rule()
    def expire(self) -> None:
        self.ledger.expire(as_of=self.now)
        for customer in _CUSTOMERS:
            assert all(
                lot.expires_at is None or lot.expires_at > self.now
                for lot in self.repo.lots(customer)
            )

    @invariant()
    def promises_hold(self) -> None:
        check_ledger(self.repo, _CUSTOMERS)
        for customer in _CUSTOMERS:
            now = self.repo.entries(customer)
            # nothing is ever updated or deleted: what was seen is a prefix of what is stored
            assert now[: len(self.seen[customer])] == self.seen[customer]
            self.seen[customer] = now
            if self.ledger.reversal_policy is ReversalPolicy.REFUSE:
                assert self.repo.balance(customer) >= 0


class PersistentLedgerContract(LedgerContract):
    """The ledger contract for storage shared by processes and kept across restarts.

    Implement :meth:`create_ledger_repository` and :meth:`opener` (a picklable
    callable opening the same storage again, e.g. a ``functools.partial``).

    Example (crmkit's own)::

        class TestSQLiteLedgerFile(crmkit.testing.PersistentLedgerContract):
            @pytest.fixture(autouse=True)
            def _directory(self, tmp_path):
                self.directory = tmp_path

            def create_ledger_repository(self):
                return SQLiteLedgerRepository.open(self.directory / f"{uuid.uuid4().hex}.db")

            def opener(self, repository):
                return functools.partial(SQLiteLedgerRepository.open, repository.path)
    """

    #: Redemptions each of the two processes attempts.
    concurrent_rounds: int = 60

    def opener(self, repository: LedgerRepository) -> LedgerOpener:
        """Return a picklable callable that opens the storage behind *repository* again."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement opener() to run the persistence contract"
        )

    def test_close_and_reopen_keeps_everything(self) -> None:
        repo = self.create_ledger_repository()
        try:
            ledger = Ledger(repo)
            a = ledger.earn(
                "c-1",
                30,
                at=_T0,
                source_kind="purchase",
                source_id="p-1",
                amount="3",
                expires_at=_T0 + timedelta(days=9),
            )
            ledger.earn("c-1", 20, at=_T0, source_kind="purchase", source_id="p-2")
            ledger.redeem("c-1", 25, at=_T0, source_kind="reward", source_id="r-1")
            ledger.reverse(a.key, at=_T0, source_id="f-1", amount="1")
            before = (repo.entries("c-1"), repo.lots("c-1"), repo.balance("c-1"), len(repo))
            open_again = self.opener(repo)
        finally:
            _close(repo)
        again = open_again()
        try:
            assert (
                again.entries("c-1"),
                again.lots("c-1"),
                again.balance("c-1"),
                len(again),
            ) == before
            assert again.reversals_of(a.key)[0].amount == Decimal(1)
            check_ledger(again, ["c-1"])
            assert (
                Ledger(again).earn(
                    "c-1", 30, at=_T0, source_kind="purchase", source_id="p-1", amount="3"
                )
                == a
            )
        finally:
            _close(again)

    def test_two_processes_racing_for_one_point_cannot_both_win(self) -> None:
        """Per round a customer with one point, and one redemption of it per process, together.

        The processes meet at a barrier before every redemption, so each
        round is a real race: a ledger that reads the balance or the lots
        without holding a lock to the commit lets both through in some round
        (or fails writing), and this test fails.
        """
        rounds = self.concurrent_rounds
        repo = self.create_ledger_repository()
        try:
            ledger = Ledger(repo)
            ledger.post(_earn(f"p-{i}", 1, customer=f"c-{i}") for i in range(rounds))
            open_again = self.opener(repo)
        finally:
            _close(repo)
        reports = race(_contender, open_again, rounds, who="redeeming")
        won = [c for r in reports for c in r["won"]]
        twice = sorted({c for c in won if won.count(c) > 1})
        assert not twice, f"both processes redeemed the one point of {len(twice)} customers"
        again = open_again()
        try:
            customers = sorted(f"c-{i}" for i in range(rounds))
            for customer in customers:
                assert again.balance(customer) == (0 if customer in won else 1)
            assert sorted(won) == customers, "a point was left unredeemed"
            check_ledger(again, customers)
        finally:
            _close(again)

    def test_two_processes_redeeming_at_once_never_overspend(self) -> None:
        rounds = self.concurrent_rounds
        repo = self.create_ledger_repository()
        try:
            ledger = Ledger(repo)
            for i in range(rounds // 10):  # 10 lots of 10: fewer points than the redemptions
                ledger.earn(
                    "c-1",
                    10,
                    at=_T0,
                    source_kind="purchase",
                    source_id=f"p-{i}",
                    expires_at=_T0 + timedelta(days=100 - i),
                )
            budget = repo.balance("c-1")
            open_again = self.opener(repo)
        finally:
            _close(repo)
        reports = race(_spender, open_again, rounds, who="redeeming")
        accepted = [k for r in reports for k in r["redeemed"]]
        again = open_again()
        try:
            redeemed = [e for e in again.entries("c-1") if e.kind is EntryKind.REDEEM]
            mine = [e.source_id for e in redeemed if not e.source_id.startswith("shared")]
            assert sorted(mine) == sorted(accepted)
            assert -sum(e.points for e in redeemed) <= budget
            assert again.balance("c-1") == budget + sum(e.points for e in redeemed) >= 0
            assert len({e.key for e in redeemed}) == len(redeemed)
            check_ledger(again, ["c-1"])
        finally:
            _close(again)


def _contender(
    open_repository: LedgerOpener, worker: int, rounds: int, barrier: Any, results: Any
) -> None:
    """One process of the one-point race: meets the other before each redemption from ``c-<i>``."""
    report: dict[str, Any] = {"won": [], "error": None}
    try:
        repo = open_repository()
        try:
            ledger = Ledger(repo)
            barrier.wait(timeout=120)
            for i in range(rounds):
                with contextlib.suppress(threading.BrokenBarrierError):  # a straggler
                    barrier.wait(timeout=10)
                try:
                    ledger.redeem(
                        f"c-{i}", 1, at=_T0, source_kind="reward", source_id=f"w{worker}-{i}"
                    )
                except InsufficientPointsError:
                    continue
                report["won"].append(f"c-{i}")
        finally:
            _close(repo)
    except BaseException:
        report["error"] = f"worker {worker}:\n{traceback.format_exc()}"
    results.put(report)


def _spender(
    open_repository: LedgerOpener, worker: int, rounds: int, barrier: Any, results: Any
) -> None:
    """One process of the overspend test: redeems 1-2 points at a time, as fast as it can."""
    report: dict[str, Any] = {"redeemed": [], "error": None}
    try:
        repo = open_repository()
        try:
            ledger = Ledger(repo)
            barrier.wait(timeout=120)
            for i in range(rounds):
                source = f"w{worker}-{i}"
                try:
                    ledger.redeem("c-1", 1 + i % 2, at=_T0, source_kind="reward", source_id=source)
                except InsufficientPointsError:
                    pass
                else:
                    report["redeemed"].append(source)
                with contextlib.suppress(InsufficientPointsError):  # both post the same key
                    ledger.redeem("c-1", 1, at=_T0, source_kind="reward", source_id=f"shared-{i}")
        finally:
            _close(repo)
    except BaseException:
        report["error"] = f"worker {worker}:\n{traceback.format_exc()}"
    results.put(report)
