"""The safe formula language: parse -> check -> compile to a scalar and a columnar evaluator.

A :class:`Formula` is written once, as text, and evaluated on one customer's
mapping of values or on a whole DataFrame, with the same result either way
(nulls and edge cases included). The text is never executed: it is parsed
with :mod:`ast` against a strict allowlist, checked (names, types, tables,
functions, limits) with every problem reported at once, and compiled.

>>> from crmkit.expr import Formula, Table
>>> f = Formula(
...     "total_spend * settlement_rate[settlement] + 50 * monthly_frequency",
...     schema={"total_spend": "number", "monthly_frequency": "number", "settlement": "string"},
...     tables={"settlement_rate": Table({"prepaid": 1.2, "cash": 1.0}, default=0.8)},
... )
>>> f.evaluate({"total_spend": 100.0, "monthly_frequency": 2, "settlement": "prepaid"})
220.0

See the formula language reference for the grammar, the functions, the null
rules and the limits.
"""

from crmkit.core import FormulaError
from crmkit.expr._formula import Formula
from crmkit.expr._functions import (
    DEFAULT_FUNCTIONS,
    Function,
    FunctionRegistry,
    NullAwareFunction,
)
from crmkit.expr._nodes import (
    Binary,
    BoolOp,
    Call,
    Compare,
    Cond,
    Const,
    Lookup,
    Name,
    Node,
    TypeName,
    Unary,
    Value,
    children,
    transform,
    unparse,
    walk,
)
from crmkit.expr._parse import MAX_DEPTH, MAX_EXPONENT, MAX_LENGTH
from crmkit.expr._readers import INPUT_TYPES, Input, read_formula, read_inputs, read_tables
from crmkit.expr._tables import Table

__all__ = [
    "DEFAULT_FUNCTIONS",
    "INPUT_TYPES",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "Binary",
    "BoolOp",
    "Call",
    "Compare",
    "Cond",
    "Const",
    "Formula",
    "FormulaError",
    "Function",
    "FunctionRegistry",
    "Input",
    "Lookup",
    "Name",
    "Node",
    "NullAwareFunction",
    "Table",
    "TypeName",
    "Unary",
    "Value",
    "children",
    "read_formula",
    "read_inputs",
    "read_tables",
    "transform",
    "unparse",
    "walk",
]

for _cls in (
    Binary,
    BoolOp,
    Call,
    Compare,
    Cond,
    Const,
    Function,
    FunctionRegistry,
    Input,
    Lookup,
    Name,
    Node,
    NullAwareFunction,
    Table,
    Unary,
):
    _cls.__module__ = "crmkit.expr"
del _cls
