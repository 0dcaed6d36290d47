"""The transition-history contract suite: a pytest base class a host subclasses.

:class:`TransitionHistoryContract` checks the promises of
:class:`crmkit.lifecycle.TransitionHistory` against one hook,
:meth:`TransitionHistoryContract.create_history`. crmkit's in-memory and
SQLite histories run the same suite.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.core import AlreadyExistsError, NotFoundError, ValidationError
from crmkit.domain import FrozenDict
from crmkit.lifecycle import LifecycleTransition, RewritableTransitionHistory, TransitionHistory
from crmkit.testing import strategies as cks

__all__ = ["TransitionHistoryContract"]

_T0 = datetime(2025, 1, 31, tzinfo=UTC)


def _transition(
    cid: str = "c-1", days: int = 0, name: str = "second_purchase", **changes: Any
) -> LifecycleTransition:
    fields: dict[str, Any] = {
        "customer_id": cid,
        "from_stage": "introduction",
        "to_stage": "growth",
        "at": _T0 + timedelta(days=days),
        "transition": name,
        "inputs": {"purchase_days": 2.0},
        "lifecycle": "five-stage",
        "version": "1",
    }
    fields.update(changes)
    return LifecycleTransition(**fields)


def _order(t: LifecycleTransition) -> tuple[datetime, str]:
    return (t.at, t.transition)


class TransitionHistoryContract:
    """The contract of a transition history: subclass it as ``Test...`` and implement the hook.

    Example (a pytest module of the host's)::

        import crmkit.testing

        class TestMyHistory(crmkit.testing.TransitionHistoryContract):
            def create_history(self):
                return MyTransitionHistory(connect_to_a_fresh_test_database())
    """

    #: Examples per property test; ``None`` lets the active hypothesis profile decide.
    max_examples: int | None = None

    def create_history(self) -> TransitionHistory:
        """Return a fresh, empty history (called per test and per generated example).

        If it has a ``close()`` method, the suite calls it when done.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement create_history() to run the contract"
        )

    @contextmanager
    def fresh_history(self) -> Iterator[TransitionHistory]:
        """A fresh history from :meth:`create_history`, closed on exit if it can be."""
        history = self.create_history()
        try:
            yield history
        finally:
            close = getattr(history, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()

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

    def test_history_is_a_transition_history(self) -> None:
        with self.fresh_history() as history:
            assert isinstance(history, TransitionHistory)

    def test_transitions_round_trip_per_customer_in_time_order(self) -> None:
        @self._given(
            st.lists(
                cks.lifecycle_transitions(customer_id=st.sampled_from(["c-1", "c-2", "c-3"])),
                max_size=10,
                unique_by=lambda t: t.key,
            )
        )
        def check(log: list[LifecycleTransition]) -> None:
            with self.fresh_history() as history:
                for t in log:
                    assert history.append(t) is True
                for cid in ("c-1", "c-2", "c-3", "nobody"):
                    expected = sorted((t for t in log if t.customer_id == cid), key=_order)
                    assert history.for_customer(cid) == expected

        check()

    def test_latest_stages_follow_the_latest_transition(self) -> None:
        @self._given(
            st.lists(
                cks.lifecycle_transitions(customer_id=st.sampled_from(["c-1", "c-2"])),
                max_size=8,
                unique_by=lambda t: t.key,
            )
        )
        def check(log: list[LifecycleTransition]) -> None:
            with self.fresh_history() as history:
                history.append_many(log)
                expected: dict[str, str] = {}
                for t in sorted(log, key=lambda t: (t.customer_id, *_order(t))):
                    expected[t.customer_id] = t.to_stage
                assert history.latest_stages() == expected

        check()

    def test_for_customer_returns_the_half_open_window(self) -> None:
        with self.fresh_history() as history:
            log = [_transition(days=d, name=f"t{d}") for d in range(5)]
            history.append_many(log)
            got = history.for_customer(
                "c-1", start=_T0 + timedelta(days=1), end=_T0 + timedelta(days=3)
            )
            assert got == log[1:3]
            assert history.for_customer("c-1", end=_T0) == []
            assert history.for_customer("c-1", start=_T0 + timedelta(days=4)) == log[4:]

    def test_for_customer_reads_window_bounds_by_the_as_of_rule(self) -> None:
        with self.fresh_history() as history:
            with pytest.raises(ValidationError):
                history.for_customer("c-1", start="01/01/2025")  # type: ignore[arg-type]  # ISO 8601 only
            # A naive bound (or a date) is UTC, as ``as_of`` is everywhere.
            assert history.for_customer("c-1", start=datetime(2025, 1, 1)) == []

    def test_appending_the_same_transition_twice_stores_it_once(self) -> None:
        @self._given(cks.lifecycle_transitions())
        def check(t: LifecycleTransition) -> None:
            with self.fresh_history() as history:
                assert history.append(t) is True
                assert history.append(t) is False
                assert history.append_many([t, t]) == 0
                assert history.for_customer(t.customer_id) == [t]

        check()

    def test_a_different_transition_under_a_taken_key_raises_and_keeps_the_first(self) -> None:
        with self.fresh_history() as history:
            first = _transition()
            history.append(first)
            other = attrs.evolve(first, to_stage="departed")
            with pytest.raises(AlreadyExistsError):
                history.append(other)
            assert history.for_customer("c-1") == [first]

    def test_a_failing_append_many_stores_nothing(self) -> None:
        with self.fresh_history() as history:
            first = _transition()
            history.append(first)
            batch = [_transition(days=1, name="x"), attrs.evolve(first, to_stage="departed")]
            with pytest.raises(AlreadyExistsError):
                history.append_many(batch)
            assert history.for_customer("c-1") == [first]

    def test_append_many_counts_only_new_transitions(self) -> None:
        with self.fresh_history() as history:
            a, b = _transition(days=0), _transition(days=1)
            assert history.append_many([a]) == 1
            assert history.append_many([a, b, b]) == 1
            assert history.for_customer("c-1") == [a, b]

    def test_only_transition_records_are_accepted(self) -> None:
        with self.fresh_history() as history, pytest.raises(ValidationError):
            history.append("not a transition")  # type: ignore[arg-type]

    # ------------------------------------------------------------ rewrite (merge)

    def _rewritable(self, history: TransitionHistory) -> RewritableTransitionHistory:
        if not isinstance(history, RewritableTransitionHistory):
            pytest.skip("the transition history does not implement rewrite()")
        return history

    def test_rewrite_re_points_a_customers_transitions_and_back_exactly(self) -> None:
        @self._given(
            st.lists(
                cks.lifecycle_transitions(customer_id=st.sampled_from(["c-1", "c-2", "c-3"])),
                min_size=1,
                max_size=10,
                unique_by=lambda t: t.key,
            )
        )
        def check(log: list[LifecycleTransition]) -> None:
            target = "c-rewrite-target"
            moved_from = log[0].customer_id
            originals = [t for t in log if t.customer_id == moved_from]
            moved = [attrs.evolve(t, customer_id=target) for t in originals]
            with self.fresh_history() as history:
                rewritable = self._rewritable(history)
                rewritable.append_many(log)
                assert rewritable.rewrite(list(zip(originals, moved, strict=True))) == len(moved)
                assert rewritable.rewrite([(t, t) for t in moved]) == 0  # already so
                assert rewritable.for_customer(moved_from) == []
                assert rewritable.for_customer(target) == sorted(moved, key=_order)
                for cid in {"c-1", "c-2", "c-3"} - {moved_from}:
                    expected = sorted((t for t in log if t.customer_id == cid), key=_order)
                    assert rewritable.for_customer(cid) == expected
                with pytest.raises(NotFoundError):  # the old version is gone from its key
                    rewritable.rewrite([(originals[0], moved[0])])
                back = list(zip(moved, originals, strict=True))
                assert rewritable.rewrite(back) == len(originals)
                for cid in ("c-1", "c-2", "c-3", target):
                    expected = sorted((t for t in log if t.customer_id == cid), key=_order)
                    assert rewritable.for_customer(cid) == expected

        check()

    def test_rewrite_changes_the_customer_only(self) -> None:
        with self.fresh_history() as history:
            rewritable = self._rewritable(history)
            first = _transition()
            rewritable.append(first)
            for bad in (
                attrs.evolve(first, customer_id="c-2", to_stage="departed"),
                attrs.evolve(first, customer_id="c-2", at=_T0 + timedelta(days=1)),
                attrs.evolve(first, customer_id="c-2", transition="other"),
                attrs.evolve(first, customer_id="c-2", inputs=FrozenDict({"purchase_days": 3.0})),
                attrs.evolve(first, customer_id="c-2", version="2"),
            ):
                with pytest.raises(ValidationError):
                    rewritable.rewrite([(first, bad)])
            with pytest.raises(ValidationError):
                rewritable.rewrite([(first, "not a transition")])  # type: ignore[list-item]
            assert rewritable.for_customer("c-1") == [first]
            assert rewritable.for_customer("c-2") == []

    def test_rewrite_needs_the_stored_version(self) -> None:
        with self.fresh_history() as history:
            rewritable = self._rewritable(history)
            first = _transition()
            rewritable.append(first)
            unknown = _transition(days=3)
            with pytest.raises(NotFoundError):
                rewritable.rewrite([(unknown, attrs.evolve(unknown, customer_id="c-2"))])
            other = attrs.evolve(
                first, inputs=FrozenDict({"purchase_days": 9.0})
            )  # same key, not stored
            with pytest.raises(NotFoundError):
                rewritable.rewrite([(other, attrs.evolve(other, customer_id="c-2"))])
            assert rewritable.for_customer("c-1") == [first]

    def test_rewrite_refuses_a_taken_key_and_writes_nothing(self) -> None:
        with self.fresh_history() as history:
            rewritable = self._rewritable(history)
            mine = _transition("c-1")
            theirs = _transition("c-2")  # same (at, transition) for another customer
            free = _transition("c-2", days=1)
            rewritable.append_many([mine, theirs, free])
            batch = [
                (free, attrs.evolve(free, customer_id="c-1")),
                (theirs, attrs.evolve(theirs, customer_id="c-1")),
            ]
            with pytest.raises(AlreadyExistsError):
                rewritable.rewrite(batch)
            assert rewritable.for_customer("c-1") == [mine]
            assert rewritable.for_customer("c-2") == [theirs, free]
            # Two customers' transitions cannot land on one key either.
            third = _transition("c-3")
            rewritable.append(third)
            with pytest.raises(AlreadyExistsError):
                rewritable.rewrite(
                    [
                        (theirs, attrs.evolve(theirs, customer_id="c-4")),
                        (third, attrs.evolve(third, customer_id="c-4")),
                    ]
                )
            assert rewritable.for_customer("c-4") == []
            # A swap frees each key for the other: both move, nothing is lost.
            swap = [
                (mine, attrs.evolve(mine, customer_id="c-2")),
                (theirs, attrs.evolve(theirs, customer_id="c-1")),
            ]
            assert rewritable.rewrite(swap) == 2
            assert rewritable.for_customer("c-1") == [attrs.evolve(theirs, customer_id="c-1")]
            assert rewritable.for_customer("c-2") == [attrs.evolve(mine, customer_id="c-2"), free]

    def test_rewrite_keeps_the_key_idempotent_under_the_new_customer(self) -> None:
        with self.fresh_history() as history:
            rewritable = self._rewritable(history)
            first = _transition("c-2")
            rewritable.append(first)
            moved = attrs.evolve(first, customer_id="c-1")
            assert rewritable.rewrite([(first, moved)]) == 1
            assert rewritable.append(moved) is False
            with pytest.raises(AlreadyExistsError):
                rewritable.append(attrs.evolve(moved, to_stage="departed"))
            assert rewritable.latest_stages() == {"c-1": "growth"}
