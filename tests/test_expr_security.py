"""Hostile formulas are rejected with a FormulaError, and nothing but crmkit errors escapes.

Nothing in a formula executes: the text is parsed with ``ast`` and only an
allowlist of node types is accepted. The work is bounded by construction:
the length and the bracket depth are checked before ``ast.parse`` runs, the
tree depth right after, and constant exponents are capped.
"""

from __future__ import annotations

import builtins
from typing import Any
from unittest import mock

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit.expr import MAX_DEPTH, MAX_LENGTH, Formula, FormulaError
from crmkit.testing import strategies as cks

CORPUS = [
    # attribute chains to the object graph
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__.__mro__[1].__subclasses__()",
    "(1).__class__",
    "''.join",
    "x.y",
    "x if x else x.y",
    "min.__globals__",
    "log.__self__",
    "(lambda: 0).__globals__['os']",
    "t.__class__",
    # builtins and imports
    "__import__('os').system('true')",
    "__import__",
    "__builtins__",
    "__class__",
    "globals()",
    "locals()",
    "vars()",
    "eval('1')",
    "exec('1')",
    "compile('1', '', 'eval')",
    "open('/etc/passwd')",
    "getattr(x, 'y')",
    "type(x)",
    "breakpoint()",
    # lambdas, comprehensions, generators, f-strings, walrus, starred
    "lambda: 1",
    "(lambda x: x)(1)",
    "[x for x in y]",
    "{x for x in y}",
    "{x: 1 for x in y}",
    "(x for x in y)",
    "f'{x}'",
    "f'{x.__class__}'",
    "(x := 1)",
    "[*x]",
    "min(*x)",
    "min(**x)",
    "min(x, key=y)",
    # subscripts of things that are not tables
    "x[0]",
    "x[1:2]",
    "t[1:2]",
    "t[1, 2]",
    "t[1][2]",
    "(1)[0]",
    "'abc'[0]",
    "min(x, y)[0]",
    # statements and other expressions
    "import os",
    "x = 1",
    "del x",
    "assert x",
    "await x",
    "(yield x)",
    "1; 2",
    "b'bytes'",
    "1j",
    "...",
    "None",
    "{}",
    "[]",
    "()",
    "{1}",
    "x @ y",
    "~x",
    "x << 2",
    "x // 2",
    "x is y",
    "x in y",
    "x if y",
    "\x00",
    "\ud800",
    "x # comment",
    # huge numbers and exponents
    "9**9**9",
    "10**10**10",
    "2 ** 99999",
    "x ** (10 ** 6)",
    "1e999999",
    "-1e999",
    "9" * 5000,
    "9" * 20000,
    # deep nesting
    "(" * 100_000 + "1" + ")" * 100_000,
    "(" * 150 + "1" + ")" * 150,
    "-" * 100_000 + "1",
    "-" * 5_000 + "1",
    "not " * 2_000 + "x",
    "+".join(["1"] * 4_000),
    "1" + "**1" * 3_000,
    "[" * 1_000,
    "a if b else " * 800 + "c",
    "min(" * 120 + "1" + ", 1)" * 120,
    "t[" * 120 + "'a'" + "]" * 120,
]


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_hostile_formulas_are_rejected(text: str) -> None:
    with pytest.raises(FormulaError) as info:
        Formula(text, tables={"t": {"a": 1.0}})
    assert info.value.problems


def test_limits_are_checked_before_parsing() -> None:
    with pytest.raises(FormulaError) as info:
        Formula("(" * 100_000 + "1" + ")" * 100_000)
    assert f"the limit is {MAX_LENGTH}" in str(info.value)
    with pytest.raises(FormulaError) as info:
        Formula("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    assert "nested too deeply" in str(info.value)
    with pytest.raises(FormulaError) as info:
        Formula("+".join(["x"] * (MAX_DEPTH + 5)))
    assert "nested too deeply" in str(info.value)


def test_nothing_is_executed() -> None:
    calls: list[str] = []

    def spy(name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(name)

        return record

    with (
        mock.patch.object(builtins, "eval", spy("eval")),
        mock.patch.object(builtins, "exec", spy("exec")),
        mock.patch.object(builtins, "open", spy("open")),
    ):
        for text in ("eval('1')", "exec('1')", "open('x')", "x + 1", "log(x) if x > 0 else 0"):
            try:
                Formula(text).evaluate({"x": 1.0})
                Formula(text).evaluate(pd.DataFrame({"x": [1.0]}))
            except FormulaError:
                pass
    assert calls == []


# ---------------------------------------------------------------- fuzzing

_TOKENS = [
    " ", "(", ")", "[", "]", ",", ".", "'", '"', "+", "-", "*", "**", "/", "%", "<", "<=", "==",
    "!=", ">", "and", "or", "not", "if", "else", "x", "y", "s", "t", "min", "log", "coalesce",
    "is_null", "round", "0", "1", "2.5", "1e308", "'a'", "True", "None", "lambda", ":", "=",
    "__class__", "\\", "\n", "\t", "#", "é", "李", "{", "}", "@", "~", "|", "&", "^",
]  # fmt: skip


def _check_only_crmkit_errors(text: str) -> None:
    try:
        formula = Formula(text, tables={"t": {"a": 1.0}})
    except FormulaError:
        return
    row = {name: _value(kind) for name, kind in formula.input_types.items()}
    formula.evaluate(row)  # a formula that builds evaluates every well-typed row


def _value(kind: str) -> Any:
    return {"number": 1.5, "bool": True, "string": "a"}[kind]


@given(st.text(max_size=60))
def test_any_text_builds_or_raises_a_formula_error(text: str) -> None:
    _check_only_crmkit_errors(text)


@given(st.lists(st.sampled_from(_TOKENS), max_size=25).map("".join))
def test_token_soup_builds_or_raises_a_formula_error(text: str) -> None:
    _check_only_crmkit_errors(text)


@st.composite
def mutated_formulas(draw: st.DrawFn) -> str:
    schema = draw(cks.formula_schemas())
    text = draw(cks.formulas(schema, tables=False, max_depth=3))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        j = draw(st.integers(i, min(len(text), i + 6)))
        action = draw(st.sampled_from(["delete", "insert", "duplicate", "swap"]))
        if action == "delete":
            text = text[:i] + text[j:]
        elif action == "insert":
            text = text[:i] + draw(st.sampled_from(_TOKENS)) + text[i:]
        elif action == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + text[j:] + text[i:j]
    return text


@given(mutated_formulas())
def test_mutated_formulas_build_or_raise_a_formula_error(text: str) -> None:
    _check_only_crmkit_errors(text)
