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

from crmkit.errors import AlreadyExistsError, ValidationError
from crmkit.lifecycle import LifecycleTransition, TransitionHistory
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

    def test_for_customer_rejects_naive_datetimes(self) -> None:
        with self.fresh_history() as history, pytest.raises(ValidationError):
            history.for_customer("c-1", start=datetime(2025, 1, 1))

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
