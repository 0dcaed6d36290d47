"""The points ledger in SQLite: entries (append-only), lots and balances, in one file.

Tables (the ``"loyalty"`` schema part, versioned by
:func:`crmkit.adapters._sqlite.ensure_part`):

* ``crmkit_loyalty_entries``: one row per entry, never updated or deleted
  (triggers refuse ``UPDATE`` and ``DELETE``); ``seq`` is the posting order.
* ``crmkit_loyalty_lots``: what is left of each award (a derived cache).
* ``crmkit_loyalty_balances``: each customer's running balance (a derived cache).

The caches are written in the same ``BEGIN IMMEDIATE`` transaction as the
entries, and the build function of a posting reads them inside that
transaction, so two processes can never both spend the same points.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from crmkit.adapters._sqlite import SQLiteStore, _Database, _is_text, _micros, ensure_part
from crmkit.core import AlreadyExistsError, NotFoundError, StorageError, ValidationError, to_utc
from crmkit.loyalty import (
    AtomicCouponRepository,
    Build,
    Coupon,
    CouponMaker,
    CouponState,
    EntryKind,
    LedgerEntry,
    LedgerRepository,
    Lot,
    check_posting,
)

__all__ = ["LOYALTY_MIGRATIONS", "SQLiteCouponRepository", "SQLiteLedgerRepository"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

#: The loyalty part's migrations: ``LOYALTY_MIGRATIONS[n]`` takes it from version n to n + 1.
LOYALTY_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE crmkit_loyalty_entries (
            seq INTEGER NOT NULL PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            customer_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            points INTEGER NOT NULL,
            at INTEGER NOT NULL,
            source_kind TEXT NOT NULL,
            source_id TEXT NOT NULL,
            rule TEXT NOT NULL,
            period TEXT NOT NULL,
            expires_at INTEGER,
            refers_to TEXT,
            amount TEXT,
            draws TEXT
        )""",
        "CREATE INDEX crmkit_loyalty_entries_customer ON crmkit_loyalty_entries (customer_id, seq)",
        """CREATE INDEX crmkit_loyalty_entries_refers ON crmkit_loyalty_entries (refers_to, seq)
            WHERE refers_to IS NOT NULL""",
        """CREATE TRIGGER crmkit_loyalty_entries_no_update BEFORE UPDATE ON crmkit_loyalty_entries
            BEGIN SELECT RAISE(ABORT, 'the points ledger is append-only'); END""",
        """CREATE TRIGGER crmkit_loyalty_entries_no_delete BEFORE DELETE ON crmkit_loyalty_entries
            BEGIN SELECT RAISE(ABORT, 'the points ledger is append-only'); END""",
        """CREATE TABLE crmkit_loyalty_lots (
            key TEXT NOT NULL PRIMARY KEY,
            customer_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            points INTEGER NOT NULL,
            remaining INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= points),
            expires_at INTEGER
        )""",
        """CREATE INDEX crmkit_loyalty_lots_open ON crmkit_loyalty_lots (customer_id)
            WHERE remaining > 0""",
        """CREATE INDEX crmkit_loyalty_lots_lapse ON crmkit_loyalty_lots (expires_at)
            WHERE remaining > 0 AND expires_at IS NOT NULL""",
        """CREATE TABLE crmkit_loyalty_balances (
            customer_id TEXT NOT NULL PRIMARY KEY,
            balance INTEGER NOT NULL
        )""",
    ),
    (
        """CREATE TABLE crmkit_loyalty_coupons (
            code TEXT NOT NULL PRIMARY KEY,
            entry_key TEXT NOT NULL UNIQUE,
            reward_id TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            issued_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            state TEXT NOT NULL,
            redeemed_at INTEGER
        )""",
    ),
)

_ENTRY_COLUMNS: Final = (
    "key, customer_id, kind, points, at, source_kind, source_id, rule, period,"
    " expires_at, refers_to, amount, draws"
)
_LOT_COLUMNS: Final = "key, customer_id, points, remaining, expires_at, seq"


_KIND_TEXT: Final = {kind: kind.value for kind in EntryKind}  # enum .value is slow


