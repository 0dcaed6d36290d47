"""The ``crmkit`` command line.

Exit codes: 0 success; 1 an unexpected internal error (a bug: please report
it); 2 a usage error or a problem with the input (the message says which).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from crmkit.errors import CrmkitError

__all__ = ["main"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crmkit",
        description="crmkit: the domain model and scoring engine of a CRM.",
    )
    parser.add_argument("--verbose", action="store_true", help="show more detail on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="build a realistic customer base in SQLite, read it back and score it",
        description="Build a seeded, realistic customer base in a SQLite file, read it back "
        "through the repositories, and print a summary and the scores.",
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=Path("crmkit-demo"),
        help="folder for the SQLite file (default: ./crmkit-demo)",
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    >>> main(["demo", "--help"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from crmkit._demo import run_demo

            run_demo(folder=args.dir, seed=args.seed, out=sys.stdout)
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
