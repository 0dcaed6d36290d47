"""SQLite storage for customers, contacts and activities (stdlib ``sqlite3`` only).

Each record is stored as the JSON of :func:`crmkit.domain.to_record`, next to
the few indexed columns the queries need. Reading rebuilds (and so validates
again) the record with :func:`crmkit.domain.from_record`. The semantics are
those of the in-memory repositories, checked by the same contract suite.

Concurrency: one connection per :class:`SQLiteStore`, guarded by a lock, so a
store may be shared by threads. Every write is one ``BEGIN IMMEDIATE``
transaction: a read-check-write sequence (optimistic update, idempotent
append, refund check) holds the database's write lock from the first read to
the commit, so two processes cannot interleave. File databases use the WAL
journal, so readers never wait for writers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs

from crmkit.adapters._bulk import plan_append
from crmkit.core import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    StorageError,
    ValidationError,
    check_window,
)
from crmkit.domain import (
    Activity,
    ActivityRepository,
    Contact,
    ContactRepository,
    Customer,
    CustomerRepository,
    Purchase,
    Record,
    Refund,
    RewritableActivityRepository,
    check_activity,
    check_batch_size,
    check_entity,
    check_refund,
    check_refund_owner,
    check_rewrite,
    from_record,
    to_record,
)

__all__ = [
    "SCHEMA_VERSION",
    "SQLiteActivityRepository",
    "SQLiteContactRepository",
    "SQLiteCustomerRepository",
    "SQLiteStore",
]

# ---------------------------------------------------------------- schema

#: ``PRAGMA application_id`` of a crmkit database (the bytes ``crmk``).
_APPLICATION_ID: Final = 0x63726D6B

# MIGRATIONS[n] takes a database from schema version n to n + 1. Never edit a
# released migration: append a new one. Each ends by setting user_version, so
# the version moves in the same transaction as the schema.
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        "PRAGMA application_id = 1668443499",  # _APPLICATION_ID; PRAGMA takes no parameters
        """CREATE TABLE crmkit_customers (
            id TEXT NOT NULL PRIMARY KEY,
            version INTEGER NOT NULL,
            record TEXT NOT NULL
        )""",
        """CREATE TABLE crmkit_contacts (
            id TEXT NOT NULL PRIMARY KEY,
            customer_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            record TEXT NOT NULL
        )""",
        "CREATE INDEX crmkit_contacts_by_customer ON crmkit_contacts (customer_id, id)",
        # occurred_at: microseconds since 1970-01-01 UTC, so it sorts and compares exactly.
        """CREATE TABLE crmkit_activities (
            id TEXT NOT NULL PRIMARY KEY,
            customer_id TEXT NOT NULL,
            type TEXT NOT NULL,
            occurred_at INTEGER NOT NULL,
            purchase_id TEXT REFERENCES crmkit_activities (id),
            record TEXT NOT NULL
        )""",
        "CREATE INDEX crmkit_activities_by_customer"
        " ON crmkit_activities (customer_id, occurred_at, id)",
        "CREATE INDEX crmkit_activities_by_time ON crmkit_activities (occurred_at, id)",
        "CREATE INDEX crmkit_refunds_by_purchase ON crmkit_activities (purchase_id)"
        " WHERE purchase_id IS NOT NULL",
        "PRAGMA user_version = 1",
    ),
    (
        # Parts of crmkit that keep tables of their own (lifecycle history, loyalty
        # ledger) version them here, one row per part: see ensure_part().
        """CREATE TABLE crmkit_schema_parts (
            part TEXT NOT NULL PRIMARY KEY,
            version INTEGER NOT NULL
        )""",
        "PRAGMA user_version = 2",
    ),
)

#: The schema version this crmkit writes; a file with a newer one is refused.
SCHEMA_VERSION: Final = len(_MIGRATIONS)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_MIN_KEY: Final = -(2**63)
_MAX_KEY: Final = 2**63 - 1
_MAX_LIMIT: Final = 2**62


def _micros(at: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (exact, sortable)."""
    return (at - _EPOCH) // _MICROSECOND


_ENCODE: Final = json.JSONEncoder(separators=(",", ":")).encode


def _dump(record: Record) -> str:
    return _ENCODE(to_record(record))


