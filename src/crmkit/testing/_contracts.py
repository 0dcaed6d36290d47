"""The repository contract suites: pytest base classes a host subclasses.

Each suite is a plain class whose ``test_*`` methods check one promise of the
repository Protocols in :mod:`crmkit.domain`. A host subclasses it under a name
pytest collects (``Test...``) and implements one hook,
:meth:`RepositoryContract.create_repositories`; the suite's names do not
start with ``Test``, so pytest does not run them on their own. crmkit's
in-memory and SQLite repositories run the same suites.

Property tests draw a fresh, empty set of repositories for every generated
example, so a hook must be cheap (milliseconds) and must not depend on pytest
fixtures; put any directory it needs on ``self`` from an autouse fixture.
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crmkit.core import AlreadyExistsError, ConflictError, NotFoundError, ValidationError
from crmkit.domain import (
    Activity,
    ActivityRepository,
    Channel,
    Contact,
    ContactRepository,
    Customer,
    CustomerKind,
    CustomerRepository,
    Direction,
    FrozenDict,
    InMemoryActivityRepository,
    InMemoryContactRepository,
    InMemoryCustomerRepository,
    Interaction,
    Purchase,
    Record,
    Refund,
    RepositorySet,
    RewritableActivityRepository,
    to_record,
)
from crmkit.testing import strategies as cks
from crmkit.testing._race import race

__all__ = [
    "ClosableRepositorySet",
    "PersistentRepositoryContract",
    "Repositories",
    "RepositoryContract",
]


@runtime_checkable
class ClosableRepositorySet(RepositorySet, Protocol):
    """A :class:`~crmkit.domain.RepositorySet` with a ``close()``: what the contract suites open.

    :class:`Repositories` is one; so is :class:`crmkit.adapters.sqlite.SQLiteStore`.
    """

    def close(self) -> None:
        """Release what the repositories hold (connections, files)."""
        ...


def _nothing() -> None:
    return None


@attrs.frozen(kw_only=True)
class Repositories:
    """A customer, a contact and an activity repository, handed to the contract suite together.

    Attributes:
        customers: a :class:`~crmkit.domain.CustomerRepository`.
        contacts: a :class:`~crmkit.domain.ContactRepository`.
        activities: an :class:`~crmkit.domain.ActivityRepository`.
        on_close: called by :meth:`close` (close connections here).

    >>> repos = Repositories.in_memory()
    >>> type(repos.activities).__name__
    'InMemoryActivityRepository'
    >>> repos.close()
    """

    customers: CustomerRepository
    contacts: ContactRepository
    activities: ActivityRepository
    on_close: Callable[[], None] = _nothing

    @classmethod
    def in_memory(cls) -> Repositories:
        """Fresh, empty in-memory repositories."""
        return cls(
            customers=InMemoryCustomerRepository(),
            contacts=InMemoryContactRepository(),
            activities=InMemoryActivityRepository(),
        )

    def close(self) -> None:
        """Call ``on_close``."""
        self.on_close()

    def __enter__(self) -> Repositories:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---------------------------------------------------------------- helpers


def _canonical(record: Record) -> str:
    """The record's JSON, keys sorted: equal only if every field and scale is the same."""
    return json.dumps(to_record(record), sort_keys=True)


def _assert_same(got: Sequence[Record], expected: Sequence[Record]) -> None:
    """Records equal, and their encodings too (``Decimal("1.50")`` is not ``Decimal("1.5")``)."""
    assert list(got) == list(expected)
    assert [_canonical(r) for r in got] == [_canonical(r) for r in expected]


_id = operator.attrgetter("id")


def _time_order(activities: Sequence[Activity]) -> list[Activity]:
    return sorted(activities, key=lambda a: (a.occurred_at, a.id))


def _flatten_batches(batches: Iterator[list[Any]], batch_size: int) -> list[Any]:
    out: list[Any] = []
    for batch in batches:
        assert isinstance(batch, list)
        assert 1 <= len(batch) <= batch_size, f"a batch of {len(batch)} for batch_size={batch_size}"
        out.extend(batch)
    return out


_T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


def _purchase(
    pid: str = "p-1", *, customer_id: str = "c-1", amount: str = "100.00", at: datetime = _T0
) -> Purchase:
    return Purchase(
        id=pid, customer_id=customer_id, occurred_at=at, amount=Decimal(amount), currency="EUR"
    )


def _refund(
    rid: str,
    amount: str,
    *,
    purchase_id: str = "p-1",
    customer_id: str = "c-1",
    currency: str = "EUR",
    at: datetime = _T0 + timedelta(days=1),
) -> Refund:
    return Refund(
        id=rid,
        customer_id=customer_id,
        occurred_at=at,
        purchase_id=purchase_id,
        amount=Decimal(amount),
        currency=currency,
    )


def _customer(cid: str = "c-1", **changes: Any) -> Customer:
    return Customer(id=cid, name="Ann Lee", created_at=_T0, **changes)


_BAD_BATCH_SIZES: tuple[object, ...] = (0, -1, True, 2.5, "10", None)


# ---------------------------------------------------------------- the contract


