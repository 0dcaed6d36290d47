"""Checking and compiling a rule set: names, types, statistics, modes; every problem at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from crmkit.core import (
    ConfigReader,
    FrozenDict,
    Problem,
    did_you_mean,
)
from crmkit.expr import Formula, FormulaError, Input, Name, Table, unparse, walk
from crmkit.scoring import VALUE_INPUTS
from crmkit.segmentation._segment import Segment
from crmkit.segmentation._stats import STAT_FUNCTIONS, freeze, key_of, stat_calls

__all__ = ["LABEL_SEPARATORS", "SEGMENT_INPUTS", "stat_calls_keys"]

#: Every name a rule may read without declaring it: features, profile
#: attributes, the composite ``value`` and the RFM scores.
SEGMENT_INPUTS: Final = FrozenDict(
    {
        **VALUE_INPUTS,
        "value": "number",
        "r_score": "number",
        "f_score": "number",
        "m_score": "number",
    }
)


_MODES: Final = ("multi", "exclusive")


_RESERVED: Final = ("segments", "segment")
#: Characters a segment name may not hold: separators of list and text files (a label is one cell).
LABEL_SEPARATORS: Final = (";", "\n", "\r")


@attrs.frozen
class _Stat:
    function: str
    argument: Formula
    q: float | None


@attrs.frozen
class _Compiled:
    formulas: tuple[Formula, ...]
    statistics: FrozenDict[str, _Stat]
    fitted: tuple[Formula, ...] | None
    order: tuple[int, ...]


def stat_calls_keys(formula: Formula) -> set[str]:
    """The canonical texts of the statistics *formula* uses."""
    return {key_of(c) for c in stat_calls(formula.tree)}


def _where(i: int, seg: Segment, keyed: bool) -> str:
    return f"segments.{seg.name}" if keyed else f"segments[{i}] ({seg.name!r})"


def _compile(
    r: ConfigReader,
    segments: tuple[Segment, ...],
    *,
    mode: str,
    default: str | None,
    inputs: Mapping[str, Input],
    tables: Mapping[str, Table],
    thresholds: Mapping[str, float | None] | None,
    where: str,
    keyed: bool = False,
) -> _Compiled | None:
    """Check and compile the rules, recording every problem in *r*; ``None`` if there are any."""
    start = len(r.problems)
    if mode not in _MODES:
        r.problem("rules.mode", f"expected 'multi' or 'exclusive', got {mode!r}")
    if default is not None and any(ch in default for ch in LABEL_SEPARATORS):
        r.problem("rules.default", f"a segment name may not contain ';', got {default!r}")
    if mode == "exclusive" and default is None:
        r.problem(
            "rules.default",
            "missing (required in exclusive mode): the segment of customers no rule matches",
        )
    if mode == "multi" and default is not None:
        r.problem(
            "rules.default",
            "a default segment applies to exclusive mode only",
            "set mode = 'exclusive', or remove default",
        )
    if not segments:
        r.problem(where, "expected at least one segment")
    schema: dict[str, str] = {**SEGMENT_INPUTS, **{k: v.type for k, v in inputs.items()}}
    seen: dict[str, int] = {}
    formulas: list[Formula] = []
    statistics: dict[str, _Stat] = {}
    for i, seg in enumerate(segments):
        at = _where(i, seg, keyed)
        if not isinstance(seg.name, str) or not seg.name.strip() or seg.name != seg.name.strip():
            r.problem(
                at,
                f"a segment name must be a non-empty string without outer spaces, got {seg.name!r}",
            )
        elif seg.name in _RESERVED:
            r.problem(at, f"{seg.name!r} is the name of an output column; choose another name")
        elif any(ch in seg.name for ch in LABEL_SEPARATORS):
            r.problem(
                at,
                f"a segment name may not contain {' or '.join(map(repr, LABEL_SEPARATORS))} "
                f"(a label must read as one value in every file), got {seg.name!r}",
            )
        elif seg.name in seen:
            r.problem(
                at, f"duplicate segment name {seg.name!r} (also segment {seen[seg.name] + 1})"
            )
        else:
            seen[seg.name] = i
        if default is not None and seg.name == default:
            r.problem(at, f"{seg.name!r} is also the default segment; a default has no rule")
        if not isinstance(seg.priority, int | float) or isinstance(seg.priority, bool):
            r.problem(f"{at}.priority", f"expected a number, got {seg.priority!r}")
        if not seg.rule:
            if isinstance(seg.rule, str):
                r.problem(f"{at}.rule", "expected a rule (formula text), got an empty string")
            continue
        try:
            formula = Formula(seg.rule, schema=schema, tables=tables, functions=STAT_FUNCTIONS)
        except FormulaError as err:
            r.extend(err.problems, f"{at}.rule")
            continue
        if formula.result_type != "bool":
            r.problem(
                f"{at}.rule",
                f"a rule must give a bool, this gives a {formula.result_type}",
                "compare it, e.g. total_spend >= 1000",
            )
            continue
        ok = True
        for call in stat_calls(formula.tree):
            arg = call.args[0]
            if stat_calls(arg):
                r.problems.append(
                    Problem(
                        where=f"{at}.rule",
                        message=f"{call.function}() cannot contain another population statistic",
                        position=call.pos,
                        source=seg.rule,
                    )
                )
                ok = False
                continue
            if not any(isinstance(n, Name) for n in walk(arg)):
                r.problems.append(
                    Problem(
                        where=f"{at}.rule",
                        message=f"{call.function}() needs a column, e.g. {call.function}(total_spend)",
                        position=call.pos,
                        source=seg.rule,
                    )
                )
                ok = False
                continue
            key = key_of(call)
            if key not in statistics:
                argument = Formula(unparse(arg), schema=schema, tables=tables)
                q = None
                if call.function == "quantile":
                    q_value = Formula(unparse(call.args[1])).evaluate({})
                    q = float(q_value) if isinstance(q_value, float) else None
                statistics[key] = _Stat(call.function, argument, q)
        if ok:
            formulas.append(formula)
    fitted: tuple[Formula, ...] | None = None
    if thresholds is not None:
        for key in thresholds:
            if key not in statistics:
                r.problem(
                    f"thresholds.{key}",
                    "no rule uses this population statistic",
                    did_you_mean(key, list(statistics)),
                )
        for key in statistics:
            if key not in thresholds:
                r.problem(
                    "thresholds",
                    f"missing the fitted value of {key}",
                    "fit the rules again with rules.fit(frame)",
                )
    if len(r.problems) > start:
        return None
    if thresholds is not None:
        fn = freeze(thresholds)
        fitted = tuple(f.transform(fn) if stat_calls(f.tree) else f for f in formulas)
    elif not statistics:
        fitted = tuple(formulas)
    order = tuple(sorted(range(len(segments)), key=lambda i: -float(segments[i].priority)))
    return _Compiled(
        formulas=tuple(formulas),
        statistics=FrozenDict(statistics),
        fitted=fitted,
        order=order,
    )
