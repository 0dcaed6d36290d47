"""Formulas of the crmkit.expr language, well-typed by construction, and data for them."""

from __future__ import annotations

import keyword
import math
from typing import Any, Final, Literal, NamedTuple

import pandas as pd
from hypothesis import strategies as st

from crmkit.expr import Table
from crmkit.testing.strategies._share import _shared

# ================================================================ formulas
# Formulas of the crmkit.expr language, well-typed by construction, and data
# for them: frames (and the same rows as dicts) full of nulls, zeros,
# infinities, negative and huge numbers, in every column dtype crmkit reads.

_FORMULA_TABLE_NAMES: Final = ("t_rate", "t_label", "t_flag")
_FORMULA_WORDS: Final = ("cash", "prepaid", "on_time", "on_account", "", "Ünï", "李")
_FORMULA_FUNCTIONS1: Final = ("abs", "sqrt", "log", "log10", "log1p", "exp", "floor", "ceil")
_FORMULA_LITERALS: Final = (
    "0", "1", "2", "7", "0.5", "0.1", "2.5", "(-3)", "(-0.5)", "1000", "1e308", "1e-300", "5e-324",
)  # fmt: skip
_FORMULA_EXPONENTS: Final = (
    "0", "1", "2", "3", "0.5", "(-1)", "(-2)", "2.5", "10", "(-0.5)", "1000",
)  # fmt: skip
_FORMULA_NUMBERS: Final = (
    0.0, -0.0, 1.0, -1.0, 2.0, 0.5, -2.5, 3.0, 10.0, 1000.0, 1e308, -1e308, 1e-300, 5e-324,
    math.inf, -math.inf, math.nan, 709.0, 710.0, -745.0,
)  # fmt: skip
_KEYWORDS: Final = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)

FormulaType = Literal["number", "bool", "string"]


@_shared
def formula_names() -> st.SearchStrategy[str]:
    """Names a formula can use: identifiers (unicode too), not keywords, not starting with ``__``.

    They never equal the names of :func:`formula_tables`.
    """
    first = st.sampled_from("abcxyzABC_éλ李")
    rest = st.text(st.sampled_from("abcxyz_0129éλ李"), max_size=8)
    return st.builds(lambda a, b: a + b, first, rest).filter(
        lambda n: (
            n.isidentifier()
            and n not in _KEYWORDS
            and not n.startswith("__")
            and n not in _FORMULA_TABLE_NAMES
        )
    )


@_shared
def formula_schemas(
    *, min_size: int = 1, max_size: int = 5
) -> st.SearchStrategy[dict[str, FormulaType]]:
    """Schemas: distinct names, each ``"number"``, ``"bool"`` or ``"string"`` (mostly numbers)."""
    kinds: list[FormulaType] = ["number", "number", "number", "bool", "string"]
    return st.dictionaries(
        formula_names(), st.sampled_from(kinds), min_size=min_size, max_size=max_size
    )


@st.composite
def formula_tables(draw: st.DrawFn) -> dict[str, Table]:
    """Tables for generated formulas, with and without defaults and with null values.

    ``t_rate``: strings -> numbers; ``t_label``: strings -> strings;
    ``t_flag``: numbers (small whole numbers) -> bools.
    """
    words = list(_FORMULA_WORDS)
    some_words = st.lists(st.sampled_from(words), min_size=1, max_size=len(words), unique=True)
    numbers = st.none() | st.sampled_from(_FORMULA_NUMBERS[:14])
    strings = st.none() | st.sampled_from(words)
    bools = st.none() | st.booleans()

    def table(keys: list[Any], values: st.SearchStrategy[Any]) -> Table:
        entries = {k: draw(values) for k in keys}
        default = draw(values) if draw(st.booleans()) else None
        if all(v is None for v in entries.values()) and default is None:
            default = draw(values.filter(lambda v: v is not None))
        return Table(entries, default=default)

    number_keys = draw(st.lists(st.integers(-2, 4), min_size=1, max_size=5, unique=True))
    return {
        "t_rate": table(draw(some_words), numbers),
        "t_label": table(draw(some_words), strings),
        "t_flag": table([float(k) for k in number_keys], bools),
    }


