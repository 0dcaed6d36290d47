r"""PostgreSQL storage for customers, contacts and activities (psycopg 3).

Each record is stored as the JSON of :func:`crmkit.domain.to_record` in a
``json`` column (not ``jsonb``: ``jsonb`` refuses ``\u0000`` and rewrites
numbers, so ``1e16`` would come back as the integer ``10000000000000000``),
next to the few indexed columns the queries need. Every id column is ``text
COLLATE "C"``: ids sort bytewise, which for UTF-8 is code point order, the
order Python's ``sorted`` gives; a database's default collation (ICU or
glibc ``en_US``) sorts ``"B" < "a"`` differently.

Concurrency (``READ COMMITTED``, PostgreSQL's default):

* an optimistic update is one ``UPDATE ... WHERE version = %s``;
* an idempotent append is ``INSERT ... ON CONFLICT (id) DO NOTHING``, then a
  read of the stored twin;
* a refund locks its purchase's row (``SELECT ... FOR UPDATE``) before it
  sums the earlier refunds, so two refunds of one purchase are checked one
  after the other and can never exceed it together.

The store works on a connection string (it opens and owns one connection), on
a ``psycopg.Connection`` of the host's (each operation runs in
``conn.transaction()``: its own transaction, or a savepoint inside the host's
open one), or on a pool with a ``connection()`` context manager
(``psycopg_pool.ConnectionPool``).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

import attrs
import psycopg
from psycopg import errors as pg_errors

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
    "CORE_MIGRATIONS",
    "PostgresActivityRepository",
    "PostgresContactRepository",
    "PostgresCustomerRepository",
    "PostgresStore",
    "ensure_part",
]

_T = TypeVar("_T")

# ---------------------------------------------------------------- schema

#: The core tables' migrations: ``CORE_MIGRATIONS[n]`` takes the ``"core"`` part
#: from version n to n + 1. ``{s}`` is the quoted schema name. Never edit a
#: released migration: append.
CORE_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE {s}.crmkit_customers (
            id text COLLATE "C" NOT NULL PRIMARY KEY,
            version bigint NOT NULL,
            record json NOT NULL
        )""",
        """CREATE TABLE {s}.crmkit_contacts (
            id text COLLATE "C" NOT NULL PRIMARY KEY,
            customer_id text COLLATE "C" NOT NULL,
            version bigint NOT NULL,
            record json NOT NULL
        )""",
        "CREATE INDEX crmkit_contacts_by_customer ON {s}.crmkit_contacts (customer_id, id)",
        """CREATE TABLE {s}.crmkit_activities (
            id text COLLATE "C" NOT NULL PRIMARY KEY,
            customer_id text COLLATE "C" NOT NULL,
            type text NOT NULL,
            occurred_at timestamptz NOT NULL,
            purchase_id text COLLATE "C" REFERENCES {s}.crmkit_activities (id),
            record json NOT NULL
        )""",
        "CREATE INDEX crmkit_activities_by_customer"
        " ON {s}.crmkit_activities (customer_id, occurred_at, id)",
        "CREATE INDEX crmkit_activities_by_time ON {s}.crmkit_activities (occurred_at, id)",
        "CREATE INDEX crmkit_refunds_by_purchase ON {s}.crmkit_activities (purchase_id)"
        " WHERE purchase_id IS NOT NULL",
    ),
)

#: The schema version of the core tables this crmkit writes.
SCHEMA_VERSION: Final = len(CORE_MIGRATIONS)

_SCHEMA_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SMALL: Final = 8  # batches up to this size go row by row; larger ones in bulk (COPY)


def _lock_id(*parts: str) -> int:
    """A stable signed 32-bit number for an advisory lock (the same in every process)."""
    value = zlib.crc32("\x1f".join(parts).encode())
    return value - 2**32 if value >= 2**31 else value


