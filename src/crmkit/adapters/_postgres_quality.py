"""The merge journal in PostgreSQL: :class:`PostgresMergeJournal` (the ``"quality"`` part)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from crmkit.adapters._journal import load_entry
from crmkit.adapters._postgres import PostgresStore, _Database, _is_text
from crmkit.adapters._postgres import ensure_part as _ensure_part
from crmkit.core import ValidationError

__all__ = ["QUALITY_MIGRATIONS", "PostgresMergeJournal"]

#: The migrations of the ``"quality"`` part (``{s}``: the quoted schema); append only.
QUALITY_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE {s}.crmkit_merge_journal (
            key text COLLATE "C" NOT NULL PRIMARY KEY,
            entry json NOT NULL
        )""",
    ),
)


class PostgresMergeJournal:
    """The merge journal of a :class:`PostgresStore` (a :class:`~crmkit.quality.MergeJournal`).

    Each :meth:`put` is one transaction (a savepoint inside a host's open
    one); pass it to :func:`crmkit.quality.merge` as ``journal=``.
    """

    def __init__(self, store: PostgresStore) -> None:
        if not isinstance(store, PostgresStore):
            raise ValidationError("store", expected="a PostgresStore", got=type(store).__name__)
        self._db: _Database = store._db
        self._t = f"{self._db.s}.crmkit_merge_journal"
        _ensure_part(self._db, "quality", QUALITY_MIGRATIONS)

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under *key*, or ``None``."""
        if not _is_text(key):
            return None
        rows = self._db.query(f"SELECT entry FROM {self._t} WHERE key = %s", (key,))  # noqa: S608
        return None if not rows else load_entry(rows[0][0])

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        """Store *entry* under *key*, replacing what was there."""
        if not _is_text(key):
            raise ValidationError("key", expected="a text key", got=key)
        text = json.dumps(dict(entry), separators=(",", ":"))
        self._db.run(
            lambda cur: cur.execute(
                f"INSERT INTO {self._t} (key, entry) VALUES (%s, %s)"  # noqa: S608
                " ON CONFLICT (key) DO UPDATE SET entry = excluded.entry",
                (key, text),
            ),
            retry=True,
        )

    def remove(self, key: str) -> None:
        """Remove the entry under *key* (nothing if there is none)."""
        if _is_text(key):
            self._db.run(
                lambda cur: cur.execute(f"DELETE FROM {self._t} WHERE key = %s", (key,))  # noqa: S608
            )

    def pending(self) -> list[dict[str, Any]]:
        """Every stored entry, ordered by key (bytewise)."""
        rows = self._db.query(f"SELECT entry FROM {self._t} ORDER BY key")  # noqa: S608
        return [load_entry(r[0]) for r in rows]
