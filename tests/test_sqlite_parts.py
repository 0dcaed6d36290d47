import sqlite3
from pathlib import Path

import pytest

from crmkit.adapters._sqlite import SCHEMA_VERSION, ensure_part
from crmkit.adapters.sqlite import SQLiteStore
from crmkit.errors import StorageError

PART_V1 = (("CREATE TABLE crmkit_demo_part (id TEXT PRIMARY KEY)",),)
PART_V2 = (*PART_V1, ("ALTER TABLE crmkit_demo_part ADD COLUMN note TEXT",))


def _columns(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(crmkit_demo_part)")]
    conn.close()
    return cols


def test_a_part_migrates_once_and_upgrades_in_order(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with SQLiteStore(path) as store:
        ensure_part(store._db, "demo", PART_V1)
        ensure_part(store._db, "demo", PART_V1)  # idempotent
    assert _columns(path) == ["id"]
    with SQLiteStore(path) as store:
        ensure_part(store._db, "demo", PART_V2)
    assert _columns(path) == ["id", "note"]


def test_a_newer_part_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with SQLiteStore(path) as store:
        ensure_part(store._db, "demo", PART_V2)
    with SQLiteStore(path) as store, pytest.raises(StorageError, match="newer crmkit"):
        ensure_part(store._db, "demo", PART_V1)


def test_a_version_1_file_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with SQLiteStore(path):
        pass
    with sqlite3.connect(path) as conn:  # make it look like a file written by schema version 1
        conn.execute("DROP TABLE crmkit_schema_parts")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        ensure_part(store._db, "demo", PART_V1)
