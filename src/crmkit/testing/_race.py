"""Run two processes against one storage at the same moment (the contract suites' race tests)."""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["race"]


def race(
    target: Callable[..., None], opener: Any, rounds: int, *, who: str
) -> list[dict[str, Any]]:
    """Start two "spawn" processes running ``target(opener, n, rounds, barrier, results)``.

    Each worker waits at the shared barrier, so both start together, and puts
    one report dict (with an ``"error"`` key, ``None`` when it succeeded) on the
    results queue. Returns the two reports; fails the test if a worker failed or
    died without a report, naming it (*who*, e.g. ``"writer"``). Workers are
    always joined, killed after a minute if they hang, and closed.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=target, args=(opener, n, rounds, barrier, results)) for n in (0, 1)
    ]
    for worker in workers:
        worker.start()
    try:
        reports = _collect(results, workers, who)
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
                worker.join()
            worker.close()
        results.close()
        results.join_thread()
    failures = [r["error"] for r in reports if r["error"]]
    assert not failures, f"a {who} process failed:\n" + "\n".join(failures)
    return reports


def _collect(results: Any, workers: list[Any], who: str) -> list[dict[str, Any]]:
    """The workers' reports; fails (rather than hangs) if a worker died without one."""
    reports: list[dict[str, Any]] = []
    while len(reports) < len(workers):
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            if not any(w.is_alive() for w in workers):
                try:  # a report may still be in flight from a process that just exited
                    reports.append(results.get(timeout=5))
                except queue.Empty:
                    codes = [w.exitcode for w in workers]
                    pytest.fail(f"a {who} process died without a report (exit codes {codes})")
    return reports