class _FormulaContext(NamedTuple):
    names: dict[str, list[str]]  # type -> names of that type
    tables: bool


def _formula_leaf(draw: st.DrawFn, ctx: _FormulaContext, kind: str) -> str:
    names = ctx.names.get(kind, [])
    if names and draw(st.integers(0, 3)) > 0:
        return draw(st.sampled_from(names))
    if kind == "number":
        return draw(st.sampled_from(_FORMULA_LITERALS))
    if kind == "bool":
        return draw(st.sampled_from(["True", "False"]))
    return repr(draw(st.sampled_from((*_FORMULA_WORDS, "other"))))


def _formula_key(key: str) -> str:
    # A literal key that is not in the table is an error when the formula is
    # built; generated keys are wrapped so that they are never plain literals.
    return f"coalesce({key}, {key})" if key.startswith("('") else key


def _formula_expression(draw: st.DrawFn, ctx: _FormulaContext, kind: str, depth: int) -> str:
    if depth <= 0 or draw(st.integers(0, 4)) == 0:
        return _formula_leaf(draw, ctx, kind)

    def sub(k: str) -> str:
        return f"({_formula_expression(draw, ctx, k, depth - 1)})"

    def any_kind() -> str:
        return draw(st.sampled_from(["number", "bool", "string"]))

    if kind == "number":
        choice = draw(st.integers(0, 10 if ctx.tables else 9))
        if choice == 0:
            return f"-{sub('number')}"
        if choice == 1:
            op = draw(st.sampled_from(["+", "-", "*", "/", "%"]))
            return f"{sub('number')} {op} {sub('number')}"
        if choice == 2:
            numbers = ctx.names.get("number", [])
            form = draw(st.integers(0, 2 if numbers else 1))
            if form == 0:
                exponent = draw(st.sampled_from(_FORMULA_EXPONENTS))
            elif form == 1:
                exponent = f"clip({sub('number')}, -20, 20)"  # not folded: within the limit
            else:
                exponent = draw(st.sampled_from(numbers))
            return f"{sub('number')} ** ({exponent})"
        if choice == 3:
            fn = draw(st.sampled_from(_FORMULA_FUNCTIONS1))
            return f"{fn}({sub('number')})"
        if choice == 4:
            if draw(st.booleans()):
                return f"round({sub('number')})"
            return f"round({sub('number')}, {draw(st.integers(-3, 3))})"
        if choice == 5:
            fn = draw(st.sampled_from(["min", "max"]))
            args = [sub("number") for _ in range(draw(st.integers(2, 3)))]
            return f"{fn}({', '.join(args)})"
        if choice == 6:
            return f"clip({sub('number')}, {sub('number')}, {sub('number')})"
        if choice == 7:
            args = [sub("number") for _ in range(draw(st.integers(2, 3)))]
            return f"coalesce({', '.join(args)})"
        if choice in (8, 9):
            return f"{sub('number')} if {sub('bool')} else {sub('number')}"
        return f"t_rate[{_formula_key(sub('string'))}]"
    if kind == "bool":
        choice = draw(st.integers(0, 8 if ctx.tables else 7))
        if choice == 0:
            return f"not {sub('bool')}"
        if choice == 1:
            op = draw(st.sampled_from(["and", "or"]))
            return f" {op} ".join(sub("bool") for _ in range(draw(st.integers(2, 3))))
        if choice == 2:
            parts = [sub("number")]
            for _ in range(draw(st.integers(1, 2))):
                parts.append(draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])))
                parts.append(sub("number"))
            return " ".join(parts)
        if choice == 3:
            op = draw(st.sampled_from(["==", "!="]))
            k = draw(st.sampled_from(["string", "bool"]))
            return f"{sub(k)} {op} {sub(k)}"
        if choice == 4:
            return f"is_null({sub(any_kind())})"
        if choice == 5:
            return f"{sub('bool')} if {sub('bool')} else {sub('bool')}"
        if choice == 6:
            return f"coalesce({sub('bool')}, {sub('bool')})"
        if choice == 7:
            return f"{sub('number')} > 0 or {sub('bool')}"
        return f"t_flag[floor({sub('number')})]"
    choice = draw(st.integers(0, 3 if ctx.tables else 1))
    if choice == 0:
        return f"{sub('string')} if {sub('bool')} else {sub('string')}"
    if choice == 1:
        return f"coalesce({sub('string')}, {sub('string')})"
    return f"t_label[{_formula_key(sub('string'))}]"


