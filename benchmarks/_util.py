"""Timing and memory helpers shared by the benchmark suites.

Timings are medians of several runs (the machine is shared, so single runs are
noisy); every suite also times a reference implementation in the same run and
reports the ratio, which is more stable than absolute seconds.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timing:
    """Seconds per run for several runs."""

    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def __str__(self) -> str:
        return fmt_seconds(self.median)


def fmt_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.2f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def time_it(fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1) -> Timing:
    """Run *fn* ``warmup`` times, then time ``repeat`` runs."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return Timing(runs)


def alternating(
    fns: dict[Any, Callable[[], Any]], *, repeat: int = 5, warmup: int = 1
) -> dict[Any, Timing]:
    """Time several functions in alternation: *repeat* rounds, each running every one once.

    Drift in the machine's speed (other tenants, memory state) then falls on
    all of them alike, which matters when their times are compared.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    runs: dict[Any, list[float]] = {key: [] for key in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            runs[key].append(time.perf_counter() - t0)
    return {key: Timing(times) for key, times in runs.items()}


def time_per_call(fn: Callable[[], Any], *, number: int, repeat: int = 7) -> Timing:
    """Seconds per call of a fast function, from *repeat* loops of *number* calls."""
    for _ in range(min(number, 1000)):
        fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number)
    return Timing(runs)


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated (numpy and pandas buffers included) while *fn* runs."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import numpy as np
    import pandas as pd

    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}"
    )


@dataclass
class Section:
    """One suite's results: a title, a markdown table and notes."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "---|" * len(self.header))
        lines.extend("| " + " | ".join(r) + " |" for r in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(self.notes)
        return "\n".join(lines) + "\n"
