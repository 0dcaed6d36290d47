"""The merge-journal contract suite: a pytest base class a host subclasses.

:class:`MergeJournalContract` checks the promises of
:class:`crmkit.quality.MergeJournal` against one hook, ``create_journal``;
crmkit's in-memory, SQLite and PostgreSQL journals run it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.quality import MergeJournal

__all__ = ["MergeJournalContract"]

_KEYS = st.sampled_from(["merge:a", "merge:b", "merge:é", "merge:B"])
_ENTRIES = st.fixed_dictionaries(
    {
        "record": st.dictionaries(
            st.text(max_size=4), st.integers() | st.text(max_size=4) | st.none(), max_size=3
        )
    },
    optional={"done": st.booleans()},
)


class MergeJournalContract:
    """The contract every merge journal must meet: subclass it as ``Test...``.

    Implement :meth:`create_journal` (a fresh, empty journal per call).

    >>> from crmkit.quality import InMemoryMergeJournal
    >>> class TestMine(MergeJournalContract):
    ...     def create_journal(self):
    ...         return InMemoryMergeJournal()
    >>> TestMine().test_an_entry_round_trips_is_replaced_and_removed()
    """

    #: Examples per property test; ``None`` lets the active hypothesis profile decide.
    max_examples: int | None = None

    def create_journal(self) -> MergeJournal:
        """Return a fresh, empty journal."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement create_journal() to run the contract"
        )

    def _given(self, *args: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Any]:
        chosen = (
            settings(deadline=None)
            if self.max_examples is None
            else settings(deadline=None, max_examples=self.max_examples)
        )
        return lambda fn: chosen(given(*args)(fn))

    def test_an_entry_round_trips_is_replaced_and_removed(self) -> None:
        journal = self.create_journal()
        assert isinstance(journal, MergeJournal)
        assert journal.get("merge:x") is None
        assert journal.pending() == []
        journal.put("merge:x", {"record": {"survivor_id": "c-1", "at": "2025-01-01"}})
        assert journal.get("merge:x") == {"record": {"survivor_id": "c-1", "at": "2025-01-01"}}
        journal.put("merge:x", {"record": {}, "done": True})
        assert journal.get("merge:x") == {"record": {}, "done": True}
        journal.remove("merge:x")
        journal.remove("merge:x")  # nothing there: no error
        assert journal.get("merge:x") is None

    def test_puts_and_removes_behave_like_a_dict_ordered_by_key(self) -> None:
        @self._given(st.lists(st.tuples(_KEYS, st.none() | _ENTRIES), max_size=8))
        def check(steps: list[tuple[str, dict[str, Any] | None]]) -> None:
            journal = self.create_journal()
            model: dict[str, dict[str, Any]] = {}
            for key, entry in steps:
                if entry is None:
                    journal.remove(key)
                    model.pop(key, None)
                else:
                    journal.put(key, entry)
                    model[key] = entry
            for key in ("merge:a", "merge:b", "merge:é", "merge:B"):
                assert journal.get(key) == model.get(key)
            by_code_point = sorted(model, key=lambda k: k.encode("utf-8"))
            assert journal.pending() == [model[k] for k in by_code_point]

        check()
