"""Bulk paths of the stores: CDNOW awards through the ledger, and 1M purchases loaded.

* 69,659 CDNOW purchases awarded with ``EarningRules.award_many`` (one earn
  entry each, expiring after 180 days) in memory, into an SQLite file (WAL)
  and into PostgreSQL (``COPY``); targets: <= 2 s on SQLite and PostgreSQL.
* 1M purchases (100k customers) appended with ``append_many`` in batches of
  100k into an SQLite file and into PostgreSQL; target: <= 10 s. Building the
  ``Purchase`` objects is timed on its own.

The PostgreSQL server is the one in ``CRMKIT_TEST_POSTGRES_URL``, or a
throwaway one started by ``tools/pgserver.py`` (fsync off: a test server).
References: the same number of ``LedgerEntry`` rows posted one posting per
award (the path a host that calls ``award`` per purchase takes), on 2,000
awards and extrapolated.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks._util import Section, fmt_seconds, time_it
from crmkit.adapters.sqlite import SQLiteLedgerRepository, SQLiteStore
from crmkit.domain import Purchase
from crmkit.loyalty import EarningRules, InMemoryLedgerRepository, Ledger

_ROOT = Path(__file__).resolve().parents[1]
_CDNOW = _ROOT.parent / "shared" / "data" / "cdnow" / "CDNOW_master.txt"


@contextmanager
def _postgres() -> Iterator[str | None]:
    url = os.environ.get("CRMKIT_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    spec = importlib.util.spec_from_file_location("_pgserver", _ROOT / "tools" / "pgserver.py")
    if spec is None or spec.loader is None:
        yield None
        return
    pgserver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pgserver)
    try:
        server = pgserver.Server()
    except Exception as exc:
        print(f"bench_storage: no PostgreSQL server: {exc}")
        yield None
        return
    try:
        yield server.url
    finally:
        server.stop()


def _cdnow_purchases(limit: int | None) -> list[Purchase]:
    tx = pd.read_csv(_CDNOW, sep=r"\s+", dtype={"customer_id": str})
    if limit is not None:
        tx = tx.head(limit)
    dates = pd.to_datetime(tx["date"].astype(str), format="%Y%m%d").dt.tz_localize(UTC)
    return [
        Purchase(
            id=f"t-{i}",
            customer_id=c,
            amount=f"{v:.2f}",
            currency="USD",
            occurred_at=d.to_pydatetime(),
        )
        for i, (c, v, d) in enumerate(
            zip(tx["customer_id"], tx["dollar_value"], dates, strict=True)
        )
    ]


def _purchases(n: int, customers: int) -> list[Purchase]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        Purchase(
            id=f"p-{i:07d}",
            customer_id=f"c-{i % customers:06d}",
            amount=f"{1 + i % 500}.{i % 100:02d}",
            currency="EUR",
            occurred_at=t0 + timedelta(seconds=i),
        )
        for i in range(n)
    ]


_RULES = EarningRules.from_dict({"base": {"points_per_unit": 1}, "expires_after_days": 180})


def _award(make: Callable[[], Any], purchases: list[Purchase]) -> Callable[[], None]:
    def run() -> None:
        repo = make()
        try:
            _RULES.award_many(Ledger(repo), purchases)
            assert 0 < len(repo) <= len(purchases)
        finally:
            close = getattr(repo, "close", None)
            if close is not None:
                close()

    return run


def _one_by_one(make: Callable[[], Any], purchases: list[Purchase]) -> Callable[[], None]:
    def run() -> None:
        repo = make()
        try:
            ledger = Ledger(repo)
            for p in purchases:
                _RULES.award(ledger, p)
        finally:
            close = getattr(repo, "close", None)
            if close is not None:
                close()

    return run


def run(*, quick: bool = False) -> list[Section]:
    limit = 5_000 if quick else None
    n, customers, batch = (50_000, 5_000, 10_000) if quick else (1_000_000, 100_000, 100_000)
    repeat = 1 if quick else 3
    sections: list[Section] = []
    with _postgres() as url, tempfile.TemporaryDirectory() as tmp:

        def sqlite_ledger() -> SQLiteLedgerRepository:
            return SQLiteLedgerRepository.open(Path(tmp) / f"{uuid.uuid4().hex}.sqlite3")

        def pg_ledger() -> Any:
            from crmkit.adapters.postgres import PostgresLedgerRepository

            return PostgresLedgerRepository.open(url, schema=f"bench_{uuid.uuid4().hex[:12]}")

        rows: list[list[str]] = []
        if _CDNOW.exists():
            purchases = _cdnow_purchases(limit)
            stores: dict[str, Callable[[], Any]] = {
                "in memory": InMemoryLedgerRepository,
                "SQLite file (WAL)": sqlite_ledger,
            }
            if url is not None:
                stores["PostgreSQL (COPY)"] = pg_ledger
            few = purchases[:2_000]
            for name, make in stores.items():
                bulk = time_it(_award(make, purchases), repeat=repeat, warmup=0)
                single = time_it(_one_by_one(make, few), repeat=1, warmup=0)
                per = single.median / len(few)
                rows.append(
                    [
                        name,
                        str(bulk),
                        f"{fmt_seconds(per)} per award ({fmt_seconds(per * len(purchases))} for all)",
                        f"{per * len(purchases) / bulk.median:.0f}x",
                    ]
                )
            sections.append(
                Section(
                    f"Storage: {len(purchases):,} CDNOW awards (award_many)",
                    ["store", "award_many", "award one by one", "speed-up"],
                    rows,
                    [
                        "Target: <= 2 s on SQLite and on PostgreSQL. Medians of "
                        f"{repeat} runs; each run a fresh ledger."
                    ],
                )
            )
        build = time_it(lambda: _purchases(n, customers), repeat=1, warmup=0)
        many = _purchases(n, customers)
        loads: dict[str, Callable[[], Any]] = {
            "SQLite file (WAL)": lambda: SQLiteStore(Path(tmp) / f"{uuid.uuid4().hex}.sqlite3"),
        }
        if url is not None:
            from crmkit.adapters.postgres import PostgresStore

            loads["PostgreSQL (COPY)"] = lambda: PostgresStore(
                url, schema=f"bench_{uuid.uuid4().hex[:12]}"
            )
        load_rows = [[f"build {n:,} `Purchase` objects (validated)", str(build)]]
        for name, make in loads.items():

            def load(make: Callable[[], Any] = make) -> None:
                with make() as store:
                    for i in range(0, n, batch):
                        store.activities.append_many(many[i : i + batch])
                    assert len(store.activities) == n

            load_rows.append(
                [f"append_many {n:,} purchases, {name}", str(time_it(load, repeat=1, warmup=0))]
            )
        sections.append(
            Section(
                f"Storage: {n:,} purchases loaded (append_many, batches of {batch:,})",
                ["what", "time"],
                load_rows,
                ["Target: <= 10 s per store (the objects already built)."],
            )
        )
    return sections