class RepositoryContract:
    """The contract every set of repositories must meet: subclass it as ``Test...``.

    Implement :meth:`create_repositories`; every ``test_*`` method then runs
    against your repositories. To skip a test your storage cannot pass yet,
    override it in the subclass with ``pytest.mark.skip`` and a reason. Set
    ``max_examples`` to run the property tests on fewer (or more) generated
    examples than the active hypothesis profile asks for.

    Example (a pytest module of the host's)::

        import crmkit.testing

        class TestMyRepositories(crmkit.testing.RepositoryContract):
            def create_repositories(self):
                db = connect_to_a_fresh_test_database()
                return crmkit.testing.Repositories(
                    customers=MyCustomers(db), contacts=MyContacts(db),
                    activities=MyActivities(db), on_close=db.close)
    """

    #: Examples per property test; ``None`` lets the active hypothesis profile decide.
    max_examples: int | None = None

    def _given(
        self, *args: st.SearchStrategy[Any], **kwargs: st.SearchStrategy[Any]
    ) -> Callable[[Callable[..., None]], Callable[[], None]]:
        """``@given`` for a property defined inside a test method, with no deadline.

        Defining the property inside the method (rather than decorating the
        method) keeps each subclass's runs apart, and building the settings at
        run time keeps the host's active hypothesis profile. Storage timings
        vary, so there is no deadline.
        """
        if self.max_examples is None:
            chosen = settings(deadline=None)
        else:
            chosen = settings(deadline=None, max_examples=self.max_examples)

        def decorate(fn: Callable[..., None]) -> Callable[[], None]:
            wrapped: Callable[[], None] = chosen(given(*args, **kwargs)(fn))
            return wrapped

        return decorate

    def create_repositories(self) -> ClosableRepositorySet:
        """Return fresh, empty repositories (called once per test and per generated example).

        The suite calls ``close()`` on them when the test or example is done.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement create_repositories() to run the contract"
        )

    @contextmanager
    def fresh_repositories(self) -> Iterator[ClosableRepositorySet]:
        """Fresh repositories from :meth:`create_repositories`, closed on exit."""
        repos = self.create_repositories()
        try:
            yield repos
        finally:
            repos.close()

    # ------------------------------------------------------------ customers

    def test_customers_round_trip_through_add_get_get_many_and_iter_all(self) -> None:
        @self._given(
            st.lists(cks.customers(), max_size=8, unique_by=lambda c: c.id),
            st.integers(1, 4),
        )
        def check(customers: list[Customer], batch_size: int) -> None:
            with self.fresh_repositories() as repos:
                for customer in customers:
                    repos.customers.add(customer)
                for customer in customers:
                    _assert_same([repos.customers.get(customer.id)], [customer])
                wanted = [c.id for c in customers[::2]] + ["no-such-customer"]
                many = repos.customers.get_many(iter(wanted))
                assert set(many) == set(wanted) - {"no-such-customer"}
                for cid, got in many.items():
                    _assert_same([got], [next(c for c in customers if c.id == cid)])
                everyone = _flatten_batches(
                    repos.customers.iter_all(batch_size=batch_size), batch_size
                )
                _assert_same(everyone, sorted(customers, key=_id))

        check()

    def test_customer_add_of_a_taken_id_raises_and_keeps_the_stored_one(self) -> None:
        with self.fresh_repositories() as repos:
            ann = _customer()
            repos.customers.add(ann)
            with pytest.raises(AlreadyExistsError) as caught:
                repos.customers.add(attrs.evolve(ann, name="Someone Else"))
            assert caught.value.key == "c-1"
            with pytest.raises(AlreadyExistsError):
                repos.customers.add(ann)  # even the very same customer: add is not an upsert
            _assert_same([repos.customers.get("c-1")], [ann])

    def test_customer_unknown_id_raises_not_found(self) -> None:
        with self.fresh_repositories() as repos:
            repos.customers.add(_customer("c-1"))
            with pytest.raises(NotFoundError) as caught:
                repos.customers.get("c-2")
            assert caught.value.key == "c-2"
            assert isinstance(caught.value, KeyError)
            with pytest.raises(NotFoundError):
                repos.customers.update(_customer("c-2"))
            assert repos.customers.get_many(["c-2", "c-3"]) == {}
            with pytest.raises(NotFoundError):
                repos.customers.get("c-2")  # a failed update does not create it

    def test_customer_update_stores_the_change_with_the_next_version(self) -> None:
        @self._given(cks.customers(), cks.customers())
        def check(before: Customer, after: Customer) -> None:
            after = attrs.evolve(after, id=before.id, version=before.version)
            with self.fresh_repositories() as repos:
                repos.customers.add(before)
                returned = repos.customers.update(after)
                expected = attrs.evolve(after, version=before.version + 1)
                _assert_same([returned], [expected])
                _assert_same([repos.customers.get(before.id)], [expected])

        check()

    def test_customer_stale_update_raises_conflict_and_changes_nothing(self) -> None:
        with self.fresh_repositories() as repos:
            ann = _customer(version=3)
            repos.customers.add(ann)
            first = repos.customers.update(attrs.evolve(ann, influence="celebrity"))
            assert first.version == 4
            with pytest.raises(ConflictError) as caught:
                repos.customers.update(attrs.evolve(ann, influence="senior_position"))
            err = caught.value
            assert (err.key, err.expected_version, err.actual_version) == ("c-1", 3, 4)
            assert isinstance(err, RuntimeError)
            _assert_same([repos.customers.get("c-1")], [first])
            with pytest.raises(ConflictError):  # a version from the future is stale too
                repos.customers.update(attrs.evolve(first, version=9))
            _assert_same([repos.customers.get("c-1")], [first])
            second = repos.customers.update(attrs.evolve(first, influence="none"))
            assert second.version == 5
            _assert_same([repos.customers.get("c-1")], [second])

    def test_customers_iter_all_of_nothing_yields_no_batch(self) -> None:
        with self.fresh_repositories() as repos:
            assert list(repos.customers.iter_all()) == []
            assert list(repos.customers.iter_all(batch_size=1)) == []

    def test_customers_iter_all_rejects_a_bad_batch_size(self) -> None:
        with self.fresh_repositories() as repos:
            repos.customers.add(_customer())
            for bad in _BAD_BATCH_SIZES:
                with pytest.raises(ValidationError) as caught:
                    list(repos.customers.iter_all(batch_size=bad))  # type: ignore[arg-type]
                assert caught.value.field == "batch_size"

    # ------------------------------------------------------------ contacts

    def test_contacts_round_trip_and_come_back_per_customer_by_id(self) -> None:
        owners = st.sampled_from(["c-1", "c-2", "c-ü"])

        @self._given(
            st.lists(cks.contacts(customer_id=owners), max_size=8, unique_by=lambda k: k.id)
        )
        def check(contacts: list[Contact]) -> None:
            with self.fresh_repositories() as repos:
                for contact in contacts:
                    repos.contacts.add(contact)
                for contact in contacts:
                    _assert_same([repos.contacts.get(contact.id)], [contact])
                for owner in ("c-1", "c-2", "c-ü", "c-none"):
                    expected = sorted(
                        (k for k in contacts if k.customer_id == owner), key=lambda k: k.id
                    )
                    _assert_same(repos.contacts.for_customer(owner), expected)

        check()

    def test_contact_add_update_conflict_and_not_found(self) -> None:
        with self.fresh_repositories() as repos:
            bo = Contact(id="k-1", customer_id="c-1", name="Bo Chen", role="assistant")
            repos.contacts.add(bo)
            with pytest.raises(AlreadyExistsError):
                repos.contacts.add(attrs.evolve(bo, role="spouse"))
            moved = repos.contacts.update(attrs.evolve(bo, customer_id="c-2", primary=True))
            assert moved.version == 1
            _assert_same([repos.contacts.get("k-1")], [moved])
            assert repos.contacts.for_customer("c-1") == []
            _assert_same(repos.contacts.for_customer("c-2"), [moved])
            with pytest.raises(ConflictError) as caught:
                repos.contacts.update(attrs.evolve(bo, role="driver"))
            assert (caught.value.expected_version, caught.value.actual_version) == (0, 1)
            _assert_same([repos.contacts.get("k-1")], [moved])
            with pytest.raises(NotFoundError):
                repos.contacts.get("k-2")
            with pytest.raises(NotFoundError):
                repos.contacts.update(attrs.evolve(bo, id="k-2"))

    # ------------------------------------------------------------ activities

    def test_activities_round_trip_through_append_get_for_customer_and_iter_batches(self) -> None:
        @self._given(cks.activity_logs(), st.integers(1, 5))
        def check(log: list[Activity], batch_size: int) -> None:
            with self.fresh_repositories() as repos:
                for activity in log:
                    assert repos.activities.append(activity) is True
                self._assert_log(repos, log, batch_size)

        check()

    def test_append_many_stores_a_log_at_once_and_counts_only_new_activities(self) -> None:
        @self._given(cks.activity_logs(), st.integers(0, 12), st.integers(1, 5))
        def check(log: list[Activity], split: int, batch_size: int) -> None:
            with self.fresh_repositories() as repos:
                assert repos.activities.append_many(log[:split]) == len(log[:split])
                assert repos.activities.append_many(iter(log)) == len(log[split:])
                assert repos.activities.append_many(log) == 0
                assert repos.activities.append_many([]) == 0
                self._assert_log(repos, log, batch_size)

        check()

    def test_append_many_gives_what_appending_one_by_one_gives(self) -> None:
        """A batch with repeats, twins and bad refunds: the outcome of ``append`` one by one.

        The reference is crmkit's in-memory log appending the same activities
        one at a time: if it raises at some activity, ``append_many`` raises
        the same kind of error and stores nothing; otherwise both hold the
        same log and ``append_many`` counts what was new. Batches are long
        enough to take a store's bulk path (crmkit's PostgreSQL store uses
        ``COPY`` above 8 activities).
        """

        @self._given(cks.activity_logs(min_size=1, max_size=16), st.data())
        def check(log: list[Activity], data: st.DataObject) -> None:
            batch = list(log)
            for _ in range(data.draw(st.integers(0, 4))):  # repeats of stored-to-be activities
                batch.insert(data.draw(st.integers(0, len(batch))), data.draw(st.sampled_from(log)))
            poison = data.draw(st.sampled_from(["none", "twin", "orphan", "over"]))
            if poison == "twin":
                victim = data.draw(st.sampled_from(log))
                batch.append(
                    attrs.evolve(_purchase(), id=victim.id)
                    if not isinstance(victim, Purchase)
                    else attrs.evolve(victim, amount=victim.amount + 1)
                )
            elif poison == "orphan":
                batch.insert(
                    data.draw(st.integers(0, len(batch))),
                    _refund("r-orphan", "1", purchase_id="p-nowhere"),
                )
            elif poison == "over":
                purchases = [a for a in log if isinstance(a, Purchase)]
                if purchases:
                    target = data.draw(st.sampled_from(purchases))
                    batch.append(
                        attrs.evolve(
                            _refund("r-over", "1"),
                            customer_id=target.customer_id,
                            purchase_id=target.id,
                            currency=target.currency,
                            occurred_at=target.occurred_at,
                            amount=target.amount + Decimal("0.01"),
                        )
                    )
            reference = InMemoryActivityRepository()
            failure: type[Exception] | None = None
            new = 0
            try:
                for activity in batch:
                    new += reference.append(activity)
            except (ValidationError, AlreadyExistsError) as exc:
                failure = type(exc)
            with self.fresh_repositories() as repos:
                if failure is not None:
                    with pytest.raises(failure):
                        repos.activities.append_many(batch)
                    assert list(repos.activities.iter_batches()) == []
                    return
                assert repos.activities.append_many(batch) == new
                expected = _flatten_batches(reference.iter_batches(), 10_000)
                _assert_same(_flatten_batches(repos.activities.iter_batches(), 10_000), expected)
                assert repos.activities.append_many(batch) == 0

        check()

    def _assert_log(
        self, repos: ClosableRepositorySet, log: list[Activity], batch_size: int
    ) -> None:
        """The repositories hold exactly *log*, by id, per customer and in time order."""
        for activity in log:
            _assert_same([repos.activities.get(activity.id)], [activity])
        for customer_id in {a.customer_id for a in log} | {"c-nobody"}:
            _assert_same(
                repos.activities.for_customer(customer_id),
                _time_order([a for a in log if a.customer_id == customer_id]),
            )
        everything = _flatten_batches(
            repos.activities.iter_batches(batch_size=batch_size), batch_size
        )
        _assert_same(everything, _time_order(log))

    # ------------------------------------------------------------ rewrite (merge and erasure)

    def _rewritable(self, repos: ClosableRepositorySet) -> RewritableActivityRepository:
        activities = repos.activities
        if not isinstance(activities, RewritableActivityRepository):
            pytest.skip("the activity repository does not implement rewrite()")
        return activities

    def test_rewrite_re_points_a_customers_activities_and_back_exactly(self) -> None:
        @self._given(cks.activity_logs(min_size=1), st.integers(1, 5))
        def check(log: list[Activity], batch_size: int) -> None:
            target = "c-rewrite-target"
            assume(all(target not in getattr(a, "guests", ()) for a in log))
            assume(all(a.customer_id != target for a in log))
            moved_from = log[0].customer_id
            moved = [
                attrs.evolve(a, customer_id=target) for a in log if a.customer_id == moved_from
            ]
            assume(all(a.customer_id not in getattr(a, "guests", ()) for a in moved))
            with self.fresh_repositories() as repos:
                log_repo = self._rewritable(repos)
                log_repo.append_many(log)
                assert log_repo.rewrite(moved) == len(moved)
                assert log_repo.rewrite(moved) == 0  # already so
                after = [
                    attrs.evolve(a, customer_id=target) if a.customer_id == moved_from else a
                    for a in log
                ]
                self._assert_log(repos, after, batch_size)
                originals = [a for a in log if a.customer_id == moved_from]
                assert log_repo.rewrite(originals) == len(originals)
                self._assert_log(repos, log, batch_size)

        check()

    def test_rewrite_may_redact_personal_fields_but_never_money(self) -> None:
        with self.fresh_repositories() as repos:
            log_repo = self._rewritable(repos)
            p = _purchase()
            r = attrs.evolve(_refund("r-1", "10.00"), reason="Ann Lee's broken vase")
            log_repo.append_many([p, r])
            assert log_repo.rewrite([attrs.evolve(r, reason=None)]) == 1
            assert log_repo.get("r-1") == attrs.evolve(r, reason=None)
            for bad in (
                attrs.evolve(p, amount=Decimal("99.00")),
                attrs.evolve(p, occurred_at=_T0 + timedelta(days=1)),
                attrs.evolve(r, purchase_id="p-2"),
            ):
                with pytest.raises(ValidationError):
                    log_repo.rewrite([attrs.evolve(p, customer_id="c-1"), bad])
            with pytest.raises(NotFoundError):
                log_repo.rewrite([_purchase("p-unknown")])
            _assert_same(log_repo.for_customer("c-1"), [p, attrs.evolve(r, reason=None)])

    def test_rewrite_keeps_refunds_with_their_purchase(self) -> None:
        with self.fresh_repositories() as repos:
            log_repo = self._rewritable(repos)
            p = _purchase()
            r = _refund("r-1", "10.00")
            log_repo.append_many([p, r])
            # The refund would be left with another customer than its purchase
            # (what crmkit.domain.check_refund_owner refuses): the error names the field.
            for apart in (attrs.evolve(p, customer_id="c-2"), attrs.evolve(r, customer_id="c-2")):
                with pytest.raises(ValidationError) as caught:
                    log_repo.rewrite([apart])
                assert caught.value.field == "Refund.customer_id"
            _assert_same(log_repo.for_customer("c-1"), [p, r])
            moved: list[Activity] = [
                attrs.evolve(p, customer_id="c-2"),
                attrs.evolve(r, customer_id="c-2"),
            ]
            assert log_repo.rewrite(moved) == 2
            _assert_same(log_repo.for_customer("c-2"), moved)
            assert log_repo.for_customer("c-1") == []

    # ------------------------------------------------------------ references held by others

    def test_staff_of_returns_the_customers_of_a_company_by_id(self) -> None:
        companies = ["co-1", "co-2"]

        @self._given(
            st.lists(
                cks.customers(kind=st.just(CustomerKind.INDIVIDUAL)),
                max_size=8,
                unique_by=lambda c: c.id,
            ),
            st.lists(st.sampled_from([None, *companies]), min_size=8, max_size=8),
        )
        def check(customers: list[Customer], employers: list[str | None]) -> None:
            staffed = [
                attrs.evolve(c, company_id=e)
                for c, e in zip(customers, employers, strict=False)
                if c.id != e
            ]
            with self.fresh_repositories() as repos:
                for c in staffed:
                    repos.customers.add(c)
                for company in [*companies, "co-none"]:
                    expected = sorted(
                        (c for c in staffed if c.company_id == company), key=lambda c: c.id
                    )
                    _assert_same(repos.customers.staff_of(company), expected)
                if staffed:
                    moved = repos.customers.update(attrs.evolve(staffed[0], company_id="co-3"))
                    _assert_same(repos.customers.staff_of("co-3"), [moved])

        check()

    def test_naming_returns_the_guest_purchases_and_referrals_of_others(self) -> None:
        @self._given(cks.activity_logs(customer_ids=["c-1", "c-2", "c-3"]), st.data())
        def check(log: list[Activity], data: st.DataObject) -> None:
            named = data.draw(st.sampled_from(["c-1", "c-2", "c-3", "c-none"]))

            def names(a: Activity) -> bool:
                return named in getattr(a, "guests", ()) or getattr(a, "referred_id", None) == named

            with self.fresh_repositories() as repos:
                repos.activities.append_many(log)
                _assert_same(
                    repos.activities.naming(named), _time_order([a for a in log if names(a)])
                )
                log_repo = repos.activities
                if isinstance(log_repo, RewritableActivityRepository):
                    # after a rewrite that drops the reference, the activity no longer names her
                    dropped = [
                        attrs.evolve(a, guests=a.guests - {named})
                        for a in log
                        if isinstance(a, Purchase) and named in a.guests
                    ]
                    log_repo.rewrite(dropped)
                    assert all(not isinstance(a, Purchase) for a in log_repo.naming(named))

        check()

    def test_appending_the_same_activity_twice_stores_it_once(self) -> None:
        @self._given(cks.activity_logs(min_size=1, max_size=4))
        def check(log: list[Activity]) -> None:
            with self.fresh_repositories() as repos:
                assert repos.activities.append_many(log) == len(log)
                for activity in log:
                    assert repos.activities.append(activity) is False
                    twin = attrs.evolve(activity)  # equal, but another object
                    assert repos.activities.append(twin) is False
                assert repos.activities.append_many(log + log) == 0
                everything = _flatten_batches(repos.activities.iter_batches(), 10_000)
                _assert_same(everything, _time_order(log))

        check()

    def test_an_activity_appended_twice_in_one_call_is_stored_once(self) -> None:
        with self.fresh_repositories() as repos:
            p = _purchase()
            assert repos.activities.append_many([p, p, attrs.evolve(p)]) == 1
            _assert_same(repos.activities.for_customer("c-1"), [p])

    def test_a_different_activity_under_a_taken_id_raises_and_keeps_the_first(self) -> None:
        @self._given(cks.activity_logs(min_size=1, max_size=4), cks.activities(), st.data())
        def check(log: list[Activity], other: Activity, data: st.DataObject) -> None:
            taken = data.draw(st.sampled_from(log))
            impostor = attrs.evolve(other, id=taken.id)
            assume(impostor != taken)
            with self.fresh_repositories() as repos:
                repos.activities.append_many(log)
                with pytest.raises(AlreadyExistsError) as caught:
                    repos.activities.append(impostor)
                assert caught.value.key == taken.id
                with pytest.raises(AlreadyExistsError):
                    repos.activities.append_many([impostor])
                _assert_same([repos.activities.get(taken.id)], [taken])
                everything = _flatten_batches(repos.activities.iter_batches(), 10_000)
                _assert_same(everything, _time_order(log))

        check()

    def test_a_long_batch_after_a_stored_log_counts_the_new_and_refuses_an_impostor(
        self,
    ) -> None:
        """Long batches (a store's bulk path) over a stored log, as ``append`` one by one.

        A batch of new purchases with some stored ones among them stores only
        the new; one stored id with other content refuses the whole batch.
        """
        stored = [_purchase(f"p-{i:02d}", amount=f"{10 + i}.00") for i in range(12)]
        fresh = [_purchase(f"q-{i:02d}", amount=f"{20 + i}.00") for i in range(12)]
        with self.fresh_repositories() as repos:
            assert repos.activities.append_many(stored) == 12
            impostor = attrs.evolve(stored[3], amount=Decimal("999.00"))
            with pytest.raises(AlreadyExistsError):
                repos.activities.append_many([*fresh, impostor])
            assert len(_flatten_batches(repos.activities.iter_batches(), 10_000)) == 12
            assert repos.activities.append_many([*fresh, stored[3], stored[7]]) == 12
            everything = _flatten_batches(repos.activities.iter_batches(), 10_000)
            _assert_same(everything, _time_order(stored + fresh))

    def test_refunds_may_not_exceed_what_is_left_of_the_purchase(self) -> None:
        with self.fresh_repositories() as repos:
            p = _purchase(amount="100.00")
            repos.activities.append(p)
            r1 = _refund("r-1", "60.00")
            assert repos.activities.append(r1) is True
            with pytest.raises(ValidationError) as caught:
                repos.activities.append(_refund("r-2", "40.01"))
            assert caught.value.field == "Refund.amount"
            r3 = _refund("r-3", "40.00")
            assert repos.activities.append(r3) is True
            with pytest.raises(ValidationError):
                repos.activities.append(_refund("r-4", "0.01"))
            # Re-appending a stored refund stays a no-op, though nothing is left to refund.
            assert repos.activities.append(r1) is False
            _assert_same(repos.activities.for_customer("c-1"), [p, r1, r3])
            with pytest.raises(NotFoundError):
                repos.activities.get("r-2")

    def test_refunds_in_one_append_many_count_together(self) -> None:
        with self.fresh_repositories() as repos:
            p = _purchase(amount="10")
            with pytest.raises(ValidationError):
                repos.activities.append_many([p, _refund("r-1", "6"), _refund("r-2", "5")])
            assert list(repos.activities.iter_batches()) == []
            log: list[Activity] = [p, _refund("r-1", "6"), _refund("r-2", "4")]
            assert repos.activities.append_many(log) == 3
            _assert_same(repos.activities.for_customer("c-1"), log)

    def test_a_refund_must_match_a_recorded_purchase(self) -> None:
        with self.fresh_repositories() as repos:
            p = _purchase()
            note: Activity = Interaction(
                id="i-1",
                customer_id="c-1",
                occurred_at=_T0,
                channel=Channel.PHONE,
                direction=Direction.INBOUND,
            )
            repos.activities.append_many([p, note])
            bad = {
                "Refund.purchase_id": [
                    _refund("r-1", "1", purchase_id="p-unknown"),
                    _refund("r-2", "1", purchase_id="i-1"),  # not a purchase
                ],
                "Refund.customer_id": [_refund("r-3", "1", customer_id="c-2")],
                "Refund.currency": [_refund("r-4", "1", currency="USD")],
                "Refund.occurred_at": [_refund("r-5", "1", at=_T0 - timedelta(microseconds=1))],
            }
            for field, refunds in bad.items():
                for refund in refunds:
                    with pytest.raises(ValidationError) as caught:
                        repos.activities.append(refund)
                    assert caught.value.field == field
                    with pytest.raises(ValidationError):
                        repos.activities.append_many([refund])
                    with pytest.raises(NotFoundError):
                        repos.activities.get(refund.id)
            same_instant = _refund("r-6", "1", at=_T0)
            assert repos.activities.append(same_instant) is True

    def test_a_failing_append_many_stores_nothing(self) -> None:
        @self._given(
            cks.activity_logs(max_size=6), cks.activity_logs(min_size=1, max_size=6), st.data()
        )
        def check(stored: list[Activity], batch: list[Activity], data: st.DataObject) -> None:
            assume(not {a.id for a in stored} & {a.id for a in batch})
            poison: Activity
            how = data.draw(st.sampled_from(["orphan refund", "id clash", "over-refund"]))
            if how == "orphan refund":
                poison = _refund("r-poison", "1", purchase_id="p-nowhere")
            elif how == "id clash":
                victim = data.draw(st.sampled_from(stored + batch))
                poison = attrs.evolve(_purchase(), id=victim.id)
                assume(poison != victim)
            else:
                purchases = [a for a in stored + batch if isinstance(a, Purchase)]
                assume(purchases)
                target = data.draw(st.sampled_from(purchases))
                poison = attrs.evolve(
                    _refund("r-poison", "1"),
                    customer_id=target.customer_id,
                    purchase_id=target.id,
                    currency=target.currency,
                    occurred_at=target.occurred_at,
                    amount=target.amount + Decimal("0.01"),
                )
            at = data.draw(st.integers(0, len(batch)))
            with self.fresh_repositories() as repos:
                repos.activities.append_many(stored)
                with pytest.raises((ValidationError, AlreadyExistsError)):
                    repos.activities.append_many([*batch[:at], poison, *batch[at:]])
                everything = _flatten_batches(repos.activities.iter_batches(), 10_000)
                _assert_same(everything, _time_order(stored))
                for activity in batch:
                    with pytest.raises(NotFoundError):
                        repos.activities.get(activity.id)

        check()

    def test_for_customer_returns_the_half_open_range_in_time_then_id_order(self) -> None:
        instants = [_T0 + timedelta(hours=h) for h in (0, 0, 1, 2, 5)]
        zones = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
        bound = st.none() | st.builds(
            lambda t, z, shift: (t + shift).astimezone(z),
            st.sampled_from(instants),
            st.sampled_from(zones),
            st.sampled_from([timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)]),
        )

        @self._given(
            cks.activity_logs(max_size=10, customer_ids=["c-1", "c-2"], instants=instants),
            bound,
            bound,
        )
        def check(log: list[Activity], start: datetime | None, end: datetime | None) -> None:
            with self.fresh_repositories() as repos:
                repos.activities.append_many(log)
                for customer_id in ("c-1", "c-2"):
                    expected = _time_order(
                        [
                            a
                            for a in log
                            if a.customer_id == customer_id
                            and (start is None or start <= a.occurred_at)
                            and (end is None or a.occurred_at < end)
                        ]
                    )
                    got = repos.activities.for_customer(customer_id, start=start, end=end)
                    _assert_same(got, expected)

        check()

    def test_for_customer_reads_window_bounds_by_the_as_of_rule(self) -> None:
        with self.fresh_repositories() as repos:
            repos.activities.append(_purchase())
            for bad in ("01/01/2025", 20250101, True):
                with pytest.raises(ValidationError) as caught:
                    repos.activities.for_customer("c-1", start=bad)  # type: ignore[arg-type]
                assert caught.value.field == "start"
                with pytest.raises(ValidationError) as caught:
                    repos.activities.for_customer("c-1", end=bad)  # type: ignore[arg-type]
                assert caught.value.field == "end"
            # A naive bound (or a date, or ISO text) is UTC: the same window as the aware one.
            naive = datetime(2025, 1, 1)
            aware = datetime(2025, 1, 1, tzinfo=UTC)
            assert repos.activities.for_customer("c-1", start=naive) == (
                repos.activities.for_customer("c-1", start=aware)
            )
            assert repos.activities.for_customer(
                "c-1",
                end="2025-01-01",  # type: ignore[arg-type]
            ) == (repos.activities.for_customer("c-1", end=aware))

    def test_activity_unknown_id_raises_not_found(self) -> None:
        with self.fresh_repositories() as repos:
            repos.activities.append(_purchase("p-1"))
            with pytest.raises(NotFoundError) as caught:
                repos.activities.get("p-2")
            assert caught.value.key == "p-2"
            assert isinstance(caught.value, KeyError)

    def test_iter_batches_of_nothing_yields_no_batch(self) -> None:
        with self.fresh_repositories() as repos:
            assert list(repos.activities.iter_batches()) == []
            assert list(repos.activities.iter_batches(batch_size=1)) == []

    def test_iter_batches_rejects_a_bad_batch_size(self) -> None:
        with self.fresh_repositories() as repos:
            repos.activities.append(_purchase())
            for bad in _BAD_BATCH_SIZES:
                with pytest.raises(ValidationError) as caught:
                    list(repos.activities.iter_batches(batch_size=bad))  # type: ignore[arg-type]
                assert caught.value.field == "batch_size"

    def test_iter_batches_pages_through_ties_in_time_by_id(self) -> None:
        with self.fresh_repositories() as repos:
            same_time = [
                _purchase(f"p-{n:03d}", customer_id=f"c-{n % 3}", amount=str(n)) for n in range(25)
            ]
            repos.activities.append_many(reversed(same_time))
            for size in (1, 2, 5, 7, 25, 26):
                everything = _flatten_batches(repos.activities.iter_batches(batch_size=size), size)
                _assert_same(everything, same_time)


# ---------------------------------------------------------------- persistence

Opener = Callable[[], ClosableRepositorySet]
"""A picklable callable with no arguments that opens existing storage."""


class PersistentRepositoryContract(RepositoryContract):
    """The contract for storage that outlives the process and is shared by processes.

    All of :class:`RepositoryContract`, plus: everything survives a close and
    reopen, and two processes writing at once lose nothing.

    Implement :meth:`create_repositories` and :meth:`opener`; override
    :meth:`reopen` only if closing and calling the opener is not how your
    storage reopens.

    Example (crmkit's own SQLite test)::

        import functools
        import pytest
        import crmkit.testing
        from crmkit.adapters.sqlite import SQLiteStore

        class TestSQLiteFile(crmkit.testing.PersistentRepositoryContract):
            @pytest.fixture(autouse=True)
            def _directory(self, tmp_path):
                self.directory = tmp_path

            def create_repositories(self):
                return SQLiteStore(self.directory / f"{uuid.uuid4().hex}.sqlite3")

            def opener(self, repositories):
                return functools.partial(SQLiteStore, repositories.path)
    """

    #: How many rounds of writes each of the two processes makes (keep it to a few seconds).
    concurrent_rounds: int = 100

    def opener(self, repositories: ClosableRepositorySet) -> Opener:
        """Return a picklable callable that opens the storage behind *repositories* again.

        It is called after *repositories* are closed, in this process (by
        :meth:`reopen`) and in child processes started with the ``spawn``
        method, so it must not capture connections or locks: a
        ``functools.partial`` of an importable class or function and a path
        or URL is typical.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement opener() to run the persistence contract"
        )

    def reopen(self, repositories: ClosableRepositorySet) -> ClosableRepositorySet:
        """Close *repositories* and open the same storage again."""
        open_again = self.opener(repositories)
        repositories.close()
        return open_again()

    @contextmanager
    def _reopened(self, repositories: ClosableRepositorySet) -> Iterator[ClosableRepositorySet]:
        again = self.reopen(repositories)
        try:
            yield again
        finally:
            again.close()

    def test_everything_survives_close_and_reopen(self) -> None:
        @self._given(
            st.lists(cks.customers(), max_size=4, unique_by=lambda c: c.id),
            st.lists(
                cks.contacts(customer_id=st.just("c-1")), max_size=4, unique_by=lambda k: k.id
            ),
            cks.activity_logs(max_size=8),
        )
        def check(customers: list[Customer], contacts: list[Contact], log: list[Activity]) -> None:
            repos = self.create_repositories()
            try:
                for customer in customers:
                    repos.customers.add(customer)
                for contact in contacts:
                    repos.contacts.add(contact)
                repos.activities.append_many(log)
            except BaseException:
                repos.close()
                raise
            with self._reopened(repos) as again:
                _assert_same(
                    _flatten_batches(again.customers.iter_all(), 1000),
                    sorted(customers, key=_id),
                )
                _assert_same(again.contacts.for_customer("c-1"), sorted(contacts, key=_id))
                _assert_same(
                    _flatten_batches(again.activities.iter_batches(), 10_000), _time_order(log)
                )
                for activity in log:  # idempotency and refund checks see the reopened log
                    assert again.activities.append(activity) is False

        check()

    def test_versions_and_refund_totals_survive_reopen(self) -> None:
        repos = self.create_repositories()
        try:
            repos.customers.add(_customer())
            first = repos.customers.update(attrs.evolve(_customer(), influence="celebrity"))
            repos.activities.append_many([_purchase(amount="10"), _refund("r-1", "7")])
        except BaseException:
            repos.close()
            raise
        with self._reopened(repos) as again:
            with pytest.raises(ConflictError):
                again.customers.update(_customer())
            _assert_same([again.customers.get("c-1")], [first])
            with pytest.raises(ValidationError):
                again.activities.append(_refund("r-2", "3.01"))
            assert again.activities.append(_refund("r-3", "3")) is True

    def test_two_processes_writing_at_once_lose_nothing(self) -> None:
        rounds = self.concurrent_rounds
        refundable = rounds  # both processes try `rounds` refunds of 1: only half can succeed
        repos = self.create_repositories()
        try:
            repos.customers.add(_customer(attributes={"counter": 0}))
            repos.activities.append(_purchase(amount=str(refundable)))
            open_again = self.opener(repos)
        finally:
            repos.close()

        reports = race(_hammer, open_again, rounds, who="writer")

        with self._reopened(open_again()) as repos:
            # Every process's own activities, exactly once each.
            stored = _flatten_batches(repos.activities.iter_batches(batch_size=50), 50)
            counts = Counter(type(a).__name__ for a in stored)
            ids = [a.id for a in stored]
            assert len(ids) == len(set(ids))
            for n in (0, 1):
                for i in range(rounds):
                    assert f"w{n}-{i}" in ids
                    assert f"w{n}-{i}-batch" in ids
            # Shared activities: stored once, and exactly one process was told it was new.
            new_shared = Counter[str]()
            for report in reports:
                new_shared.update(report["shared_new"])
            assert new_shared == Counter({f"shared-{i}": 1 for i in range(rounds)})
            # Refunds: never more than the purchase, and every accepted one is stored.
            accepted = sum(len(r["refunds"]) for r in reports)
            assert accepted == refundable
            refunds = [a for a in stored if isinstance(a, Refund)]
            assert sorted(a.id for a in refunds) == sorted(x for r in reports for x in r["refunds"])
            assert sum(r.amount for r in refunds) == Decimal(refundable)
            assert counts == Counter(
                {"Interaction": 5 * rounds, "Refund": refundable, "Purchase": 1}
            )
            # Optimistic updates: no increment lost, one version per update.
            customer = repos.customers.get("c-1")
            assert customer.attributes["counter"] == 2 * rounds
            assert customer.version == 2 * rounds

    def test_two_processes_refunding_one_purchase_at_the_same_moment_cannot_both_win(
        self,
    ) -> None:
        """Per round a purchase of 1 and two refunds of 1, one per process, started together.

        The processes meet at a barrier before every refund, so each round is
        a real race for the same purchase: a store that checks a refund
        against the earlier ones without holding a lock from the check to the
        commit lets both through in some round, and this test fails.
        """
        rounds = self.concurrent_rounds
        repos = self.create_repositories()
        try:
            repos.activities.append_many([_purchase(f"p-{i}", amount="1") for i in range(rounds)])
            open_again = self.opener(repos)
        finally:
            repos.close()

        reports = race(_refunder, open_again, rounds, who="refunding")

        won = Counter(p for r in reports for p in r["won"])
        twice = sorted(p for p, n in won.items() if n > 1)
        assert not twice, f"both processes refunded {len(twice)} of {rounds} purchases: {twice[:5]}"
        with self._reopened(open_again()) as repos:
            refunds = [a for a in repos.activities.for_customer("c-1") if isinstance(a, Refund)]
            by_purchase = Counter(r.purchase_id for r in refunds)
            assert by_purchase == Counter({f"p-{i}": 1 for i in range(rounds)})
            assert sorted(won) == sorted(by_purchase)


def _refunder(
    open_repositories: Opener, worker: int, rounds: int, barrier: Any, results: Any
) -> None:
    """One process of the refund race: meets the other before each refund of purchase ``p-<i>``."""
    report: dict[str, Any] = {"worker": worker, "won": [], "error": None}
    try:
        repos = open_repositories()
        try:
            barrier.wait(timeout=120)
            for i in range(rounds):
                with contextlib.suppress(threading.BrokenBarrierError):  # a straggler
                    barrier.wait(timeout=10)
                refund = _refund(f"r-{i}-w{worker}", "1", purchase_id=f"p-{i}")
                try:
                    repos.activities.append(refund)
                except ValidationError:
                    continue
                report["won"].append(f"p-{i}")
        finally:
            repos.close()
    except BaseException:
        report["error"] = f"worker {worker}:\n{traceback.format_exc()}"
    results.put(report)


def _hammer(
    open_repositories: Opener,
    worker: int,
    rounds: int,
    barrier: Any,
    results: Any,
) -> None:
    """One writer process of :meth:`test_two_processes_writing_at_once_lose_nothing`."""
    report: dict[str, Any] = {"worker": worker, "shared_new": [], "refunds": [], "error": None}
    try:
        repos = open_repositories()
        try:
            barrier.wait(timeout=120)
            for i in range(rounds):
                at = _T0 + timedelta(seconds=i + 1)
                mine = functools.partial(
                    Interaction,
                    customer_id="c-1",
                    occurred_at=at,
                    channel=Channel.WEB,
                    direction=Direction.INBOUND,
                )
                assert repos.activities.append(mine(id=f"w{worker}-{i}")) is True
                shared = Interaction(
                    id=f"shared-{i}",
                    customer_id="c-1",
                    occurred_at=at,
                    channel=Channel.SMS,
                    direction=Direction.OUTBOUND,
                )
                if repos.activities.append(shared):
                    report["shared_new"].append(shared.id)
                batch = [mine(id=f"w{worker}-{i}-batch"), shared]
                assert repos.activities.append_many(batch) == 1
                try:
                    repos.activities.append(_refund(f"r-w{worker}-{i}", "1", at=at))
                except ValidationError:
                    pass
                else:
                    report["refunds"].append(f"r-w{worker}-{i}")
                while True:
                    current = repos.customers.get("c-1")
                    counter = current.attributes["counter"] + 1
                    try:
                        repos.customers.update(
                            attrs.evolve(current, attributes=FrozenDict({"counter": counter}))
                        )
                        break
                    except ConflictError:
                        continue
        finally:
            repos.close()
    except BaseException:
        report["error"] = f"worker {worker}:\n{traceback.format_exc()}"
    results.put(report)
