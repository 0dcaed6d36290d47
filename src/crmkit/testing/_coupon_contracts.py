"""The coupon contract suites: pytest base classes a host subclasses for its coupon repository.

:class:`CouponContract` checks the promises of
:class:`crmkit.loyalty.CouponRepository` against one hook,
:meth:`CouponContract.create_coupon_repository`: coupons round-trip exactly,
codes and ledger entry keys are unique, and :meth:`replace` is a
compare-and-set on the state. :class:`PersistentCouponContract` adds two
processes using the same coupons at once: each coupon is used exactly once.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.core import AlreadyExistsError, ConflictError, NotFoundError
from crmkit.loyalty import (
    AtomicCouponRepository,
    Catalogue,
    Coupon,
    CouponError,
    CouponRepository,
    CouponState,
    InMemoryLedgerRepository,
    Ledger,
    LedgerEntry,
    LedgerRepository,
    Rewards,
)
from crmkit.testing import strategies as cks
from crmkit.testing._race import race

__all__ = ["CouponContract", "CouponOpener", "PersistentCouponContract"]

CouponOpener = Callable[[], CouponRepository]
"""A picklable callable with no arguments that opens existing coupon storage."""

_T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _close(repo: object) -> None:
    close = getattr(repo, "close", None)
    if callable(close):
        close()


def _coupon(code: str = "K-1", *, entry_key: str | None = None, **changes: Any) -> Coupon:
    fields: dict[str, Any] = {
        "code": code,
        "reward_id": "coffee",
        "customer_id": "c-1",
        "entry_key": entry_key if entry_key is not None else f"reward|{code}|coffee|",
        "issued_at": _T0,
        "expires_at": _T0 + timedelta(days=30),
    }
    fields.update(changes)
    return Coupon(**fields)


@st.composite
def _coupons(draw: st.DrawFn) -> Coupon:
    issued = draw(cks.aware_datetimes())
    state = draw(st.sampled_from(CouponState))
    return Coupon(
        code=draw(cks.ids(prefix="K-")),
        reward_id=draw(cks.ids(prefix="r-")),
        customer_id=draw(cks.ids(prefix="c-")),
        entry_key=draw(cks.ids(prefix="e-")),
        issued_at=issued,
        expires_at=issued + draw(st.timedeltas(timedelta(seconds=1), timedelta(days=400))),
        state=state,
        redeemed_at=issued if state is CouponState.REDEEMED else None,
    )


class CouponContract:
    """The contract every coupon repository must meet: subclass it as ``Test...``.

    Implement :meth:`create_coupon_repository`; if the repository has a
    ``close()`` method, the suite calls it when a test is done.

    Example::

        import crmkit.testing
        from crmkit.loyalty import InMemoryCouponRepository

        class TestMyCoupons(crmkit.testing.CouponContract):
            def create_coupon_repository(self):
                return InMemoryCouponRepository()
    """

    #: Examples per property test; ``None`` lets the active hypothesis profile decide.
    max_examples: int | None = None

    #: Whether :meth:`create_ledger_repository_for` gives a ledger that posts in the
    #: coupons' own transaction, so a failure between the debit and the coupon
    #: leaves neither (crmkit's SQLite and PostgreSQL repositories of one store).
    atomic_redeem: bool = False

    def create_ledger_repository_for(self, coupons: CouponRepository) -> LedgerRepository:
        """A ledger for the redemption tests (default: in memory; a store's own ledger beside it)."""
        return InMemoryLedgerRepository()

    def create_coupon_repository(self) -> CouponRepository:
        """Return a fresh, empty coupon repository (called per test and per generated example)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement create_coupon_repository() to run the contract"
        )

    @contextmanager
    def fresh_coupons(self) -> Iterator[CouponRepository]:
        """A fresh repository, closed on exit if it can be."""
        repo = self.create_coupon_repository()
        try:
            yield repo
        finally:
            _close(repo)

    def _given(
        self, *args: st.SearchStrategy[Any], **kwargs: st.SearchStrategy[Any]
    ) -> Callable[[Callable[..., None]], Callable[[], None]]:
        chosen = (
            settings(deadline=None)
            if self.max_examples is None
            else settings(deadline=None, max_examples=self.max_examples)
        )

        def decorate(fn: Callable[..., None]) -> Callable[[], None]:
            wrapped: Callable[[], None] = chosen(given(*args, **kwargs)(fn))
            return wrapped

        return decorate

    def test_repository_is_a_coupon_repository(self) -> None:
        with self.fresh_coupons() as repo:
            assert isinstance(repo, CouponRepository)

    def test_coupons_round_trip_by_code_and_by_entry(self) -> None:
        @self._given(
            st.lists(_coupons(), max_size=6, unique_by=(lambda c: c.code, lambda c: c.entry_key))
        )
        def check(coupons: list[Coupon]) -> None:
            with self.fresh_coupons() as repo:
                for coupon in coupons:
                    repo.add(coupon)
                for coupon in coupons:
                    got = repo.get(coupon.code)
                    assert got == coupon
                    assert repo.for_entry(coupon.entry_key) == coupon

        check()

    def test_a_taken_code_or_entry_key_raises_and_keeps_the_stored_coupon(self) -> None:
        with self.fresh_coupons() as repo:
            first = _coupon("K-1")
            repo.add(first)
            for clash in (
                _coupon("K-1", entry_key="reward|other|coffee|"),
                _coupon("K-2", entry_key=first.entry_key),
                first,
            ):
                with pytest.raises(AlreadyExistsError):
                    repo.add(clash)
            assert repo.get("K-1") == first
            with pytest.raises(NotFoundError):
                repo.get("K-2")
            assert repo.for_entry("reward|other|coffee|") is None

    def test_unknown_codes_and_entries_find_nothing(self) -> None:
        with self.fresh_coupons() as repo:
            repo.add(_coupon("K-1"))
            with pytest.raises(NotFoundError) as caught:
                repo.get("K-9")
            assert caught.value.key == "K-9"
            assert isinstance(caught.value, KeyError)
            assert repo.for_entry("nope") is None
            with pytest.raises(NotFoundError):
                repo.replace(_coupon("K-9"), expected=CouponState.ISSUED)

    def test_replace_is_a_compare_and_set_on_the_state(self) -> None:
        with self.fresh_coupons() as repo:
            issued = _coupon("K-1")
            repo.add(issued)
            used = attrs.evolve(issued, state=CouponState.REDEEMED, redeemed_at=_T0)
            assert repo.replace(used, expected=CouponState.ISSUED) is True
            assert repo.get("K-1") == used
            expired = attrs.evolve(issued, state=CouponState.EXPIRED)
            assert repo.replace(expired, expected=CouponState.ISSUED) is False
            assert repo.get("K-1") == used
            assert repo.for_entry(issued.entry_key) == used

    def test_a_coupon_is_used_once_through_rewards(self) -> None:
        with self.fresh_coupons() as repo:
            ledger = Ledger(InMemoryLedgerRepository())
            ledger.earn("c-1", 500, at=_T0, source_kind="purchase", source_id="p-1")
            catalogue = Catalogue.from_dict({"coffee": {"name": "A coffee", "cost": 150}})
            shop = Rewards(ledger, catalogue, repo)
            coupon = shop.redeem("c-1", "coffee", at=_T0, request_id="q-1")
            assert shop.redeem("c-1", "coffee", at=_T0, request_id="q-1") == coupon
            assert repo.get(coupon.code) == coupon
            assert shop.use(coupon.code, at=_T0).state is CouponState.REDEEMED
            with pytest.raises(CouponError):
                shop.use(coupon.code, at=_T0)
            late = shop.redeem("c-1", "coffee", at=_T0, request_id="q-2")
            with pytest.raises(CouponError):
                shop.use(late.code, at=late.expires_at)
            assert repo.get(late.code).state is CouponState.EXPIRED

    def _shop(self, repo: CouponRepository, points: int = 500) -> Rewards:
        ledger = Ledger(self.create_ledger_repository_for(repo))
        ledger.earn("c-1", points, at=_T0, source_kind="purchase", source_id="p-1")
        catalogue = Catalogue.from_dict({"coffee": {"name": "A coffee", "cost": 150}})
        return Rewards(ledger, catalogue, repo)

    def test_issue_stores_one_coupon_per_entry_key(self) -> None:
        with self.fresh_coupons() as repo:
            first = _coupon("K-1")
            assert repo.issue(first) == first
            again = _coupon("K-2", entry_key=first.entry_key)  # a retry made another code
            assert repo.issue(again) == first
            assert repo.for_entry(first.entry_key) == first
            with pytest.raises(NotFoundError):
                repo.get("K-2")
            with pytest.raises(AlreadyExistsError):  # the code of another entry's coupon
                repo.issue(_coupon("K-1", entry_key="reward|other|coffee|"))
            assert repo.for_entry("reward|other|coffee|") is None

    def test_a_retried_redeem_returns_the_same_coupon_and_spends_once(self) -> None:
        with self.fresh_coupons() as repo:
            shop = self._shop(repo)
            ledger = shop.ledger
            # A crash after the debit, before the coupon (a host's non-atomic store, or a
            # process killed between the steps): the retry completes the redemption.
            build = ledger.redeem_build(
                "c-1", 150, at=_T0, source_kind="reward", source_id="q-1", rule="coffee"
            )
            debit = ledger.repository.post(build)[-1]
            assert repo.for_entry(debit.key) is None
            coupon = shop.redeem("c-1", "coffee", at=_T0, request_id="q-1")
            assert coupon.entry_key == debit.key
            assert shop.redeem("c-1", "coffee", at=_T0, request_id="q-1") == coupon
            assert ledger.balance("c-1") == 350
            with pytest.raises(ConflictError):  # the request id of another customer
                shop.redeem("c-2", "coffee", at=_T0, request_id="q-1")
            assert ledger.balance("c-2") == 0
            assert repo.for_entry(debit.key) == coupon

    def test_a_failure_between_debit_and_coupon_leaves_both_or_a_resumable_debit(self) -> None:
        with self.fresh_coupons() as repo:
            shop = self._shop(repo)
            ledger = shop.ledger
            build = ledger.redeem_build(
                "c-1", 150, at=_T0, source_kind="reward", source_id="q-1", rule="coffee"
            )

            def crash(entry: LedgerEntry) -> Coupon:
                raise OSError("the process died here")

            def attempt() -> None:
                if isinstance(repo, AtomicCouponRepository):
                    repo.post_and_issue(ledger.repository, build, crash)
                else:
                    crash(ledger.repository.post(build)[-1])

            with pytest.raises(OSError, match="died"):
                attempt()
            debit = ledger.repository.find("reward|q-1|coffee|")
            if self.atomic_redeem:
                assert debit is None, "the debit outlived its coupon's transaction"
                assert ledger.balance("c-1") == 500
            coupon = shop.redeem("c-1", "coffee", at=_T0, request_id="q-1")
            assert ledger.balance("c-1") == 350
            assert repo.for_entry("reward|q-1|coffee|") == coupon
            assert len(ledger.entries("c-1")) == 2

    def test_concurrent_retries_of_one_request_get_one_coupon(self) -> None:
        with self.fresh_coupons() as repo:
            shop = self._shop(repo, points=10_000)
            rounds, workers = 20, 4
            got: list[list[Coupon]] = [[] for _ in range(workers)]
            errors: list[BaseException] = []
            barrier = threading.Barrier(workers)

            def work(w: int) -> None:
                try:
                    for i in range(rounds):
                        barrier.wait(timeout=30)
                        got[w].append(shop.redeem("c-1", "coffee", at=_T0, request_id=f"q-{i}"))
                except BaseException as exc:  # reported below
                    errors.append(exc)
                    barrier.abort()

            threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors[0]
            for i in range(rounds):
                assert len({got[w][i] for w in range(workers)}) == 1, "two coupons for a request"
            assert shop.ledger.balance("c-1") == 10_000 - 150 * rounds


class PersistentCouponContract(CouponContract):
    """The coupon contract for storage shared by processes.

    Implement :meth:`create_coupon_repository` and :meth:`opener` (a picklable
    callable that opens the same storage again, e.g. a ``functools.partial``
    of a module-level function).
    """

    #: Coupons both processes try to use at the same moment.
    concurrent_rounds: int = 60

    def opener(self, repository: CouponRepository) -> CouponOpener:
        """Return a picklable callable that opens the storage behind *repository* again."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement opener() to run the persistence contract"
        )

    def test_two_processes_using_the_same_coupons_use_each_once(self) -> None:
        rounds = self.concurrent_rounds
        repo = self.create_coupon_repository()
        try:
            for i in range(rounds):
                repo.add(_coupon(f"K-{i}"))
            open_again = self.opener(repo)
        finally:
            _close(repo)
        reports = race(_user, open_again, rounds, who="coupon-using")
        won = sorted(code for r in reports for code in r["used"])
        assert won == sorted(f"K-{i}" for i in range(rounds)), "a coupon was used twice or never"
        again = open_again()
        try:
            for i in range(rounds):
                stored = again.get(f"K-{i}")
                assert stored.state is CouponState.REDEEMED
                winner = next(r["worker"] for r in reports if f"K-{i}" in r["used"])
                assert stored.redeemed_at == _T0 + timedelta(seconds=winner)
        finally:
            _close(again)


def _user(
    open_repository: CouponOpener, worker: int, rounds: int, barrier: Any, results: Any
) -> None:
    """One process of the coupon race: tries to use every coupon, meeting the other at each."""
    report: dict[str, Any] = {"worker": worker, "used": [], "error": None}
    try:
        repo = open_repository()
        try:
            barrier.wait(timeout=120)
            for i in range(rounds):
                with contextlib.suppress(Exception):  # a straggler only weakens the race
                    barrier.wait(timeout=10)
                coupon = repo.get(f"K-{i}")
                used = attrs.evolve(
                    coupon,
                    state=CouponState.REDEEMED,
                    redeemed_at=_T0 + timedelta(seconds=worker),
                )
                if repo.replace(used, expected=CouponState.ISSUED):
                    report["used"].append(coupon.code)
        finally:
            _close(repo)
    except BaseException:
        report["error"] = f"worker {worker}:\n{traceback.format_exc()}"
    results.put(report)
