"""Every crmkit contract suite on the PostgreSQL adapter, against a real server.

The server is the session's (see the repository's ``conftest.py``): under
``make test`` one started by ``tools/pgserver.py``. Each test class works in
a schema of its own; ``create_*`` empties that schema's tables (the fast way
to hand hypothesis a fresh store per example) over one shared connection,
which also exercises the store on a connection the host owns.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import crmkit.testing
from crmkit.adapters.postgres import (
    PostgresCouponRepository,
    PostgresLedgerRepository,
    PostgresMergeJournal,
    PostgresStore,
    PostgresTransitionHistory,
)
from crmkit.lifecycle import TransitionHistory
from crmkit.loyalty import CouponRepository, LedgerRepository


def _empty(conn: psycopg.Connection[Any], schema: str) -> None:
    """Delete every row of crmkit's tables in *schema* (the version rows stay)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")  # the ledger's trigger too
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s"
            " AND tablename <> 'crmkit_schema_parts'",
            (schema,),
        )
        for (table,) in cur.fetchall():
            cur.execute(f'DELETE FROM "{schema}"."{table}"')


class _OnPostgres:
    """A schema of the test's own on the session's server, dropped afterwards."""

    url: str
    schema: str
    conn: psycopg.Connection[Any]

    @pytest.fixture(autouse=True)
    def _schema(self, postgres_url: str) -> Iterator[None]:
        self.url = postgres_url
        self.schema = f"t_{uuid.uuid4().hex[:16]}"
        self.conn = psycopg.connect(postgres_url, autocommit=True)
        try:
            yield
        finally:
            self.conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            self.conn.close()

    def fresh_store(self) -> PostgresStore:
        store = PostgresStore(self.conn, schema=self.schema)
        _empty(self.conn, self.schema)
        return store


class TestPostgresRepositories(_OnPostgres, crmkit.testing.PersistentRepositoryContract):
    max_examples = 50

    def create_repositories(self) -> PostgresStore:
        return self.fresh_store()

    def opener(self, repositories: crmkit.testing.RepositorySet) -> crmkit.testing.Opener:
        return functools.partial(PostgresStore, self.url, schema=self.schema)


class TestPostgresLedger(_OnPostgres, crmkit.testing.PersistentLedgerContract):
    max_examples = 25

    def create_ledger_repository(self) -> LedgerRepository:
        store = PostgresStore(self.conn, schema=self.schema)
        repo = PostgresLedgerRepository(store)
        _empty(self.conn, self.schema)
        return repo

    def opener(self, repository: LedgerRepository) -> crmkit.testing.LedgerOpener:
        return functools.partial(PostgresLedgerRepository.open, self.url, schema=self.schema)


class TestPostgresLedgerSequenceGaps(_OnPostgres, crmkit.testing.LedgerContract):
    """The ledger contract when a posting's seqs are never contiguous.

    Another posting drawing sequence values meanwhile leaves gaps; the
    adapter then writes lots and balance moves from the client instead of
    deriving them on the server from the seq range. A sequence stepping by 3
    takes that path on every posting.
    """

    max_examples = 15

    def create_ledger_repository(self) -> LedgerRepository:
        repo = PostgresLedgerRepository(PostgresStore(self.conn, schema=self.schema))
        _empty(self.conn, self.schema)
        self.conn.execute(f'ALTER SEQUENCE "{self.schema}".crmkit_loyalty_seq INCREMENT BY 3')
        return repo


class TestPostgresTransitionHistory(_OnPostgres, crmkit.testing.TransitionHistoryContract):
    max_examples = 50

    def create_history(self) -> TransitionHistory:
        history = PostgresTransitionHistory(PostgresStore(self.conn, schema=self.schema))
        _empty(self.conn, self.schema)
        return history


class TestPostgresCoupons(_OnPostgres, crmkit.testing.PersistentCouponContract):
    max_examples = 50
    atomic_redeem = True

    def create_ledger_repository_for(self, coupons: CouponRepository) -> LedgerRepository:
        assert isinstance(coupons, PostgresCouponRepository)
        return PostgresLedgerRepository(coupons.store)  # the coupons' store: one transaction

    def create_coupon_repository(self) -> CouponRepository:
        coupons = PostgresCouponRepository(PostgresStore(self.conn, schema=self.schema))
        _empty(self.conn, self.schema)
        return coupons

    def opener(self, repository: CouponRepository) -> crmkit.testing.CouponOpener:
        return functools.partial(PostgresCouponRepository.open, self.url, schema=self.schema)


class TestPostgresMergeJournal(_OnPostgres, crmkit.testing.MergeJournalContract):
    max_examples = 25

    def create_journal(self) -> PostgresMergeJournal:
        journal = PostgresMergeJournal(PostgresStore(self.conn, schema=self.schema))
        _empty(self.conn, self.schema)
        return journal
