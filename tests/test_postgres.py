"""PostgreSQL store behaviour beyond the contracts: schema, collation, versions, connections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from crmkit.adapters.postgres import (
    CORE_MIGRATIONS,
    PostgresLedgerRepository,
    PostgresStore,
    PostgresTransitionHistory,
)
from crmkit.domain import Customer, Purchase
from crmkit.errors import StorageError, ValidationError
from crmkit.loyalty import Ledger

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def _raw(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def test_every_id_column_sorts_bytewise(postgres_url: str, schema: str) -> None:
    with PostgresStore(postgres_url, schema=schema) as store:
        PostgresLedgerRepository(store)
        PostgresTransitionHistory(store)
    with _raw(postgres_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns"
            " WHERE table_schema = %s AND data_type = 'text'"
            " AND (column_name IN ('id', 'key', 'code', 'part', 'transition')"
            "      OR column_name LIKE '%%_id' OR column_name IN ('refers_to', 'entry_key'))"
            " AND column_name NOT IN ('source_id', 'reward_id')",  # never ordered by
            (schema,),
        ).fetchall()
    assert len(rows) >= 12
    assert {(t, c) for t, c, collation in rows if collation != "C"} == set()


def test_ids_come_back_in_code_point_order(postgres_url: str, schema: str) -> None:
    ids = ["B", "a", "é", "Z", "ä", "😀", "b", "A-1", "a-1", "\u00e9clair", "e\u0301"]
    with PostgresStore(postgres_url, schema=schema) as store:
        for cid in ids:
            store.customers.add(Customer(id=cid, name="Ann", created_at=T0))
        got = [c.id for batch in store.customers.iter_all(batch_size=3) for c in batch]
    assert got == sorted(ids)


def test_versions_are_recorded_and_a_newer_schema_is_refused(
    postgres_url: str, schema: str
) -> None:
    with PostgresStore(postgres_url, schema=schema) as store:
        assert store.schema_versions == {"core": len(CORE_MIGRATIONS)}
        PostgresLedgerRepository(store)
        assert store.schema_versions["loyalty"] == 1
    with PostgresStore(postgres_url, schema=schema) as store:  # reopening migrates nothing
        assert store.schema_versions == {"core": 1, "loyalty": 1}
    with _raw(postgres_url) as conn:
        conn.execute(
            f'UPDATE "{schema}".crmkit_schema_parts SET version = 99 WHERE part = %s', ("core",)
        )
    with pytest.raises(StorageError, match="newer crmkit"):
        PostgresStore(postgres_url, schema=schema)


def test_a_forward_migration_runs_once_on_an_older_schema(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crmkit.adapters._postgres as pg

    with PostgresStore(postgres_url, schema=schema) as store:
        store.customers.add(Customer(id="c-1", name="Ann", created_at=T0))
    later = (
        *pg.CORE_MIGRATIONS,
        ("CREATE INDEX crmkit_customers_version ON {s}.crmkit_customers (version)",),
    )
    monkeypatch.setattr(pg, "CORE_MIGRATIONS", later)
    for _ in range(2):
        with PostgresStore(postgres_url, schema=schema) as store:
            assert store.schema_versions == {"core": 2}
            assert store.customers.get("c-1").name == "Ann"


def test_a_bad_schema_name_or_connection_is_refused(postgres_url: str) -> None:
    for bad in ('x"; DROP TABLE y; --', "", "1abc", 5):
        with pytest.raises(ValidationError) as caught:
            PostgresStore(postgres_url, schema=bad)  # type: ignore[arg-type]
        assert caught.value.field == "schema"
    with pytest.raises(ValidationError):
        PostgresStore(42)
    with pytest.raises(StorageError):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_the_ledger_refuses_updates_and_deletes(postgres_url: str, schema: str) -> None:
    with PostgresLedgerRepository.open(postgres_url, schema=schema) as repo:
        Ledger(repo).earn("c-1", 5, at=T0, source_kind="purchase", source_id="p-1")
    with _raw(postgres_url) as conn:
        for sql in (
            "UPDATE {}.crmkit_loyalty_entries SET points = 1",
            "DELETE FROM {}.crmkit_loyalty_entries",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql.format(f'"{schema}"'))


def test_writes_on_a_host_connection_roll_back_with_the_host(
    postgres_url: str, schema: str
) -> None:
    with psycopg.connect(postgres_url) as conn:
        store = PostgresStore(conn, schema=schema)

        def unit_of_work() -> None:
            with conn.transaction():
                store.customers.add(Customer(id="c-1", name="Ann", created_at=T0))
                raise RuntimeError("the host's unit of work fails")

        with pytest.raises(RuntimeError):
            unit_of_work()
        assert len(store.customers) == 0
        store.close()  # does not close the host's connection
        assert not conn.closed


def test_a_pool_with_connection_works(postgres_url: str, schema: str) -> None:
    class Pool:
        def __init__(self) -> None:
            self.used = 0

        @contextmanager
        def connection(self) -> Iterator[psycopg.Connection[Any]]:
            self.used += 1
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                yield conn

    pool = Pool()
    store = PostgresStore(pool, schema=schema)
    store.activities.append(
        Purchase(id="p-1", customer_id="c-1", amount=1, currency="EUR", occurred_at=T0)
    )
    assert store.activities.get("p-1").customer_id == "c-1"
    assert pool.used >= 3


def test_jsonb_would_rewrite_numbers_but_the_store_keeps_them(
    postgres_url: str, schema: str
) -> None:
    with _raw(postgres_url) as conn:
        assert conn.execute("SELECT '[1e16, -0.0]'::jsonb::text").fetchone() == (
            "[10000000000000000, 0.0]",
        )
    ann = Customer(id="c-1", name="Ann", created_at=T0, attributes={"big": 1e16, "neg": -0.0})
    with PostgresStore(postgres_url, schema=schema) as store:
        store.customers.add(ann)
        back = store.customers.get("c-1")
    assert type(back.attributes["big"]) is float
    assert str(back.attributes["neg"]) == "-0.0"


def test_a_closed_store_raises_storage_error(postgres_url: str, schema: str) -> None:
    store = PostgresStore(postgres_url, schema=schema)
    store.close()
    store.close()
    assert store.closed
    with pytest.raises(StorageError, match="closed"):
        store.customers.get("c-1")