def _time(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    try:
        return LedgerEntry(
            customer_id=row[1],
            kind=row[2],
            points=row[3],
            at=_EPOCH + timedelta(microseconds=row[4]),
            source_kind=row[5],
            source_id=row[6],
            rule=row[7],
            period=row[8],
            expires_at=_time(row[9]),
            refers_to=row[10],
            amount=None if row[11] is None else Decimal(row[11]),
            draws=() if row[12] is None else json.loads(row[12]),
        )
    except (ValueError, TypeError) as exc:
        raise StorageError(
            "a stored ledger entry cannot be read",
            got=f"{type(exc).__name__}: {exc}",
            hint="the database was changed outside crmkit or by a newer version of it",
        ) from exc


def _lot(row: tuple[Any, ...]) -> Lot:
    return Lot(
        key=row[0],
        customer_id=row[1],
        points=row[2],
        remaining=row[3],
        expires_at=_time(row[4]),
        seq=row[5],
    )


def _row(seq: int, e: LedgerEntry) -> tuple[object, ...]:
    return (
        seq,
        e.key,
        e.customer_id,
        _KIND_TEXT[e.kind],
        e.points,
        _micros(e.at),
        e.source_kind,
        e.source_id,
        e.rule,
        e.period,
        None if e.expires_at is None else _micros(e.expires_at),
        e.refers_to,
        None if e.amount is None else str(e.amount),
        json.dumps(e.draws) if e.draws else None,
    )


_CHUNK: Final = 500  # keys per IN (...) query, below SQLite's variable limit


def _balances(conn: sqlite3.Connection, customer_ids: list[str]) -> dict[str, int]:
    """The stored balances of *customer_ids* (absent: 0), one query per 500 ids."""
    found: dict[str, int] = {}
    for i in range(0, len(customer_ids), _CHUNK):
        chunk = customer_ids[i : i + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT customer_id, balance FROM crmkit_loyalty_balances"  # noqa: S608
            f" WHERE customer_id IN ({marks})",
            chunk,
        ).fetchall()
        found.update((r[0], int(r[1])) for r in rows)
    return found


def _stored_keys(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
    """Which of *keys* are stored: one query per 500 keys, not one per entry."""
    found: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT key FROM crmkit_loyalty_entries WHERE key IN ({marks})",  # noqa: S608
            chunk,
        ).fetchall()
        found.update(r[0] for r in rows)
    return found


def _store_of(store: object) -> tuple[SQLiteStore, bool]:
    """The store to use, and whether the repository opened it (a path: it owns it)."""
    if isinstance(store, SQLiteStore):
        return store, False
    if isinstance(store, (str, os.PathLike)):
        return SQLiteStore(store), True
    raise ValidationError(
        "store", expected="an SQLiteStore or a database path", got=type(store).__name__
    )


class _Reader:
    """The ledger's reads over one connection (inside or outside a transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def balance(self, customer_id: str) -> int:
        if not _is_text(customer_id):
            return 0
        row = self._conn.execute(
            "SELECT balance FROM crmkit_loyalty_balances WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def lots(self, customer_id: str) -> list[Lot]:
        if not _is_text(customer_id):
            return []
        rows = self._conn.execute(
            f"SELECT {_LOT_COLUMNS} FROM crmkit_loyalty_lots"  # noqa: S608 (constant columns)
            " WHERE customer_id = ? AND remaining > 0",
            (customer_id,),
        ).fetchall()
        return sorted((_lot(r) for r in rows), key=Lot.order)

    def find(self, key: str) -> LedgerEntry | None:
        if not _is_text(key):
            return None
        row = self._conn.execute(
            f"SELECT seq, {_ENTRY_COLUMNS} FROM crmkit_loyalty_entries WHERE key = ?",  # noqa: S608
            (key,),
        ).fetchone()
        return None if row is None else _entry(row[1:])

    def find_lot(self, key: str) -> Lot | None:
        if not _is_text(key):
            return None
        row = self._conn.execute(
            f"SELECT {_LOT_COLUMNS} FROM crmkit_loyalty_lots WHERE key = ?",  # noqa: S608
            (key,),
        ).fetchone()
        return None if row is None else _lot(row)

    def reversals_of(self, key: str) -> list[LedgerEntry]:
        if not _is_text(key):
            return []
        rows = self._conn.execute(
            f"SELECT seq, {_ENTRY_COLUMNS} FROM crmkit_loyalty_entries"  # noqa: S608
            " WHERE refers_to = ? ORDER BY seq",
            (key,),
        ).fetchall()
        return [_entry(r[1:]) for r in rows]


class SQLiteLedgerRepository:
    """A :class:`~crmkit.loyalty.LedgerRepository` in the SQLite file of a :class:`SQLiteStore`.

    Args:
        store: the open store whose file holds the ledger (its tables are
            created or migrated on first use), or a database path: the
            repository then opens a store of its own (as :meth:`open` does),
            closed with :meth:`close`.

    Use :meth:`open` to open a file for the ledger alone (closed with :meth:`close`).

    >>> from datetime import UTC, datetime
    >>> from crmkit.loyalty import Ledger
    >>> with SQLiteStore(":memory:") as store:
    ...     ledger = Ledger(SQLiteLedgerRepository(store))
    ...     _ = ledger.earn("c-1", 40, at=datetime(2025, 1, 1, tzinfo=UTC),
    ...                     source_kind="purchase", source_id="p-1")
    ...     _ = ledger.redeem("c-1", 15, at=datetime(2025, 2, 1, tzinfo=UTC),
    ...                       source_kind="reward", source_id="r-1")
    ...     ledger.balance("c-1")
    25
    """

    def __init__(self, store: SQLiteStore | str | os.PathLike[str]) -> None:
        self._store, self._owned = _store_of(store)
        self._db: _Database = self._store._db
        try:
            ensure_part(self._db, "loyalty", LOYALTY_MIGRATIONS)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, timeout: float = 10.0) -> SQLiteLedgerRepository:
        """Open (or create) a database file for the ledger; :meth:`close` closes it."""
        store = SQLiteStore(path, timeout=timeout)
        try:
            repo = cls(store)
        except BaseException:
            store.close()
            raise
        repo._owned = True
        return repo

    @property
    def path(self) -> str:
        """The database path."""
        return self._store.path

    @property
    def store(self) -> SQLiteStore:
        """The store the repository lives in (share it to redeem in one transaction)."""
        return self._store

    def close(self) -> None:
        """Close the store if this repository opened it (:meth:`open`); otherwise nothing."""
        if self._owned:
            self._store.close()

    def __enter__(self) -> SQLiteLedgerRepository:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._db.query("SELECT count(*) FROM crmkit_loyalty_entries")[0][0])

    def _read(self) -> _Reader:
        return _Reader(self._db._connection())

    # reads run under the store's lock, outside any write transaction (one snapshot each)
    def balance(self, customer_id: str) -> int:
        """The customer's balance (one indexed row; does not scan the ledger)."""
        with self._db.transaction(write=False) as conn:
            return _Reader(conn).balance(customer_id)

    def lots(self, customer_id: str) -> list[Lot]:
        """The customer's lots with points left, in draw order."""
        with self._db.transaction(write=False) as conn:
            return _Reader(conn).lots(customer_id)

    def find(self, key: str) -> LedgerEntry | None:
        """The entry with this idempotency key, or ``None``."""
        with self._db.transaction(write=False) as conn:
            return _Reader(conn).find(key)

    def find_lot(self, key: str) -> Lot | None:
        """The lot opened by the entry with this key, or ``None``."""
        with self._db.transaction(write=False) as conn:
            return _Reader(conn).find_lot(key)

    def reversals_of(self, key: str) -> list[LedgerEntry]:
        """The reversals of the award with this key, in posting order."""
        with self._db.transaction(write=False) as conn:
            return _Reader(conn).reversals_of(key)

    def entries(self, customer_id: str) -> list[LedgerEntry]:
        """Every entry of the customer, in posting order."""
        if not _is_text(customer_id):
            return []
        rows = self._db.query(
            f"SELECT seq, {_ENTRY_COLUMNS} FROM crmkit_loyalty_entries"  # noqa: S608
            " WHERE customer_id = ? ORDER BY seq",
            (customer_id,),
        )
        return [_entry(r[1:]) for r in rows]

    def lapsed_lots(self, as_of: datetime) -> list[Lot]:
        """Lots with points left that expire at or before *as_of*."""
        rows = self._db.query(
            f"SELECT {_LOT_COLUMNS} FROM crmkit_loyalty_lots"  # noqa: S608
            " WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= ?",
            (_micros(to_utc("as_of", as_of)),),
        )
        return sorted((_lot(r) for r in rows), key=lambda lot: (lot.customer_id, *lot.order()))

    def post(self, build: Build) -> list[LedgerEntry]:
        """Run *build* and store its entries in one ``BEGIN IMMEDIATE`` transaction."""
        with self._db.transaction(write=True) as conn:
            return self._post(conn, build)

    def _post(self, conn: sqlite3.Connection, build: Build) -> list[LedgerEntry]:
        """The posting inside the caller's write transaction on *conn*."""
        view = _Reader(conn)
        entries = list(build(view))
        keys = {e.key for e in entries if isinstance(e, LedgerEntry)}
        present = _stored_keys(conn, list(keys))

        def find(key: str) -> LedgerEntry | None:
            # The posting's own keys were looked up in bulk; anything else, one by one.
            return None if key in keys and key not in present else view.find(key)

        decided = check_posting(entries, find, view.find_lot, lambda ids: _balances(conn, ids))
        new = [entry for entry, is_new in decided if is_new]
        if new:
            self._insert(conn, new)
        return [entry for entry, _ in decided]

    @staticmethod
    def _insert(conn: sqlite3.Connection, new: list[LedgerEntry]) -> None:
        top = conn.execute("SELECT coalesce(max(seq), 0) FROM crmkit_loyalty_entries").fetchone()
        first = int(top[0]) + 1
        conn.executemany(
            f"INSERT INTO crmkit_loyalty_entries (seq, {_ENTRY_COLUMNS})"  # noqa: S608
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_row(seq, e) for seq, e in enumerate(new, first)),
        )
        if any(e.opens_lot for e in new):
            # The write lock is held: seqs first..last are the rows just inserted.
            conn.execute(
                "INSERT INTO crmkit_loyalty_lots (key, customer_id, seq, points, remaining,"
                " expires_at) SELECT key, customer_id, seq, points, points, expires_at"
                " FROM crmkit_loyalty_entries WHERE seq BETWEEN ? AND ? AND points > 0",
                (first, first + len(new) - 1),
            )
        draws = [(points, lot_key) for e in new for lot_key, points in e.draws]
        if draws:
            conn.executemany(
                "UPDATE crmkit_loyalty_lots SET remaining = remaining - ? WHERE key = ?", draws
            )
        moves: dict[str, int] = defaultdict(int)
        for e in new:
            moves[e.customer_id] += e.points
        conn.executemany(
            "INSERT INTO crmkit_loyalty_balances (customer_id, balance) VALUES (?, ?)"
            " ON CONFLICT (customer_id) DO UPDATE SET balance = balance + excluded.balance",
            list(moves.items()),
        )


