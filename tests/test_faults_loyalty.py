"""Fault tests: a process redeeming and earning on SQLite is killed (SIGKILL) at random moments.

(And one posting bulk awards with ``EarningRules.award_many``: after each kill
the ledger holds whole postings only, and a rerun completes it.)

After every kill the file is reopened and checked: each cached balance equals
the fold of the customer's entries (and the lots agree), no coupon exists
without the debit that paid for it, and no reward debit exists without its
coupon (the debit and the coupon are one transaction). Running the same
operations again (same request ids) then completes them to exactly the result
of an uninterrupted run: same entries, same balances, and a second run changes
nothing, not even a coupon code.

The worker is a fork of the test process (or, when the test process runs
threads, this file run as a script: ``python tests/test_faults_loyalty.py DB
FD``); it performs the operations in order until it is killed or all are done.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import pytest

import crmkit
from crmkit.adapters.sqlite import SQLiteCouponRepository, SQLiteLedgerRepository, SQLiteStore
from crmkit.domain import Purchase
from crmkit.loyalty import (
    Catalogue,
    EarningRules,
    EntryKind,
    InMemoryCouponRepository,
    InMemoryLedgerRepository,
    Ledger,
    Rewards,
)
from crmkit.testing import check_ledger

_T0 = datetime(2025, 1, 1, tzinfo=UTC)
_CUSTOMERS = [f"c-{i}" for i in range(5)]
_OPERATIONS = 400  # more than a worker gets through before its kill (it is killed within 0.3 s)
_KILLS = 12
_CATALOGUE = {"coffee": {"name": "A coffee", "cost": 150}, "cake": {"name": "A cake", "cost": 40}}


def _run(shop: Rewards, first: int) -> None:
    """Operations first..: earn every fourth, redeem the others (each with its own key)."""
    ledger = shop.ledger
    for i in range(first, _OPERATIONS):
        customer = _CUSTOMERS[i % len(_CUSTOMERS)]
        at = _T0 + timedelta(minutes=i)
        if i % 4 == 0:
            ledger.earn(
                customer,
                30 + i % 7,
                at=at,
                source_kind="purchase",
                source_id=f"p-{i}",
                expires_at=at + timedelta(days=400),
            )
        else:
            shop.redeem(customer, "coffee" if i % 3 else "cake", at=at, request_id=f"q-{i}")


def _seed(ledger: Ledger) -> None:
    """Enough points that no redemption of the run can be refused (the outcome is then fixed)."""
    for customer in _CUSTOMERS:
        ledger.earn(customer, 10**6, at=_T0, source_kind="seed", source_id=customer)


def _operate(path: str, first: int, *, announce: TextIO | None = None) -> None:
    """Run operations first.. on the SQLite file at *path* (saying "ready" to *announce*)."""
    with SQLiteStore(path) as store:
        ledger = Ledger(SQLiteLedgerRepository(store))
        shop = Rewards(ledger, Catalogue.from_dict(_CATALOGUE), SQLiteCouponRepository(store))
        if announce is not None:
            announce.write("ready")  # the parent kills after this, inside the loop
            announce.flush()
        _run(shop, first)


_AWARD_RULES = EarningRules.from_dict({"base": {"points_per_unit": 1}, "expires_after_days": 180})
_BUYERS = [f"a-{i}" for i in range(40)]
_CHUNK = 500  # entries per posting of the bulk awards; one entry per purchase


@functools.cache
def _purchases() -> list[Purchase]:
    """Purchases enough that a worker is still awarding them when it is killed."""
    return [
        Purchase(
            id=f"t-{i}",
            customer_id=_BUYERS[i % len(_BUYERS)],
            amount=f"{1 + i % 90}.{i % 100:02d}",
            currency="USD",
            occurred_at=_T0 + timedelta(minutes=i),
        )
        for i in range(40 * _CHUNK)
    ]


def _award_all(path: str, *, announce: TextIO | None = None) -> None:
    """Award every purchase of :func:`_purchases` into the SQLite file at *path*."""
    purchases = _purchases()
    with SQLiteLedgerRepository(path) as repo:
        if announce is not None:
            announce.write("ready")
            announce.flush()
        _AWARD_RULES.award_many(Ledger(repo), purchases, chunk_size=_CHUNK)


def _redeem_all(path: str, *, announce: TextIO | None = None) -> None:
    _operate(path, 0, announce=announce)


_WORKERS: dict[str, Callable[..., None]] = {"redeem": _redeem_all, "awards": _award_all}


def _start(path: Path, work: str = "redeem") -> tuple[int, int, Callable[[], int]]:
    """Start a worker on *path*; return its pid once it is inside its loop, a status fd, and a wait.

    The wait reaps the worker and returns its exit status as ``os.waitpid``
    encodes it.

    The worker is a fork of this process when it has one thread (no second import
    of crmkit: a kill every fraction of a second stays cheap), else a new
    interpreter running this file.
    """
    read, write = os.pipe()
    if threading.active_count() == 1 and hasattr(os, "fork"):
        pid = os.fork()
        if pid == 0:  # the child: work until killed, never return into pytest
            code = 1
            try:
                os.close(read)
                with os.fdopen(write, "w") as ready:
                    _WORKERS[work](str(path), announce=ready)
                code = 0
            finally:
                os._exit(code)
        os.close(write)

        def wait() -> int:
            return os.waitpid(pid, 0)[1]
    else:
        env = dict(os.environ)
        src = str(Path(crmkit.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
        proc = subprocess.Popen(
            [sys.executable, __file__, str(path), str(write), work], env=env, pass_fds=(write,)
        )
        os.close(write)
        pid = proc.pid

        def wait() -> int:  # through the Popen, so that it knows its process is gone
            code = proc.wait()
            return -code if code < 0 else code << 8  # os.waitpid's encoding

    assert os.read(read, 5) == b"ready", "the worker did not start"
    return pid, read, wait


def _state(path: str) -> dict[str, object]:
    """Check the invariants on the file at *path* and return what it holds."""
    with SQLiteStore(path) as store:
        repo = SQLiteLedgerRepository(store)
        coupons = SQLiteCouponRepository(store)
        check_ledger(repo, _CUSTOMERS)  # balances == fold, lots == points minus draws
        entries = [e for c in _CUSTOMERS for e in repo.entries(c)]
        debits = [e for e in entries if e.kind is EntryKind.REDEEM]
        issued = {}
        for debit in debits:
            coupon = coupons.for_entry(debit.key)
            assert coupon is not None, f"a debit without its coupon: {debit.key}"
            assert (coupon.customer_id, coupon.reward_id) == (debit.customer_id, debit.rule)
            issued[debit.source_id] = coupon
        raw = sqlite3.connect(path)
        try:
            rows = raw.execute("SELECT entry_key FROM crmkit_loyalty_coupons").fetchall()
        finally:
            raw.close()
        for (entry_key,) in rows:
            assert repo.find(entry_key) is not None, f"a coupon without its debit: {entry_key}"
        assert len(rows) == len(debits)
        return {
            "entries": sorted((e.key, e.customer_id, e.points, e.draws) for e in entries),
            "balances": [repo.balance(c) for c in _CUSTOMERS],
            "coupons": issued,
        }


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_9_during_redeem_loses_nothing_and_retries_complete(tmp_path: Path) -> None:
    path = tmp_path / "loyalty.sqlite3"
    with SQLiteLedgerRepository(path) as repo:
        _seed(Ledger(repo))
    rng = random.Random(15)
    interrupted = 0
    for _ in range(_KILLS):
        pid, status, wait = _start(path)
        time.sleep(rng.uniform(0.0, 0.25))  # a moment inside the loop: mostly redeems
        os.kill(pid, signal.SIGKILL)
        code = wait()
        os.close(status)
        if os.WIFSIGNALED(code):
            assert os.WTERMSIG(code) == signal.SIGKILL
            interrupted += 1
        else:
            assert os.WEXITSTATUS(code) == 0, "the worker failed"
        _state(str(path))  # reopen: every invariant holds after the kill
    assert interrupted, "no run was killed before it finished (nothing was tested)"

    _operate(str(path), 0)  # the same request ids again: completes the work
    done = _state(str(path))
    _operate(str(path), 0)  # and once more: nothing changes
    assert _state(str(path)) == done

    # The same operations never interrupted (in memory: the contract suites hold the
    # stores to the same results) give exactly the same entries, balances and requests.
    ledger = Ledger(InMemoryLedgerRepository())
    _seed(ledger)
    coupons = InMemoryCouponRepository()
    _run(Rewards(ledger, Catalogue.from_dict(_CATALOGUE), coupons), 0)
    entries = [e for c in _CUSTOMERS for e in ledger.entries(c)]
    assert done["entries"] == sorted((e.key, e.customer_id, e.points, e.draws) for e in entries)
    assert done["balances"] == [ledger.balance(c) for c in _CUSTOMERS]
    assert sorted(done["coupons"]) == sorted(  # type: ignore[call-overload]
        e.source_id for e in entries if e.kind is EntryKind.REDEEM
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_9_during_bulk_awards_leaves_whole_postings_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "awards.sqlite3"
    SQLiteLedgerRepository(path).close()  # the tables exist before the first worker
    _purchases()  # built once, before forking
    rng = random.Random(16)
    interrupted = 0
    for _ in range(8):
        pid, status, wait = _start(path, "awards")
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(pid, signal.SIGKILL)
        code = wait()
        os.close(status)
        if os.WIFSIGNALED(code):
            assert os.WTERMSIG(code) == signal.SIGKILL
            interrupted += 1
        else:
            assert os.WEXITSTATUS(code) == 0, "the worker failed"
        with SQLiteLedgerRepository(path) as repo:
            check_ledger(repo, _BUYERS)  # balances == fold, lots == points minus draws
            assert len(repo) % _CHUNK == 0, "a posting of the bulk awards was stored in part"
    assert interrupted, "no run was killed before it finished (nothing was tested)"

    _award_all(str(path))  # the same purchases again: completes the awards
    expected = Ledger(InMemoryLedgerRepository())
    _AWARD_RULES.award_many(expected, _purchases())
    with SQLiteLedgerRepository(path) as repo:
        check_ledger(repo, _BUYERS)
        assert len(repo) == len(expected.repository) == len(_purchases())
        for customer in _BUYERS:
            assert repo.entries(customer) == expected.entries(customer)
            assert repo.balance(customer) == expected.balance(customer)
            assert [(lot.key, lot.remaining) for lot in repo.lots(customer)] == [
                (lot.key, lot.remaining) for lot in expected.lots(customer)
            ]


if __name__ == "__main__":
    with os.fdopen(int(sys.argv[2]), "w") as _ready:
        _WORKERS[sys.argv[3] if len(sys.argv) > 3 else "redeem"](sys.argv[1], announce=_ready)
