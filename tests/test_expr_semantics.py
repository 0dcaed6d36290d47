"""The meaning of formulas: arithmetic, nulls, logic, tables, functions, types.

Every case runs on both engines (``both``) and checks they agree, then checks
the documented value.
"""

from __future__ import annotations

import math
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crmkit.expr import Formula, Table

INF = math.inf


def both(text: str, tables: Any = None, schema: Any = None, **values: Any) -> Any:
    """Evaluate on a mapping and on a one-row frame; assert they agree; return the scalar result."""
    formula = Formula(text, tables=tables, schema=schema)
    scalar = formula.evaluate(values)
    frame = pd.DataFrame({k: pd.Series([v], dtype=_dtype(v), index=[7]) for k, v in values.items()})
    if not values:
        frame = pd.DataFrame(index=[7])
    column = formula.evaluate(frame).loc[7]
    if scalar is None:
        assert column is pd.NA or pd.isna(column), (text, values, column)
    else:
        assert scalar == column or (scalar != scalar and column != column), (text, values, column)
    return scalar


def _dtype(value: Any) -> Any:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return object
    if value is None or value is pd.NA or isinstance(value, Decimal):
        return object
    return "float64"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("2 ** 3 ** 2", 512.0),
        ("-2 ** 2", -4.0),
        ("2 ** -1", 0.5),
        ("7 % 3", 1.0),
        ("-7 % 3", 2.0),  # the sign of the divisor, as in Python
        ("7 % -3", -2.0),
        ("7 / 2", 3.5),
        ("+5", 5.0),
        ("1_000", 1000.0),
        ("0x10", 16.0),
        ("3 > 2 > 1", True),
        ("1 < 2 > 3", False),
        ("'a' == 'a'", True),
        ("'a' != 'a'", False),
        ("True == False", False),
        ("not 1 > 2", True),
        ("'yes' if 1 < 2 else 'no'", "yes"),
    ],
)
def test_constant_formulas(text: str, expected: Any) -> None:
    assert both(text) == expected


def test_integers_are_floats() -> None:
    result = both("x + 1", x=2)
    assert result == 3.0
    assert type(result) is float


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("x + 1", {"x": None}),
        ("x * 0", {"x": None}),
        ("x - x", {"x": INF}),  # inf - inf is NaN, and NaN is null
        ("x * 0", {"x": INF}),
        ("1 / x", {"x": 0.0}),  # division by zero is null
        ("1 / x", {"x": -0.0}),
        ("0 / x", {"x": 0.0}),
        ("x % 0", {"x": 5.0}),
        ("x ** 0", {"x": None}),  # even though NaN ** 0 is 1 in IEEE arithmetic
        ("1 ** x", {"x": None}),
        ("x ** -1", {"x": 0.0}),  # 0 ** negative divides by zero
        ("x ** 0.5", {"x": -4.0}),  # no real result
        ("-x", {"x": None}),
        ("x", {"x": float("nan")}),
        ("x", {"x": pd.NA}),
        ("x", {"x": Decimal("NaN")}),
    ],
)
def test_arithmetic_nulls(text: str, values: dict[str, Any]) -> None:
    assert both(text, **values) is None


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("x + 1", {"x": INF}, INF),
        ("x * 2", {"x": 1e308}, INF),  # overflow is infinity, not null
        ("-x", {"x": INF}, -INF),
        ("x ** 2", {"x": 1e200}, INF),
        ("2 ** x", {"x": 5000.0}, INF),
        ("x ** 3", {"x": -1e200}, -INF),
        ("0.5 ** x", {"x": 5000.0}, 0.0),
        ("1 / x", {"x": INF}, 0.0),
        ("x / 1e-308", {"x": 1e10}, INF),
        ("5 % x", {"x": INF}, 5.0),
        ("-5 % x", {"x": INF}, INF),
        ("x ** 0", {"x": INF}, 1.0),
        ("x ** 0", {"x": 0.0}, 1.0),
    ],
)
def test_infinity_is_a_number(text: str, values: dict[str, Any], expected: float) -> None:
    assert both(text, **values) == expected


def test_nan_from_inf_arithmetic_is_null() -> None:
    assert both("x % 2", x=INF) is None
    assert both("x / y", x=INF, y=INF) is None


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("x > 1", {"x": None}),
        ("x == x", {"x": None}),
        ("x != 1", {"x": None}),
        ("s == 'a'", {"s": None}),
        ("b == True", {"b": None}),
        ("1 < x < 3", {"x": None}),
    ],
)
def test_a_comparison_with_null_is_null(text: str, values: dict[str, Any]) -> None:
    schema = {"x": "number", "s": "string", "b": "bool"}
    assert both(text, schema={k: schema[k] for k in values}, **values) is None


