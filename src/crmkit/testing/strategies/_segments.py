"""Segments: number frames full of ties and nulls, segment rule sets over them, label pairs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import pandas as pd
from hypothesis import strategies as st

from crmkit.testing.strategies._basics import ids
from crmkit.testing.strategies._formulas import formula_names

# ================================================================ segments
# Frames of numbers full of ties and nulls, and segment rule sets over them
# (multi-label or exclusive, with population statistics), for
# crmkit.segmentation (assign vs assign_one, fitted round-trips, movement).

_SEGMENT_NUMBERS: Final = (0.0, 1.0, 1.0, 2.0, 2.5, -1.0, 10.0, 1e6, math.nan, math.nan, math.inf)
_SEGMENT_STATS: Final = ("mean", "median", "std", "min_of", "max_of")
_SEGMENT_RESERVED: Final = frozenset({"segments", "segment"})


@st.composite
def segment_frames(draw: st.DrawFn, *, columns: Sequence[str], max_rows: int = 12) -> pd.DataFrame:
    """A frame with a float column per name in *columns*: many ties, NaN (null), infinities.

    Rows may be zero. The index is unique strings named ``customer_id``.
    """
    rows = draw(st.integers(0, max_rows))
    numbers = st.sampled_from(_SEGMENT_NUMBERS) | st.integers(-3, 3).map(float)
    data = {
        name: pd.Series(draw(st.lists(numbers, min_size=rows, max_size=rows)), dtype="float64")
        for name in columns
    }
    frame = pd.DataFrame(data, columns=list(columns))
    frame.index = pd.Index([f"c{i}" for i in range(rows)], name="customer_id")
    return frame


@st.composite
def _segment_operand(draw: st.DrawFn, columns: Sequence[str]) -> str:
    col = draw(st.sampled_from(columns))
    kind = draw(st.sampled_from(("literal", "column", "quantile", "stat", "stat_expr")))
    if kind == "literal":
        return draw(st.sampled_from(("0", "1", "2", "(-1)", "2.5", "1000")))
    if kind == "column":
        return col
    if kind == "quantile":
        q = draw(st.sampled_from(("0", "0.1", "0.25", "0.5", "0.8", "1")))
        return f"quantile({col}, {q})"
    stat = draw(st.sampled_from(_SEGMENT_STATS))
    return f"{stat}({col} * 2 + 1)" if kind == "stat_expr" else f"{stat}({col})"


@st.composite
def _segment_rule(draw: st.DrawFn, columns: Sequence[str], depth: int = 0) -> str:
    shape = draw(st.sampled_from(("compare", "compare", "and", "or", "not", "null")))
    if depth >= 2 or shape in ("compare", "null"):
        if shape == "null":
            return f"is_null({draw(st.sampled_from(columns))})"
        op = draw(st.sampled_from(("<", "<=", ">", ">=", "==", "!=")))
        return f"{draw(st.sampled_from(columns))} {op} {draw(_segment_operand(columns))}"
    if shape == "not":
        return f"not ({draw(_segment_rule(columns, depth + 1))})"
    left = draw(_segment_rule(columns, depth + 1))
    right = draw(_segment_rule(columns, depth + 1))
    return f"({left}) {shape} ({right})"


@st.composite
def segment_rule_configs(
    draw: st.DrawFn, *, columns: Sequence[str], max_segments: int = 5
) -> dict[str, Any]:
    """A valid segment rule-set configuration (the dict/TOML layout) over number *columns*.

    Multi-label or exclusive (with priorities and a default); segment names
    are generated identifiers; rules combine comparisons with literals,
    other columns and population statistics, ``and``/``or``/``not`` and
    ``is_null``.
    """
    names = draw(
        st.lists(
            formula_names().filter(lambda n: n not in _SEGMENT_RESERVED),
            min_size=1,
            max_size=max_segments + 1,
            unique=True,
        )
    )
    mode = draw(st.sampled_from(("multi", "exclusive")))
    head: dict[str, Any] = {"name": "generated", "mode": mode}
    if mode == "exclusive":
        if len(names) == 1:
            names.append(names[0] + "_0")
        head["default"] = names.pop()
    segments: dict[str, Any] = {}
    for name in names:
        spec: dict[str, Any] = {"rule": draw(_segment_rule(columns))}
        if mode == "exclusive" and draw(st.booleans()):
            spec["priority"] = draw(st.integers(-2, 2))
        segments[name] = spec
    return {
        "rules": head,
        "inputs": dict.fromkeys(columns, "number"),
        "segments": segments,
    }


@st.composite
def segment_labels(
    draw: st.DrawFn, *, labels: Sequence[str] = ("new", "active", "lapsed"), max_rows: int = 12
) -> tuple[pd.Series[Any], pd.Series[Any]]:
    """Two label Series (before, after) over overlapping customers, with some null labels."""
    customers = draw(st.lists(ids(prefix="c-"), max_size=max_rows, unique=True))
    label = st.none() | st.sampled_from(labels)
    before_ids = [c for c in customers if draw(st.booleans())]
    after_ids = [c for c in customers if draw(st.booleans())]
    before = pd.Series(
        [draw(label) for _ in before_ids], index=pd.Index(before_ids, dtype=object), dtype=object
    )
    after = pd.Series(
        [draw(label) for _ in after_ids], index=pd.Index(after_ids, dtype=object), dtype=object
    )
    return before, after
