"""The coupon contract on crmkit's coupon repositories: in memory and SQLite (PostgreSQL: test_contract_postgres)."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import pytest

import crmkit.testing
from crmkit.adapters.sqlite import SQLiteCouponRepository, SQLiteLedgerRepository
from crmkit.loyalty import CouponRepository, InMemoryCouponRepository, LedgerRepository


class TestInMemoryCoupons(crmkit.testing.CouponContract):
    def create_coupon_repository(self) -> CouponRepository:
        return InMemoryCouponRepository()


class TestSQLiteFileCoupons(crmkit.testing.PersistentCouponContract):
    max_examples = 25

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path

    atomic_redeem = True

    def create_coupon_repository(self) -> CouponRepository:
        return SQLiteCouponRepository.open(self.directory / f"{uuid.uuid4().hex}.sqlite3")

    def create_ledger_repository_for(self, coupons: CouponRepository) -> LedgerRepository:
        assert isinstance(coupons, SQLiteCouponRepository)
        return SQLiteLedgerRepository(coupons.store)  # the coupons' store: one transaction

    def opener(self, repository: CouponRepository) -> crmkit.testing.CouponOpener:
        assert isinstance(repository, SQLiteCouponRepository)
        return functools.partial(SQLiteCouponRepository.open, repository.path)


class TestSQLiteCouponsBesideAnotherLedger(crmkit.testing.CouponContract):
    """Coupons in SQLite, the ledger elsewhere: two idempotent steps, resumable."""

    max_examples = 10

    def create_coupon_repository(self) -> CouponRepository:
        return SQLiteCouponRepository(":memory:")
