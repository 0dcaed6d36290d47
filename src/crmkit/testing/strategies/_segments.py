"""Segments: number frames full of ties and nulls, segment rule sets over them, label pairs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, Literal

import pandas as pd
from hypothesis import strategies as st

from crmkit.testing.strategies._basics import ids, texts
from crmkit.testing.strategies._formulas import formula_names

# ================================================================ segments
# Frames of numbers full of ties and nulls, and segment rule sets over them
# (multi-label or exclusive, with population statistics), for
# crmkit.segmentation (assign vs assign_one, fitted round-trips, movement).

_SEGMENT_NUMBERS: Final = (0.0, 1.0, 1.0, 2.0, 2.5, -1.0, 10.0, 1e6, math.nan, math.nan, math.inf)
_SEGMENT_STATS: Final = ("mean", "median", "std", "min_of", "max_of")
_SEGMENT_RESERVED: Final = frozenset({"segments", "segment"})
_OPERANDS: Final = ("literal", "column", "quantile", "stat", "stat_expr")


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
def _segment_operand(draw: st.DrawFn, columns: Sequence[str], statistics: bool = True) -> str:
    col = draw(st.sampled_from(columns))
    kind = draw(st.sampled_from(_OPERANDS if statistics else _OPERANDS[:2]))
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
def _segment_rule(
    draw: st.DrawFn, columns: Sequence[str], depth: int = 0, statistics: bool = True
) -> str:
    shape = draw(st.sampled_from(("compare", "compare", "and", "or", "not", "null")))
    if depth >= 2 or shape in ("compare", "null"):
        if shape == "null":
            return f"is_null({draw(st.sampled_from(columns))})"
        op = draw(st.sampled_from(("<", "<=", ">", ">=", "==", "!=")))
        column = draw(st.sampled_from(columns))
        return f"{column} {op} {draw(_segment_operand(columns, statistics))}"
    if shape == "not":
        return f"not ({draw(_segment_rule(columns, depth + 1, statistics))})"
    left = draw(_segment_rule(columns, depth + 1, statistics))
    right = draw(_segment_rule(columns, depth + 1, statistics))
    return f"({left}) {shape} ({right})"


@st.composite
def segment_rule_configs(
    draw: st.DrawFn,
    *,
    columns: Sequence[str],
    max_segments: int = 5,
    mode: Literal["multi", "exclusive"] | None = None,
    statistics: bool = True,
) -> dict[str, Any]:
    """A valid segment rule-set configuration (the dict/TOML layout) over number *columns*.

    Multi-label or exclusive (with priorities and a default; *mode* picks
    one); segment names are generated identifiers; rules combine comparisons
    with literals, other columns and population statistics (unless
    *statistics* is false), ``and``/``or``/``not`` and ``is_null``.
    """
    names = draw(
        st.lists(
            formula_names().filter(lambda n: n not in _SEGMENT_RESERVED),
            min_size=1,
            max_size=max_segments + 1,
            unique=True,
        )
    )
    if mode is None:
        mode = draw(st.sampled_from(("multi", "exclusive")))
    head: dict[str, Any] = {"name": "generated", "mode": mode}
    if mode == "exclusive":
        if len(names) == 1:
            names.append(names[0] + "_0")
        head["default"] = names.pop()
    segments: dict[str, Any] = {}
    for name in names:
        spec: dict[str, Any] = {"rule": draw(_segment_rule(columns, statistics=statistics))}
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


@st.composite
def rfm_configs(draw: st.DrawFn, *, fitted: bool | None = None) -> dict[str, Any]:
    """A valid RFM configuration (:class:`crmkit.segmentation.RFM`, the layout of ``to_dict``).

    Column names are arbitrary normalised text; bins from 2 to 10; fitted
    edges (strictly increasing, fewer than ``bins - 1`` only with
    ``allow_fewer_bins``) when *fitted* (drawn if ``None``); sometimes an own
    exclusive segment map over ``r_score``, ``f_score`` and ``m_score``
    (without population statistics), sometimes the default one. Keys with
    their default value are sometimes left out.
    """
    bins = draw(st.integers(2, 10))
    fewer = draw(st.booleans())
    given = {
        "recency": draw(texts(max_size=20)),
        "frequency": draw(texts(max_size=20)),
        "monetary": draw(texts(max_size=20)),
        "bins": bins,
        "ties": draw(st.sampled_from(("low", "high"))),
        "allow_fewer_bins": fewer,
    }
    # Keys with their default value are sometimes left out.
    head = {
        key: value
        for key, value in given.items()
        if draw(st.booleans()) or (key == "bins" and bins != 5) or value is True
    }
    config: dict[str, Any] = {"rfm": head}
    if fitted if fitted is not None else draw(st.booleans()):
        edges = st.floats(-1e9, 1e9, allow_nan=False) | st.integers(-100, 100).map(float)
        low = 1 if fewer else bins - 1
        config["edges"] = {
            part: sorted(draw(st.lists(edges, min_size=low, max_size=bins - 1, unique=True)))
            for part in ("recency", "frequency", "monetary")
        }
    if draw(st.booleans()):
        config["segments"] = draw(
            segment_rule_configs(
                columns=("r_score", "f_score", "m_score"), mode="exclusive", statistics=False
            )
        )
    return config
