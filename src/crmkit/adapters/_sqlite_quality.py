"""SQLite storage of the merge journal: :class:`SQLiteMergeJournal`.

The table is the ``"quality"`` part of the schema (see
:func:`~crmkit.adapters._sqlite.ensure_part`): it is created, and later
migrated, the first time a journal is opened on a store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from crmkit.adapters._journal import load_entry
from crmkit.adapters._sqlite import SQLiteStore, _is_text, ensure_part
from crmkit.core import ValidationError

__all__ = ["MIGRATIONS", "SQLiteMergeJournal"]

#: The migrations of the ``"quality"`` schema part; append, never edit a released one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE crmkit_merge_journal (
            key TEXT NOT NULL PRIMARY KEY,
            entry TEXT NOT NULL
        ) WITHOUT ROWID""",
    ),
)


class SQLiteMergeJournal:
    """The merge journal of a :class:`SQLiteStore` (a :class:`~crmkit.quality.MergeJournal`).

    Each :meth:`put` is its own committed transaction, so what a merge
    recorded survives the process being killed; pass it to
    :func:`crmkit.quality.merge` as ``journal=``.

    >>> from crmkit.adapters.sqlite import SQLiteStore
    >>> with SQLiteStore(":memory:") as store:
    ...     journal = SQLiteMergeJournal(store)
    ...     journal.put("k", {"record": {"survivor_id": "c-1"}})
    ...     journal.get("k"), journal.get("other")
    ({'record': {'survivor_id': 'c-1'}}, None)
    """

    def __init__(self, store: SQLiteStore) -> None:
        if not isinstance(store, SQLiteStore):
            raise ValidationError("store", expected="a SQLiteStore", got=type(store).__name__)
        self._db = store._db
        ensure_part(self._db, "quality", MIGRATIONS)

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under *key*, or ``None``."""
        if not _is_text(key):
            return None
        rows = self._db.query("SELECT entry FROM crmkit_merge_journal WHERE key = ?", (key,))
        return None if not rows else load_entry(rows[0][0])

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        """Store *entry* under *key*, replacing what was there (one committed transaction)."""
        if not _is_text(key):
            raise ValidationError("key", expected="a text key", got=key)
        text = json.dumps(dict(entry), separators=(",", ":"))
        with self._db.transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO crmkit_merge_journal (key, entry) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET entry = excluded.entry",
                (key, text),
            )

    def remove(self, key: str) -> None:
        """Remove the entry under *key* (nothing if there is none)."""
        if not _is_text(key):
            return
        with self._db.transaction(write=True) as conn:
            conn.execute("DELETE FROM crmkit_merge_journal WHERE key = ?", (key,))

    def pending(self) -> list[dict[str, Any]]:
        """Every stored entry, ordered by key."""
        rows = self._db.query("SELECT entry FROM crmkit_merge_journal ORDER BY key")
        return [load_entry(r[0]) for r in rows]
