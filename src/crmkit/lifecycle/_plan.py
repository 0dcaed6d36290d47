"""The compiled stepping plan: transitions and steps, and one engine for every path.

:class:`_Plan` orders a definition's transitions by priority, per state and
overall; :meth:`_Plan.run` steps whole arrays of customers at once. Stepping
one customer, classifying a frame and replaying a log all run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import FrozenDict
from crmkit.expr import Formula
from crmkit.lifecycle._records import LifecycleTransition

__all__ = ["Step", "Transition"]


@attrs.frozen
class Transition:
    """One guarded transition: from any of *sources* to *target* when *guard* is true.

    Attributes:
        name: the transition's name (unique in its definition).
        sources: the states it leaves from.
        target: the state it leads to.
        guard: a bool formula over features; null counts as false.
        priority: among the transitions from one state, the lowest number
            whose guard is true fires.
        description: what the transition means, for people.
    """

    name: str
    sources: tuple[str, ...]
    target: str
    guard: Formula
    priority: int
    description: str = ""


@attrs.frozen
class Step:
    """The result of one step: the next stage and, if a transition fired, its record.

    Attributes:
        stage: the stage after the step (the current one if nothing fired).
        transition: the record of the transition that fired, or ``None``.
    """

    stage: str
    transition: LifecycleTransition | None


def _read_only(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.setflags(write=False)
    return array


class _Plan:
    """The compiled stepping plan: transitions ordered by priority, per state and overall."""

    def __init__(self, states: tuple[str, ...], transitions: tuple[Transition, ...]) -> None:
        # Frozen, like the definition that holds the plan.
        self.codes = FrozenDict({s: i for i, s in enumerate(states)})
        self.states = states
        index = FrozenDict({t.name: i for i, t in enumerate(transitions)})
        self.ordered: Mapping[str, tuple[Transition, ...]] = FrozenDict(
            {
                s: tuple(
                    sorted(
                        (t for t in transitions if s in t.sources),
                        key=lambda t: (t.priority, index[t.name]),
                    )
                )
                for s in states
            }
        )
        self.overall = tuple(sorted(transitions, key=lambda t: (t.priority, index[t.name])))
        self.index = index
        self.n_states = len(states)
        self.source_masks = FrozenDict(
            {
                t.name: _read_only(
                    np.isin(np.arange(len(states)), [self.codes[s] for s in t.sources])
                )
                for t in transitions
            }
        )

    def run(
        self, codes: npt.NDArray[np.int64], arrays: Mapping[str, Any], n: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Next-stage codes and fired-transition codes (-1 = none) for every row."""
        target = codes.copy()
        fired = np.full(n, -1, dtype=np.int64)
        undecided = np.ones(n, dtype=bool)
        for t in self.overall:
            leaving = self.source_masks[t.name][codes] & undecided
            if not leaving.any():
                continue
            if leaving.all():
                result = t.guard.evaluate_arrays({k: arrays[k] for k in t.guard.names}, size=n)
                hit = np.flatnonzero(np.ma.filled(result, False))
            else:
                rows = np.flatnonzero(leaving)
                sub = {k: _take(arrays[k], rows) for k in t.guard.names}
                result = t.guard.evaluate_arrays(sub, size=len(rows))
                hit = rows[np.ma.filled(result, False).astype(bool, copy=False)]
            target[hit] = self.codes[t.target]
            fired[hit] = self.index[t.name]
            undecided[hit] = False
        return target, fired


def _take(values: Any, rows: npt.NDArray[np.intp]) -> Any:
    if isinstance(values, pd.Series):
        return values.iloc[rows]
    return np.asarray(values)[rows] if not isinstance(values, np.ma.MaskedArray) else values[rows]