_COUPON_COLUMNS: Final = (
    "code, entry_key, reward_id, customer_id, issued_at, expires_at, state, redeemed_at"
)


def _coupon(row: tuple[Any, ...]) -> Coupon:
    return Coupon(
        code=row[0],
        entry_key=row[1],
        reward_id=row[2],
        customer_id=row[3],
        issued_at=_EPOCH + timedelta(microseconds=row[4]),
        expires_at=_EPOCH + timedelta(microseconds=row[5]),
        state=CouponState(row[6]),
        redeemed_at=_time(row[7]),
    )


class SQLiteCouponRepository:
    """A :class:`~crmkit.loyalty.CouponRepository` in the SQLite file of a :class:`SQLiteStore`.

    >>> from datetime import UTC, datetime
    >>> from crmkit.loyalty import Catalogue, Ledger, Rewards
    >>> with SQLiteStore(":memory:") as store:
    ...     ledger = Ledger(SQLiteLedgerRepository(store))
    ...     _ = ledger.earn("c-1", 40, at=datetime(2025, 1, 1, tzinfo=UTC),
    ...                     source_kind="purchase", source_id="p-1")
    ...     shop = Rewards(ledger, Catalogue.from_dict({"pen": {"name": "A pen", "cost": 30}}),
    ...                    SQLiteCouponRepository(store))
    ...     coupon = shop.redeem("c-1", "pen", at=datetime(2025, 1, 2, tzinfo=UTC), request_id="q")
    ...     shop.use(coupon.code, at=datetime(2025, 1, 3, tzinfo=UTC)).state.value
    'redeemed'
    """

    def __init__(self, store: SQLiteStore | str | os.PathLike[str]) -> None:
        self._store, self._owned = _store_of(store)
        self._db: _Database = self._store._db
        try:
            ensure_part(self._db, "loyalty", LOYALTY_MIGRATIONS)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, timeout: float = 10.0) -> SQLiteCouponRepository:
        """Open (or create) a database file for the coupons alone; :meth:`close` closes it."""
        store = SQLiteStore(path, timeout=timeout)
        try:
            repo = cls(store)
        except BaseException:
            store.close()
            raise
        repo._owned = True
        return repo

    @property
    def path(self) -> str:
        """The database path."""
        return self._store.path

    @property
    def store(self) -> SQLiteStore:
        """The store the repository lives in (share it to redeem in one transaction)."""
        return self._store

    def close(self) -> None:
        """Close the store if this repository opened it (:meth:`open`); otherwise nothing."""
        if self._owned:
            self._store.close()

    def add(self, coupon: Coupon) -> None:
        """Store a new coupon (AlreadyExistsError if its code or entry key is taken)."""
        with self._db.transaction(write=True) as conn:
            taken = conn.execute(
                "SELECT 1 FROM crmkit_loyalty_coupons WHERE code = ? OR entry_key = ?",
                (coupon.code, coupon.entry_key),
            ).fetchone()
            if taken is not None:
                raise AlreadyExistsError("coupon", coupon.code)
            self._insert(conn, coupon)

    def issue(self, coupon: Coupon) -> Coupon:
        """Store *coupon* unless its entry key has one; return the stored one (one transaction)."""
        with self._db.transaction(write=True) as conn:
            return self._issue(conn, coupon)

    def post_and_issue(self, ledger: LedgerRepository, build: Build, make: CouponMaker) -> Coupon:
        """Post the debit and store its coupon in one ``BEGIN IMMEDIATE`` transaction.

        One transaction when *ledger* is a :class:`SQLiteLedgerRepository` of
        the same store; otherwise two idempotent steps.
        """
        if not isinstance(ledger, SQLiteLedgerRepository) or ledger._db is not self._db:
            return self.issue(make(ledger.post(build)[-1]))
        with self._db.transaction(write=True) as conn:
            entry = ledger._post(conn, build)[-1]
            return self._issue(conn, make(entry))

    @staticmethod
    def _issue(conn: sqlite3.Connection, coupon: Coupon) -> Coupon:
        row = conn.execute(
            f"SELECT {_COUPON_COLUMNS} FROM crmkit_loyalty_coupons WHERE entry_key = ?",  # noqa: S608
            (coupon.entry_key,),
        ).fetchone()
        if row is not None:
            return _coupon(row)
        if conn.execute(
            "SELECT 1 FROM crmkit_loyalty_coupons WHERE code = ?", (coupon.code,)
        ).fetchone():
            raise AlreadyExistsError("coupon", coupon.code)
        SQLiteCouponRepository._insert(conn, coupon)
        return coupon

    @staticmethod
    def _insert(conn: sqlite3.Connection, coupon: Coupon) -> None:
        row = (
            coupon.code,
            coupon.entry_key,
            coupon.reward_id,
            coupon.customer_id,
            _micros(coupon.issued_at),
            _micros(coupon.expires_at),
            coupon.state.value,
            None if coupon.redeemed_at is None else _micros(coupon.redeemed_at),
        )
        conn.execute(
            f"INSERT INTO crmkit_loyalty_coupons ({_COUPON_COLUMNS})"  # noqa: S608
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def get(self, code: str) -> Coupon:
        """The coupon with this code (NotFoundError if none)."""
        rows = (
            self._db.query(
                f"SELECT {_COUPON_COLUMNS} FROM crmkit_loyalty_coupons WHERE code = ?",  # noqa: S608
                (code,),
            )
            if _is_text(code)
            else []
        )
        if not rows:
            raise NotFoundError("coupon", code)
        return _coupon(rows[0])

    def for_entry(self, entry_key: str) -> Coupon | None:
        """The coupon paid for by the ledger entry with this key, or ``None``."""
        if not _is_text(entry_key):
            return None
        rows = self._db.query(
            f"SELECT {_COUPON_COLUMNS} FROM crmkit_loyalty_coupons WHERE entry_key = ?",  # noqa: S608
            (entry_key,),
        )
        return _coupon(rows[0]) if rows else None

    def replace(self, coupon: Coupon, *, expected: CouponState) -> bool:
        """Store *coupon* if the stored one's state is *expected* (one atomic UPDATE)."""
        with self._db.transaction(write=True) as conn:
            cur = conn.execute(
                "UPDATE crmkit_loyalty_coupons SET state = ?, redeemed_at = ?"
                " WHERE code = ? AND state = ?",
                (
                    coupon.state.value,
                    None if coupon.redeemed_at is None else _micros(coupon.redeemed_at),
                    coupon.code,
                    expected.value,
                ),
            )
            if cur.rowcount == 1:
                return True
            exists = conn.execute(
                "SELECT 1 FROM crmkit_loyalty_coupons WHERE code = ?", (coupon.code,)
            ).fetchone()
        if exists is None:
            raise NotFoundError("coupon", coupon.code)
        return False


if TYPE_CHECKING:  # mypy --strict proves the repositories satisfy the Protocols

    def _conforms(
        repo: SQLiteLedgerRepository, coupons: SQLiteCouponRepository
    ) -> tuple[LedgerRepository, AtomicCouponRepository]:
        return repo, coupons