def _storage_error(exc: psycopg.Error) -> StorageError:
    message = str(exc).strip() or type(exc).__name__
    hint = None
    if "NUL" in message:
        hint = "PostgreSQL text cannot hold the character U+0000; remove it from ids and names"
    elif isinstance(exc, psycopg.OperationalError):
        hint = "check the server is up and the connection string or pool is right"
    return StorageError("the PostgreSQL database cannot be used", got=message, hint=hint)


_RETRIED: Final = (
    pg_errors.UniqueViolation,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)
_ATTEMPTS: Final = 20


class _Pool(Protocol):
    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...


Cursor = psycopg.Cursor[Any]


class _Database:
    """Where the connections come from, the schema, and transaction helpers."""

    def __init__(self, source: object, schema: object) -> None:
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise ValidationError(
                "schema",
                expected="a schema name of letters, digits and _ (at most 63, not starting with a digit)",
                got=schema,
            )
        self.schema = schema
        self.s = f'"{schema}"'
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._pool: _Pool | None = None
        self.owned = False
        self.conninfo: str | None = None
        if isinstance(source, str):
            try:
                self._conn = psycopg.connect(source, autocommit=True)
            except psycopg.Error as exc:
                raise _storage_error(exc) from exc
            self.owned = True
            self.conninfo = source
        elif isinstance(source, psycopg.Connection):
            self._conn = source
        elif callable(getattr(source, "connection", None)):
            self._pool = source  # type: ignore[assignment]
        else:
            raise ValidationError(
                "connection",
                expected="a connection string, a psycopg.Connection or a pool with .connection()",
                got=type(source).__name__,
            )

    @property
    def closed(self) -> bool:
        return self._pool is None and (self._conn is None or self._conn.closed)

    def close(self) -> None:
        with self._lock:
            if self.owned and self._conn is not None:
                self._conn.close()
            self._conn = None
            self._pool = None

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._pool is not None:
            with self._pool.connection() as conn:
                yield conn
            return
        with self._lock:
            if self._conn is None or self._conn.closed:
                raise StorageError(
                    "the PostgreSQL store is closed",
                    hint="open a new store (or pass an open connection) to use the database",
                )
            yield self._conn

    def run(self, work: Callable[[Cursor], _T], *, retry: bool = False) -> _T:
        """Run *work* in one transaction (a savepoint inside a host's open one).

        With ``retry``, a unique violation, deadlock or serialization failure
        (another transaction got there first) rolls back and runs *work*
        again, which then sees what the other one committed.
        """
        for attempt in itertools.count(1):
            try:
                with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
                    return work(cur)
            except _RETRIED as exc:
                if not retry or attempt >= _ATTEMPTS:
                    raise _storage_error(exc) from exc
            except psycopg.Error as exc:
                raise _storage_error(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return its rows."""

        def work(cur: Cursor) -> list[tuple[Any, ...]]:
            cur.execute(sql.format(s=self.s), params)
            return cur.fetchall()

        return self.run(work)


def ensure_part(db: _Database, part: str, migrations: tuple[tuple[str, ...], ...]) -> int:
    """Bring the tables of one part of crmkit (``"core"``, ``"loyalty"``, ...) to its latest version.

    The version of each part is a row of ``<schema>.crmkit_schema_parts``; its
    migrations run in one transaction under an advisory lock on the schema,
    so concurrent openers migrate once. Returns the version.

    Raises:
        StorageError: the database has a newer version of the part than this crmkit.
    """

    def work(cur: Cursor) -> int:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id(db.schema, "crmkit-migrate"),))
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {db.s}")
        cur.execute(
            f"""CREATE TABLE IF NOT EXISTS {db.s}.crmkit_schema_parts (
                part text COLLATE "C" NOT NULL PRIMARY KEY,
                version integer NOT NULL
            )"""
        )
        cur.execute(f"SELECT version FROM {db.s}.crmkit_schema_parts WHERE part = %s", (part,))  # noqa: S608
        row = cur.fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(migrations):
            raise StorageError(
                f"the {part} tables were written by a newer crmkit",
                expected=f"{part} schema version {len(migrations)} or lower",
                got=f"version {version}",
                hint="upgrade crmkit to use this database",
            )
        for migration in migrations[version:]:
            for statement in migration:
                cur.execute(statement.format(s=db.s))
        if version < len(migrations):
            cur.execute(
                f"INSERT INTO {db.s}.crmkit_schema_parts (part, version) VALUES (%s, %s)"  # noqa: S608
                " ON CONFLICT (part) DO UPDATE SET version = excluded.version",
                (part, len(migrations)),
            )
        return len(migrations)

    return db.run(work)


# ---------------------------------------------------------------- records


def _dump(record: Record) -> str:
    return json.dumps(to_record(record), separators=(",", ":"))


def _load(value: Any) -> Any:
    """Rebuild a stored record (psycopg hands ``json`` columns over parsed)."""
    try:
        return from_record(json.loads(value) if isinstance(value, str) else value)
    except (ValueError, TypeError) as exc:
        raise StorageError(
            "a stored record cannot be read",
            got=f"{type(exc).__name__}: {exc}",
            hint="the database was changed outside crmkit or by a newer version of it",
        ) from exc


def _is_text(key: object) -> bool:
    """Whether a key is a str; a number finds nothing (as in a Python dict)."""
    return isinstance(key, str)


# ---------------------------------------------------------------- customers and contacts

_E = TypeVar("_E", Customer, Contact)


class _Versioned(Generic[_E]):
    _entity: str
    _type: type[Customer] | type[Contact]
    _table: str

    def __init__(self, db: _Database) -> None:
        self._db = db
        self._t = f"{db.s}.{self._table}"

    def _columns(self, item: _E) -> dict[str, object]:
        return {"id": item.id, "version": item.version, "record": _dump(item)}

    def add(self, item: _E) -> None:
        check_entity(item, self._type, self._entity)
        columns = self._columns(item)
        names = ", ".join(columns)
        marks = ", ".join(f"%({c})s" for c in columns)

        def work(cur: Cursor) -> None:
            cur.execute(
                f"INSERT INTO {self._t} ({names}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING",  # noqa: S608
                columns,
            )
            if cur.rowcount == 0:
                raise AlreadyExistsError(self._entity, item.id, hint="use update() to change it")

        self._db.run(work)

    def get(self, item_id: str) -> _E:
        rows = (
            self._db.query(f"SELECT record FROM {self._t} WHERE id = %s", (item_id,))  # noqa: S608
            if _is_text(item_id)
            else []
        )
        if not rows:
            raise NotFoundError(self._entity, item_id)
        found: _E = _load(rows[0][0])
        return found

    def update(self, item: _E) -> _E:
        check_entity(item, self._type, self._entity)
        new: _E = attrs.evolve(item, version=item.version + 1)
        columns = self._columns(new)
        sets = ", ".join(f"{c} = %({c})s" for c in columns if c != "id")

        def work(cur: Cursor) -> None:
            cur.execute(
                f"UPDATE {self._t} SET {sets} WHERE id = %(id)s AND version = %(old)s",  # noqa: S608
                {**columns, "old": item.version},
            )
            if cur.rowcount == 1:
                return
            cur.execute(f"SELECT version FROM {self._t} WHERE id = %s", (item.id,))  # noqa: S608
            row = cur.fetchone()
            if row is None:
                raise NotFoundError(self._entity, item.id)
            raise ConflictError(
                self._entity, item.id, expected_version=item.version, actual_version=int(row[0])
            )

        self._db.run(work)
        return new

    def __len__(self) -> int:
        return int(self._db.query(f"SELECT count(*) FROM {self._t}")[0][0])  # noqa: S608


class PostgresCustomerRepository(_Versioned[Customer]):
    """The customers of a :class:`PostgresStore` (a :class:`~crmkit.domain.CustomerRepository`)."""

    _entity = "customer"
    _type = Customer
    _table = "crmkit_customers"

    def get_many(self, customer_ids: Iterable[str]) -> dict[str, Customer]:
        """Return the stored customers among *customer_ids*, by id; unknown ids are left out."""
        wanted = sorted({c for c in customer_ids if _is_text(c)})
        if not wanted:
            return {}
        rows = self._db.query(
            f"SELECT id, record FROM {self._t} WHERE id = ANY(%s)",  # noqa: S608
            (wanted,),
        )
        return {r[0]: _load(r[1]) for r in rows}

    def iter_all(self, *, batch_size: int = 1000) -> Iterator[list[Customer]]:
        """Yield every customer in batches of at most *batch_size*, ordered by id (bytewise)."""
        limit = check_batch_size(batch_size)
        return self._iter_all(limit)

    def _iter_all(self, limit: int) -> Iterator[list[Customer]]:
        rows = self._db.query(
            f"SELECT id, record FROM {self._t} ORDER BY id LIMIT %s",  # noqa: S608
            (limit,),
        )
        while rows:
            yield [_load(r[1]) for r in rows]
            if len(rows) < limit:
                return
            rows = self._db.query(
                f"SELECT id, record FROM {self._t} WHERE id > %s ORDER BY id LIMIT %s",  # noqa: S608
                (rows[-1][0], limit),
            )

    def staff_of(self, company_id: str) -> list[Customer]:
        """Return the customers whose ``company_id`` is *company_id*, ordered by id (a scan)."""
        if not _is_text(company_id):
            return []
        rows = self._db.query(
            f"SELECT record FROM {self._t} WHERE record->>'company_id' = %s ORDER BY id",  # noqa: S608
            (company_id,),
        )
        return [_load(r[0]) for r in rows]


class PostgresContactRepository(_Versioned[Contact]):
    """The contacts of a :class:`PostgresStore` (a :class:`~crmkit.domain.ContactRepository`)."""

    _entity = "contact"
    _type = Contact
    _table = "crmkit_contacts"

    def _columns(self, item: Contact) -> dict[str, object]:
        return {**super()._columns(item), "customer_id": item.customer_id}

    def for_customer(self, customer_id: str) -> list[Contact]:
        """Return the contacts of a customer, ordered by id."""
        if not _is_text(customer_id):
            return []
        rows = self._db.query(
            f"SELECT record FROM {self._t} WHERE customer_id = %s ORDER BY id",  # noqa: S608
            (customer_id,),
        )
        return [_load(r[0]) for r in rows]


# ---------------------------------------------------------------- activities


def _activity_row(a: Activity) -> tuple[object, ...]:
    purchase_id = a.purchase_id if isinstance(a, Refund) else None
    return (a.id, a.customer_id, a.type_name, a.occurred_at, purchase_id, _dump(a))


def _same_or_raise(stored: Activity, activity: Activity) -> bool:
    """``False`` if the stored activity equals *activity*; AlreadyExistsError otherwise."""
    if stored == activity:
        return False
    raise AlreadyExistsError(
        "activity",
        activity.id,
        hint="activity ids are idempotency keys; a different activity needs a new id",
    )


_ACTIVITY_COLUMNS: Final = "id, customer_id, type, occurred_at, purchase_id, record"


class PostgresActivityRepository:
    """The activity log of a :class:`PostgresStore` (a :class:`~crmkit.domain.RewritableActivityRepository`).

    Append-only and idempotent on activity id. A refund locks the row of its
    purchase (``SELECT ... FOR UPDATE``) before it is checked against the
    earlier refunds, so concurrent refunds never exceed the purchase.
    :meth:`append_many` of more than a few activities checks the whole batch
    with a handful of set-wise queries and writes it with ``COPY``.
    """

    def __init__(self, db: _Database) -> None:
        self._db = db
        self._t = f"{db.s}.crmkit_activities"

    def __len__(self) -> int:
        return int(self._db.query(f"SELECT count(*) FROM {self._t}")[0][0])  # noqa: S608

    def _admit(self, cur: Cursor, activity: Activity) -> bool:
        """Check and insert one activity inside the caller's transaction; True if new."""
        check_activity(activity)
        if isinstance(activity, Refund):
            # The lock: concurrent refunds of one purchase are checked one after the other.
            cur.execute(
                f"SELECT type, record FROM {self._t} WHERE id = %s FOR UPDATE",  # noqa: S608
                (activity.purchase_id,),
            )
            row = cur.fetchone()
            purchase = _load(row[1]) if row is not None and row[0] == Purchase.type_name else None
            cur.execute(f"SELECT record FROM {self._t} WHERE id = %s", (activity.id,))  # noqa: S608
            twin = cur.fetchone()
            if twin is not None:  # re-appending a stored refund is a no-op, even if refunded since
                return _same_or_raise(_load(twin[0]), activity)
            cur.execute(
                f"SELECT record FROM {self._t} WHERE purchase_id = %s",  # noqa: S608
                (activity.purchase_id,),
            )
            check_refund(purchase, [_load(r[0]) for r in cur.fetchall()], activity)
        cur.execute(
            f"INSERT INTO {self._t} ({_ACTIVITY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"  # noqa: S608
            " ON CONFLICT (id) DO NOTHING",
            _activity_row(activity),
        )
        if cur.rowcount:
            return True
        cur.execute(f"SELECT record FROM {self._t} WHERE id = %s", (activity.id,))  # noqa: S608
        stored = cur.fetchone()
        if stored is None:  # pragma: no cover - a conflict means the row exists
            raise StorageError("an activity vanished during an append", got=activity.id)
        return _same_or_raise(_load(stored[0]), activity)

    def append(self, activity: Activity) -> bool:
        """Store *activity*; return ``False`` if this very activity was stored already.

        Raises:
            AlreadyExistsError: another activity with the same id is stored.
            ValidationError: a refund that does not fit its purchase.
        """
        check_activity(activity)
        return self._db.run(lambda cur: self._admit(cur, activity))

    def append_many(self, activities: Iterable[Activity]) -> int:
        """Append several activities in one transaction, all-or-nothing; return how many were new.

        The outcome is that of appending them one by one (a refund may follow
        its purchase in the same call; the first offending activity raises),
        except that a failure stores nothing.

        Raises:
            AlreadyExistsError, ValidationError: as ``append``; then nothing is stored.
        """
        items = list(activities)
        for activity in items:
            check_activity(activity)
        if len(items) <= _SMALL:
            return self._db.run(lambda cur: sum(self._admit(cur, a) for a in items))
        return self._db.run(lambda cur: self._append_bulk(cur, items), retry=True)

    def _append_bulk(self, cur: Cursor, items: list[Activity]) -> int:
        """The one-by-one semantics with set-wise reads, then one COPY (see append_many)."""
        # The ids go over as one JSON array: far cheaper to send than a text[] of 100k items.
        ids = json.dumps(sorted({a.id for a in items}))
        cur.execute(
            f"SELECT id, record FROM {self._t}"  # noqa: S608
            " WHERE id IN (SELECT json_array_elements_text(%s::json))",
            (ids,),
        )
        stored_raw = dict(cur.fetchall())
        refunds = [a for a in items if isinstance(a, Refund)]
        purchases: dict[str, Activity | None] = {}
        earlier: dict[str, list[Refund]] = defaultdict(list)
        if refunds:
            wanted = sorted({r.purchase_id for r in refunds})
            # The lock, in id order so that two bulk appends cannot deadlock.
            cur.execute(
                f"SELECT id, type, record FROM {self._t} WHERE id = ANY(%s) ORDER BY id FOR UPDATE",  # noqa: S608
                (wanted,),
            )
            for pid, kind, record in cur.fetchall():
                purchases[pid] = _load(record) if kind == Purchase.type_name else None
            cur.execute(
                f"SELECT purchase_id, record FROM {self._t} WHERE purchase_id = ANY(%s)",  # noqa: S608
                (wanted,),
            )
            for pid, record in cur.fetchall():
                earlier[pid].append(_load(record))
        staged = plan_append(items, stored_raw, purchases, earlier, _load)
        if staged:
            # Binary COPY with declared types (json's binary form is its text).
            with cur.copy(
                f"COPY {self._t} ({_ACTIVITY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "text", "text", "timestamptz", "text", "text"])
                for activity in staged:
                    copy.write_row(_activity_row(activity))
        return len(staged)

    def rewrite(self, activities: Iterable[Activity]) -> int:
        """Replace stored activities by re-pointed or redacted versions, in one transaction.

        See :class:`~crmkit.domain.RewritableActivityRepository`; returns how many changed.

        Raises:
            NotFoundError: an id is not stored; nothing was written.
            ValidationError: a change outside what may change; nothing was written.
        """
        items = list(activities)
        for activity in items:
            check_activity(activity)

        def work(cur: Cursor) -> int:
            touched: list[Activity] = []
            for activity in items:
                cur.execute(
                    f"SELECT record FROM {self._t} WHERE id = %s FOR UPDATE",  # noqa: S608
                    (activity.id,),
                )
                row = cur.fetchone()
                if row is None:
                    raise NotFoundError("activity", activity.id)
                stored = _load(row[0])
                check_rewrite(stored, activity)
                if stored == activity:
                    continue
                cur.execute(
                    f"UPDATE {self._t} SET customer_id = %s, record = %s WHERE id = %s",  # noqa: S608
                    (activity.customer_id, _dump(activity), activity.id),
                )
                touched.append(activity)
            for activity in touched:
                if isinstance(activity, Refund):
                    cur.execute(
                        f"SELECT record FROM {self._t} WHERE id = %s",  # noqa: S608
                        (activity.purchase_id,),
                    )
                    row = cur.fetchone()
                    check_refund_owner(None if row is None else _load(row[0]), activity)
                elif isinstance(activity, Purchase):
                    cur.execute(
                        f"SELECT record FROM {self._t} WHERE purchase_id = %s",  # noqa: S608
                        (activity.id,),
                    )
                    for r in cur.fetchall():
                        check_refund_owner(activity, _load(r[0]))
            return len(touched)

        return self._db.run(work)

    def get(self, activity_id: str) -> Activity:
        """Return the stored activity.

        Raises:
            NotFoundError: no activity has this id.
        """
        rows = (
            self._db.query(f"SELECT record FROM {self._t} WHERE id = %s", (activity_id,))  # noqa: S608
            if _is_text(activity_id)
            else []
        )
        if not rows:
            raise NotFoundError("activity", activity_id)
        found: Activity = _load(rows[0][0])
        return found

    def for_customer(
        self,
        customer_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Activity]:
        """Return a customer's activities with ``start <= occurred_at < end``, by time then id."""
        start, end = check_window(start, end)
        if not _is_text(customer_id):
            return []
        where = ["customer_id = %s"]
        params: list[object] = [customer_id]
        if start is not None:
            where.append("occurred_at >= %s")
            params.append(start)
        if end is not None:
            where.append("occurred_at < %s")
            params.append(end)
        rows = self._db.query(
            f"SELECT record FROM {self._t} WHERE {' AND '.join(where)}"  # noqa: S608
            " ORDER BY occurred_at, id",
            params,
        )
        return [_load(r[0]) for r in rows]

    def naming(self, customer_id: str) -> list[Activity]:
        """Return the purchases with *customer_id* as guest and the referrals that referred her.

        Ordered by ``occurred_at``, then id (a scan of the records).
        """
        if not _is_text(customer_id):
            return []
        rows = self._db.query(
            f"SELECT record FROM {self._t}"  # noqa: S608
            " WHERE (type = 'purchase' AND EXISTS (SELECT 1 FROM"
            " json_array_elements_text(record->'guests') AS g(id) WHERE g.id = %s))"
            " OR (type = 'referral' AND record->>'referred_id' = %s)"
            " ORDER BY occurred_at, id",
            (customer_id, customer_id),
        )
        return [_load(r[0]) for r in rows]

    def iter_batches(self, *, batch_size: int = 10_000) -> Iterator[list[Activity]]:
        """Yield every activity in batches of at most *batch_size*, ordered by time then id.

        Keyset pagination on ``(occurred_at, id)``: one query per batch.
        """
        limit = check_batch_size(batch_size)
        return self._iter_batches(limit)

    def _iter_batches(self, limit: int) -> Iterator[list[Activity]]:
        select = f"SELECT occurred_at, id, record FROM {self._t}"  # noqa: S608
        rows = self._db.query(f"{select} ORDER BY occurred_at, id LIMIT %s", (limit,))
        while rows:
            yield [_load(r[2]) for r in rows]
            if len(rows) < limit:
                return
            last = rows[-1]
            rows = self._db.query(
                f"{select} WHERE (occurred_at, id) > (%s, %s) ORDER BY occurred_at, id LIMIT %s",
                (last[0], last[1], limit),
            )


# ---------------------------------------------------------------- the store


class PostgresStore:
    """Customers, contacts and activities in a PostgreSQL schema.

    Opening creates the tables in *schema* (and the schema), or migrates
    older ones; tables written by a newer crmkit are refused with
    :class:`~crmkit.errors.StorageError`. The ledger, coupons and transition
    history join the same schema through :class:`PostgresLedgerRepository`,
    :class:`PostgresCouponRepository` and :class:`PostgresTransitionHistory`.

    Args:
        connection: a connection string (``"postgresql://app@db/crm"``: the
            store opens one connection and closes it in :meth:`close`), an open
            ``psycopg.Connection`` of yours (each operation runs in its own
            ``transaction()`` block: a savepoint when you have a transaction
            open, so crmkit's writes commit or roll back with yours; the store
            never closes it), or a pool with a ``connection()`` context manager
            such as ``psycopg_pool.ConnectionPool``.
        schema: the PostgreSQL schema of crmkit's tables.

    Attributes:
        customers: a :class:`~crmkit.domain.CustomerRepository`.
        contacts: a :class:`~crmkit.domain.ContactRepository`.
        activities: a :class:`~crmkit.domain.RewritableActivityRepository`.

    Raises:
        StorageError: the server cannot be reached, or the tables are newer.
        ValidationError: *schema* is not a plain identifier.
    """

    def __init__(self, connection: object, *, schema: str = "public") -> None:
        self._db = _Database(connection, schema)
        try:
            ensure_part(self._db, "core", CORE_MIGRATIONS)
        except BaseException:
            self._db.close()
            raise
        self.customers = PostgresCustomerRepository(self._db)
        self.contacts = PostgresContactRepository(self._db)
        self.activities = PostgresActivityRepository(self._db)

    @property
    def schema(self) -> str:
        """The schema of crmkit's tables."""
        return self._db.schema

    @property
    def conninfo(self) -> str | None:
        """The connection string the store was opened with (``None`` for a connection or pool)."""
        return self._db.conninfo

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._db.closed

    @property
    def schema_versions(self) -> dict[str, int]:
        """The version of each part of the schema (``{"core": 1, "loyalty": 1, ...}``)."""
        rows = self._db.query("SELECT part, version FROM {s}.crmkit_schema_parts ORDER BY part")
        return {str(p): int(v) for p, v in rows}

    def close(self) -> None:
        """Close the connection if the store opened it; further use raises StorageError."""
        self._db.close()

    def __enter__(self) -> PostgresStore:
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
        return f"PostgresStore(schema={self.schema!r}, {state})"


def utc(value: datetime) -> datetime:
    """A ``timestamptz`` read back (in the session's zone) as UTC."""
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """:func:`utc`, passing ``None`` through."""
    return None if value is None else value.astimezone(UTC)


if TYPE_CHECKING:  # mypy --strict proves the repositories satisfy the Protocols

    def _conforms(
        store: PostgresStore,
    ) -> tuple[
        CustomerRepository, ContactRepository, ActivityRepository, RewritableActivityRepository
    ]:
        return store.customers, store.contacts, store.activities, store.activities
