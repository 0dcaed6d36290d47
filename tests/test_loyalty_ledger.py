"""The ledger contract on crmkit's repositories: in memory, SQLite in memory, SQLite files."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import pytest

import crmkit.testing
from crmkit.adapters.sqlite import SQLiteLedgerRepository
from crmkit.loyalty import InMemoryLedgerRepository, LedgerRepository


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
