"""The ledger contract on crmkit's repositories: in memory, SQLite in memory, SQLite files."""

from __future__ import annotations

import copy
import functools
import pickle
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit.testing
from crmkit.adapters.sqlite import SQLiteLedgerRepository
from crmkit.domain import to_record
from crmkit.errors import ValidationError
from crmkit.loyalty import (
    InMemoryLedgerRepository,
    InsufficientPointsError,
    Ledger,
    LedgerEntry,
    LedgerRepository,
    entry_from_record,
    idempotency_key,
)
from crmkit.testing import strategies as cks

T = datetime(2025, 1, 1, tzinfo=UTC)


class TestInMemoryLedger(crmkit.testing.LedgerContract):
    max_examples = 100

    def create_ledger_repository(self) -> LedgerRepository:
        return InMemoryLedgerRepository()


class TestSQLiteMemoryLedger(crmkit.testing.LedgerContract):
    max_examples = 50

    def create_ledger_repository(self) -> LedgerRepository:
        return SQLiteLedgerRepository.open(":memory:")


class TestSQLiteFileLedger(crmkit.testing.PersistentLedgerContract):
    max_examples = 8

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path

    def create_ledger_repository(self) -> SQLiteLedgerRepository:
        return SQLiteLedgerRepository.open(self.directory / f"{uuid.uuid4().hex}.sqlite3")

    def opener(self, repository: LedgerRepository) -> crmkit.testing.LedgerOpener:
        assert isinstance(repository, SQLiteLedgerRepository)
        return functools.partial(SQLiteLedgerRepository.open, repository.path)


def test_the_sqlite_entry_table_refuses_updates_and_deletes(tmp_path: Path) -> None:
    with SQLiteLedgerRepository.open(tmp_path / "l.sqlite3") as repo:
        Ledger(repo).earn("c-1", 5, at=T, source_kind="purchase", source_id="p-1")
    conn = sqlite3.connect(tmp_path / "l.sqlite3")
    try:
        for sql in (
            "UPDATE crmkit_loyalty_entries SET points = 500",
            "DELETE FROM crmkit_loyalty_entries",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()


def test_times_follow_the_as_of_rule_and_points_are_whole_and_positive() -> None:
    ledger = Ledger(InMemoryLedgerRepository())
    with pytest.raises(ValidationError, match="at is invalid"):
        ledger.earn("c-1", 5, at="01/01/2025", source_kind="purchase", source_id="p")  # not ISO
    # A naive time (or a date, or ISO text without a zone) is UTC, as `as_of` is everywhere.
    naive = ledger.earn("c-1", 5, at=datetime(2025, 1, 1), source_kind="purchase", source_id="n")
    assert naive.at == datetime(2025, 1, 1, tzinfo=UTC)
    ledger = Ledger(InMemoryLedgerRepository())
    for points in (0, -1, 1.5, True):
        with pytest.raises(ValidationError):
            ledger.earn("c-1", points, at=T, source_kind="purchase", source_id="p")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            ledger.redeem("c-1", points, at=T, source_kind="reward", source_id="r")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="reversal_policy"):
        Ledger(InMemoryLedgerRepository(), reversal_policy="forgive")
    assert len(ledger.repository) == 0


def test_allow_negative_records_the_uncovered_points() -> None:
    ledger = Ledger(InMemoryLedgerRepository(), reversal_policy="allow_negative")
    award = ledger.earn("c-1", 10, at=T, source_kind="purchase", source_id="p-1")
    ledger.redeem("c-1", 8, at=T, source_kind="reward", source_id="r-1")
    reversal = ledger.reverse(award.key, at=T, source_id="f-1")
    assert (reversal.points, reversal.draws, reversal.uncovered) == (-10, ((award.key, 2),), 8)
    assert ledger.balance("c-1") == -8
    with pytest.raises(InsufficientPointsError):
        ledger.redeem("c-1", 1, at=T, source_kind="reward", source_id="r-2")
    ledger.earn("c-1", 20, at=T, source_kind="purchase", source_id="p-2")
    assert ledger.balance("c-1") == 12
    crmkit.testing.check_ledger(ledger.repository, ["c-1"])


@settings(max_examples=50, deadline=None)
@given(entry=cks.ledger_entries(), rule=cks.ids(), period=st.sampled_from(["", "2025-03", "a|b%"]))
def test_an_entrys_key_follows_its_fields_through_evolve_copy_and_pickle(
    entry: LedgerEntry, rule: str, period: str
) -> None:
    # The key is computed once per entry and kept with it (not a field): a changed
    # entry gets its own, a copy the same one, and records and equality ignore it.
    parts = (entry.source_kind, entry.source_id, entry.rule, entry.period)
    assert entry.key == idempotency_key(*parts)
    changed = attrs.evolve(entry, rule=rule, period=period)
    assert changed.key == idempotency_key(entry.source_kind, entry.source_id, rule, period)
    for twin in (copy.copy(entry), copy.deepcopy(entry), pickle.loads(pickle.dumps(entry))):
        assert twin == entry
        assert twin.key == entry.key
        assert hash(twin) == hash(entry)
    assert "_key" not in to_record(entry)
    assert "key" not in to_record(entry)
    assert entry_from_record(to_record(entry)).key == entry.key