def _load(text: str) -> Any:
    """Rebuild a stored record; a row that does not decode means the file is damaged."""
    try:
        return from_record(json.loads(text))
    except (ValueError, TypeError) as exc:  # JSONDecodeError and ValidationError are ValueErrors
        raise StorageError(
            "a stored record cannot be read",
            got=f"{type(exc).__name__}: {exc}",
            hint="the database was changed outside crmkit or by a newer version of it",
        ) from exc


def _is_text(key: object) -> bool:
    """Whether a key is a str; callers without type checking may pass numbers.

    SQLite would find the row ``'5'`` for the key ``5`` (TEXT affinity), where
    Python's ``{"5": ...}[5]`` does not; every lookup by a non-str finds nothing.
    """
    return isinstance(key, str)


def _storage_error(exc: sqlite3.Error) -> StorageError:
    message = str(exc)
    hint = None
    if "locked" in message or "busy" in message:
        hint = "another connection held the write lock longer than the timeout; retry or raise it"
    return StorageError("the SQLite database cannot be used", got=message, hint=hint)


# ---------------------------------------------------------------- connection


class _Database:
    """One sqlite3 connection, a lock around it, and transaction helpers."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            # isolation_level=None: sqlite3 opens no transactions itself; we BEGIN explicitly.
            # timeout is SQLite's busy timeout: how long a writer waits for the lock.
            conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _storage_error(exc) from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            self._prepare(conn, memory=path in (":memory:", ""))
        except BaseException:
            conn.close()
            self._conn = None
            raise

    @staticmethod
    def _prepare(conn: sqlite3.Connection, *, memory: bool) -> None:
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # Overwrite deleted and replaced content with zeros, so that personal data
            # rewritten by an erasure does not linger in free space (see purge()).
            conn.execute("PRAGMA secure_delete = ON")
            version = _user_version(conn)
            _check_version(conn, version)
            if not memory:
                conn.execute("PRAGMA journal_mode = WAL").fetchall()
            if version < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    version = _user_version(conn)  # another process may have migrated meanwhile
                    _check_version(conn, version)
                    for migration in _MIGRATIONS[version:]:
                        for statement in migration:
                            conn.execute(statement)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise _storage_error(exc) from exc

    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(
                "the SQLite store is closed", hint="open a new SQLiteStore to use the database"
            )
        return self._conn

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        """Run one read statement (its own snapshot) and return every row."""
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _storage_error(exc) from exc

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction: ``BEGIN IMMEDIATE`` to write, a consistent snapshot to read.

        On any exception everything done inside is rolled back.
        """
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.Error as exc:
                raise _storage_error(exc) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _storage_error(exc) from exc
                raise


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _check_version(conn: sqlite3.Connection, version: int) -> None:
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    # SQLite's default ids (0, 0) are crmkit's only on an empty file: one with
    # tables (or views, indexes, triggers) of its own belongs to another application.
    foreign = (
        app_id == 0 and version == 0 and conn.execute("SELECT 1 FROM sqlite_master").fetchone()
    )
    if app_id != _APPLICATION_ID and (app_id != 0 or version > 0 or foreign):
        raise StorageError(
            "the file is an SQLite database of another application",
            expected=f"application_id {_APPLICATION_ID} (crmkit)",
            got=f"application_id {app_id}, user_version {version}",
            hint="give crmkit a database file of its own",
        )
    if version > SCHEMA_VERSION:
        raise StorageError(
            "the database was written by a newer crmkit",
            expected=f"schema version {SCHEMA_VERSION} or lower",
            got=f"schema version {version}",
            hint="upgrade crmkit to open it",
        )


# ---------------------------------------------------------------- schema parts


def ensure_part(db: _Database, part: str, migrations: tuple[tuple[str, ...], ...]) -> None:
    """Bring the tables of one part of crmkit (e.g. ``"loyalty"``) up to its latest version.

    Each part keeps its own ordered list of migrations (``migrations[n]`` takes
    the part from version n to n + 1; never edit a released one, append) and
    its version in ``crmkit_schema_parts``, so parts evolve independently of
    each other and of the core schema. Runs in one ``BEGIN IMMEDIATE``
    transaction, so concurrent openers migrate once.

    Raises:
        StorageError: the file has a newer version of the part than this crmkit.
    """
    with db.transaction(write=True) as conn:
        row = conn.execute(
            "SELECT version FROM crmkit_schema_parts WHERE part = ?", (part,)
        ).fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(migrations):
            raise StorageError(
                f"the {part} tables were written by a newer crmkit",
                expected=f"{part} schema version {len(migrations)} or lower",
                got=f"version {version}",
                hint="upgrade crmkit to read this file",
            )
        for migration in migrations[version:]:
            for statement in migration:
                conn.execute(statement)
        if version < len(migrations):
            conn.execute(
                "INSERT INTO crmkit_schema_parts (part, version) VALUES (?, ?)"
                " ON CONFLICT (part) DO UPDATE SET version = excluded.version",
                (part, len(migrations)),
            )


