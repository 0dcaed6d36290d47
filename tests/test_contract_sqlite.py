"""The SQLite repositories meet the repository contract, on files and in memory; schema and store behaviour."""

import functools
import json
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

import crmkit.testing
from crmkit.adapters import _sqlite
from crmkit.adapters.sqlite import (
    SCHEMA_VERSION,
    SQLiteLedgerRepository,
    SQLiteMergeJournal,
    SQLiteStore,
)
from crmkit.domain import (
    ActivityRepository,
    ContactRepository,
    Customer,
    CustomerRepository,
    Interaction,
    Purchase,
)
from crmkit.errors import AlreadyExistsError, NotFoundError, StorageError, ValidationError

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class TestSQLiteFile(crmkit.testing.PersistentRepositoryContract):
    # Every example creates a database file; the SQL is the same as TestSQLiteInMemory's,
    # which runs the full hypothesis profile, so fewer examples suffice here.
    max_examples = 50

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path

    def create_repositories(self) -> SQLiteStore:
        return SQLiteStore(self.directory / f"{uuid.uuid4().hex}.sqlite3")

    def opener(self, repositories: crmkit.testing.ClosableRepositorySet) -> crmkit.testing.Opener:
        assert isinstance(repositories, SQLiteStore)
        return functools.partial(SQLiteStore, repositories.path)


class TestSQLiteInMemory(crmkit.testing.RepositoryContract):
    def create_repositories(self) -> SQLiteStore:
        return SQLiteStore(":memory:")


# ---------------------------------------------------------------- the store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "crm.sqlite3"


