"""The Formula object, the function registry and the internal form."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

from crmkit.errors import ValidationError
from crmkit.expr import (
    DEFAULT_FUNCTIONS,
    Binary,
    Call,
    Const,
    Formula,
    FormulaError,
    Function,
    FunctionRegistry,
    Name,
    Table,
    unparse,
    walk,
)
from crmkit.testing import strategies as cks


def test_properties() -> None:
    f = Formula("rate[m] * x if ok else 0", tables={"rate": {"a": 1.0}})
    assert f.text == "rate[m] * x if ok else 0"
    assert str(f) == f.text
    assert f.names == frozenset({"m", "x", "ok"})
    assert list(f.input_types) == ["m", "x", "ok"]
    assert f.result_type == "number"
    assert f.functions is DEFAULT_FUNCTIONS
    assert f.tables["rate"] == Table({"a": 1.0})


def test_equality_hash_and_repr() -> None:
    a = Formula("x + 1", schema=["x"])
    assert a == Formula("x + 1", schema={"x": "number"})
    assert hash(a) == hash(Formula("x + 1", schema=("x",)))
    assert a != Formula("x + 1")
    assert a != Formula("x+1", schema=["x"])
    assert a != "x + 1"
    assert len({a, Formula("x + 1", schema=["x"])}) == 1
    assert repr(Formula("x + 1")) == "Formula('x + 1')"
    assert repr(Formula("r[s]", tables={"r": {"a": 1}})) == (
        "Formula('r[s]', tables={'r': Table({'a': 1.0})})"
    )
    assert repr(a) == "Formula('x + 1', schema={'x': 'number'})"


def test_pickle_keeps_schema_tables_and_functions() -> None:
    f = Formula(
        "double(rate[m]) if m == 'a' else 0",
        schema={"m": {"a", "b"}},
        tables={"rate": Table({"a": 1.5, "b": 2.0}, default=0.0)},
        functions=DEFAULT_FUNCTIONS.extend(DOUBLE),
    )
    loaded = pickle.loads(pickle.dumps(f))
    assert loaded == f
    assert loaded.evaluate({"m": "a"}) == 3.0
    with pytest.raises(FormulaError):
        Formula("m == 'c'", schema=loaded.schema)


def _double(x: float) -> float:
    return 2 * x


def _double_columns(x: np.ndarray) -> np.ndarray:
    return 2 * x


DOUBLE = Function(
    name="double", params=("number",), result="number", scalar=_double, columnar=_double_columns
)


def _initial(s: str, n: float) -> str:
    return s[: int(n)]


def _initial_columns(s: np.ndarray, n: float) -> np.ndarray:
    return np.array([v[: int(n)] for v in s], dtype=object)


def _is_long(s: str) -> bool:
    return len(s) > 3


def _is_long_columns(s: np.ndarray) -> np.ndarray:
    return np.array([len(v) > 3 for v in s], dtype=bool)


def test_registered_functions_on_both_engines() -> None:
    functions = DEFAULT_FUNCTIONS.extend(
        DOUBLE,
        Function(
            name="is_long",
            params=("string",),
            result="bool",
            scalar=_is_long,
            columnar=_is_long_columns,
        ),
    )
    f = Formula("double(x) if is_long(s) else -1", functions=functions)
    frame = pd.DataFrame({"s": ["abcdef", "ab", None, "long one"], "x": [1.0, 2.0, 3.0, None]})
    expected = [2.0, -1.0, -1.0, None]
    assert [f.evaluate(row) for row in frame.to_dict("records")] == expected
    assert f.evaluate(frame).tolist()[:3] == expected[:3]
    assert math.isnan(f.evaluate(frame).iloc[3])


def test_validate_and_constants() -> None:
    functions = DEFAULT_FUNCTIONS.extend(
        Function(
            name="initial",
            params=("string", "number"),
            result="string",
            scalar=_initial,
            columnar=_initial_columns,
            constant=(1,),
            validate=lambda n: None if n >= 0 else "n must be >= 0",
        )
    )
    f = Formula("initial(s, 2)", functions=functions)
    assert f.evaluate({"s": "abc"}) == "ab"
    out = f.evaluate(pd.DataFrame({"s": ["abc", None, "x"]}))
    assert out.isna().tolist() == [False, True, False]
    assert out[~out.isna()].tolist() == ["ab", "x"]
    with pytest.raises(FormulaError, match="n must be >= 0"):
        Formula("initial(s, -1)", functions=functions)
    with pytest.raises(FormulaError, match="must be a constant"):
        Formula("initial(s, x)", functions=functions)


def test_registry_rules() -> None:
    with pytest.raises(ValidationError, match="replace=True"):
        DEFAULT_FUNCTIONS.extend(
            Function(
                name="log",
                params=("number",),
                result="number",
                scalar=_double,
                columnar=_double_columns,
            )
        )
    replaced = DEFAULT_FUNCTIONS.extend(
        Function(
            name="log",
            params=("number",),
            result="number",
            scalar=_double,
            columnar=_double_columns,
        ),
        replace=True,
    )
    assert Formula("log(3)", functions=replaced).evaluate({}) == 6.0
    assert DEFAULT_FUNCTIONS.extend(DOUBLE) == DEFAULT_FUNCTIONS.extend(DOUBLE)
    assert DEFAULT_FUNCTIONS.extend(DOUBLE) != DEFAULT_FUNCTIONS
    assert pickle.loads(pickle.dumps(DEFAULT_FUNCTIONS)) is DEFAULT_FUNCTIONS
    assert repr(DEFAULT_FUNCTIONS) == "DEFAULT_FUNCTIONS"
    with pytest.raises(ValidationError):
        FunctionRegistry([DOUBLE, DOUBLE])
    with pytest.raises(ValidationError):
        FunctionRegistry([abs])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "not a name"},
        {"name": "__x"},
        {"name": "if"},
        {"params": ("float",)},
        {"result": "int"},
        {"optional": 2},
        {"params": (), "variadic": True},
        {"constant": (5,)},
    ],
)
def test_function_definitions_are_checked(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "name": "f",
        "params": ("number",),
        "result": "number",
        "scalar": _double,
        "columnar": _double_columns,
    }
    with pytest.raises(ValidationError):
        Function(**{**base, **kwargs})  # type: ignore[arg-type]


def test_signatures() -> None:
    assert DEFAULT_FUNCTIONS["round"].signature() == "round(number, [number constant]) -> number"
    assert DEFAULT_FUNCTIONS["min"].signature() == "min(number, number, ...) -> number"
    assert DEFAULT_FUNCTIONS["coalesce"].signature() == "coalesce(T, T, ...) -> T"


def test_a_failing_user_function_is_not_folded_away() -> None:
    def boom(x: float) -> float:
        raise ZeroDivisionError

    functions = DEFAULT_FUNCTIONS.extend(
        Function(name="boom", params=("number",), result="number", scalar=boom, columnar=boom)
    )
    f = Formula("boom(1)", functions=functions)  # building does not raise
    with pytest.raises(ZeroDivisionError):
        f.evaluate({})


# ---------------------------------------------------------------- the internal form


def test_walk_and_transform() -> None:
    functions = DEFAULT_FUNCTIONS.extend(
        Function(name="quantile", params=("number", "number"), result="number",
                 scalar=_nan2, columnar=_nan2_columns, constant=(1,))
    )  # fmt: skip
    f = Formula("spend > quantile(spend, 0.8) * 2", functions=functions)
    calls = [n for n in walk(f.tree) if isinstance(n, Call)]
    assert [c.function for c in calls] == ["quantile"]
    fitted = f.transform(lambda n: Const(123.456, type="number") if isinstance(n, Call) else n)
    assert fitted.text == "spend > 123.456 * 2"
    assert fitted.evaluate({"spend": 250.0}) is True
    assert fitted.evaluate({"spend": 240.0}) is False


def _nan2(x: float, q: float) -> float:
    return math.nan


def _nan2_columns(x: np.ndarray, q: float) -> np.ndarray:
    return np.full(len(x), np.nan)


@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 1.5, -2.0, 1e16, 1.2345678901234567e-300, 5e-324, math.inf, -math.inf, None, 1e308],
)
def test_unparse_writes_constants_exactly(value: float | None) -> None:
    tree = Binary("**", Const(value, type="number"), Name("x", type="number"), type="number")
    text = unparse(tree)
    f = Formula(text)
    folded = Formula(unparse(Const(value, type="number")))
    result = folded.evaluate({})
    if value is None:
        assert result is None
    else:
        assert result == value
        assert math.copysign(1, result) == math.copysign(1, value)  # type: ignore[arg-type]
    assert f.names == {"x"}


def test_unparse_respects_precedence() -> None:
    for text in [
        "(a + b) * c",
        "a - (b - c)",
        "a - b - c",
        "(a ** b) ** c",
        "a ** b ** c",
        "(-a) ** 2",
        "-a ** 2",
        "a ** -b",
        "not (a and b)",
        "not a == b",
        "(a if b else c) if d else e",
        "a if b else c if d else e",
        "(a < b) == (c < d)",
        "a < b < c",
        "a or b and c",
        "(a or b) and c",
        "t[a + 1]",
        "min(a if b else c, d)",
        "-(a + b)",
        "a * -b",
        "- - a",
    ]:
        tree = Formula(text, tables={"t": {1: 1.0}}).tree
        again = Formula(unparse(tree), tables={"t": {1: 1.0}}).tree
        assert again == tree, (text, unparse(tree))


@given(
    cks.formula_schemas().flatmap(lambda s: cks.formulas(s, tables=True).map(lambda t: (s, t))),
    cks.formula_tables(),
)
def test_canonical_text_parses_to_the_same_tree(
    case: tuple[dict[str, str], str], tables: dict[str, Table]
) -> None:
    schema, text = case
    f = Formula(text, schema=schema, tables=tables)
    assert Formula(f.canonical, schema=schema, tables=tables).tree == f.tree
    assert Formula(f.canonical, schema=schema, tables=tables).canonical == f.canonical


def test_node_equality_ignores_positions() -> None:
    assert Formula("a+1").tree == Formula("  a  +  1").tree
    assert Formula("a+1").tree != Formula("a+2").tree


def _parity(x: float) -> bool | None:
    return None if x < 0 else x % 2 == 1


def _parity_columns(x: np.ndarray) -> np.ndarray:
    assert not np.isnan(x).any()  # only rows without nulls are passed
    return np.array([_parity(v) for v in x], dtype=object)


def _label(x: float) -> int:
    return int(x)  # not a str: read through str(), as on the scalar path


def _label_columns(x: np.ndarray) -> np.ndarray:
    return np.array([int(v) for v in x], dtype=object)


def test_registered_functions_see_no_nulls_and_may_return_nulls() -> None:
    functions = DEFAULT_FUNCTIONS.extend(
        Function(name="odd", params=("number",), result="bool", scalar=_parity, columnar=_parity_columns),
        Function(name="label", params=("number",), result="string", scalar=_label, columnar=_label_columns),
    )  # fmt: skip
    frame = pd.DataFrame({"x": [1.0, 2.0, -1.0, None]})
    odd = Formula("odd(x)", functions=functions)
    assert [odd.evaluate({"x": x}) for x in frame["x"]] == [True, False, None, None]
    assert odd.evaluate(frame).tolist() == [True, False, pd.NA, pd.NA]
    label = Formula("label(x)", functions=functions)
    assert [label.evaluate({"x": x}) for x in frame["x"]] == ["1", "2", "-1", None]
    assert label.evaluate(frame).isna().tolist() == [False, False, False, True]
    assert label.evaluate(frame).iloc[:3].tolist() == ["1", "2", "-1"]
    assert label.evaluate(frame.iloc[:0]).tolist() == []