# ---------------------------------------------------------------- repositories

_T = TypeVar("_T", Customer, Contact)


class _Versioned(Generic[_T]):
    """Shared logic of the customer and contact tables (versioned entities)."""

    _entity: str
    _type: type[Customer] | type[Contact]
    _table: str
    _select_one: str
    _insert: str
    _update: str
    _count: str

    def __init__(self, db: _Database) -> None:
        self._db = db

    def _columns(self, item: _T) -> tuple[object, ...]:
        return (item.id, item.version, _dump(item))

    def add(self, item: _T) -> None:
        check_entity(item, self._type, self._entity)
        with self._db.transaction(write=True) as conn:
            if conn.execute(self._insert, self._columns(item)).rowcount == 0:
                raise AlreadyExistsError(self._entity, item.id, hint="use update() to change it")

    def get(self, item_id: str) -> _T:
        # Ids are text: SQLite would compare 5 equal to '5' in a TEXT column, Python would not.
        rows = self._db.query(self._select_one, (item_id,)) if _is_text(item_id) else []
        if not rows:
            raise NotFoundError(self._entity, item_id)
        found: _T = _load(rows[0][1])
        return found

    def update(self, item: _T) -> _T:
        check_entity(item, self._type, self._entity)
        new: _T = attrs.evolve(item, version=item.version + 1)
        with self._db.transaction(write=True) as conn:
            row = conn.execute(self._select_one, (item.id,)).fetchone()
            if row is None:
                raise NotFoundError(self._entity, item.id)
            if row[0] != item.version:
                raise ConflictError(
                    self._entity, item.id, expected_version=item.version, actual_version=row[0]
                )
            conn.execute(self._update, (*self._columns(new)[1:], item.id))
        return new

    def __len__(self) -> int:
        return int(self._db.query(self._count)[0][0])


class SQLiteCustomerRepository(_Versioned[Customer]):
    """The customers of a :class:`SQLiteStore` (a :class:`~crmkit.domain.CustomerRepository`).

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Customer
    >>> store = SQLiteStore(":memory:")
    >>> store.customers.add(Customer(id="c-1", name="Ann",
    ...                              created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    >>> ann = store.customers.get("c-1")
    >>> store.customers.update(attrs.evolve(ann, influence="celebrity")).version
    1
    >>> store.customers.update(ann)  # still version 0: someone else changed it meanwhile
    Traceback (most recent call last):
    ...
    crmkit.errors.ConflictError: customer 'c-1' was changed by someone else: expected stored version 0, got version 1 (read it again, re-apply your change and retry)
    >>> store.close()
    """

    _entity = "customer"
    _type = Customer
    _select_one = "SELECT version, record FROM crmkit_customers WHERE id = ?"
    _insert = (
        "INSERT INTO crmkit_customers (id, version, record) VALUES (?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING"
    )
    _update = "UPDATE crmkit_customers SET version = ?, record = ? WHERE id = ?"
    _count = "SELECT count(*) FROM crmkit_customers"

    def get_many(self, customer_ids: Iterable[str]) -> dict[str, Customer]:
        """Return the stored customers among *customer_ids*, by id; unknown ids are left out."""
        wanted = list(dict.fromkeys(c for c in customer_ids if isinstance(c, str)))
        found: dict[str, Customer] = {}
        with self._db.transaction(write=False) as conn:
            for cid in wanted:
                row = conn.execute(self._select_one, (cid,)).fetchone()
                if row is not None:
                    found[cid] = _load(row[1])
        return found

    def iter_all(self, *, batch_size: int = 1000) -> Iterator[list[Customer]]:
        """Yield every customer in batches of at most *batch_size*, ordered by id.

        Each batch is read by its own query (keyset pagination on id), so a
        customer added while iterating appears if its id sorts after the batch
        being read.
        """
        limit = min(check_batch_size(batch_size), _MAX_LIMIT)
        return self._iter_all(limit)

    def _iter_all(self, limit: int) -> Iterator[list[Customer]]:
        rows = self._db.query(
            "SELECT id, record FROM crmkit_customers ORDER BY id LIMIT ?", (limit,)
        )
        while rows:
            yield [_load(r[1]) for r in rows]
            if len(rows) < limit:
                return
            rows = self._db.query(
                "SELECT id, record FROM crmkit_customers WHERE id > ? ORDER BY id LIMIT ?",
                (rows[-1][0], limit),
            )

    def staff_of(self, company_id: str) -> list[Customer]:
        """Return the customers whose ``company_id`` is *company_id*, ordered by id.

        A scan of the customers' records (no index): it is meant for merges,
        not for request paths.
        """
        if not _is_text(company_id):
            return []
        rows = self._db.query(
            "SELECT record FROM crmkit_customers"
            " WHERE json_extract(record, '$.company_id') = ? ORDER BY id",
            (company_id,),
        )
        return [_load(r[0]) for r in rows]


