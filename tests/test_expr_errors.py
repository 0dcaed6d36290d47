"""Errors: every problem at once, each with its position and a caret; evaluation errors too."""

from __future__ import annotations

import pickle
from enum import StrEnum

import numpy as np
import pandas as pd
import pytest

from crmkit.errors import (
    ConfigError,
    CrmkitError,
    FrameError,
    MissingColumnError,
    ValidationError,
)
from crmkit.expr import Formula, FormulaError, Table


def problems(text: str, **options: object) -> list[tuple[int | None, str]]:
    with pytest.raises(FormulaError) as info:
        Formula(text, **options)  # type: ignore[arg-type]
    return [(p.position, p.message) for p in info.value.problems]


def only(text: str, **options: object) -> tuple[int | None, str]:
    found = problems(text, **options)
    assert len(found) == 1, found
    return found[0]


def test_formula_error_is_a_config_error_and_a_value_error() -> None:
    with pytest.raises(FormulaError) as info:
        Formula("1 +")
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, CrmkitError)
    assert info.value.text == "1 +"


def test_the_caret_points_at_the_problem() -> None:
    with pytest.raises(FormulaError) as info:
        Formula("total_spend + segment", schema={"total_spend": "number", "segment": "string"})
    assert str(info.value) == (
        "1 problem in formula:\n"
        "- formula, column 15: the right operand of '+' must be a number, got a string\n"
        "    total_spend + segment\n"
        "                  ^"
    )


def test_several_problems_are_reported_together_in_order() -> None:
    found = problems(
        "log(totl) + foo(x) + rate['csh'] + min(x)",
        schema=["total", "x"],
        tables={"rate": {"cash": 1.0}},
    )
    assert [pos for pos, _ in found] == [4, 12, 26, 35]
    messages = [m for _, m in found]
    assert messages[0] == "unknown name 'totl'"
    assert messages[1] == "unknown function 'foo'"
    assert messages[2] == "table 'rate' has no key 'csh'"
    assert messages[3] == "min() takes at least 2 arguments, got 1"


def test_did_you_mean() -> None:
    with pytest.raises(FormulaError) as info:
        Formula("totl_spend * 2", schema=["total_spend"])
    assert info.value.problems[0].hint == "did you mean 'total_spend'?"
    with pytest.raises(FormulaError) as info:
        Formula("lgo(x)")
    assert info.value.problems[0].hint == "did you mean 'log'?"
    with pytest.raises(FormulaError) as info:
        Formula("rates[m]", tables={"rate": {"a": 1}})
    assert info.value.problems[0].hint == "did you mean 'rate'?"


def test_positions_count_characters_not_bytes() -> None:
    assert only("李 + 'é' + 1") == (4, "the right operand of '+' must be a number, got a string")
    assert only("'é' * x")[0] == 0


def test_positions_of_operators() -> None:
    assert only("x + 1 > 'a'")[0] == 8  # the operand that has the wrong type
    assert only("(x)   and 1")[0] == 10
    assert only("1 if 2 else 3")[0] == 5
    assert only("  a.b")[0] == 2
    assert only("a +\nb + 'c'")[0] == 8


def test_syntax_errors_have_positions() -> None:
    pos, message = only("(a + b")
    assert pos == 0
    assert "never closed" in message
    pos, message = only("a b")
    assert pos == 2
    assert only("")[1] == "the formula is empty"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x + True", "must be a number, got a bool"),
        ("'a' < 'b'", "must be a number, got a string"),
        ("x and y > 1 and 3", "must be a bool, got a number"),
        ("1 if x else 'a'", "must have the same type"),
        ("1 if 2 else 3", "the condition of 'if' must be a bool"),
        ("not 1", "the operand of 'not' must be a bool"),
        ("-'a'", "the operand of unary '-' must be a number"),
        ("coalesce(1, 'a')", "the arguments of coalesce() must have the same type"),
        ("sqrt('a')", "argument 1 of sqrt() must be a number"),
        ("x == 'a' and x > 1", "'x' is a string because of its use as the operands of '=='"),
        ("abs(1, 2)", "abs() takes 1 argument, got 2"),
        ("round(x, 1, 2)", "round() takes 1 to 2 arguments, got 3"),
        ("is_null()", "is_null() takes 1 argument, got 0"),
        ("round(x, y)", "argument 2 of round() must be a constant"),
        ("round(x, 0.5)", "ndigits must be a whole number from -15 to 15"),
        ("x ** 1001", "the exponent 1001 is too large; the limit is 1000"),
        ("x ** -(1000 + 1)", "the exponent -1001 is too large"),
        ("2 ** 2 ** 2 ** 2 ** 2", "the exponent 65536 is too large"),
    ],
)
def test_type_and_arity_problems(text: str, fragment: str) -> None:
    assert any(fragment in m for _, m in problems(text)), problems(text)


def test_names_tables_and_functions_are_not_confused() -> None:
    tables = {"rate": {"a": 1.0}}
    assert only("rate + 1", tables=tables)[1] == "'rate' is a table"
    assert only("rate(1)", tables=tables)[1] == "unknown function 'rate'"
    assert only("x[1]", tables=tables, schema=["x"])[1] == "'x' is not a table"
    assert only("log[1]", tables=tables)[1] == "'log' is a function, not a table"
    assert only("log + 1", schema=["x"])[1] == "unknown name 'log'"


