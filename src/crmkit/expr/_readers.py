"""Reading the formula parts of a definition: declared inputs, lookup tables and formulas.

Every definition that holds formulas (value models, segment rules,
lifecycles, earning rules) reads them with these, on top of the core
:class:`~crmkit.core.ConfigReader`, so an ``[inputs]`` or ``[tables]`` section
and a formula key mean the same and report the same problems everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from crmkit.core import ConfigError, ConfigReader, FormulaError
from crmkit.expr._formula import Formula
from crmkit.expr._functions import DEFAULT_FUNCTIONS, FunctionRegistry
from crmkit.expr._tables import Table

__all__ = ["INPUT_TYPES", "Input", "read_formula", "read_inputs", "read_tables"]

#: The types a declared input may have.
INPUT_TYPES: Final = ("number", "bool", "string")

_WANTED: Final = {"number": "a number", "bool": "True or False", "string": "a string"}
_HINTS: Final = {
    "number": "wrap a condition as (x if condition else 0)",
    "bool": "compare it, e.g. (x > 0)",
}


@attrs.frozen
class Input:
    """An input a definition declares beyond the names it knows.

    Attributes:
        type: ``"number"``, ``"bool"`` or ``"string"``.
        default: the value used when the column (or the mapping key) is
            absent; ``None`` makes the input required.
    """

    type: str
    default: float | bool | str | None = None


def _fits(value: object, type_: str) -> bool:
    if type_ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_ == "bool":
        return isinstance(value, bool)
    return isinstance(value, str)


def read_inputs(r: ConfigReader, data: object, *, defaults: bool = False) -> dict[str, Input]:
    """The ``[inputs]`` section: ``name = "type"``, or ``name = {type, default}`` if *defaults*.

    >>> r = ConfigReader()
    >>> read_inputs(r, {"budget": "number", "vip": "boolean"})
    {'budget': Input(type='number', default=None)}
    >>> [p.render() for p in r.problems]
    ["inputs.vip: expected a type, one of number, bool, string, got 'boolean'"]
    """
    inputs: dict[str, Input] = {}
    for key, value in r.section(data, "inputs").items():
        where = f"inputs.{key}"
        default: Any = None
        if isinstance(value, Mapping):
            if not defaults:
                r.problem(where, f"expected a type, one of {', '.join(INPUT_TYPES)}, got a table")
                continue
            spec = r.section(value, where, allowed=["type", "default"], required=["type"])
            type_, default = spec.get("type"), spec.get("default")
        else:
            type_ = value
        if type_ not in INPUT_TYPES:
            r.problem(where, f"expected a type, one of {', '.join(INPUT_TYPES)}, got {type_!r}")
            continue
        if default is not None and not _fits(default, str(type_)):
            r.problem(f"{where}.default", f"expected a {type_} default, got {default!r}")
            continue
        if type_ == "number" and default is not None:
            default = float(default)
        inputs[key] = Input(str(type_), default)
    return inputs


def read_tables(r: ConfigReader, data: object) -> dict[str, Table]:
    """The ``[tables]`` section: ``[tables.<name>]`` with ``entries`` and an optional ``default``.

    >>> r = ConfigReader()
    >>> read_tables(r, {"rate": {"entries": {"cash": 1.0}, "default": 0.5}})
    {'rate': Table({'cash': 1.0}, default=0.5)}
    """
    tables: dict[str, Table] = {}
    for tname, spec in r.section(data, "tables").items():
        where = f"tables.{tname}"
        entries_spec = r.section(spec, where, allowed=["entries", "default"], required=["entries"])
        if "entries" not in entries_spec:
            continue
        entries = r.section(entries_spec["entries"], f"{where}.entries")
        try:
            tables[tname] = Table(entries, default=entries_spec.get("default"))
        except ConfigError as err:
            r.extend(err.problems, where)
    return tables


def read_formula(
    r: ConfigReader,
    text: object,
    where: str,
    *,
    schema: Mapping[str, str],
    result: str | None = None,
    tables: Mapping[str, Table] | None = None,
    functions: FunctionRegistry = DEFAULT_FUNCTIONS,
    what: str = "formula",
) -> Formula | None:
    """The formula *text* at key *where*, compiled; ``None`` (with the problems recorded) if bad.

    Its problems are re-homed under *where* (with the caret positions kept);
    *result* (``"number"``, ``"bool"``, ``"string"``) is the type it must give.

    >>> r = ConfigReader()
    >>> read_formula(r, "spend > 1", "components.x.formula", schema={"spend": "number"},
    ...              result="number", what="a component") is None
    True
    >>> print(r.problems[0].render())
    components.x.formula: a component must give a number, this gives a bool (wrap a condition as (x if condition else 0))
    """
    if not isinstance(text, str):
        r.problem(where, f"expected a formula string, got {text!r}")
        return None
    try:
        formula = Formula(text, schema=schema, tables=tables, functions=functions)
    except FormulaError as err:
        r.extend(err.problems, where)
        return None
    if result is not None and formula.result_type != result:
        r.problem(
            where,
            f"{what} must give {_WANTED.get(result, result)}, this gives a {formula.result_type}",
            _HINTS.get(result),
        )
        return None
    return formula