def _raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _set_pragma(path: Path, statement: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def test_store_satisfies_the_protocols() -> None:
    with SQLiteStore(":memory:") as store:
        assert isinstance(store.customers, CustomerRepository)
        assert isinstance(store.contacts, ContactRepository)
        assert isinstance(store.activities, ActivityRepository)
        assert isinstance(store, crmkit.testing.ClosableRepositorySet)


def test_a_new_file_gets_the_current_schema_in_wal_mode(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.path == str(db_path)
    assert _raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert _raw(db_path, "PRAGMA application_id") == [(_sqlite._APPLICATION_ID,)]


def test_the_migration_sets_the_application_id_it_checks() -> None:
    assert f"PRAGMA application_id = {_sqlite._APPLICATION_ID}" in _sqlite._MIGRATIONS[0][0]
    assert _sqlite._MIGRATIONS[-1][-1] == f"PRAGMA user_version = {SCHEMA_VERSION}"


def test_reopening_keeps_the_data_and_does_not_migrate_again(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        store.activities.append(
            Purchase(id="p-1", customer_id="c-1", occurred_at=T0, amount="0.10", currency="EUR")
        )
    with SQLiteStore(db_path) as store:
        assert store.activities.get("p-1").amount.as_tuple() == Decimal("0.10").as_tuple()
        assert store.schema_version == SCHEMA_VERSION


def test_a_newer_schema_version_is_refused(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    _set_pragma(db_path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError) as caught:
        SQLiteStore(db_path)
    assert "newer crmkit" in str(caught.value)
    assert isinstance(caught.value, RuntimeError)


def test_a_database_of_another_application_is_refused(db_path: Path) -> None:
    _set_pragma(db_path, "PRAGMA application_id = 42")
    with pytest.raises(StorageError, match="another application"):
        SQLiteStore(db_path)
    other = db_path.with_name("other.sqlite3")
    _set_pragma(other, "PRAGMA user_version = 7")
    with pytest.raises(StorageError, match="another application"):
        SQLiteStore(other)


def test_a_file_that_is_not_a_database_is_refused(db_path: Path) -> None:
    db_path.write_bytes(b"name,amount\nAnn,12\n" * 100)
    with pytest.raises(StorageError, match="cannot be used"):
        SQLiteStore(db_path)


def test_an_empty_database_of_no_application_gets_the_schema(db_path: Path) -> None:
    _set_pragma(db_path, "PRAGMA user_version = 0")  # an SQLite file with nothing in it
    with SQLiteStore(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
    db_path.with_name("zero.sqlite3").write_bytes(b"")  # a zero-byte file is empty too
    with SQLiteStore(db_path.with_name("zero.sqlite3")) as store:
        assert store.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize(
    "schema",
    [
        "CREATE TABLE notes (body TEXT)",
        "CREATE VIEW answers AS SELECT 42 AS answer",
        "CREATE TABLE crmkit_customers (id TEXT)",  # crmkit's names without crmkit's ids
    ],
)
def test_a_file_of_another_application_with_default_ids_is_refused(
    db_path: Path, schema: str
) -> None:
    _set_pragma(db_path, schema)  # application_id 0 and user_version 0, but not empty
    with pytest.raises(StorageError, match="another application"):
        SQLiteStore(db_path)
    with pytest.raises(StorageError, match="another application"):
        SQLiteLedgerRepository(db_path)
    assert _raw(db_path, "PRAGMA application_id") == [(0,)]  # the file is left untouched
    assert _raw(db_path, "SELECT count(*) FROM sqlite_master") == [(1,)]


def test_records_are_stored_as_their_codec_json_with_exact_amounts(db_path: Path) -> None:
    p = Purchase(
        id="p-1", customer_id="c-1", occurred_at=T0, amount=Decimal("12.50"), currency="EUR"
    )
    with SQLiteStore(db_path) as store:
        store.activities.append(p)
    [(record, occurred_at)] = _raw(db_path, "SELECT record, occurred_at FROM crmkit_activities")
    assert json.loads(str(record))["amount"] == "12.50"
    assert occurred_at == int(T0.timestamp()) * 1_000_000


def test_ids_with_quotes_and_sql_are_data_not_code() -> None:
    nasty = "x'); DROP TABLE crmkit_customers; --"
    with SQLiteStore(":memory:") as store:
        store.customers.add(Customer(id=nasty, name="Ann", created_at=T0))
        assert store.customers.get(nasty).id == nasty
        assert list(store.customers.get_many([nasty, 3, None])) == [nasty]  # type: ignore[list-item]
        assert len(store.customers) == 1


def test_a_closed_store_raises_storage_error_and_closes_twice_harmlessly() -> None:
    store = SQLiteStore(":memory:")
    store.close()
    store.close()
    assert store.closed
    assert "closed" in repr(store)
    with pytest.raises(StorageError, match="closed"):
        store.customers.get("c-1")
    with pytest.raises(StorageError, match="closed"):
        store.activities.append(
            Interaction(id="i", customer_id="c", occurred_at=T0, channel="web", direction="inbound")
        )


@pytest.mark.parametrize("timeout", [-1, True, "5", None])
def test_a_bad_timeout_is_refused(timeout: object) -> None:
    with pytest.raises(ValidationError) as caught:
        SQLiteStore(":memory:", timeout=timeout)  # type: ignore[arg-type]
    assert caught.value.field == "timeout"


def test_the_wrong_record_type_is_refused_by_every_repository() -> None:
    ann = Customer(id="c-1", name="Ann", created_at=T0)
    with SQLiteStore(":memory:") as store:
        with pytest.raises(ValidationError):
            store.contacts.add(ann)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            store.activities.append(ann)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            store.activities.append_many([ann])  # type: ignore[list-item]
        assert len(store.contacts) == 0
        assert len(store.activities) == 0


def test_a_damaged_record_raises_storage_error(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        store.customers.add(Customer(id="c-1", name="Ann", created_at=T0))
    _set_pragma(db_path, 'UPDATE crmkit_customers SET record = \'{"type": "customer"}\'')
    with SQLiteStore(db_path) as store, pytest.raises(StorageError, match="cannot be read"):
        store.customers.get("c-1")


def test_a_writer_that_holds_the_lock_too_long_makes_others_time_out(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with SQLiteStore(db_path, timeout=0) as store:
            with pytest.raises(StorageError) as caught:
                store.customers.add(Customer(id="c-1", name="Ann", created_at=T0))
            assert caught.value.hint is not None
            assert "timeout" in caught.value.hint
            blocker.execute("ROLLBACK")
            store.customers.add(Customer(id="c-1", name="Ann", created_at=T0))
    finally:
        blocker.close()


def test_threads_can_share_one_store() -> None:
    errors: list[BaseException] = []
    with SQLiteStore(":memory:") as store:

        def work(n: int) -> None:
            try:
                for i in range(50):
                    store.activities.append(
                        Interaction(
                            id=f"t{n}-{i}",
                            customer_id=f"c-{n}",
                            occurred_at=T0,
                            channel="web",
                            direction="inbound",
                        )
                    )
                    store.activities.for_customer(f"c-{n}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(store.activities) == 200
        assert [len(store.activities.for_customer(f"c-{n}")) for n in range(4)] == [50] * 4


def test_a_failed_write_leaves_the_connection_usable() -> None:
    ann = Customer(id="c-1", name="Ann", created_at=T0)
    with SQLiteStore(":memory:") as store:
        store.customers.add(ann)
        with pytest.raises(AlreadyExistsError):
            store.customers.add(ann)
        store.customers.update(attrs.evolve(ann, influence="celebrity"))
        assert store.customers.get("c-1").version == 1


def test_ids_are_text_so_a_number_finds_nothing() -> None:
    with SQLiteStore(":memory:") as store:
        store.customers.add(Customer(id="5", name="Ann", created_at=T0))
        store.activities.append(
            Purchase(id="7", customer_id="5", occurred_at=T0, amount=1, currency="EUR")
        )
        with pytest.raises(NotFoundError):
            store.customers.get(5)  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            store.activities.get(7)  # type: ignore[arg-type]
        assert store.activities.for_customer(5) == []  # type: ignore[arg-type]
        assert store.contacts.for_customer(5) == []  # type: ignore[arg-type]
        assert store.customers.get_many([5]) == {}  # type: ignore[list-item]


class TestSQLiteMergeJournal(crmkit.testing.MergeJournalContract):
    max_examples = 30

    def create_journal(self) -> SQLiteMergeJournal:
        return SQLiteMergeJournal(SQLiteStore(":memory:"))


def test_the_merge_journal_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite3"
    with SQLiteStore(path) as store:
        SQLiteMergeJournal(store).put("merge:k", {"record": {"survivor_id": "c-1"}})
    with SQLiteStore(path) as store:
        assert SQLiteMergeJournal(store).pending() == [{"record": {"survivor_id": "c-1"}}]
