"""Merge of duplicate customers: survivor rules, survivorship, re-pointing, and nothing lost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.adapters.sqlite import SQLiteStore, SQLiteTransitionHistory
from crmkit.domain import (
    Activity,
    Consent,
    Contact,
    Customer,
    Purchase,
    Referral,
    Refund,
)
from crmkit.errors import ConflictError, NotFoundError, ValidationError
from crmkit.lifecycle import InMemoryTransitionHistory, LifecycleTransition, TransitionHistory
from crmkit.privacy import may_contact
from crmkit.quality import (
    MERGED_INTO,
    MergeRecord,
    TransitionRePointer,
    default_repointers,
    merge,
    undo_merge,
)
from crmkit.testing import Repositories
from crmkit.testing import strategies as cks

T = datetime(2025, 6, 1, tzinfo=UTC)
IDS = ["c-1", "c-2", "c-3", "c-4"]


def _t(day: int) -> datetime:
    return datetime(2025, 1, day, tzinfo=UTC)


@contextmanager
def _memory() -> Iterator[Any]:
    with Repositories.in_memory() as repos:
        yield repos


@contextmanager
def _sqlite() -> Iterator[Any]:
    with SQLiteStore(":memory:") as store:
        yield store


BACKENDS: dict[str, Callable[[], Any]] = {"memory": _memory, "sqlite": _sqlite}
HISTORIES: dict[str, Callable[[Any], TransitionHistory]] = {
    "memory": lambda repos: InMemoryTransitionHistory(),
    "sqlite": SQLiteTransitionHistory,
}
#: Few times and names, so that customers of a group share (at, transition) often.
_TIMES = [datetime(2025, 1, 31, tzinfo=UTC), datetime(2025, 2, 28, tzinfo=UTC)]
_transitions = st.builds(
    lambda t, at: attrs.evolve(t, at=at),
    cks.lifecycle_transitions(customer_id=st.sampled_from(IDS)),
    st.sampled_from(_TIMES),
)


def _transitions_of(history: TransitionHistory) -> dict[str, list[LifecycleTransition]]:
    return {c: history.for_customer(c) for c in IDS}


def _anyone(t: LifecycleTransition) -> LifecycleTransition:
    """The transition with its customer blanked out: what a re-pointing must keep."""
    return attrs.evolve(t, customer_id="c-x")


def _everything(repos: Any) -> list[Activity]:
    return [a for batch in repos.activities.iter_batches() for a in batch]


def _spend(log: list[Activity]) -> Decimal:
    paid = sum((a.amount for a in log if isinstance(a, Purchase)), Decimal(0))
    back = sum((a.amount for a in log if isinstance(a, Refund)), Decimal(0))
    return paid - back


def _counts(log: list[Activity]) -> Counter[str]:
    return Counter(a.type_name for a in log)


def _strip(c: Customer) -> Customer:
    return attrs.evolve(c, version=0)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_merge_and_undo_conserve_totals_and_restore_everything(backend: str) -> None:
    @settings(max_examples=40 if backend == "memory" else 15, deadline=None)
    @given(
        st.lists(
            cks.customers(customer_id=st.sampled_from(IDS)),
            min_size=len(IDS),
            max_size=len(IDS),
            unique_by=lambda c: c.id,
        ),
        cks.activity_logs(customer_ids=IDS),
        st.lists(
            cks.contacts(customer_id=st.sampled_from(IDS)), max_size=4, unique_by=lambda c: c.id
        ),
        st.lists(_transitions, max_size=8, unique_by=lambda t: t.key),
        st.lists(st.sampled_from(IDS), min_size=2, max_size=4, unique=True),
        st.sampled_from(["oldest", "most_complete"]),
        st.booleans(),
        st.dictionaries(
            st.sampled_from(["name", "email", "phone", "influence", "membership"]),
            st.sampled_from(["fill", "survivor", "oldest", "newest"]),
            max_size=3,
        ),
    )
    def check(
        customers: list[Customer],
        log: list[Activity],
        contacts: list[Contact],
        transitions: list[LifecycleTransition],
        group: list[str],
        rule: str,
        given_survivor: bool,
        fields: dict[str, str],
    ) -> None:
        with BACKENDS[backend]() as repos:
            for c in customers:
                repos.customers.add(c)
            for k in contacts:
                repos.contacts.add(k)
            repos.activities.append_many(log)
            history = HISTORIES[backend](repos)
            history.append_many(transitions)
            movers = [*default_repointers(repos), TransitionRePointer(history)]
            transitions_of = _transitions_of(history)
            before_log = _everything(repos)
            per_customer = {c: repos.activities.for_customer(c) for c in IDS}
            contacts_of = {c: repos.contacts.for_customer(c) for c in IDS}
            stored = {c: repos.customers.get(c) for c in IDS}

            record = merge(
                group,
                repos,
                at=T,
                rule=rule,
                survivor=group[-1] if given_survivor else None,
                fields=fields,
                repointers=movers,
            )
            survivor = record.survivor_id
            assert survivor in group
            assert set(record.merged_ids) == set(group) - {survivor}
            # Nothing lost: the whole log is the same set of activities, same totals.
            after_log = _everything(repos)
            assert _spend(after_log) == _spend(before_log)
            assert _counts(after_log) == _counts(before_log)
            assert {a.id for a in after_log} == {a.id for a in before_log}
            # The group's activities now sit with the survivor (but those kept apart).
            kept_apart = set(record.repointed["activities"]["kept_apart"])
            group_ids = {a.id for c in group for a in per_customer[c]}
            assert {a.id for a in repos.activities.for_customer(survivor)} == group_ids - kept_apart
            group_spend = _spend([a for c in group for a in per_customer[c]])
            assert (
                _spend([a for c in group for a in repos.activities.for_customer(c)]) == group_spend
            )
            for merged_id in record.merged_ids:
                assert repos.customers.get(merged_id).attributes[MERGED_INTO] == survivor
                assert {a.id for a in repos.activities.for_customer(merged_id)} <= kept_apart
                assert repos.contacts.for_customer(merged_id) == []
            assert len(repos.contacts.for_customer(survivor)) == sum(
                len(contacts_of[c]) for c in group
            )
            # Transitions: the same records (but for their customer), as many per group.
            now_of = _transitions_of(history)
            everything = [t for c in IDS for t in now_of[c]]
            assert Counter(map(_anyone, everything)) == Counter(map(_anyone, transitions))
            assert sum(len(now_of[c]) for c in group) == sum(len(transitions_of[c]) for c in group)
            for c in set(IDS) - set(group):
                assert now_of[c] == transitions_of[c]
            apart = record.repointed["transitions"]["kept_apart"]
            moved = record.repointed["transitions"]["moved"]
            assert len(now_of[survivor]) == len(transitions_of[survivor]) + len(moved)
            survivor_keys = {(t.at, t.transition) for t in now_of[survivor]}
            for merged_id in record.merged_ids:
                left = [[merged_id, t.at.isoformat(), t.transition] for t in now_of[merged_id]]
                assert left == [row for row in apart if row[0] == merged_id]
                # Kept apart only because the survivor has that very (at, transition).
                assert all((t.at, t.transition) in survivor_keys for t in now_of[merged_id])
            # Consent histories are joined: a withdrawal anywhere in the group still applies.
            merged = repos.customers.get(survivor)
            assert set(merged.consents) == {x for c in group for x in stored[c].consents}
            assert merged.created_at == min(stored[c].created_at for c in group)
            # The record survives a trip through JSON types.
            again = MergeRecord.from_dict(record.to_dict())
            assert again.repointed == record.repointed
            assert again.changes == record.changes

            undo_merge(again, repos, at=T, repointers=movers)
            assert _transitions_of(history) == transitions_of
            assert _spend(_everything(repos)) == _spend(before_log)
            for c in IDS:
                assert repos.activities.for_customer(c) == per_customer[c]
                assert [attrs.evolve(k, version=0) for k in repos.contacts.for_customer(c)] == [
                    attrs.evolve(k, version=0) for k in contacts_of[c]
                ]
                assert _strip(repos.customers.get(c)) == _strip(stored[c])

    check()


def _customer(cid: str, day: int, **kw: Any) -> Customer:
    return Customer(id=cid, name=kw.pop("name", "Ann Lee"), created_at=_t(day), **kw)


def test_survivor_rules_and_field_strategies() -> None:
    with Repositories.in_memory() as repos:
        repos.customers.add(_customer("a", 3, email="a@example.com"))
        repos.customers.add(_customer("b", 1, name="Ann B. Lee"))
        repos.customers.add(
            _customer("c", 2, email="c@example.com", phone="+4930901820", spending_budget=5)
        )
        oldest = merge(["a", "b", "c"], repos, at=T)
        assert oldest.survivor_id == "b"
        b = repos.customers.get("b")
        assert (b.name, b.email, b.phone) == ("Ann B. Lee", "c@example.com", "+4930901820")
        undo_merge(oldest, repos, at=T)
        complete = merge(["a", "b", "c"], repos, at=T, rule="most_complete")
        assert complete.survivor_id == "c"
        undo_merge(complete, repos, at=T)
        chosen = merge(
            ["a", "b", "c"],
            repos,
            at=T,
            survivor="a",
            fields={"name": "oldest", "phone": "survivor"},
        )
        a = repos.customers.get("a")
        assert (a.name, a.email, a.phone, a.created_at) == (
            "Ann B. Lee",
            "a@example.com",
            None,
            _t(1),
        )
        assert sorted(chosen.changes) == ["created_at", "name", "spending_budget"]
        assert "Ann" not in repr(chosen)


def test_consents_are_joined_so_the_least_permissive_answer_stays() -> None:
    yes = Consent(purpose="marketing", channel="email", granted=True, at=_t(1))
    no = Consent(purpose="*", channel="email", granted=False, at=_t(2))
    with Repositories.in_memory() as repos:
        repos.customers.add(_customer("a", 1, consents=(yes,)))
        repos.customers.add(_customer("b", 2, consents=(no,)))
        merge(["a", "b"], repos, at=T)
        assert not may_contact(repos.customers.get("a"), "marketing", "email", as_of=T)


def test_activities_that_would_name_the_survivor_twice_stay_apart() -> None:
    with Repositories.in_memory() as repos:
        repos.customers.add(_customer("a", 1))
        repos.customers.add(_customer("b", 2))
        treat = Purchase(
            id="p", customer_id="b", occurred_at=_t(3), amount=5, currency="EUR", guests={"a"}
        )
        ref = Referral(id="r", customer_id="b", occurred_at=_t(3), referred_id="a")
        repos.activities.append_many([treat, ref])
        record = merge(["a", "b"], repos, at=T)
        assert sorted(record.repointed["activities"]["kept_apart"]) == ["p", "r"]
        assert repos.activities.get("p") == treat


def _went(cid: str, day: int, name: str = "second_purchase") -> LifecycleTransition:
    return LifecycleTransition(
        customer_id=cid,
        from_stage="introduction",
        to_stage="growth",
        at=_t(day),
        transition=name,
        lifecycle="five-stage",
        version="1",
    )


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_transitions_move_to_the_survivor_and_back_and_a_shared_one_stays_apart(
    backend: str,
) -> None:
    with BACKENDS[backend]() as repos:
        history = HISTORIES[backend](repos)
        repos.customers.add(_customer("a", 1))
        repos.customers.add(_customer("b", 2))
        repos.customers.add(_customer("c", 3))
        mine, shared, own, other = _went("a", 5), _went("b", 5), _went("b", 7, "x"), _went("c", 9)
        history.append_many([mine, shared, own, other])
        movers = [*default_repointers(repos), TransitionRePointer(history)]
        record = merge(["a", "b", "c"], repos, at=T, repointers=movers)
        assert record.survivor_id == "a"
        info = record.repointed["transitions"]
        assert info["moved"] == [
            ["b", _t(7).isoformat(), "x"],
            ["c", _t(9).isoformat(), "second_purchase"],
        ]
        assert info["kept_apart"] == [["b", _t(5).isoformat(), "second_purchase"]]
        assert history.for_customer("a") == [
            mine,
            attrs.evolve(own, customer_id="a"),
            attrs.evolve(other, customer_id="a"),
        ]
        assert history.for_customer("b") == [shared]
        assert history.for_customer("c") == []
        # The key stays idempotent under the survivor.
        assert history.append(attrs.evolve(other, customer_id="a")) is False
        later = _went("a", 20, "later")
        history.append(later)  # recorded for the survivor after the merge: stays with it
        undo_merge(MergeRecord.from_dict(record.to_dict()), repos, at=T, repointers=movers)
        assert history.for_customer("a") == [mine, later]
        assert history.for_customer("b") == [shared, own]
        assert history.for_customer("c") == [other]


def test_the_transition_repointer_needs_a_rewritable_history() -> None:
    class AppendOnly:
        def append(self, transition: LifecycleTransition) -> bool:
            return True

        def append_many(self, transitions: Any) -> int:
            return 0

        def for_customer(self, customer_id: str, **window: Any) -> list[LifecycleTransition]:
            return []

        def latest_stages(self) -> dict[str, str]:
            return {}

    with pytest.raises(ValidationError, match="RewritableTransitionHistory"):
        TransitionRePointer(AppendOnly())


def test_undo_refuses_when_the_survivor_changed_since() -> None:
    with Repositories.in_memory() as repos:
        repos.customers.add(_customer("a", 1))
        repos.customers.add(_customer("b", 2))
        record = merge(["a", "b"], repos, at=T)
        a = repos.customers.get("a")
        repos.customers.update(attrs.evolve(a, influence="celebrity"))
        with pytest.raises(ConflictError):
            undo_merge(record, repos, at=T)
        with pytest.raises(ValidationError, match="repointers"):
            undo_merge(record, repos, at=T, repointers=[])


def test_a_failing_repointer_rolls_the_merge_back() -> None:
    class Broken:
        name = "broken"

        def repoint(self, from_ids: Any, to_id: str, *, at: datetime) -> Any:
            raise RuntimeError("the ledger is down")

        def undo(self, info: Any, *, at: datetime) -> None:  # pragma: no cover - never called
            raise AssertionError

    with Repositories.in_memory() as repos:
        repos.customers.add(_customer("a", 1))
        repos.customers.add(_customer("b", 2, email="b@example.com"))
        repos.activities.append(
            Purchase(id="p", customer_id="b", occurred_at=_t(3), amount=5, currency="EUR")
        )
        with pytest.raises(RuntimeError, match="down"):
            merge(["a", "b"], repos, at=T, repointers=[*default_repointers(repos), Broken()])
        assert repos.activities.get("p").customer_id == "b"
        assert repos.customers.get("a").email is None
        assert MERGED_INTO not in repos.customers.get("b").attributes


def test_bad_merges_raise() -> None:
    with Repositories.in_memory() as repos:
        repos.customers.add(_customer("a", 1))
        repos.customers.add(_customer("b", 2))
        with pytest.raises(ValidationError, match="two or more"):
            merge(["a", "a"], repos, at=T)
        with pytest.raises(ValidationError, match="rule"):
            merge(["a", "b"], repos, at=T, rule="newest")
        with pytest.raises(ValidationError, match="survivor"):
            merge(["a", "b"], repos, at=T, survivor="z")
        with pytest.raises(ValidationError, match="fields"):
            merge(["a", "b"], repos, at=T, fields={"id": "fill"})
        with pytest.raises(ValidationError, match="fields"):
            merge(["a", "b"], repos, at=T, fields={"name": "longest"})
        with pytest.raises(NotFoundError):
            merge(["a", "zz"], repos, at=T)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(IDS),
            st.integers(1, 500),
            st.none() | st.integers(1, 400),  # expiry in days after 2025-01-01
        ),
        max_size=10,
    ),
    st.lists(st.tuples(st.sampled_from(IDS), st.integers(1, 300)), max_size=4),
    st.lists(st.sampled_from(IDS), min_size=2, max_size=4, unique=True),
)
def test_points_balances_are_conserved_by_merge_and_restored_by_undo(
    awards: list[tuple[str, int, int | None]],
    redemptions: list[tuple[str, int]],
    group: list[str],
) -> None:
    from datetime import timedelta

    from crmkit.loyalty import InMemoryLedgerRepository, InsufficientPointsError, Ledger
    from crmkit.quality import LedgerRePointer

    start = datetime(2025, 1, 1, tzinfo=UTC)
    merge_at = datetime(2025, 3, 1, tzinfo=UTC)
    ledger = Ledger(InMemoryLedgerRepository())
    for i, (cid, points, days) in enumerate(awards):
        ledger.earn(
            cid,
            points,
            at=start,
            source_kind="purchase",
            source_id=f"p-{i}",
            expires_at=None if days is None else start + timedelta(days=days),
        )
    for i, (cid, points) in enumerate(redemptions):
        with suppress(InsufficientPointsError):
            ledger.redeem(
                cid, points, at=start + timedelta(days=1), source_kind="order", source_id=f"o-{i}"
            )
    with Repositories.in_memory() as repos:
        for cid in IDS:
            repos.customers.add(_customer(cid, IDS.index(cid) + 1))
        ledger.expire(as_of=merge_at)  # what lapses by the merge lapses anyway
        before = {cid: ledger.balance(cid) for cid in IDS}
        movers = [*default_repointers(repos), LedgerRePointer(ledger)]
        record = merge(group, repos, at=merge_at, repointers=movers)
        after = {cid: ledger.balance(cid) for cid in IDS}
        assert sum(after.values()) == sum(before.values())
        assert sum(after[c] for c in group) == sum(before[c] for c in group)
        for cid in record.merged_ids:
            assert after[cid] == min(before[cid], 0)
        undo_merge(record, repos, at=merge_at, repointers=movers)
        assert {cid: ledger.balance(cid) for cid in IDS} == before


def test_a_merge_in_one_sqlite_file_moves_activities_contacts_and_points_and_undoes(
    tmp_path: Any,
) -> None:
    from crmkit.adapters.sqlite import SQLiteLedgerRepository
    from crmkit.loyalty import Ledger
    from crmkit.quality import LedgerRePointer

    with SQLiteStore(tmp_path / "crm.sqlite3") as store:
        ledger = Ledger(SQLiteLedgerRepository(store))
        store.customers.add(_customer("a", 1))
        store.customers.add(_customer("b", 2, email="b@example.com"))
        store.contacts.add(Contact(id="k", customer_id="b", name="Bo", role="spouse"))
        store.activities.append(
            Purchase(id="p", customer_id="b", occurred_at=_t(3), amount=5, currency="EUR")
        )
        ledger.earn("b", 50, at=_t(3), source_kind="purchase", source_id="p")
        movers = [*default_repointers(store), LedgerRePointer(ledger)]
        record = merge(["a", "b"], store, at=T, repointers=movers)
        assert store.activities.get("p").customer_id == "a"
        assert store.contacts.get("k").customer_id == "a"
        assert (ledger.balance("a"), ledger.balance("b")) == (50, 0)
        undo_merge(MergeRecord.from_dict(record.to_dict()), store, at=T, repointers=movers)
        assert store.activities.get("p").customer_id == "b"
        assert store.contacts.get("k").customer_id == "b"
        assert (ledger.balance("a"), ledger.balance("b")) == (0, 50)
        assert store.customers.get("a").email is None
