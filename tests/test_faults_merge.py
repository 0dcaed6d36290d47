"""Fault tests: merge, undo and re-point on SQLite, killed (SIGKILL) at random points, then completed.

A child process (this very module, run as a script) merges every group of a
base, undoes every merge and re-points the points of a few customers, all in
one SQLite file, with a merge journal. The test kills it after a random delay,
several times per run, then reopens the file: the ledger's balances equal the
fold of its entries, no point, activity or amount is lost or doubled, no
purchase names its payer as a guest. Running the same operations again (as
the child would) completes them: afterwards every customer, activity, balance
and lot is what the operations promise.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

import crmkit
from crmkit.adapters.sqlite import SQLiteLedgerRepository, SQLiteMergeJournal, SQLiteStore
from crmkit.domain import Customer, Purchase, Referral, Refund
from crmkit.loyalty import Ledger
from crmkit.quality import (
    LedgerRePointer,
    MergeRecord,
    default_repointers,
    merge,
    merge_key,
    undo_merge,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
MERGE_AT = datetime(2025, 4, 1, tzinfo=UTC)
UNDO_AT = MERGE_AT + timedelta(days=1)
REPOINT_AT = MERGE_AT + timedelta(days=2)
GROUPS = [("co-0", "co-1"), ("c-0", "c-1", "c-2"), ("c-3", "c-4"), ("c-5", "c-6")]
REPOINTS = [("c-10", "c-11"), ("c-12", "c-13")]
COMPANIES = [f"co-{i}" for i in range(4)]
PEOPLE = [f"c-{i}" for i in range(14)]
EVERYONE = COMPANIES + PEOPLE
ROUNDS = 6


def _day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def build(path: Path) -> None:
    """A base where duplicates and third parties reference each other every way a merge must handle."""
    rng = random.Random(15)
    with SQLiteStore(path) as store:
        ledger = Ledger(SQLiteLedgerRepository(store))
        for i, cid in enumerate(COMPANIES):
            store.customers.add(
                Customer(id=cid, name=f"Firm {i}", created_at=_day(i), kind="company")
            )
        for i, cid in enumerate(PEOPLE):
            store.customers.add(
                Customer(
                    id=cid,
                    name=f"Person {i}",
                    created_at=_day(i),
                    company_id=rng.choice([None, *COMPANIES]),
                    email=f"{cid}@example.com" if i % 2 else None,
                )
            )
        log: list[Any] = []
        for i in range(40):
            payer = rng.choice(EVERYONE)
            guests = frozenset(rng.sample(EVERYONE, rng.randint(0, 3))) - {payer}
            p = Purchase(
                id=f"p-{i}",
                customer_id=payer,
                occurred_at=_day(30 + i),
                amount=Decimal(rng.randint(5, 300)),
                currency="EUR",
                guests=guests,
            )
            log.append(p)
            if i % 3 == 0:
                log.append(
                    Refund(
                        id=f"r-{i}",
                        customer_id=payer,
                        occurred_at=_day(31 + i),
                        purchase_id=p.id,
                        amount=Decimal(rng.randint(1, int(p.amount))),
                        currency="EUR",
                    )
                )
        for i in range(12):
            referrer, referred = rng.sample(EVERYONE, 2)
            log.append(
                Referral(
                    id=f"f-{i}",
                    customer_id=referrer,
                    occurred_at=_day(20 + i),
                    referred_id=referred,
                )
            )
        store.activities.append_many(log)
        for i, cid in enumerate(EVERYONE * 2):
            ledger.earn(
                cid,
                rng.randint(1, 500),
                at=_day(40 + i % 30),
                source_kind="purchase",
                source_id=f"e-{i}",
                expires_at=rng.choice([None, _day(500), _day(700)]),
            )


def run(path: str, *, announce: bool = False) -> None:
    """Merge every group, undo every merge, re-point a few ledgers: each step re-runnable."""
    with SQLiteStore(path) as store:
        ledger = Ledger(SQLiteLedgerRepository(store))
        journal = SQLiteMergeJournal(store)
        movers = [*default_repointers(store), LedgerRePointer(ledger)]
        if announce:
            print("ready", flush=True)
        for group in GROUPS:
            merge(list(group), store, at=MERGE_AT, repointers=movers, journal=journal)
        for group in reversed(GROUPS):
            entry = journal.get(merge_key(list(group), MERGE_AT))
            assert entry is not None
            assert entry.get("done")
            record = MergeRecord.from_dict(entry["record"])
            undo_merge(record, store, at=UNDO_AT, repointers=movers)
        for source, target in REPOINTS:
            LedgerRePointer(ledger).repoint([source], target, at=REPOINT_AT)


def snapshot(path: Path) -> dict[str, Any]:
    from crmkit.testing import check_ledger  # not in the child: it imports pytest and hypothesis

    with SQLiteStore(path) as store:
        repo = SQLiteLedgerRepository(store)
        check_ledger(repo, EVERYONE)  # balances equal the fold, lots their draws
        log = [a for batch in store.activities.iter_batches() for a in batch]
        return {
            "customers": {
                c.id: attrs.evolve(c, version=0) for b in store.customers.iter_all() for c in b
            },
            "activities": {a.id: a for a in log},
            "balances": {cid: repo.balance(cid) for cid in EVERYONE},
            "lots": {
                cid: sorted((lot.remaining, str(lot.expires_at)) for lot in repo.lots(cid))
                for cid in EVERYONE
            },
            "spend": sum((a.amount for a in log if isinstance(a, Purchase)), Decimal(0)),
            "refunded": sum((a.amount for a in log if isinstance(a, Refund)), Decimal(0)),
            "guests": sum(len(a.guests) for a in log if isinstance(a, Purchase)),
            "self_guests": [
                a.id for a in log if isinstance(a, Purchase) and a.customer_id in a.guests
            ],
        }


def _child(path: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    src = str(Path(crmkit.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, __file__, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_operations_killed_at_random_points_lose_nothing_and_complete_when_run_again(
    tmp_path: Path,
) -> None:
    base = tmp_path / "base.sqlite3"
    build(base)
    start = snapshot(base)
    total = sum(start["balances"].values())
    moved = {t: sum(start["balances"][c] for c, tt in REPOINTS if tt == t) for _, t in REPOINTS}

    # One run to the end: how long the operations take (to spread the kills over) and what they give.
    full = tmp_path / "full.sqlite3"
    shutil.copy(base, full)
    child = _child(full)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    began = time.monotonic()
    assert child.wait(timeout=120) == 0
    duration = time.monotonic() - began
    child.stdout.close()
    done = snapshot(full)

    expected_balances = dict(start["balances"])
    for source, target in REPOINTS:
        expected_balances[target] += expected_balances[source]
        expected_balances[source] = 0
    assert done["customers"] == start["customers"]
    assert done["activities"] == start["activities"]
    assert done["balances"] == expected_balances
    assert all(moved[t] <= done["balances"][t] for t in moved)

    rng = random.Random()
    killed = 0
    for i in range(ROUNDS):
        path = tmp_path / f"round-{i}.sqlite3"
        shutil.copy(base, path)
        child = _child(path)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, duration))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            killed += 1
        child.wait(timeout=60)
        child.stdout.close()

        after_kill = snapshot(path)  # the ledger checks run inside
        assert sum(after_kill["balances"].values()) == total
        for key in ("spend", "refunded", "guests"):
            assert after_kill[key] == start[key], key
        assert after_kill["activities"].keys() == start["activities"].keys()
        assert after_kill["self_guests"] == []

        run(str(path))  # running the operations again completes whatever was cut short
        resumed = snapshot(path)
        assert resumed["customers"] == done["customers"]
        assert resumed["activities"] == done["activities"]
        assert resumed["balances"] == done["balances"]
        assert resumed["lots"] == done["lots"]
    assert killed >= 1  # the delays fall within the run: most rounds are cut short


if __name__ == "__main__":
    run(sys.argv[1], announce=True)