def test_known_values_catch_typos() -> None:
    class Method(StrEnum):
        CASH = "cash"
        PREPAID = "prepaid"

    with pytest.raises(FormulaError) as info:
        Formula("m == 'csh'", schema={"m": Method})
    assert info.value.problems[0].hint == "did you mean 'cash'?"
    found = problems(
        "rate[m]", schema={"m": Method}, tables={"rate": {"cash": 1.0, "prepayd": 1.2}}
    )
    assert len(found) == 2
    assert "no entry for 'prepaid'" in found[0][1]
    assert "a key 'prepayd' that is not a value of 'm'" in found[1][1]
    # With a default the table need not cover every value.
    Formula("rate[m]", schema={"m": Method}, tables={"rate": Table({"cash": 1.0}, default=0.0)})


def test_schema_and_table_problems_come_with_formula_problems() -> None:
    with pytest.raises(FormulaError) as info:
        Formula(
            "rate[a] + b + c",
            schema={"a": "text", "b": "number"},
            tables={"rate": {"x": 1, "y": "z"}, "2bad": {"a": 1}},
        )
    wheres = [(p.where, p.position) for p in info.value.problems]
    assert ("schema['a']", None) in wheres
    assert ("tables['rate']", None) in wheres
    assert ("tables['2bad']", None) in wheres
    assert ("formula", 14) in wheres  # unknown name 'c'; 'a' and 'rate' are not reported again
    assert len(wheres) == 4


@pytest.mark.parametrize(
    ("entries", "default", "fragment"),
    [
        ({}, None, "at least one entry"),
        ({"a": 1, 2: 2}, None, "all strings or all numbers"),
        ({"a": 1, "b": "x"}, None, "one type"),
        ({"a": None}, None, "every value is null"),
        ({"a": object()}, None, "expected a number, string, bool or None"),
        ({True: 1}, None, "not a string or a number"),
        ({float("nan"): 1}, None, "may not be NaN"),
        ({"a": 1}, "x", "one type"),
        ([1, 2], None, "must be a mapping"),
    ],
)
def test_table_problems(entries: object, default: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        Table(entries, default=default)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_bad_arguments() -> None:
    with pytest.raises(ValidationError):
        Formula(42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Formula("1", functions={"f": abs})  # type: ignore[arg-type]
    assert only("1", schema="x")[0] is None
    assert only("1", tables=[1])[0] is None


def test_formula_errors_pickle() -> None:
    with pytest.raises(FormulaError) as info:
        Formula("a +")
    loaded = pickle.loads(pickle.dumps(info.value))
    assert type(loaded) is FormulaError
    assert str(loaded) == str(info.value)
    assert loaded.problems == info.value.problems


# ---------------------------------------------------------------- evaluation errors


def test_a_missing_key_names_it() -> None:
    f = Formula("total_spend + visits")
    with pytest.raises(ValidationError) as info:
        f.evaluate({"total_spnd": 1.0, "visits": 2})
    assert "'total_spend'" in str(info.value)
    assert info.value.hint == "did you mean 'total_spnd'?"


def test_a_missing_key_is_an_error_even_in_a_branch_not_taken() -> None:
    f = Formula("1 if True else x")
    with pytest.raises(ValidationError):
        f.evaluate({})
    with pytest.raises(MissingColumnError):
        f.evaluate(pd.DataFrame({"y": [1.0]}))


def test_a_missing_column_names_it() -> None:
    with pytest.raises(MissingColumnError) as info:
        Formula("total_spend + visits").evaluate(pd.DataFrame({"total_spnd": [1.0], "visits": [1]}))
    assert info.value.missing == ("total_spend",)
    assert "did you mean 'total_spnd'?" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_values_of_the_wrong_type() -> None:
    with pytest.raises(ValidationError, match=r"data\['x'\]"):
        Formula("x + 1").evaluate({"x": "12"})
    with pytest.raises(ValidationError, match="a string"):
        Formula("s == 'a'").evaluate({"s": 1})
    with pytest.raises(ValidationError):
        Formula("x + 1").evaluate({"x": 10**400})
    with pytest.raises(FrameError) as info:
        Formula("x + 1").evaluate(pd.DataFrame({"x": ["a", "b"]}))
    assert info.value.column == "x"
    with pytest.raises(FrameError):
        Formula("s == 'a'").evaluate(pd.DataFrame({"s": [1.0, 2.0]}))
    with pytest.raises(FrameError):
        Formula("b and True").evaluate(pd.DataFrame({"b": [1.0, 0.0]}))
    with pytest.raises(FrameError):
        Formula("x + 1").evaluate(pd.DataFrame({"x": pd.to_datetime(["2025-01-01"])}))
    with pytest.raises(FrameError):
        Formula("x + 1").evaluate(pd.DataFrame([[1.0, 2.0]], columns=["x", "x"]))


def test_wrong_data() -> None:
    with pytest.raises(ValidationError):
        Formula("1").evaluate([1, 2])  # type: ignore[call-overload]
    with pytest.raises(ValidationError):
        Formula("x").evaluate_arrays([1])  # type: ignore[arg-type]
    with pytest.raises(FrameError, match="different lengths"):
        Formula("x + y").evaluate_arrays({"x": np.zeros(2), "y": np.zeros(3)})
    with pytest.raises(FrameError, match="one-dimensional"):
        Formula("x").evaluate_arrays({"x": np.zeros((2, 2))})
    with pytest.raises(FrameError, match="one-dimensional"):
        Formula("x").evaluate_arrays({"x": 1.0})
    with pytest.raises(ValidationError, match="size"):
        Formula("1").evaluate_arrays({})
    with pytest.raises(MissingColumnError):
        Formula("x").evaluate_arrays({"y": np.zeros(1)})