def test_chained_comparison_with_a_false_link_is_false_even_with_a_null() -> None:
    assert both("5 < x < 3", x=None) is None  # 5 < null is null, null < 3 is null: null
    assert both("x < 3 < 2", x=None) is False  # null < 3 is null, 3 < 2 is false: false


KLEENE = [
    (True, True, True, True),
    (True, False, False, True),
    (True, None, None, True),
    (False, False, False, False),
    (False, None, False, None),
    (None, None, None, None),
]


@pytest.mark.parametrize(("a", "b", "conj", "disj"), KLEENE)
def test_and_or_are_three_valued(a: Any, b: Any, conj: Any, disj: Any) -> None:
    schema = {"a": "bool", "b": "bool"}
    assert both("a and b", schema=schema, a=a, b=b) is conj
    assert both("b and a", schema=schema, a=a, b=b) is conj
    assert both("a or b", schema=schema, a=a, b=b) is disj
    assert both("b or a", schema=schema, a=a, b=b) is disj


def test_not_null_is_null() -> None:
    assert both("not b", schema={"b": "bool"}, b=None) is None
    assert both("not b", schema={"b": "bool"}, b=False) is True


def test_a_null_condition_selects_the_else_branch() -> None:
    assert both("1 if x > 0 else 2", x=None) == 2.0
    assert both("1 if b else 2", schema={"b": "bool"}, b=None) == 2.0
    assert both("x if x > 0 else 0", x=-3.0) == 0.0


def test_the_branch_not_taken_may_be_anything() -> None:
    assert both("1 / x if x != 0 else 0", x=0.0) == 0.0


def test_coalesce_and_is_null() -> None:
    assert both("coalesce(x, y, 0)", x=None, y=None) == 0.0
    assert both("coalesce(x, y, 0)", x=None, y=2.0) == 2.0
    assert both("coalesce(x, 1)", x=INF) == INF
    assert both("coalesce(x / y, -1)", x=1.0, y=0.0) == -1.0
    assert both("coalesce(s, 'none')", schema={"s": "string"}, s=None) == "none"
    assert both("coalesce(b, False)", schema={"b": "bool"}, b=None) is False
    assert both("coalesce(x, y)", x=None, y=None) is None
    assert both("is_null(x)", x=None) is True
    assert both("is_null(x)", x=0.0) is False
    assert both("is_null(x - x)", x=INF) is True
    assert both("is_null(s)", schema={"s": "string"}, s="") is False
    assert both("is_null(x > 1)", x=None) is True


@pytest.mark.parametrize(
    ("text", "x", "expected"),
    [
        ("abs(x)", -2.5, 2.5),
        ("sqrt(x)", 9.0, 3.0),
        ("sqrt(x)", -1.0, None),
        ("log(x)", 1.0, 0.0),
        ("log(x)", 0.0, None),
        ("log(x)", -1.0, None),
        ("log(x)", INF, INF),
        ("log10(x)", 1000.0, 3.0),
        ("log1p(x)", 0.0, 0.0),
        ("log1p(x)", -1.0, None),
        ("exp(x)", 0.0, 1.0),
        ("exp(x)", 1000.0, INF),
        ("exp(x)", -1000.0, 0.0),
        ("exp(x)", -INF, 0.0),
        ("floor(x)", -2.5, -3.0),
        ("ceil(x)", -2.5, -2.0),
        ("floor(x)", INF, INF),
        ("round(x)", 2.5, 3.0),  # halves away from zero
        ("round(x)", -2.5, -3.0),
        ("round(x)", 0.49999999999999994, 0.0),
        ("round(x, 2)", 1.005, 1.0),  # 1.005 is 1.00499999999999989... in binary
        ("round(x, 1)", 0.25, 0.3),
        ("round(x, -2)", 1250.0, 1300.0),
        ("round(x, 2)", 1e300, 1e300),
        ("round(x)", INF, INF),
        ("min(x, 3, 2)", 5.0, 2.0),
        ("max(x, 3)", 5.0, 5.0),
        ("min(x, 3)", None, None),  # any null argument gives null
        ("clip(x, 0, 10)", 12.0, 10.0),
        ("clip(x, 0, 10)", -INF, 0.0),
        ("clip(x, 0, 10)", None, None),
    ],
)
def test_functions(text: str, x: float | None, expected: Any) -> None:
    result = both(text, x=x)
    if expected is None:
        assert result is None
    else:
        assert result == expected


