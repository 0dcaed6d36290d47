"""The transition-history contract on the in-memory and the SQLite histories."""

from __future__ import annotations

from pathlib import Path

import pytest

import crmkit.testing
from crmkit.adapters.sqlite import SQLiteStore, SQLiteTransitionHistory
from crmkit.lifecycle import InMemoryTransitionHistory, TransitionHistory


class TestInMemoryTransitionHistory(crmkit.testing.TransitionHistoryContract):
    def create_history(self) -> TransitionHistory:
        return InMemoryTransitionHistory()


class _Closing(SQLiteTransitionHistory):
    def __init__(self, store: SQLiteStore) -> None:
        super().__init__(store)
        self._store = store

    def close(self) -> None:
        self._store.close()


class TestSQLiteTransitionHistory(crmkit.testing.TransitionHistoryContract):
    def create_history(self) -> TransitionHistory:
        return _Closing(SQLiteStore(":memory:"))


def test_the_sqlite_history_survives_reopening(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from crmkit.lifecycle import LifecycleTransition

    t = LifecycleTransition(
        customer_id="c-1",
        from_stage="growth",
        to_stage="decline",
        at=datetime(2025, 3, 31, 23, 59, 59, 999999, tzinfo=UTC),
        transition="slowing",
        inputs={"days_since_last_purchase": 80.5, "usual_gap_days": None},
        lifecycle="five-stage",
        version="1",
    )
    path = tmp_path / "h.sqlite"
    with SQLiteStore(path) as store:
        assert SQLiteTransitionHistory(store).append(t)
    with SQLiteStore(path) as store:
        history = SQLiteTransitionHistory(store)
        assert history.for_customer("c-1") == [t]
        assert history.latest_stages() == {"c-1": "decline"}


def test_the_sqlite_history_needs_a_store() -> None:
    from crmkit.errors import ValidationError

    with pytest.raises(ValidationError, match="SQLiteStore"):
        SQLiteTransitionHistory("h.sqlite")  # type: ignore[arg-type]
