"""One definition, two engines: the scalar and the columnar evaluator agree on everything.

Formulas and data are generated (``crmkit.testing.strategies``): nulls,
zeros, infinities, negative and huge numbers, every column dtype crmkit
reads, empty frames. Agreement is exact (NaN-aware), not approximate: both
engines call the same numpy loops for transcendental functions.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.expr import Formula
from crmkit.testing import strategies as cks

_STRING_DTYPE = pd.Series(["a"]).dtype


@st.composite
def cases(
    draw: st.DrawFn, *, tables: bool = True
) -> tuple[Formula, pd.DataFrame, list[dict[str, Any]]]:
    schema = draw(cks.formula_schemas())
    table_map = draw(cks.formula_tables()) if tables else None
    text = draw(cks.formulas(schema, tables=tables))
    formula = Formula(text, schema=schema, tables=table_map)
    frame, rows = draw(cks.formula_frames(schema))
    return formula, frame, rows


def same(scalar: Any, column_value: Any, kind: str) -> bool:
    """Whether a scalar result equals one element of a columnar result (nulls equal nulls)."""
    if kind == "number":
        if scalar is None:
            return bool(np.isnan(column_value))
        return scalar == column_value or (math.isnan(scalar) and math.isnan(column_value))
    if scalar is None:
        return column_value is pd.NA or column_value is None or column_value != column_value
    return bool(scalar == column_value)


def assert_agree(formula: Formula, frame: pd.DataFrame, rows: list[dict[str, Any]]) -> None:
    series = formula.evaluate(frame)
    assert isinstance(series, pd.Series)
    assert series.index.equals(frame.index)
    expected_dtype = {
        "number": np.dtype("float64"),
        "bool": pd.BooleanDtype(),
        "string": _STRING_DTYPE,
    }
    assert series.dtype == expected_dtype[formula.result_type]
    for label, row in zip(frame.index, rows, strict=True):
        scalar = formula.evaluate(row)
        if formula.result_type == "number":
            assert scalar is None or type(scalar) is float
        elif formula.result_type == "bool":
            assert scalar is None or type(scalar) is bool
        else:
            assert scalar is None or type(scalar) is str
        value = series.loc[label]
        assert same(scalar, value, formula.result_type), (formula.text, row, scalar, value)


@given(cases())
def test_scalar_and_columnar_agree_row_by_row(
    case: tuple[Formula, pd.DataFrame, list[dict[str, Any]]],
) -> None:
    assert_agree(*case)


@given(cases(tables=False))
@settings(max_examples=50)
def test_agree_without_tables(case: tuple[Formula, pd.DataFrame, list[dict[str, Any]]]) -> None:
    assert_agree(*case)


@given(cases())
def test_rows_of_a_frame_evaluate_as_mappings(
    case: tuple[Formula, pd.DataFrame, list[dict[str, Any]]],
) -> None:
    formula, frame, _ = case
    series = formula.evaluate(frame)
    for i in range(min(len(frame), 3)):
        row = frame.iloc[i]
        assert same(formula.evaluate(row), series.iloc[i], formula.result_type)


@given(cases())
def test_arrays_agree_with_frames(case: tuple[Formula, pd.DataFrame, list[dict[str, Any]]]) -> None:
    formula, frame, _ = case
    series = formula.evaluate(frame)
    masked = formula.evaluate_arrays(
        {name: frame[name].array for name in frame.columns}, size=len(frame)
    )
    assert len(masked) == len(frame)
    mask = np.ma.getmaskarray(masked)
    assert list(mask) == list(series.isna())
    for i, is_null in enumerate(mask):
        if not is_null:
            assert same(masked.data[i], series.iloc[i], formula.result_type)


@given(cases())
def test_canonical_text_gives_the_same_results(
    case: tuple[Formula, pd.DataFrame, list[dict[str, Any]]],
) -> None:
    formula, frame, _ = case
    again = Formula(formula.canonical, schema=dict(formula.input_types), tables=formula.tables)
    assert again.tree == formula.tree
    pd.testing.assert_series_equal(again.evaluate(frame), formula.evaluate(frame))


@given(cases())
@settings(max_examples=30)
def test_pickled_formulas_evaluate_the_same(
    case: tuple[Formula, pd.DataFrame, list[dict[str, Any]]],
) -> None:
    formula, frame, rows = case
    loaded = pickle.loads(pickle.dumps(formula))
    assert loaded == formula
    assert hash(loaded) == hash(formula)
    pd.testing.assert_series_equal(loaded.evaluate(frame), formula.evaluate(frame))
    for row in rows[:3]:
        assert same(
            loaded.evaluate(row),
            formula.evaluate(row)
            if formula.evaluate(row) is not None
            else (np.nan if formula.result_type == "number" else None),
            formula.result_type,
        )


@given(cases())
@settings(max_examples=30)
def test_evaluation_does_not_modify_its_input(
    case: tuple[Formula, pd.DataFrame, list[dict[str, Any]]],
) -> None:
    formula, frame, _ = case
    before = frame.copy(deep=True)
    result = formula.evaluate(frame)
    pd.testing.assert_frame_equal(frame, before)
    if len(result) and formula.result_type == "number" and formula.names:
        result.iloc[0] = 12345.0  # the result owns its memory
        pd.testing.assert_frame_equal(frame, before)