def test_log_agrees_with_numpy_exactly() -> None:
    xs = np.random.default_rng(0).lognormal(0, 10, 2000)
    formula = Formula("log(x) + exp(x / 1000) + x ** 1.5 + 1.1 ** (x / 100)")
    column = formula.evaluate_arrays({"x": xs})
    scalars = [formula.evaluate({"x": float(x)}) for x in xs]
    assert np.array_equal(
        np.asarray(column.filled(np.nan)), np.array(scalars, dtype=float), equal_nan=True
    )


def test_reversed_and_strided_columns_give_the_same_bits() -> None:
    xs = np.random.default_rng(1).lognormal(0, 10, 1000)
    formula = Formula("log(x) * x ** 0.3")
    forward = formula.evaluate_arrays({"x": xs}).data
    backward = formula.evaluate_arrays({"x": xs[::-1].copy()[::-1]}).data
    strided = formula.evaluate_arrays({"x": np.stack([xs, xs], axis=1)[:, 1]}).data
    assert np.array_equal(forward, backward)
    assert np.array_equal(forward, strided)


# ---------------------------------------------------------------- tables

RATES = Table({"prepaid": 1.2, "cash": 1.0, "on_account": None}, default=0.8)


def test_table_lookups() -> None:
    tables = {"rate": RATES, "plain": {"cash": 2.0}}
    assert both("rate[s]", tables=tables, s="prepaid") == 1.2
    assert both("rate[s]", tables=tables, s="barter") == 0.8  # unknown key: the default
    assert both("rate[s]", tables=tables, s="on_account") is None  # a null value
    assert both("rate[s]", tables=tables, s=None) is None  # a null key
    assert both("plain[s]", tables=tables, s="barter") is None  # no default: null
    assert both("rate['cash'] * 10", tables=tables) == 10.0


def test_number_keyed_and_string_valued_tables() -> None:
    tables = {
        "tier": Table({1: "bronze", 2: "silver", 3: None}, default="none"),
        "flag": {0: False, 1: True},
    }
    assert both("tier[n]", tables=tables, n=2) == "silver"
    assert both("tier[n]", tables=tables, n=2.5) == "none"
    assert both("tier[n]", tables=tables, n=3) is None
    assert both("tier[n]", tables=tables, n=None) is None
    assert both("tier[n]", tables=tables, n=-0.0) == "none"
    assert both("flag[n]", tables=tables, n=1) is True
    assert both("flag[n]", tables=tables, n=7) is None
    assert both("tier[floor(n)] == 'silver'", tables=tables, n=2.9) is True


def test_lookup_column_over_many_rows() -> None:
    f = Formula("rate[s] * x", tables={"rate": RATES})
    frame = pd.DataFrame(
        {
            "s": pd.Series(["cash", "prepaid", None, "barter", "on_account"], dtype="category"),
            "x": [10.0, 10.0, 10.0, 10.0, 10.0],
        }
    )
    assert f.evaluate(frame).tolist()[:2] == [10.0, 12.0]
    assert f.evaluate(frame).isna().tolist() == [False, False, True, False, True]
    assert f.evaluate(frame).iloc[3] == 8.0


# ---------------------------------------------------------------- strings and bools


def test_string_results() -> None:
    f = Formula(
        "'vip' if spend > 100 else coalesce(segment, 'other')",
        schema={"spend": "number", "segment": "string"},
    )
    assert f.result_type == "string"
    assert f.evaluate({"spend": 200, "segment": None}) == "vip"
    assert f.evaluate({"spend": 1, "segment": None}) == "other"
    frame = pd.DataFrame({"spend": [200.0, 1.0, 1.0], "segment": ["a", None, "李"]})
    out = f.evaluate(frame)
    assert out.dtype == pd.Series(["a"]).dtype
    assert out.tolist() == ["vip", "other", "李"]


def test_string_equality_between_columns() -> None:
    f = Formula("a == b", schema={"a": "string", "b": "string"})
    frame = pd.DataFrame(
        {"a": ["x", "y", None, "z"], "b": pd.Series(["x", "x", "x", None], dtype="string")}
    )
    assert f.evaluate(frame).tolist() == [True, False, pd.NA, pd.NA]


def test_str_enum_values_are_strings() -> None:
    class Method(StrEnum):
        CASH = "cash"
        PREPAID = "prepaid"

    f = Formula("rate[m]", schema={"m": Method}, tables={"rate": {"cash": 1.0, "prepaid": 1.2}})
    assert f.evaluate({"m": Method.PREPAID}) == 1.2


