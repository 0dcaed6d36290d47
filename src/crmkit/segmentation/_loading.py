"""Reading the segments of a rule-set configuration (the ``[segments]`` tables or list)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmkit.core import (
    ConfigReader,
)
from crmkit.segmentation._segment import Segment

__all__ = []


def _text(r: ConfigReader, data: Mapping[str, Any], where: str, key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        r.problem(f"{where}.{key}", f"expected a string, got {value!r}")
        return ""
    return value


def _read_segments(r: ConfigReader, data: object, present: bool) -> list[Segment]:
    if not present:
        return []
    items: list[tuple[str, object, str]] = []
    if isinstance(data, Mapping):
        items = [(str(k), v, f"segments.{k}") for k, v in data.items()]
    elif isinstance(data, list):
        for i, spec in enumerate(data):
            where = f"segments[{i}]"
            if not isinstance(spec, Mapping):
                r.problem(where, f"expected a table of keys, got {type(spec).__name__}")
                continue
            name = spec.get("name")
            if not isinstance(name, str) or not name.strip():
                r.problem(f"{where}.name", f"expected a non-empty segment name, got {name!r}")
                continue
            items.append((name, {k: v for k, v in spec.items() if k != "name"}, where))
    else:
        r.problem("segments", f"expected a table of segments, got {type(data).__name__}")
        return []
    segments: list[Segment] = []
    for name, spec, where in items:
        fields = r.section(
            spec, where, allowed=["rule", "priority", "description"], required=["rule"]
        )
        rule = fields.get("rule")
        if "rule" in fields and not isinstance(rule, str):
            r.problem(f"{where}.rule", f"expected a rule (formula text), got {rule!r}")
            rule = None
        priority = r.number(fields, where, "priority", default=0.0)
        description = _text(r, fields, where, "description")
        segments.append(
            Segment(name, rule if isinstance(rule, str) else "", priority or 0.0, description)
        )
    return segments
