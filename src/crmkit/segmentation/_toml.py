"""A small TOML writer for configurations (nested tables of strings, numbers, bools and lists).

``tomllib`` reads TOML but does not write it, and the core takes no extra
dependency for it. The output reads back with ``tomllib`` to the same mapping.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + "}"
    msg = f"cannot write {type(value).__name__} as TOML"
    raise TypeError(msg)


def dumps(data: Mapping[str, Any]) -> str:
    """Write *data* as TOML: scalars first, then one ``[table]`` per nested mapping.

    >>> print(dumps({"a": 1, "t": {"b": "x", "u": {"c": [1.5, True]}}}))
    a = 1
    <BLANKLINE>
    [t]
    b = "x"
    <BLANKLINE>
    [t.u]
    c = [1.5, true]
    <BLANKLINE>
    """
    lines: list[str] = []
    _table(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(data: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping)]
    if path and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(_key(p) for p in path) + "]")
    for k, v in scalars:
        lines.append(f"{_key(str(k))} = {_value(v)}")
    for k, v in tables:
        _table(v, [*path, str(k)], lines)
