"""Plain text tables for the command line."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["table"]


def table(rows: Iterable[Iterable[object]], header: Iterable[str]) -> str:
    """Format rows as a plain text table with aligned columns."""
    head = [str(h) for h in header]
    body = [[str(c) for c in r] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if c[:1].isdigit() or c[:1] == "-" else c.ljust(w)
            for c, w in zip(cells, widths, strict=True)
        ).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])