class SQLiteContactRepository(_Versioned[Contact]):
    """The contacts of a :class:`SQLiteStore` (a :class:`~crmkit.domain.ContactRepository`)."""

    _entity = "contact"
    _type = Contact
    _select_one = "SELECT version, record FROM crmkit_contacts WHERE id = ?"
    _insert = (
        "INSERT INTO crmkit_contacts (id, version, customer_id, record) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING"
    )
    _update = "UPDATE crmkit_contacts SET version = ?, customer_id = ?, record = ? WHERE id = ?"
    _count = "SELECT count(*) FROM crmkit_contacts"

    def _columns(self, item: Contact) -> tuple[object, ...]:
        return (item.id, item.version, item.customer_id, _dump(item))

    def for_customer(self, customer_id: str) -> list[Contact]:
        """Return the contacts of a customer, ordered by id."""
        if not _is_text(customer_id):
            return []
        rows = self._db.query(
            "SELECT record FROM crmkit_contacts WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        )
        return [_load(r[0]) for r in rows]


_SELECT_ACTIVITY: Final = "SELECT type, record FROM crmkit_activities WHERE id = ?"
_INSERT_ACTIVITY: Final = (
    "INSERT INTO crmkit_activities (id, customer_id, type, occurred_at, purchase_id, record)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)


class SQLiteActivityRepository:
    """The activity log of a :class:`SQLiteStore` (an :class:`~crmkit.domain.ActivityRepository`).

    Append-only and idempotent on activity id; refunds are checked against
    their purchase inside the write transaction.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Purchase, Refund
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> store = SQLiteStore(":memory:")
    >>> log = store.activities
    >>> p = Purchase(id="p-1", customer_id="c-1", amount="10.50", currency="EUR", occurred_at=t)
    >>> log.append(p), log.append(p)  # the second append is a no-op
    (True, False)
    >>> log.append(Refund(id="r-1", customer_id="c-1", purchase_id="p-1", amount=11,
    ...                   currency="EUR", occurred_at=t))
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: Refund.amount is invalid: expected at most 10.50 (what is left of purchase 'p-1'), got Decimal('11')
    >>> store.close()
    """

    def __init__(self, db: _Database) -> None:
        self._db = db

    def __len__(self) -> int:
        return int(self._db.query("SELECT count(*) FROM crmkit_activities")[0][0])

    @staticmethod
    def _admit(conn: sqlite3.Connection, activity: Activity) -> bool:
        """Check and insert *activity* inside the caller's write transaction; True if new."""
        check_activity(activity)
        purchase_id = None
        if isinstance(activity, Refund):
            # Check for a stored twin first: re-appending a stored refund is a no-op,
            # even when the purchase has been refunded in full since.
            row = conn.execute(_SELECT_ACTIVITY, (activity.id,)).fetchone()
            if row is not None:
                return _same_or_raise(row[1], activity)
            purchase_id = activity.purchase_id
            row = conn.execute(_SELECT_ACTIVITY, (purchase_id,)).fetchone()
            purchase = _load(row[1]) if row is not None and row[0] == Purchase.type_name else None
            earlier = [
                _load(r[0])
                for r in conn.execute(
                    "SELECT record FROM crmkit_activities WHERE purchase_id = ?", (purchase_id,)
                )
            ]
            check_refund(purchase, earlier, activity)
        inserted = conn.execute(
            _INSERT_ACTIVITY,
            (
                activity.id,
                activity.customer_id,
                activity.type_name,
                _micros(activity.occurred_at),
                purchase_id,
                _dump(activity),
            ),
        ).rowcount
        if inserted:
            return True
        row = conn.execute(_SELECT_ACTIVITY, (activity.id,)).fetchone()
        return _same_or_raise(row[1], activity)

    def append(self, activity: Activity) -> bool:
        """Store *activity*; return ``False`` if this very activity was stored already.

        Raises:
            AlreadyExistsError: another activity with the same id is stored.
            ValidationError: a refund that does not fit its purchase.
        """
        with self._db.transaction(write=True) as conn:
            return self._admit(conn, activity)

    def append_many(self, activities: Iterable[Activity]) -> int:
        """Append several activities in one transaction, all-or-nothing; return how many were new.

        A refund may follow its purchase in the same call.

        Raises:
            AlreadyExistsError, ValidationError: as ``append``; then nothing is stored.
        """
        items = list(activities)
        for activity in items:
            check_activity(activity)
        new = 0
        with self._db.transaction(write=True) as conn:
            if len(items) <= _SMALL:
                for activity in items:
                    new += self._admit(conn, activity)
                return new
            return self._append_bulk(conn, items)

    @staticmethod
    def _append_bulk(conn: sqlite3.Connection, items: list[Activity]) -> int:
        """One-by-one semantics (:func:`plan_append`) from set-wise reads, then one executemany.

        Runs inside ``BEGIN IMMEDIATE``: no other writer can change what was read.
        A batch of distinct new ids without refunds (a load) is first inserted
        optimistically: when every row goes in, nothing was stored before and
        there is nothing to read; otherwise that insert is rolled back and the
        batch takes the general path.
        """
        if not any(isinstance(a, Refund) for a in items) and len({a.id for a in items}) == len(
            items
        ):
            conn.execute("SAVEPOINT crmkit_load")
            before = conn.total_changes
            # A larger page cache while the batch goes in: its rows land all over the
            # by-customer index (64 MB: about 7% less time on 1M rows).
            cache = conn.execute("PRAGMA cache_size").fetchone()[0]
            conn.execute(f"PRAGMA cache_size = {min(int(cache), _LOAD_CACHE)}")
            try:
                conn.executemany(_INSERT_ACTIVITY, _rows(items))
            finally:
                conn.execute(f"PRAGMA cache_size = {int(cache)}")
            if conn.total_changes - before == len(items):
                conn.execute("RELEASE crmkit_load")
                return len(items)
            conn.execute("ROLLBACK TO crmkit_load")
            conn.execute("RELEASE crmkit_load")
        stored = dict(
            _chunked(conn, "SELECT id, record FROM crmkit_activities WHERE id IN ({})", items)
        )
        wanted = sorted({a.purchase_id for a in items if isinstance(a, Refund)})
        purchases: dict[str, Activity | None] = {}
        earlier: dict[str, list[Refund]] = defaultdict(list)
        if wanted:
            for pid, kind, record in _chunked(
                conn, "SELECT id, type, record FROM crmkit_activities WHERE id IN ({})", wanted
            ):
                purchases[pid] = _load(record) if kind == Purchase.type_name else None
            for pid, record in _chunked(
                conn,
                "SELECT purchase_id, record FROM crmkit_activities WHERE purchase_id IN ({})",
                wanted,
            ):
                earlier[pid].append(_load(record))
        staged = plan_append(items, stored, purchases, earlier, _load)
        conn.executemany(
            "INSERT INTO crmkit_activities"
            " (id, customer_id, type, occurred_at, purchase_id, record) VALUES (?, ?, ?, ?, ?, ?)",
            _rows(staged),
        )
        return len(staged)

    def rewrite(self, activities: Iterable[Activity]) -> int:
        """Replace stored activities by re-pointed or redacted versions, in one transaction.

        See :class:`~crmkit.domain.RewritableActivityRepository`; returns how
        many changed. The replaced rows are overwritten (``secure_delete``);
        call :meth:`SQLiteStore.purge` to clear old copies from the journal too.

        Raises:
            NotFoundError: an id is not stored; nothing was written.
            ValidationError: a change outside what may change; nothing was written.
        """
        changed = 0
        with self._db.transaction(write=True) as conn:
            touched: list[Activity] = []
            for activity in activities:
                check_activity(activity)
                row = conn.execute(_SELECT_ACTIVITY, (activity.id,)).fetchone()
                if row is None:
                    raise NotFoundError("activity", activity.id)
                stored = _load(row[1])
                check_rewrite(stored, activity)
                if stored == activity:
                    continue
                conn.execute(
                    "UPDATE crmkit_activities SET customer_id = ?, record = ? WHERE id = ?",
                    (activity.customer_id, _dump(activity), activity.id),
                )
                touched.append(activity)
                changed += 1
            for activity in touched:
                if isinstance(activity, Refund):
                    row = conn.execute(_SELECT_ACTIVITY, (activity.purchase_id,)).fetchone()
                    check_refund_owner(None if row is None else _load(row[1]), activity)
                elif isinstance(activity, Purchase):
                    for r in conn.execute(
                        "SELECT record FROM crmkit_activities WHERE purchase_id = ?",
                        (activity.id,),
                    ).fetchall():
                        check_refund_owner(activity, _load(r[0]))
        return changed

    def get(self, activity_id: str) -> Activity:
        """Return the stored activity.

        Raises:
            NotFoundError: no activity has this id.
        """
        rows = self._db.query(_SELECT_ACTIVITY, (activity_id,)) if _is_text(activity_id) else []
        if not rows:
            raise NotFoundError("activity", activity_id)
        found: Activity = _load(rows[0][1])
        return found

    def for_customer(
        self,
        customer_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Activity]:
        """Return a customer's activities with ``start <= occurred_at < end``.

        Ordered by ``occurred_at``, then id. ``None`` leaves that side open.
        """
        start, end = check_window(start, end)
        if not _is_text(customer_id):
            return []
        rows = self._db.query(
            "SELECT record FROM crmkit_activities"
            " WHERE customer_id = ? AND occurred_at >= ? AND occurred_at < ?"
            " ORDER BY occurred_at, id",
            (
                customer_id,
                _MIN_KEY if start is None else _micros(start),
                _MAX_KEY if end is None else _micros(end),
            ),
        )
        return [_load(r[0]) for r in rows]

    def naming(self, customer_id: str) -> list[Activity]:
        """Return the purchases with *customer_id* as guest and the referrals that referred her.

        Ordered by ``occurred_at``, then id. A scan of the activity records
        (no index): it is meant for merges and exports, not for request paths.
        """
        if not _is_text(customer_id):
            return []
        rows = self._db.query(
            "SELECT record FROM crmkit_activities"
            " WHERE (type = 'purchase' AND EXISTS (SELECT 1 FROM json_each(record, '$.guests')"
            " WHERE json_each.value = ?1))"
            " OR (type = 'referral' AND json_extract(record, '$.referred_id') = ?1)"
            " ORDER BY occurred_at, id",
            (customer_id,),
        )
        return [_load(r[0]) for r in rows]

    def iter_batches(self, *, batch_size: int = 10_000) -> Iterator[list[Activity]]:
        """Yield every activity in batches of at most *batch_size*, ordered by time then id.

        Each batch is read by its own query (keyset pagination on
        ``(occurred_at, id)``), so memory stays bounded by one batch.
        """
        limit = min(check_batch_size(batch_size), _MAX_LIMIT)
        return self._iter_batches(limit)

    def _iter_batches(self, limit: int) -> Iterator[list[Activity]]:
        rows = self._db.query(
            "SELECT occurred_at, id, record FROM crmkit_activities"
            " ORDER BY occurred_at, id LIMIT ?",
            (limit,),
        )
        while rows:
            yield [_load(r[2]) for r in rows]
            if len(rows) < limit:
                return
            last = rows[-1]
            rows = self._db.query(
                "SELECT occurred_at, id, record FROM crmkit_activities"
                " WHERE (occurred_at, id) > (?, ?) ORDER BY occurred_at, id LIMIT ?",
                (last[0], last[1], limit),
            )


_SMALL: Final = 8  # append_many of more activities takes the bulk path
_LOAD_CACHE: Final = -65536  # PRAGMA cache_size during a bulk load: 64 MiB (negative: KiB)
_CHUNK: Final = 500  # values per IN (...), below SQLite's variable limit


def _rows(activities: Iterable[Activity]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``crmkit_activities`` for *activities* (a generator: one row in memory at a time)."""
    for a in activities:
        yield (
            a.id,
            a.customer_id,
            a.type_name,
            _micros(a.occurred_at),
            a.purchase_id if isinstance(a, Refund) else None,
            _dump(a),
        )


def _chunked(
    conn: sqlite3.Connection, sql: str, keys: Iterable[Activity] | Iterable[str]
) -> Iterator[Any]:
    """Rows of ``sql`` (with one ``IN ({})``) for all *keys* (activities: their ids), 500 at a time."""
    values = sorted({k if isinstance(k, str) else k.id for k in keys})
    for i in range(0, len(values), _CHUNK):
        chunk = values[i : i + _CHUNK]
        yield from conn.execute(sql.format(", ".join("?" * len(chunk))), chunk)


def _same_or_raise(stored_text: str, activity: Activity) -> bool:
    """``False`` if the stored activity equals *activity*; AlreadyExistsError otherwise."""
    if _load(stored_text) == activity:
        return False
    raise AlreadyExistsError(
        "activity",
        activity.id,
        hint="activity ids are idempotency keys; a different activity needs a new id",
    )


# ---------------------------------------------------------------- the store


class SQLiteStore:
    """Customers, contacts and activities in one SQLite database file.

    Opening creates the schema, or migrates an older one; a file written by a
    newer crmkit is refused with :class:`~crmkit.errors.StorageError`. Give
    crmkit a file of its own. Close the store when done (or use it as a
    context manager). One store may be shared by threads; each process opens
    its own.

    Args:
        path: a file path, or ``":memory:"`` for a private in-memory database
            (gone when closed).
        timeout: seconds a write waits for another connection's write lock
            before :class:`~crmkit.errors.StorageError` is raised.

    Attributes:
        customers: a :class:`~crmkit.domain.CustomerRepository`.
        contacts: a :class:`~crmkit.domain.ContactRepository`.
        activities: an :class:`~crmkit.domain.ActivityRepository`.

    Raises:
        StorageError: the file is not a crmkit database, or a newer one, or
            cannot be opened.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Customer
    >>> with SQLiteStore(":memory:") as store:
    ...     store.customers.add(Customer(id="c-1", name="Ann",
    ...                                  created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    ...     print(store.customers.get("c-1").id, len(store.customers))
    c-1 1
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValidationError("timeout", expected="a number of seconds >= 0", got=timeout)
        self._path = os.fspath(path)
        self._db = _Database(self._path, float(timeout))
        self.customers = SQLiteCustomerRepository(self._db)
        self.contacts = SQLiteContactRepository(self._db)
        self.activities = SQLiteActivityRepository(self._db)

    @property
    def path(self) -> str:
        """The database path as given (``":memory:"`` for an in-memory database)."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._db.closed

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._db.query("PRAGMA user_version")[0][0])

    def purge(self, *, vacuum: bool = False) -> None:
        """Clear old copies of rewritten or erased data from the database file and its journal.

        Every connection of crmkit runs with ``PRAGMA secure_delete = ON``, so
        replaced rows are overwritten in the database pages; the write-ahead log
        may still hold earlier page images until it is checkpointed. ``purge``
        checkpoints the log and truncates it to zero bytes, and with
        ``vacuum=True`` also rebuilds the file (slow on a large database, and it
        needs as much free disk as the file). :func:`crmkit.privacy.erase` calls it.

        Raises:
            StorageError: another connection holds a read snapshot, so the log
                cannot be cleared yet; retry when it is done.
        """
        if self._path in (":memory:", ""):
            return
        rows = self._db.query("PRAGMA wal_checkpoint(TRUNCATE)")
        if rows and int(rows[0][0]) != 0:
            raise StorageError(
                "the write-ahead log cannot be cleared now",
                got="another connection is reading or writing",
                hint="retry purge() when other connections are done",
            )
        if vacuum:
            self._db.query("VACUUM")
            self._db.query("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close the connection; further use raises StorageError. Closing twice is harmless."""
        self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"SQLiteStore({self._path!r}, {state})"


if TYPE_CHECKING:  # mypy --strict proves the repositories satisfy the Protocols

    def _conforms(
        store: SQLiteStore,
    ) -> tuple[
        CustomerRepository, ContactRepository, ActivityRepository, RewritableActivityRepository
    ]:
        return store.customers, store.contacts, store.activities, store.activities