def test_bool_results_are_nullable_booleans() -> None:
    f = Formula("x > 1")
    out = f.evaluate(pd.DataFrame({"x": [0.0, 2.0, None]}))
    assert out.dtype == "boolean"
    assert out.tolist() == [False, True, pd.NA]


def test_bools_are_numbers_on_input_but_numbers_are_not_bools() -> None:
    assert both("x * 10", x=True) == 10.0
    with pytest.raises(ValueError, match="bool"):
        Formula("b and True").evaluate({"b": 1.0})


# ---------------------------------------------------------------- inference


def test_types_of_undeclared_names_are_inferred_from_use() -> None:
    f = Formula(
        "rate[method] * amount if is_member and not blocked else 0",
        tables={"rate": {"cash": 1.0}},
    )
    assert dict(f.input_types) == {
        "method": "string",
        "amount": "number",
        "is_member": "bool",
        "blocked": "bool",
    }
    assert dict(Formula("a == b").input_types) == {"a": "number", "b": "number"}
    assert dict(Formula("a == b and b == 'x'").input_types) == {"a": "string", "b": "string"}
    assert dict(Formula("coalesce(a, b) == c and c").input_types) == {
        "a": "bool",
        "b": "bool",
        "c": "bool",
    }


def test_schema_forms() -> None:
    assert Formula("a + b", schema=["a", "b"]).result_type == "number"
    assert Formula("a", schema={"a": str}).result_type == "string"
    assert Formula("a", schema={"a": bool}).result_type == "bool"
    assert Formula("a", schema={"a": float}).result_type == "number"
    assert Formula("a == 'x'", schema={"a": {"x", "y"}}).result_type == "bool"


def test_empty_frames() -> None:
    for text, dtype in [
        ("x + 1", "float64"),
        ("x > 1", "boolean"),
        ("'a'", None),
        ("1", "float64"),
    ]:
        out = Formula(text).evaluate(pd.DataFrame({"x": pd.Series([], dtype="float64")}))
        assert len(out) == 0
        if dtype is not None:
            assert out.dtype == dtype


def test_constant_formulas_fill_the_frame() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=["a", "b"])
    assert Formula("2 * 3").evaluate(frame).tolist() == [6.0, 6.0]
    assert Formula("True").evaluate(frame).tolist() == [True, True]
    assert Formula("'k'").evaluate(frame).tolist() == ["k", "k"]
    assert list(Formula("2").evaluate(frame).index) == ["a", "b"]


def test_input_dtypes_are_read() -> None:
    f = Formula("x + 1")
    for series in [
        pd.Series([1, 2], dtype="int64"),
        pd.Series([1, None], dtype="Int64"),
        pd.Series([1.0, None], dtype="Float64"),
        pd.Series([1.0, 2.0], dtype="float32"),
        pd.Series([True, False]),
        pd.Series([Decimal("1.5"), None], dtype=object),
        pd.Series([1, 2.5, None], dtype=object),
        pd.Series([1.0, 2.0], dtype="category"),
    ]:
        out = f.evaluate(pd.DataFrame({"x": series}))
        assert out.dtype == "float64"
        assert out.iloc[0] == float(series.iloc[0]) + 1
    b = Formula("b or False", schema={"b": "bool"})
    for series in [
        pd.Series([True, None], dtype="boolean"),
        pd.Series([True, None], dtype=object),
        pd.Series([True, np.nan], dtype=object),
    ]:
        assert b.evaluate(pd.DataFrame({"b": series})).tolist() == [True, pd.NA]


def test_arrays() -> None:
    f = Formula("x * 2 if ok else -1", schema={"x": "number", "ok": "bool"})
    out = f.evaluate_arrays(
        {
            "x": np.array([1.0, 2.0, 3.0]),
            "ok": np.ma.MaskedArray([True, True, False], mask=[False, True, False]),
        }
    )
    assert out.tolist() == [2.0, -1.0, -1.0]
    s = Formula("coalesce(s, 'x')", schema={"s": "string"})
    assert s.evaluate_arrays({"s": np.array(["a", "b"])}).tolist() == ["a", "b"]
    assert s.evaluate_arrays({"s": [None, "b"]}).tolist() == ["x", "b"]
    assert Formula("1").evaluate_arrays({}, size=2).tolist() == [1.0, 1.0]
    assert Formula("1").evaluate_arrays({"other": [1, 2, 3]}).tolist() == [1.0, 1.0, 1.0]
