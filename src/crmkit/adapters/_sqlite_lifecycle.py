"""SQLite storage of lifecycle transitions: :class:`SQLiteTransitionHistory`.

The table is the ``"lifecycle"`` part of the schema (see
:func:`~crmkit.adapters._sqlite.ensure_part`): it is created, and later
migrated, the first time a history is opened on a store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from crmkit.adapters._sqlite import (
    _MAX_KEY,
    _MIN_KEY,
    SQLiteStore,
    _is_text,
    _micros,
    ensure_part,
)
from crmkit.domain import to_record
from crmkit.errors import AlreadyExistsError, StorageError, ValidationError
from crmkit.lifecycle import (
    LifecycleTransition,
    check_transition,
    check_window,
    plan_transition_rewrite,
)

__all__ = ["MIGRATIONS", "SQLiteTransitionHistory"]

#: The migrations of the ``"lifecycle"`` schema part; append, never edit a released one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE crmkit_lifecycle_transitions (
            customer_id TEXT NOT NULL,
            at INTEGER NOT NULL,
            transition TEXT NOT NULL,
            to_stage TEXT NOT NULL,
            record TEXT NOT NULL,
            PRIMARY KEY (customer_id, at, transition)
        ) WITHOUT ROWID""",
    ),
)


def _dump(t: LifecycleTransition) -> str:
    return json.dumps(to_record(t), separators=(",", ":"))


def _load(text: str) -> LifecycleTransition:
    try:
        fields: dict[str, Any] = json.loads(text)
        if fields.pop("type", None) != LifecycleTransition.type_name:
            raise ValidationError("record.type", expected="lifecycle_transition", got=fields)
        return LifecycleTransition(**fields)
    except (ValueError, TypeError) as exc:
        raise StorageError(
            "a stored lifecycle transition cannot be read",
            got=f"{type(exc).__name__}: {exc}",
            hint="the database was changed outside crmkit or by a newer version of it",
        ) from exc


class SQLiteTransitionHistory:
    """The lifecycle transitions of a :class:`SQLiteStore` (a :class:`~crmkit.lifecycle.TransitionHistory`).

    >>> from datetime import UTC, datetime
    >>> from crmkit.adapters.sqlite import SQLiteStore
    >>> from crmkit.lifecycle import LifecycleTransition
    >>> with SQLiteStore(":memory:") as store:
    ...     history = SQLiteTransitionHistory(store)
    ...     t = LifecycleTransition(customer_id="c-1", from_stage="introduction",
    ...         to_stage="growth", at=datetime(2025, 1, 31, tzinfo=UTC),
    ...         transition="second_purchase", lifecycle="five-stage", version="1")
    ...     history.append(t), history.append(t), history.latest_stages()
    (True, False, {'c-1': 'growth'})
    """

    def __init__(self, store: SQLiteStore) -> None:
        if not isinstance(store, SQLiteStore):
            raise ValidationError("store", expected="a SQLiteStore", got=type(store).__name__)
        self._db = store._db
        ensure_part(self._db, "lifecycle", MIGRATIONS)

    def _admit(self, conn: sqlite3.Connection, t: LifecycleTransition) -> bool:
        key = (t.customer_id, _micros(t.at), t.transition)
        row = conn.execute(
            "SELECT record FROM crmkit_lifecycle_transitions"
            " WHERE customer_id = ? AND at = ? AND transition = ?",
            key,
        ).fetchone()
        if row is not None:
            if _load(row[0]) != t:
                raise AlreadyExistsError(
                    "lifecycle transition",
                    t.key,
                    hint="a different transition is stored under this (customer, at, transition)",
                )
            return False
        conn.execute(
            "INSERT INTO crmkit_lifecycle_transitions"
            " (customer_id, at, transition, to_stage, record) VALUES (?, ?, ?, ?, ?)",
            (*key, t.to_stage, _dump(t)),
        )
        return True

    def append(self, transition: LifecycleTransition) -> bool:
        """Store *transition*; ``False`` if this very transition was stored already.

        Raises:
            AlreadyExistsError: a different transition has the same natural key.
        """
        t = check_transition(transition)
        with self._db.transaction(write=True) as conn:
            return self._admit(conn, t)

    def append_many(self, transitions: Iterable[LifecycleTransition]) -> int:
        """Store several transitions in one transaction, all-or-nothing; return how many were new."""
        items = [check_transition(t) for t in transitions]
        new = 0
        with self._db.transaction(write=True) as conn:
            for t in items:
                new += self._admit(conn, t)
        return new

    def rewrite(self, changes: Iterable[tuple[LifecycleTransition, LifecycleTransition]]) -> int:
        """Re-point stored transitions in one transaction, all-or-nothing; return how many changed.

        See :class:`~crmkit.lifecycle.RewritableTransitionHistory`: only
        ``customer_id`` may change. The old rows are overwritten (``secure_delete``).

        Raises:
            NotFoundError: a stored side is not stored as given; nothing was written.
            ValidationError: a change other than ``customer_id``; nothing was written.
            AlreadyExistsError: a new key is taken; nothing was written.
        """
        items = list(changes)
        with self._db.transaction(write=True) as conn:

            def lookup(key: tuple[str, datetime, str]) -> LifecycleTransition | None:
                row = conn.execute(
                    "SELECT record FROM crmkit_lifecycle_transitions"
                    " WHERE customer_id = ? AND at = ? AND transition = ?",
                    (key[0], _micros(key[1]), key[2]),
                ).fetchone()
                return None if row is None else _load(row[0])

            plan = plan_transition_rewrite(items, lookup)
            for old, _ in plan:
                conn.execute(
                    "DELETE FROM crmkit_lifecycle_transitions"
                    " WHERE customer_id = ? AND at = ? AND transition = ?",
                    (old.customer_id, _micros(old.at), old.transition),
                )
            for _, new in plan:
                conn.execute(
                    "INSERT INTO crmkit_lifecycle_transitions"
                    " (customer_id, at, transition, to_stage, record) VALUES (?, ?, ?, ?, ?)",
                    (new.customer_id, _micros(new.at), new.transition, new.to_stage, _dump(new)),
                )
        return len(plan)

    def for_customer(
        self,
        customer_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[LifecycleTransition]:
        """A customer's transitions with ``start <= at < end``, ordered by ``at`` then name."""
        lo, hi = check_window(start, end)
        if not _is_text(customer_id):
            return []
        rows = self._db.query(
            "SELECT record FROM crmkit_lifecycle_transitions"
            " WHERE customer_id = ? AND at >= ? AND at < ? ORDER BY at, transition",
            (
                customer_id,
                _MIN_KEY if lo is None else _micros(lo),
                _MAX_KEY if hi is None else _micros(hi),
            ),
        )
        return [_load(r[0]) for r in rows]

    def latest_stages(self) -> dict[str, str]:
        """Each customer's ``to_stage`` after their latest transition, by customer id."""
        rows = self._db.query(
            "SELECT customer_id, to_stage FROM crmkit_lifecycle_transitions"
            " ORDER BY customer_id, at, transition"
        )
        latest: dict[str, str] = {}
        for cid, stage in rows:
            latest[str(cid)] = str(stage)
        return latest
