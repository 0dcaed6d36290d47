"""The points ledger and coupons in PostgreSQL (the ``"loyalty"`` part of the schema).

Tables: ``crmkit_loyalty_entries`` (append-only: a trigger refuses ``UPDATE``
and ``DELETE``; ``seq`` is the posting order), ``crmkit_loyalty_lots`` (what
is left of each award, ``CHECK (0 <= remaining <= points)``),
``crmkit_loyalty_balances`` (each customer's running balance) and
``crmkit_loyalty_coupons``. The caches move in the same transaction as the
entries.

**The locking that makes** :meth:`PostgresLedgerRepository.post` **safe.**
Each customer maps to one of 1024 *buckets* (a CRC-32 of the id), and each
bucket to a transaction-level advisory lock (``pg_advisory_xact_lock``):

* the view a build function reads takes the bucket lock of a customer before
  it reads that customer's balance, lots or reversals, and keeps it to the
  commit, so what the build decided on cannot change under it;
* before anything is written, the posting takes the bucket locks of every
  customer it writes for (in bucket order, so two postings cannot deadlock
  on them), and only then looks up stored keys and lots and checks the draws
  (:func:`crmkit.loyalty.check_posting`);
* a unique violation (another posting stored the same key first), a deadlock
  (two builds read customers in opposite orders) or a serialization failure
  rolls the posting back and runs it again, build function included: the
  second run sees what the other one committed.

Earn-only postings read nothing, so bulk awards take only the bucket locks of
their customers. The ``CHECK`` on lots is the last line: an overdraw that got
past the locks would abort the transaction, never be stored.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from crmkit.adapters._postgres import Cursor, PostgresStore, _Database, _is_text, _lock_id
from crmkit.adapters._postgres import ensure_part as _ensure_part
from crmkit.adapters._postgres import utc as _utc
from crmkit.adapters._postgres import utc_or_none as _utc_or_none
from crmkit.core import AlreadyExistsError, NotFoundError, StorageError, to_utc
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

__all__ = ["LOYALTY_MIGRATIONS", "PostgresCouponRepository", "PostgresLedgerRepository"]

#: The loyalty part's migrations (``{s}``: the quoted schema); append, never edit a released one.
LOYALTY_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        "CREATE SEQUENCE {s}.crmkit_loyalty_seq",
        """CREATE TABLE {s}.crmkit_loyalty_entries (
            seq bigint NOT NULL PRIMARY KEY,
            key text COLLATE "C" NOT NULL UNIQUE,
            customer_id text COLLATE "C" NOT NULL,
            kind text NOT NULL,
            points bigint NOT NULL,
            at timestamptz NOT NULL,
            source_kind text NOT NULL,
            source_id text NOT NULL,
            rule text NOT NULL,
            period text NOT NULL,
            expires_at timestamptz,
            refers_to text COLLATE "C",
            amount text,
            draws json
        )""",
        "CREATE INDEX crmkit_loyalty_entries_customer"
        " ON {s}.crmkit_loyalty_entries (customer_id, seq)",
        "CREATE INDEX crmkit_loyalty_entries_refers ON {s}.crmkit_loyalty_entries (refers_to, seq)"
        " WHERE refers_to IS NOT NULL",
        """CREATE FUNCTION {s}.crmkit_loyalty_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the points ledger is append-only';
            END
            $$""",
        """CREATE TRIGGER crmkit_loyalty_entries_append_only
            BEFORE UPDATE OR DELETE ON {s}.crmkit_loyalty_entries
            FOR EACH ROW EXECUTE FUNCTION {s}.crmkit_loyalty_append_only()""",
        """CREATE TABLE {s}.crmkit_loyalty_lots (
            key text COLLATE "C" NOT NULL PRIMARY KEY,
            customer_id text COLLATE "C" NOT NULL,
            seq bigint NOT NULL,
            points bigint NOT NULL,
            remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= points),
            expires_at timestamptz
        )""",
        "CREATE INDEX crmkit_loyalty_lots_open ON {s}.crmkit_loyalty_lots (customer_id)"
        " WHERE remaining > 0",
        "CREATE INDEX crmkit_loyalty_lots_lapse ON {s}.crmkit_loyalty_lots (expires_at)"
        " WHERE remaining > 0 AND expires_at IS NOT NULL",
        """CREATE TABLE {s}.crmkit_loyalty_balances (
            customer_id text COLLATE "C" NOT NULL PRIMARY KEY,
            balance bigint NOT NULL
        )""",
        """CREATE TABLE {s}.crmkit_loyalty_coupons (
            code text COLLATE "C" NOT NULL PRIMARY KEY,
            entry_key text COLLATE "C" NOT NULL UNIQUE,
            reward_id text NOT NULL,
            customer_id text COLLATE "C" NOT NULL,
            issued_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            state text NOT NULL,
            redeemed_at timestamptz
        )""",
    ),
)

_BUCKETS: Final = 1024
_ENTRY_COLUMNS: Final = (
    "key, customer_id, kind, points, at, source_kind, source_id, rule, period,"
    " expires_at, refers_to, amount, draws"
)
_LOT_COLUMNS: Final = "key, customer_id, points, remaining, expires_at, seq"
_ENTRY_TYPES: Final = [
    "int8", "text", "text", "text", "int8", "timestamptz", "text", "text", "text", "text",
    "timestamptz", "text", "text", "text",  # json's binary form is its text
]  # fmt: skip
_LOT_TYPES: Final = ["text", "text", "int8", "int8", "int8", "timestamptz"]
_COPY_FROM: Final = 64  # postings of more new entries than this are written with COPY


_KIND_TEXT: Final = {kind: kind.value for kind in EntryKind}  # enum .value is slow


def _bucket(customer_id: str) -> int:
    return zlib.crc32(customer_id.encode("utf-8", "surrogatepass")) % _BUCKETS


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    try:
        return LedgerEntry(
            customer_id=row[1],
            kind=row[2],
            points=row[3],
            at=_utc(row[4]),
            source_kind=row[5],
            source_id=row[6],
            rule=row[7],
            period=row[8],
            expires_at=_utc_or_none(row[9]),
            refers_to=row[10],
            amount=None if row[11] is None else Decimal(row[11]),
            draws=() if row[12] is None else row[12],
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
        points=int(row[2]),
        remaining=int(row[3]),
        expires_at=_utc_or_none(row[4]),
        seq=int(row[5]),
    )


def _row(seq: int, e: LedgerEntry) -> tuple[object, ...]:
    return (
        seq,
        e.key,
        e.customer_id,
        _KIND_TEXT[e.kind],
        e.points,
        e.at,
        e.source_kind,
        e.source_id,
        e.rule,
        e.period,
        e.expires_at,
        e.refers_to,
        None if e.amount is None else str(e.amount),
        json.dumps(e.draws) if e.draws else None,
    )


class _View:
    """The ledger's reads inside one transaction; locks a customer's bucket before reading it."""

    def __init__(self, cur: Cursor, s: str, lock_space: int, locked: set[int]) -> None:
        self._cur = cur
        self._s = s
        self._space = lock_space
        self.locked = locked

    def lock(self, buckets: list[int]) -> None:
        """Take the advisory locks of *buckets* not held yet, in bucket order."""
        todo = sorted(set(buckets) - self.locked)
        if not todo:
            return
        self._cur.execute(
            "SELECT count(pg_advisory_xact_lock(%s, b))"
            " FROM (SELECT b FROM unnest(%s::int[]) AS b ORDER BY b) AS ordered",
            (self._space, todo),
        )
        self.locked.update(todo)

    def balance(self, customer_id: str) -> int:
        if not _is_text(customer_id):
            return 0
        self.lock([_bucket(customer_id)])
        self._cur.execute(
            f"SELECT balance FROM {self._s}.crmkit_loyalty_balances WHERE customer_id = %s",  # noqa: S608
            (customer_id,),
        )
        row = self._cur.fetchone()
        return 0 if row is None else int(row[0])

    def balances(self, customer_ids: list[str]) -> dict[str, int]:
        """The balances of *customer_ids* (absent: 0), whose buckets the posting holds."""
        self.lock([_bucket(c) for c in customer_ids])
        self._cur.execute(
            f"SELECT customer_id, balance FROM {self._s}.crmkit_loyalty_balances"  # noqa: S608
            " WHERE customer_id = ANY(%s)",
            (customer_ids,),
        )
        return {r[0]: int(r[1]) for r in self._cur.fetchall()}

    def lots(self, customer_id: str) -> list[Lot]:
        if not _is_text(customer_id):
            return []
        self.lock([_bucket(customer_id)])
        self._cur.execute(
            f"SELECT {_LOT_COLUMNS} FROM {self._s}.crmkit_loyalty_lots"  # noqa: S608
            " WHERE customer_id = %s AND remaining > 0",
            (customer_id,),
        )
        return sorted((_lot(r) for r in self._cur.fetchall()), key=Lot.order)

    def find(self, key: str) -> LedgerEntry | None:
        # Entries never change: no lock. A key stored meanwhile by another posting
        # makes this one's insert fail on the unique key, and the posting runs again.
        if not _is_text(key):
            return None
        self._cur.execute(
            f"SELECT seq, {_ENTRY_COLUMNS} FROM {self._s}.crmkit_loyalty_entries WHERE key = %s",  # noqa: S608
            (key,),
        )
        row = self._cur.fetchone()
        return None if row is None else _entry(row[1:])

    def find_lot(self, key: str) -> Lot | None:
        if not _is_text(key):
            return None
        sql = f"SELECT {_LOT_COLUMNS} FROM {self._s}.crmkit_loyalty_lots WHERE key = %s"  # noqa: S608
        self._cur.execute(sql, (key,))
        row = self._cur.fetchone()
        if row is None:
            return None
        bucket = _bucket(row[1])
        if bucket in self.locked:
            return _lot(row)
        self.lock([bucket])  # then read again: the remainder may have moved meanwhile
        self._cur.execute(sql, (key,))
        again = self._cur.fetchone()
        return None if again is None else _lot(again)

    def reversals_of(self, key: str) -> list[LedgerEntry]:
        award = self.find(key)
        if award is None:
            return []
        self.lock([_bucket(award.customer_id)])
        self._cur.execute(
            f"SELECT seq, {_ENTRY_COLUMNS} FROM {self._s}.crmkit_loyalty_entries"  # noqa: S608
            " WHERE refers_to = %s ORDER BY seq",
            (key,),
        )
        return [_entry(r[1:]) for r in self._cur.fetchall()]


class PostgresLedgerRepository:
    """A :class:`~crmkit.loyalty.LedgerRepository` in the schema of a :class:`PostgresStore`.

    Safe under concurrency (processes and threads): see the bucket locks
    described in this module. A build function may run more than once (after
    a deadlock, or when another posting stored one of its keys first), so it
    must only read the view it is handed.

    Args:
        store: the store whose schema holds the ledger (its tables are created
            or migrated on first use).
    """

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._owned = False
        self._db: _Database = store._db
        self._s = self._db.s
        self._space = _lock_id(self._db.schema, "crmkit-loyalty")
        _ensure_part(self._db, "loyalty", LOYALTY_MIGRATIONS)

    @classmethod
    def open(cls, connection: object, *, schema: str = "public") -> PostgresLedgerRepository:
        """Open a store for the ledger alone; :meth:`close` closes it."""
        repo = cls(PostgresStore(connection, schema=schema))
        repo._owned = True
        return repo

    @property
    def store(self) -> PostgresStore:
        """The store the ledger lives in."""
        return self._store

    def close(self) -> None:
        """Close the store if this repository opened it (:meth:`open`); otherwise nothing."""
        if self._owned:
            self._store.close()

    def __enter__(self) -> PostgresLedgerRepository:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._db.query("SELECT count(*) FROM {s}.crmkit_loyalty_entries")[0][0])

    def _read(self, fn: Any) -> Any:
        return self._db.run(lambda cur: fn(_View(cur, self._s, self._space, set())))

    # Plain reads take no locks: one statement is one consistent snapshot.
    def balance(self, customer_id: str) -> int:
        """The customer's balance (one indexed row; does not scan the ledger)."""
        if not _is_text(customer_id):
            return 0
        rows = self._db.query(
            "SELECT balance FROM {s}.crmkit_loyalty_balances WHERE customer_id = %s",
            (customer_id,),
        )
        return int(rows[0][0]) if rows else 0

    def lots(self, customer_id: str) -> list[Lot]:
        """The customer's lots with points left, in draw order."""
        if not _is_text(customer_id):
            return []
        rows = self._db.query(
            f"SELECT {_LOT_COLUMNS} FROM {{s}}.crmkit_loyalty_lots"  # noqa: S608
            " WHERE customer_id = %s AND remaining > 0",
            (customer_id,),
        )
        return sorted((_lot(r) for r in rows), key=Lot.order)

    def find(self, key: str) -> LedgerEntry | None:
        """The entry with this idempotency key, or ``None``."""
        found: LedgerEntry | None = self._read(lambda view: view.find(key))
        return found

    def find_lot(self, key: str) -> Lot | None:
        """The lot opened by the entry with this key, or ``None``."""
        if not _is_text(key):
            return None
        rows = self._db.query(
            f"SELECT {_LOT_COLUMNS} FROM {{s}}.crmkit_loyalty_lots WHERE key = %s",  # noqa: S608
            (key,),
        )
        return _lot(rows[0]) if rows else None

    def reversals_of(self, key: str) -> list[LedgerEntry]:
        """The reversals of the award with this key, in posting order."""
        if not _is_text(key):
            return []
        rows = self._db.query(
            f"SELECT seq, {_ENTRY_COLUMNS} FROM {{s}}.crmkit_loyalty_entries"  # noqa: S608
            " WHERE refers_to = %s ORDER BY seq",
            (key,),
        )
        return [_entry(r[1:]) for r in rows]

    def entries(self, customer_id: str) -> list[LedgerEntry]:
        """Every entry of the customer, in posting order."""
        if not _is_text(customer_id):
            return []
        rows = self._db.query(
            f"SELECT seq, {_ENTRY_COLUMNS} FROM {{s}}.crmkit_loyalty_entries"  # noqa: S608
            " WHERE customer_id = %s ORDER BY seq",
            (customer_id,),
        )
        return [_entry(r[1:]) for r in rows]

    def lapsed_lots(self, as_of: datetime) -> list[Lot]:
        """Lots with points left that expire at or before *as_of*."""
        rows = self._db.query(
            f"SELECT {_LOT_COLUMNS} FROM {{s}}.crmkit_loyalty_lots"  # noqa: S608
            " WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= %s",
            (to_utc("as_of", as_of),),
        )
        return sorted((_lot(r) for r in rows), key=lambda lot: (lot.customer_id, *lot.order()))

    # ------------------------------------------------------------ the write

    def post(self, build: Build) -> list[LedgerEntry]:
        """Run *build* and store its entries in one transaction (see the module's locking)."""
        return self._db.run(lambda cur: self._post(cur, build), retry=True)

    def _post(self, cur: Cursor, build: Build) -> list[LedgerEntry]:
        view = _View(cur, self._s, self._space, set())
        entries = list(build(view))
        valid = [e for e in entries if isinstance(e, LedgerEntry)]
        view.lock([_bucket(c) for c in {e.customer_id for e in valid}])
        # Under the locks: what is stored of the posting's keys, and the lots it draws from.
        keys = sorted({e.key for e in valid}.union(e.refers_to for e in valid if e.refers_to))
        stored: dict[str, LedgerEntry] = {}
        if keys:
            cur.execute(
                f"SELECT seq, {_ENTRY_COLUMNS} FROM {self._s}.crmkit_loyalty_entries"  # noqa: S608
                " WHERE key IN (SELECT json_array_elements_text(%s::json))",
                (json.dumps(keys),),
            )
            stored = {r[1]: _entry(r[1:]) for r in cur.fetchall()}
        lot_keys = sorted({k for e in valid for k, _ in e.draws})
        lots: dict[str, Lot] = {}
        if lot_keys:
            cur.execute(
                f"SELECT {_LOT_COLUMNS} FROM {self._s}.crmkit_loyalty_lots WHERE key = ANY(%s)",  # noqa: S608
                (lot_keys,),
            )
            lots = {r[0]: _lot(r) for r in cur.fetchall()}
            view.lock([_bucket(lot.customer_id) for lot in lots.values()])
        looked_up, drawn = set(keys), set(lot_keys)

        def find(key: str) -> LedgerEntry | None:
            return stored.get(key) if key in looked_up else view.find(key)

        def lot(key: str) -> Lot | None:
            return lots.get(key) if key in drawn else view.find_lot(key)

        decided = check_posting(entries, find, lot, view.balances)
        new = [entry for entry, is_new in decided if is_new]
        if new:
            self._insert(cur, new)
        return [entry for entry, _ in decided]

    def _insert(self, cur: Cursor, new: list[LedgerEntry]) -> None:
        s = self._s
        cur.execute(
            f"SELECT nextval('{s}.crmkit_loyalty_seq') FROM generate_series(1, %s)",  # noqa: S608
            (len(new),),
        )
        seqs = [int(r[0]) for r in cur.fetchall()]
        rows = [_row(seq, e) for seq, e in zip(seqs, new, strict=True)]
        entry_sql = f"{s}.crmkit_loyalty_entries (seq, {_ENTRY_COLUMNS})"
        lot_sql = f"{s}.crmkit_loyalty_lots (key, customer_id, seq, points, remaining, expires_at)"
        if len(rows) > _COPY_FROM:
            # Binary COPY with declared types: psycopg's C dumpers, no text parsing on the server.
            with cur.copy(f"COPY {entry_sql} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_ENTRY_TYPES)
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * 14)
            cur.executemany(f"INSERT INTO {entry_sql} VALUES ({marks})", rows)  # noqa: S608
        lo, hi = min(seqs), max(seqs)
        # Sequence values are unique: when this posting's seqs fill lo..hi, the rows
        # with those seqs are exactly the ones just written, and the server
        # derives the lots and balance moves from them (nothing sent twice).
        contiguous = hi - lo == len(seqs) - 1
        if contiguous:
            cur.execute(
                f"INSERT INTO {lot_sql}"  # noqa: S608
                " SELECT key, customer_id, seq, points, points, expires_at"
                f" FROM {s}.crmkit_loyalty_entries WHERE seq BETWEEN %s AND %s AND points > 0",
                (lo, hi),
            )
        else:  # another posting drew values in between
            lots = [
                (row[1], row[2], row[0], row[4], row[4], row[10])
                for row, e in zip(rows, new, strict=True)
                if e.opens_lot
            ]
            if lots:
                cur.executemany(f"INSERT INTO {lot_sql} VALUES (%s, %s, %s, %s, %s, %s)", lots)  # noqa: S608
        taken: dict[str, int] = defaultdict(int)
        for e in new:
            for lot_key, points in e.draws:
                taken[lot_key] += points
        if taken:
            cur.execute(
                f"UPDATE {s}.crmkit_loyalty_lots AS l SET remaining = l.remaining - d.points"  # noqa: S608
                " FROM unnest(%s::text[], %s::bigint[]) AS d(key, points) WHERE l.key = d.key",
                (list(taken), list(taken.values())),
            )
        balances = f"INSERT INTO {s}.crmkit_loyalty_balances AS b (customer_id, balance)"
        add = " ON CONFLICT (customer_id) DO UPDATE SET balance = b.balance + excluded.balance"
        if contiguous:
            cur.execute(
                f"{balances} SELECT customer_id, sum(points)"  # noqa: S608
                f" FROM {s}.crmkit_loyalty_entries WHERE seq BETWEEN %s AND %s"
                f" GROUP BY customer_id{add}",
                (lo, hi),
            )
            return
        moves: dict[str, int] = defaultdict(int)
        for e in new:
            moves[e.customer_id] += e.points
        cur.execute(
            f"{balances} SELECT * FROM unnest(%s::text[], %s::bigint[]){add}",  # noqa: S608
            (list(moves), list(moves.values())),
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
        issued_at=_utc(row[4]),
        expires_at=_utc(row[5]),
        state=CouponState(row[6]),
        redeemed_at=_utc_or_none(row[7]),
    )


