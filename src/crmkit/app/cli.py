"""The ``crmkit`` command line.

Commands: ``demo`` (the showcase), ``check-config FILE`` (every problem of a
configuration at once) and ``score TRANSACTIONS --config FILE --as-of DATE -o OUT``.

Exit codes: 0 success; 1 an unexpected internal error (a bug: please report
it); 2 a usage error or a problem with the input or the configuration (the
message says which); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from crmkit.core import ConfigError, CrmkitError

__all__ = ["main"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER = 2


class _Defaults(argparse.HelpFormatter):
    """Help that shows each option's default (where it has one)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crmkit",
        formatter_class=_Defaults,
        description="crmkit: the domain model and scoring engine of a CRM.",
        epilog="exit codes: 0 success; 1 internal error (a bug); 2 usage error, or a problem "
        "with the input or the configuration; 130 interrupted",
    )
    parser.add_argument("--verbose", action="store_true", help="show more detail on errors")
    parser.add_argument("--version", action="version", version=f"crmkit {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        formatter_class=_Defaults,
        help="the showcase: a synthetic customer base in SQLite, scored end to end, with a report",
        description="Build a seeded, realistic customer base in a SQLite file, read it back "
        "through the repositories, and run the whole job: features, value with explanations, "
        "segments, stages over time, points in a ledger and tiers. Prints tables and writes "
        "a report (one self-contained index.html, the plots embedded) to DIR/report. "
        "With --customers N it also runs the crmkit score job on N synthetic customers "
        "and times each step.",
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=Path("crmkit-demo"),
        help="folder for the SQLite file and the report",
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed")
    demo.add_argument(
        "--customers",
        type=int,
        default=None,
        metavar="N",
        help="also run the crmkit score job on N synthetic customers (e.g. 100000) and "
        "record each step's time in the report (none: the showcase only)",
    )

    check = sub.add_parser(
        "check-config",
        formatter_class=_Defaults,
        help="check a configuration file and report every problem in it",
        description="Load a configuration file (TOML, or JSON by its suffix) and report every "
        "problem at once with the file, the key and the position in the formula. "
        "Exit 0 when it is valid, 2 when it has problems.",
    )
    check.add_argument("file", type=Path, help="the configuration file (.toml or .json)")

    score = sub.add_parser(
        "score",
        formatter_class=_Defaults,
        help="score a file of transactions: features, value, segments, stage, points",
        description="Read transactions (.csv, .tsv, .txt/.dat with whitespace, or Parquet with "
        "the 'parquet' extra; ids are read as text), compute every "
        "customer's features, value, segments, stage and period points with one configuration, "
        "write one row per customer (CSV or Parquet, by the suffix of OUT) and print a summary.",
    )
    score.add_argument(
        "transactions", type=Path, help="the transactions (.csv, .tsv, .txt, .dat or .parquet)"
    )
    score.add_argument(
        "--config",
        type=Path,
        default=None,
        help="the configuration file (none: the presets, no segments, no loyalty)",
    )
    score.add_argument("--as-of", required=True, help="the scoring date, e.g. 2025-01-01")
    score.add_argument(
        "--since", default=None, help="start of the points period (none: 365 days before --as-of)"
    )
    score.add_argument("-o", "--output", type=Path, required=True, help="the output file")
    score.add_argument("--customer", default="customer_id", help="customer id column")
    score.add_argument("--date", default="occurred_at", help="purchase timestamp column")
    score.add_argument("--amount", default="amount", help="purchase amount column")
    score.add_argument("--settlement", default=None, help="settlement method column (optional)")
    score.add_argument(
        "--sep",
        default=None,
        help="separator of a text file: one character, or 'whitespace' (none: by the suffix: "
        ".csv ',', .tsv tab, .txt/.dat whitespace)",
    )
    score.add_argument(
        "--date-format",
        default=None,
        help="strptime format of the date column, e.g. %%Y%%m%%d (none: ISO 8601 text)",
    )
    score.add_argument(
        "--features",
        default=None,
        help="comma-separated feature columns to keep in the output (none: all)",
    )
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("crmkit")
    except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
        return "(not installed)"


def _check_config(path: Path, out: TextIO, err: TextIO) -> int:
    from crmkit.app import Config

    try:
        config = Config.load(path)
    except ConfigError as exc:
        origin = exc.source or str(path)
        n = len(exc.problems)
        for p in exc.problems:
            print(f"{origin}: {p.render()}", file=err)
        print(f"{origin}: {n} problem{'s' if n != 1 else ''}", file=err)
        return EXIT_USER
    print(f"{path}: OK: {config.summary()}", file=out)
    return EXIT_OK


def _progress(total: int) -> Any:
    """A tqdm bar on stderr (quiet off a terminal), or None without tqdm."""
    import importlib

    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except ImportError:  # pragma: no cover - tqdm is the optional 'progress' extra
        return None
    return tqdm(total=total, disable=None, file=sys.stderr, unit="step", leave=False)


def _counted(labels: Any) -> str:
    counts = labels.fillna("").value_counts()
    return ", ".join(f"{str(k) or '(none)'} {v}" for k, v in counts.items())


def _score(args: argparse.Namespace, out: TextIO) -> int:
    from crmkit.adapters.files import read_table, write_table
    from crmkit.app import Config, score_transactions, segment_column
    from crmkit.app._text import table

    config = Config.load(args.config) if args.config is not None else Config()
    transactions = read_table(
        args.transactions,
        sep=args.sep,
        text_columns=[args.customer],
        date_column=args.date,
        date_format=args.date_format,
    )
    steps = 3 + len(config.segments) + (config.earning is not None or config.tiers is not None)
    bar = _progress(steps)

    def step(name: str) -> None:
        if bar is not None:
            bar.set_description(name)
            bar.update(1)

    try:
        result = score_transactions(
            transactions,
            config,
            as_of=args.as_of,
            since=args.since,
            customer=args.customer,
            date=args.date,
            amount=args.amount,
            settlement=args.settlement,
            step=step,
        )
    finally:
        if bar is not None:
            bar.close()
    scores = result.scores
    if args.features is not None:
        keep = [c.strip() for c in args.features.split(",") if c.strip()]
        unknown = [c for c in keep if c not in scores.columns]
        if unknown:
            raise CrmkitError(
                "unknown feature columns in --features",
                expected="names of output columns",
                got=", ".join(unknown),
            )
        derived = [c for c in scores.columns if c == "value" or c.startswith("value_")]
        rest = [c for c in scores.columns if c.startswith("segment_")]
        rest += [c for c in ("stage", "points", "tier") if c in scores.columns]
        scores = scores[list(dict.fromkeys([*keep, *derived, *rest]))]
    write_table(scores.reset_index(), args.output)

    start, end = result.period
    rows: list[tuple[str, object]] = [
        ("customers", len(scores)),
        ("value model", f"{result.model.name} {result.model.version}"),
    ]
    q = scores["value"].quantile([0.25, 0.5, 0.75]).round(1).tolist()
    rows.append(("value quartiles", " / ".join(f"{x:g}" for x in q)))
    for name, rules in config.segments.items():
        if rules.mode == "exclusive":
            rows.append((segment_column(name), _counted(scores[segment_column(name)])))
        else:
            # A multi-label set: one boolean column per segment; a customer may count in several.
            held = {s.name: int(scores[segment_column(name, s.name)].sum()) for s in rules.segments}
            rows.append(
                (f"{segment_column(name)}__*", ", ".join(f"{k} {v}" for k, v in held.items()))
            )
    rows.extend((col, _counted(scores[col])) for col in ("stage", "tier") if col in scores.columns)
    if "points" in scores.columns:
        rows.append((f"points {start.date()} to {end.date()}", f"{int(scores['points'].sum()):,}"))
    print(table(rows, header=["summary", ""]), file=out)
    print(f"wrote {len(scores)} rows to {args.output}", file=out)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    >>> main(["demo", "--help"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-config":
            return _check_config(args.file, sys.stdout, sys.stderr)
        if args.command == "score":
            return _score(args, sys.stdout)
        if args.command == "demo":
            from crmkit.app._demo import run_demo

            run_demo(folder=args.dir, seed=args.seed, out=sys.stdout, customers=args.customers)
        return EXIT_OK
    except (CrmkitError, OSError) as err:
        # Input and file-system problems are the user's to fix: one clear line, no traceback.
        print(f"crmkit: error: {err}", file=sys.stderr)
        if args.verbose:
            import traceback

            traceback.print_exc()
        return EXIT_USER
    except KeyboardInterrupt:
        print("crmkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
