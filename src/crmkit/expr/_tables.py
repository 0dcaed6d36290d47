"""Lookup tables a formula may use: ``settlement_rate[settlement]``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
import numpy as np
import pandas as pd

from crmkit.core import ConfigError, Problem
from crmkit.domain import FrozenDict

__all__ = ["Key", "Table", "TableValue", "table_problems"]

Key = str | float
TableValue = float | bool | str | None


@attrs.frozen(init=False)
class Table:
    """A table a formula looks values up in, with an optional default.

    Keys are all strings or all numbers; values are all numbers, all strings
    or all booleans, and ``None`` (or NaN) is a null value. Integer keys and
    values are read as floats. Looking up a key that is not in the table
    gives :attr:`default`, or null when there is none (see the formula
    language reference for when this is an error at build time instead).

    Args:
        entries: the key -> value mapping.
        default: the value for keys not in the table; ``None`` for null.

    Raises:
        ConfigError: the entries or the default are not acceptable (every
            problem is listed).

    >>> rates = Table({"prepaid": 1.2, "cash": 1.0, "on_account": 0.6}, default=0.8)
    >>> rates.key_type, rates.value_type, rates.default
    ('string', 'number', 0.8)
    >>> Table({1: "bronze", 2: "silver"}).entries[2.0]
    'silver'
    """

    entries: FrozenDict[Key, TableValue]
    default: TableValue
    key_type: str
    value_type: str

    def __init__(self, entries: Mapping[Any, Any], *, default: object = None) -> None:
        normal, problems = table_problems(entries, default, where="Table")
        if problems or normal is None:
            raise ConfigError(problems, what="table")
        self.__attrs_init__(
            entries=normal.entries,
            default=normal.default,
            key_type=normal.key_type,
            value_type=normal.value_type,
        )

    @classmethod
    def _make(
        cls, entries: dict[Key, TableValue], default: TableValue, key_type: str, value_type: str
    ) -> Table:
        table = cls.__new__(cls)
        table.__attrs_init__(
            entries=FrozenDict(entries),
            default=default,
            key_type=key_type,
            value_type=value_type,
        )
        return table

    def __repr__(self) -> str:
        default = "" if self.default is None else f", default={self.default!r}"
        return f"Table({dict(self.entries)!r}{default})"


def _kind(value: object) -> tuple[str | None, TableValue, bool]:
    """Return (type, normalised value, ok) of a table value; type None means null."""
    if value is None:
        return None, None, True
    if isinstance(value, bool | np.bool_):
        return "bool", bool(value), True
    if isinstance(value, str):
        return "string", str(value), True
    if isinstance(value, numbers.Real | Decimal):
        try:
            number = float(value)
        except (OverflowError, ValueError, TypeError):
            return None, None, False
        if math.isnan(number):
            return None, None, True
        return "number", number, True
    if value is pd.NA:
        return None, None, True
    return None, None, False


def table_problems(
    entries: object, default: object, *, where: str
) -> tuple[Table | None, list[Problem]]:
    """Normalise a table's entries and default, returning the table or every problem."""
    if isinstance(entries, Table):
        return entries, []
    problems: list[Problem] = []

    def bad(message: str, hint: str | None = None) -> None:
        problems.append(Problem(where=where, message=message, hint=hint))

    if not isinstance(entries, Mapping):
        bad(f"a table must be a mapping of keys to values, got {type(entries).__name__}")
        return None, problems
    if not entries:
        bad("a table needs at least one entry")
        return None, problems
    key_types: set[str] = set()
    value_types: set[str] = set()
    normal: dict[Key, TableValue] = {}
    for key, value in entries.items():
        if isinstance(key, bool | np.bool_) or not isinstance(key, str | numbers.Real | Decimal):
            bad(f"key {key!r} is not a string or a number")
            continue
        if isinstance(key, str):
            nkey: Key = str(key)
            key_types.add("string")
        else:
            try:
                nkey = float(key)
            except (OverflowError, ValueError, TypeError):
                bad(f"key {key!r} is not a usable number")
                continue
            if math.isnan(nkey):
                bad("a key may not be NaN")
                continue
            key_types.add("number")
        kind, nvalue, ok = _kind(value)
        if not ok:
            bad(f"the value for {key!r} is {value!r}; expected a number, string, bool or None")
            continue
        if kind is not None:
            value_types.add(kind)
        if nkey in normal:
            bad(f"key {key!r} appears twice")
        normal[nkey] = nvalue
    if len(key_types) > 1:
        bad("keys must be all strings or all numbers, not a mix")
    dkind, ndefault, ok = _kind(default)
    if not ok:
        bad(f"the default is {default!r}; expected a number, string, bool or None")
    elif dkind is not None:
        value_types.add(dkind)
    if len(value_types) > 1:
        bad(f"values must all be of one type, got {' and '.join(sorted(value_types))}")
    elif not value_types and ok:
        bad("every value is null; give at least one value or a non-null default")
    if problems:
        return None, problems
    return Table._make(normal, ndefault, key_types.pop(), value_types.pop()), []
