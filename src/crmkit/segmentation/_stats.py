"""Population statistics in rules: ``quantile(x, q)``, ``mean(x)``, ``median(x)``, ``std(x)``, ``min_of(x)``, ``max_of(x)``.

They are registered as functions so that a rule that uses them checks like
any other formula, but they are never evaluated row by row: :meth:`fit
<crmkit.segmentation.SegmentRules.fit>` computes each one once over the whole
frame and replaces the call by the constant (see :func:`freeze`).

Every statistic skips nulls (NaN); infinities count as values. A statistic of
no values at all (an empty frame, or a column of nulls) is null, so a
comparison with it is null and the rule does not hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from crmkit.expr import DEFAULT_FUNCTIONS, Call, Const, Function, Node, unparse, walk

__all__ = [
    "STATISTICS",
    "STAT_FUNCTIONS",
    "compute",
    "freeze",
    "stat_calls",
]


def _unfitted_scalar(*args: Any) -> float:
    # Never reached through SegmentRules (it refuses to evaluate unfitted
    # statistics); a null keeps the function total as the registry requires.
    return math.nan


def _unfitted_columnar(*args: Any) -> npt.NDArray[np.float64]:
    size = max((np.size(a) for a in args), default=0)
    return np.full(size, np.nan)


def _validate_q(q: float | None = None) -> str | None:
    if q is None:
        return None
    if not 0.0 <= q <= 1.0:
        return f"the quantile must be between 0 and 1, got {q!r}"
    return None


def _stat(name: str, doc: str) -> Function:
    return Function(
        name=name,
        params=("number",),
        result="number",
        scalar=_unfitted_scalar,
        columnar=_unfitted_columnar,
        doc=doc,
    )


_FUNCTIONS: Final = (
    Function(
        name="quantile",
        params=("number", "number"),
        result="number",
        scalar=_unfitted_scalar,
        columnar=_unfitted_columnar,
        constant=(1,),
        validate=_validate_q,
        doc="population statistic: the q-quantile of x over all customers (linear interpolation)",
    ),
    _stat("mean", "population statistic: the mean of x over all customers"),
    _stat("median", "population statistic: the median of x over all customers"),
    _stat("std", "population statistic: the standard deviation of x (ddof=0)"),
    _stat("min_of", "population statistic: the smallest x over all customers"),
    _stat("max_of", "population statistic: the largest x over all customers"),
)

STATISTICS: Final = frozenset(f.name for f in _FUNCTIONS)
"""The names of the population statistics."""

STAT_FUNCTIONS: Final = DEFAULT_FUNCTIONS.extend(*_FUNCTIONS)
"""The built-in functions plus the population statistics: what rules are checked against."""


def stat_calls(tree: Node) -> list[Call]:
    """The population-statistic calls in *tree*, outermost first, left to right."""
    return [n for n in walk(tree) if isinstance(n, Call) and n.function in STATISTICS]


def key_of(call: Call) -> str:
    """The canonical text of a statistic call: its key in ``thresholds``."""
    return unparse(call)


def compute(function: str, values: npt.NDArray[np.float64], q: float | None = None) -> float | None:
    """The statistic over *values* (NaN skipped); ``None`` when there is no value.

    >>> import numpy as np
    >>> compute("quantile", np.array([1.0, 2.0, np.nan, 3.0, 4.0]), 0.5)
    2.5
    >>> compute("mean", np.array([np.nan])) is None
    True
    """
    present = values[~np.isnan(values)]
    if present.size == 0:
        return None
    with np.errstate(all="ignore"):
        if function == "quantile":
            result = float(np.quantile(present, q if q is not None else 0.5))
        elif function == "median":
            result = float(np.quantile(present, 0.5))
        elif function == "mean":
            result = float(np.mean(present))
        elif function == "std":
            result = float(np.std(present))
        elif function == "min_of":
            result = float(np.min(present))
        elif function == "max_of":
            result = float(np.max(present))
        else:  # pragma: no cover - guarded by STATISTICS
            msg = f"unknown statistic {function!r}"
            raise ValueError(msg)
    return None if math.isnan(result) else result


def freeze(thresholds: Mapping[str, float | None]) -> Callable[[Node], Node]:
    """A :func:`~crmkit.expr.transform` function replacing each statistic call by its fitted constant."""

    def replace(node: Node) -> Node:
        if isinstance(node, Call) and node.function in STATISTICS:
            value = thresholds[key_of(node)]
            return Const(math.nan if value is None else value, type="number")
        return node

    return replace
