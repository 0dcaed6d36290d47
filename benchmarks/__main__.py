"""Run every benchmark suite and rewrite benchmarks/RESULTS.md.

Usage: ``python -m benchmarks [--quick] [--only NAME ...]``. ``--quick`` uses
small sizes (a smoke test of the suites); RESULTS.md is only written by a
full run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
from pathlib import Path

from benchmarks._util import Section, machine

SUITES = [
    "bench_scalar",
    "bench_features",
    "bench_compare",
    "bench_segments",
    "bench_lifecycle",
    "bench_loyalty",
    "bench_quality",
    "bench_storage",
    "bench_dask",
    "bench_clv",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes; do not write RESULTS.md")
    parser.add_argument("--only", nargs="*", default=None, help="run only these suites")
    args = parser.parse_args(argv)

    sections: list[Section] = []
    for name in SUITES:
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        for section in module.run(quick=args.quick):
            print(section.markdown(), flush=True)
            sections.append(section)

    if args.quick or args.only:
        print("(quick or partial run: RESULTS.md not written)")
        return 0
    today = dt.datetime.now(dt.UTC).date().isoformat()  # the benchmark report may read the clock
    text = [
        "# Benchmark results",
        "",
        f"Run on {today} by `make bench` on: {machine()}.",
        "",
        "Medians of several runs; the machine has 2 cores and is shared, so the ratio "
        "against the reference measured in the same run is the number to trust.",
        "",
    ]
    text.extend(s.markdown() for s in sections)
    out = Path(__file__).with_name("RESULTS.md")
    out.write_text("\n".join(text))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
