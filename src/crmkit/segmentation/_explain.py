"""How one customer's rules came out: :class:`RuleResult` and :class:`Explanation`."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from crmkit.core import (
    FrozenDict,
)

__all__ = ["Explanation", "RuleResult"]


@attrs.frozen
class RuleResult:
    """How one rule came out for one customer (see :meth:`SegmentRules.explain_one`).

    Attributes:
        segment: the segment's name.
        held: ``True``, ``False``, or ``None`` when the rule was null (it does not hold).
        rule: the rule as written.
        fitted: the rule with its population statistics replaced by the fitted values.
        inputs: each input the rule read, with its value.
    """

    segment: str
    held: bool | None
    rule: str
    fitted: str
    inputs: FrozenDict[str, Any]


@attrs.frozen
class Explanation:
    """Which rules held for one customer, with which values, and the resulting segments.

    Attributes:
        segments: the segments the customer is in (one, in exclusive mode).
        results: one :class:`RuleResult` per segment, in the order tried.
        thresholds: the fitted population statistics.
    """

    segments: tuple[str, ...]
    results: tuple[RuleResult, ...]
    thresholds: FrozenDict[str, float | None]

    def __str__(self) -> str:
        lines = ["segments: " + (", ".join(self.segments) or "(none)")]
        for res in self.results:
            mark = {True: "yes ", False: "no  ", None: "null"}[res.held]
            lines.append(f"  {mark} {res.segment}: {res.fitted}")
            if res.fitted != res.rule:
                lines.append(f"         as written: {res.rule}")
            for name, value in res.inputs.items():
                lines.append(f"         {name} = {_show(value)}")
        return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)