@st.composite
def formulas(
    draw: st.DrawFn,
    schema: dict[str, FormulaType],
    *,
    tables: bool = False,
    result_type: FormulaType | None = None,
    max_depth: int = 4,
) -> str:
    """Formula texts that are well-typed under *schema* (and the :func:`formula_tables` if *tables*).

    Every construct of the language appears: arithmetic with ``**`` and
    unary minus, chained comparisons, ``and``/``or``/``not``, conditionals,
    every built-in function, lookups, and edge literals (``1e308``,
    ``5e-324``, ``-0.5``...).

    >>> from hypothesis import given
    >>> from crmkit.expr import Formula
    >>> from crmkit.testing import strategies as cks
    >>> @given(cks.formulas({"x": "number", "ok": "bool"}))
    ... def test_builds(text):
    ...     Formula(text, schema={"x": "number", "ok": "bool"})
    >>> test_builds()
    """
    names: dict[str, list[str]] = {}
    for name, kind in schema.items():
        names.setdefault(kind, []).append(name)
    ctx = _FormulaContext(names, tables)
    kinds: list[FormulaType] = ["number", "number", "bool", "string"]
    kind = result_type if result_type is not None else draw(st.sampled_from(kinds))
    return _formula_expression(draw, ctx, kind, max_depth)


@_shared
def formula_values(kind: FormulaType) -> st.SearchStrategy[Any]:
    """Values for a name of type *kind*, ``None`` (null) included; numbers lean to the edges."""
    if kind == "number":
        return st.one_of(
            st.none(),
            st.sampled_from(_FORMULA_NUMBERS),
            st.floats(),
            st.integers(-5, 5).map(float),
        )
    if kind == "bool":
        return st.sampled_from([True, False, None])
    return st.one_of(st.none(), st.sampled_from((*_FORMULA_WORDS, "other")), st.text(max_size=3))


_NUMBER_DTYPES: Final = ("float64", "float64", "Float64", "object")
_BOOL_DTYPES: Final = ("boolean", "object")
_STRING_DTYPES: Final = (None, "object", "string", "category")


def _formula_column(values: list[Any], kind: str, dtype: str | None) -> pd.Series[Any]:
    if kind == "number":
        if dtype == "float64":
            return pd.Series([math.nan if v is None else v for v in values], dtype="float64")
        return pd.Series(values, dtype=dtype)
    if kind == "bool":
        if dtype == "boolean" and None not in values and values:
            return pd.Series(values, dtype="bool")
        return pd.Series(values, dtype=dtype)
    if dtype is None:
        return pd.Series(values, dtype=pd.Series(["a"]).dtype)  # pandas' own string dtype
    return pd.Series(values, dtype=dtype)


@st.composite
def formula_frames(
    draw: st.DrawFn, schema: dict[str, FormulaType], *, min_rows: int = 0, max_rows: int = 12
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A frame with a column per name of *schema*, and the same rows as dicts of plain values.

    Columns come in the dtypes crmkit reads (float64, nullable Float64,
    object, bool, nullable boolean, str/string/category); the row index is
    shuffled integers, so results must align by label. Frames may be empty.
    """
    rows = draw(st.integers(min_rows, max_rows))
    columns: dict[str, pd.Series[Any]] = {}
    dicts: list[dict[str, Any]] = [{} for _ in range(rows)]
    for name, kind in schema.items():
        values = draw(st.lists(formula_values(kind), min_size=rows, max_size=rows))
        dtypes = {"number": _NUMBER_DTYPES, "bool": _BOOL_DTYPES}.get(kind, _STRING_DTYPES)
        columns[name] = _formula_column(values, kind, draw(st.sampled_from(dtypes)))
        for row, value in zip(dicts, values, strict=True):
            row[name] = value
    labels = draw(st.lists(st.integers(-1000, 1000), min_size=rows, max_size=rows, unique=True))
    frame = pd.DataFrame(columns, index=pd.RangeIndex(rows))
    frame.index = pd.Index(labels, dtype="int64")
    return frame, dicts