class PostgresCouponRepository:
    """A :class:`~crmkit.loyalty.CouponRepository` in the schema of a :class:`PostgresStore`.

    :meth:`replace` is one ``UPDATE ... WHERE code = %s AND state = %s``: a
    compare-and-set, so a coupon is used once even when two requests race.
    """

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._owned = False
        self._db: _Database = store._db
        _ensure_part(self._db, "loyalty", LOYALTY_MIGRATIONS)

    @classmethod
    def open(cls, connection: object, *, schema: str = "public") -> PostgresCouponRepository:
        """Open a store for the coupons alone; :meth:`close` closes it."""
        repo = cls(PostgresStore(connection, schema=schema))
        repo._owned = True
        return repo

    @property
    def store(self) -> PostgresStore:
        """The store the coupons live in (share it to redeem in one transaction)."""
        return self._store

    def close(self) -> None:
        """Close the store if this repository opened it (:meth:`open`); otherwise nothing."""
        if self._owned:
            self._store.close()

    def add(self, coupon: Coupon) -> None:
        """Store a new coupon (AlreadyExistsError if its code or entry key is taken)."""

        def work(cur: Cursor) -> None:
            if not self._insert(cur, coupon):
                raise AlreadyExistsError("coupon", coupon.code)

        self._db.run(work)

    def issue(self, coupon: Coupon) -> Coupon:
        """Store *coupon* unless its entry key has one; return the stored one (one transaction)."""
        return self._db.run(lambda cur: self._issue(cur, coupon), retry=True)

    def post_and_issue(self, ledger: LedgerRepository, build: Build, make: CouponMaker) -> Coupon:
        """Post the debit and store its coupon in one transaction.

        One transaction when *ledger* is a :class:`PostgresLedgerRepository`
        of the same store; otherwise two idempotent steps.
        """
        if not isinstance(ledger, PostgresLedgerRepository) or ledger._db is not self._db:
            return self.issue(make(ledger.post(build)[-1]))

        def work(cur: Cursor) -> Coupon:
            entry = ledger._post(cur, build)[-1]
            return self._issue(cur, make(entry))

        return self._db.run(work, retry=True)

    def _issue(self, cur: Cursor, coupon: Coupon) -> Coupon:
        if self._insert(cur, coupon):
            return coupon
        cur.execute(
            f"SELECT {_COUPON_COLUMNS} FROM {self._db.s}.crmkit_loyalty_coupons"  # noqa: S608
            " WHERE entry_key = %s",
            (coupon.entry_key,),
        )
        row = cur.fetchone()
        if row is None:  # the code is another entry's coupon
            raise AlreadyExistsError("coupon", coupon.code)
        return _coupon(row)

    def _insert(self, cur: Cursor, coupon: Coupon) -> bool:
        row = (
            coupon.code,
            coupon.entry_key,
            coupon.reward_id,
            coupon.customer_id,
            coupon.issued_at,
            coupon.expires_at,
            coupon.state.value,
            coupon.redeemed_at,
        )
        cur.execute(
            f"INSERT INTO {self._db.s}.crmkit_loyalty_coupons ({_COUPON_COLUMNS})"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            row,
        )
        return bool(cur.rowcount == 1)

    def get(self, code: str) -> Coupon:
        """The coupon with this code (NotFoundError if none)."""
        rows = (
            self._db.query(
                f"SELECT {_COUPON_COLUMNS} FROM {{s}}.crmkit_loyalty_coupons WHERE code = %s",  # noqa: S608
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
            f"SELECT {_COUPON_COLUMNS} FROM {{s}}.crmkit_loyalty_coupons WHERE entry_key = %s",  # noqa: S608
            (entry_key,),
        )
        return _coupon(rows[0]) if rows else None

    def replace(self, coupon: Coupon, *, expected: CouponState) -> bool:
        """Store *coupon* if the stored one's state is *expected* (one atomic UPDATE)."""

        def work(cur: Cursor) -> bool | None:
            cur.execute(
                f"UPDATE {self._db.s}.crmkit_loyalty_coupons SET state = %s, redeemed_at = %s"  # noqa: S608
                " WHERE code = %s AND state = %s",
                (coupon.state.value, coupon.redeemed_at, coupon.code, expected.value),
            )
            if cur.rowcount == 1:
                return True
            cur.execute(
                f"SELECT 1 FROM {self._db.s}.crmkit_loyalty_coupons WHERE code = %s",  # noqa: S608
                (coupon.code,),
            )
            return None if cur.fetchone() is None else False

        done = self._db.run(work)
        if done is None:
            raise NotFoundError("coupon", coupon.code)
        return done


if TYPE_CHECKING:  # mypy --strict proves the repositories satisfy the Protocols

    def _conforms(
        repo: PostgresLedgerRepository, coupons: PostgresCouponRepository
    ) -> tuple[LedgerRepository, AtomicCouponRepository]:
        return repo, coupons
