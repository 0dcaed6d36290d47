"""Lifecycle definitions: states and guarded transitions, as data, validated when built.

The machine does not own the state: :meth:`Lifecycle.step` takes a customer's
current stage and features and returns the next stage (and the record of the
transition that fired); :meth:`Lifecycle.classify` does the same for every row
of a frame at once, with exactly the same result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.domain import FrozenDict
from crmkit.domain._config import ConfigReader, load_source
from crmkit.domain._errors import (
    FrameError,
    MissingColumnError,
    ValidationError,
    did_you_mean,
)
from crmkit.domain._values import to_utc
from crmkit.expr import Formula, FormulaError
from crmkit.lifecycle._records import LifecycleTransition
from crmkit.scoring import FEATURE_COLUMNS

if TYPE_CHECKING:
    from crmkit.lifecycle._replay import Replay

__all__ = ["DERIVED", "KNOWN_INPUTS", "Lifecycle", "Step", "Transition"]

_TIME_COLUMNS = frozenset({"first_purchase", "last_purchase"})
_INT_COLUMNS = frozenset(
    {"purchase_count", "purchase_days", "active_months", "repeat_purchases", "complaint_count"}
)

#: Inputs computed by the lifecycle layer from feature columns, when a guard reads them
#: and the data does not already hold them: name -> formula over features.
DERIVED: dict[str, str] = {
    "usual_gap_days": "repeat_span / repeat_purchases",
    "recency_ratio": "days_since_last_purchase / (repeat_span / repeat_purchases)",
    "spend_trend": "spend_last_3m / spend_prev_3m",
}

#: Every name a guard may read without declaring it: number features and derived inputs.
KNOWN_INPUTS: dict[str, str] = {
    **{name: "number" for name in FEATURE_COLUMNS if name not in _TIME_COLUMNS},
    **dict.fromkeys(DERIVED, "number"),
}

_DERIVED_FORMULAS: dict[str, Formula] = {
    name: Formula(text, schema=KNOWN_INPUTS) for name, text in DERIVED.items()
}

_TYPES = ("number", "bool", "string")


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


def _state_problems(
    r: ConfigReader,
    states: list[str],
    initial: str,
    finals: list[str],
    transitions: list[tuple[str, list[str], str, int | None]],
) -> None:
    """Unknown states, unreachable states, dead ends, priority ties, transitions out of finals."""
    known = set(states)
    seen: set[str] = set()
    for i, s in enumerate(states):
        if s in seen:
            r.problem(f"lifecycle.states[{i}]", f"state {s!r} is listed twice")
        seen.add(s)

    def unknown(where: str, name: str) -> bool:
        if name and name not in known:
            r.problem(where, f"unknown state {name!r}", did_you_mean(name, states))
            return True
        return False

    if initial:
        unknown("lifecycle.initial", initial)
    for i, f in enumerate(finals):
        unknown(f"lifecycle.final[{i}]", f)
    edges: dict[str, set[str]] = {s: set() for s in states}
    by_priority: dict[tuple[str, int], str] = {}
    for name, sources, target, priority in transitions:
        where = f"transitions.{name}"
        bad_target = unknown(f"{where}.to", target)
        for j, src in enumerate(sources):
            if unknown(f"{where}.from[{j}]", src):
                continue
            if src in finals:
                r.problem(
                    f"{where}.from[{j}]",
                    f"{src!r} is a final state: no transition may leave it",
                    "remove it from lifecycle.final, or drop this source",
                )
            if src == target:
                r.problem(
                    f"{where}.from[{j}]",
                    f"the transition leads back to its source {src!r}",
                    "a stage that stays needs no transition",
                )
            if not bad_target and target:
                edges[src].add(target)
            if priority is not None:
                other = by_priority.get((src, priority))
                if other is not None:
                    r.problem(
                        f"{where}.priority",
                        f"transitions {other!r} and {name!r} both leave {src!r} "
                        f"with priority {priority}",
                        "give each transition from a state its own priority",
                    )
                else:
                    by_priority[(src, priority)] = name
    if initial in known:
        reached = {initial}
        todo = [initial]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt not in reached:
                    reached.add(nxt)
                    todo.append(nxt)
        for i, s in enumerate(states):
            if s not in reached:
                r.problem(
                    f"lifecycle.states[{i}]",
                    f"state {s!r} cannot be reached from the initial state {initial!r}",
                )
    for i, s in enumerate(states):
        if s not in finals and not edges.get(s) and states.index(s) == i:
            r.problem(
                f"lifecycle.states[{i}]",
                f"state {s!r} is not final and no transition leaves it",
                "add a transition out of it, or list it in lifecycle.final",
            )


@attrs.frozen(init=False)
class Lifecycle:
    """A lifecycle definition: states, an initial state, final states and guarded transitions.

    Build one from a dict, TOML or JSON (see the how-to "Define your own
    lifecycle"), or start from a preset (:meth:`five_stage`,
    :meth:`b2b_funnel`). It is validated when built, every problem reported
    at once: unknown states, states unreachable from the initial state,
    non-final states with no way out, two transitions from one state with the
    same priority, and guards that fail to check (with the position in the
    formula).

    **Semantics.** One step fires at most one transition: among the
    transitions leaving the current stage, the one with the lowest priority
    number whose guard is true (a null guard is false). If none fires, the
    stage stays. A final state has no transitions, so a customer stays there.

    The machine does not own the state: the host keeps each customer's stage
    on its own entity and passes it in.

    Attributes:
        name: the definition's name.
        version: its version.
        states: the states, in order (the order of categories in outputs).
        initial: where a new customer starts.
        finals: states no transition leaves.
        transitions: the transitions, in order of definition.
        inputs: extra input names guards may read (beyond features and the
            derived inputs), with their types.
        description: what the lifecycle models.

    >>> lc = Lifecycle.from_toml('''
    ... [lifecycle]
    ... name = "tiny"
    ... version = "1"
    ... states = ["new", "regular", "gone"]
    ... initial = "new"
    ... final = ["gone"]
    ...
    ... [transitions.second_visit]
    ... from = "new"
    ... to = "regular"
    ... guard = "purchase_days >= 2"
    ...
    ... [transitions.lapsed]
    ... from = ["new", "regular"]
    ... to = "gone"
    ... guard = "days_since_last_purchase > 365"
    ... priority = 0
    ... ''')
    >>> lc.step("new", {"purchase_days": 2, "days_since_last_purchase": 10.0},
    ...         at="2025-01-31T00:00Z").stage
    'regular'
    """

    name: str
    version: str
    states: tuple[str, ...]
    initial: str
    finals: frozenset[str]
    transitions: tuple[Transition, ...]
    inputs: FrozenDict[str, str]
    description: str
    _plan: Any = attrs.field(repr=False, eq=False)

    def __init__(
        self,
        name: str,
        version: str,
        states: Sequence[str],
        initial: str,
        transitions: Iterable[Transition],
        *,
        finals: Iterable[str] = (),
        inputs: Mapping[str, str] | None = None,
        description: str = "",
    ) -> None:
        trans = tuple(transitions)
        for t in trans:
            if not isinstance(t, Transition):
                raise ValidationError("transitions", expected="Transition objects", got=t)
        names = [t.name for t in trans]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValidationError("transitions", expected="unique names", got=dup)
        r = ConfigReader()
        final_list = list(finals)
        _state_problems(
            r,
            list(states),
            initial,
            final_list,
            [(t.name, list(t.sources), t.target, t.priority) for t in trans],
        )
        for t in trans:
            if t.guard.result_type != "bool":
                r.problem(
                    f"transitions.{t.name}.guard",
                    f"a guard must give True or False, this gives a {t.guard.result_type}",
                )
        r.raise_if_problems(what=f"lifecycle {name!r}")
        self.__attrs_init__(
            name=name,
            version=version,
            states=tuple(states),
            initial=initial,
            finals=frozenset(final_list),
            transitions=trans,
            inputs=FrozenDict(inputs or {}),
            description=description,
            plan=_Plan(tuple(states), trans),
        )

    # ------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Lifecycle:
        """Build a definition from a configuration mapping (the TOML layout, as a dict).

        Raises:
            ConfigError: every problem at once, each with its key path and, for
                guards, the position in the formula and a caret.

        >>> Lifecycle.from_dict({
        ...     "lifecycle": {"name": "x", "version": "1", "states": ["a", "b"],
        ...                   "initial": "a", "final": ["b"]},
        ...     "transitions": {"go": {"from": "a", "to": "c", "guard": "purchase_cont > 1"}},
        ... })
        Traceback (most recent call last):
        ...
        crmkit.errors.ConfigError: 4 problems in lifecycle:
        - transitions.go.guard, column 1: unknown name 'purchase_cont' (did you mean 'purchase_count' or 'purchase_days'?)
            purchase_cont > 1
            ^
        - transitions.go.to: unknown state 'c'
        - lifecycle.states[1]: state 'b' cannot be reached from the initial state 'a'
        - lifecycle.states[0]: state 'a' is not final and no transition leaves it (add a transition out of it, or list it in lifecycle.final)
        """
        r = ConfigReader(source)
        top = r.section(data, "lifecycle", allowed=["lifecycle", "inputs", "transitions"])
        head = r.section(
            top.get("lifecycle", {}),
            "lifecycle",
            allowed=["name", "version", "description", "states", "initial", "final"],
            required=["name", "version", "states", "initial"],
        )
        if "lifecycle" not in top:
            r.problem("lifecycle", "missing (required): name, version, states and initial")
        name = r.text(head, "lifecycle", "name")
        version = head.get("version", "")
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            version = str(version)
        if "version" in head and not (isinstance(version, str) and version.strip()):
            r.problem(
                "lifecycle.version", f"expected a version string such as '1', got {version!r}"
            )
            version = ""
        states = r.names(head, "lifecycle", "states")
        if "states" in head and not states:
            r.problem("lifecycle.states", "expected at least one state")
        initial = r.text(head, "lifecycle", "initial")
        finals = r.names(head, "lifecycle", "final")
        description = head.get("description", "")
        if not isinstance(description, str):
            r.problem("lifecycle.description", f"expected a string, got {description!r}")
            description = ""

        inputs: dict[str, str] = {}
        for key, value in r.section(top.get("inputs", {}), "inputs").items():
            if value not in _TYPES:
                r.problem(f"inputs.{key}", f"expected one of {', '.join(_TYPES)}, got {value!r}")
            else:
                inputs[key] = value
        schema = {**KNOWN_INPUTS, **inputs}

        specs = r.section(top.get("transitions", {}), "transitions")
        if not specs and "transitions" in top:
            r.problem("transitions", "expected at least one transition")
        raw: list[tuple[str, list[str], str, int | None]] = []
        built: list[Transition] = []
        for tname, spec in specs.items():
            where = f"transitions.{tname}"
            fields = r.section(
                spec,
                where,
                allowed=["from", "to", "guard", "priority", "description"],
                required=["from", "to", "guard"],
            )
            src = fields.get("from", [])
            sources: list[str] = []
            if isinstance(src, str) and src:
                sources = [src]
            elif isinstance(src, list) and src and all(isinstance(s, str) and s for s in src):
                sources = list(src)
            elif "from" in fields:
                r.problem(f"{where}.from", f"expected a state or a list of states, got {src!r}")
            target = r.text(fields, where, "to")
            priority: int | None = 1
            if "priority" in fields:
                p = fields["priority"]
                if isinstance(p, bool) or not isinstance(p, int):
                    r.problem(f"{where}.priority", f"expected an integer, got {p!r}")
                    priority = None
                else:
                    priority = p
            guard: Formula | None = None
            text = fields.get("guard")
            if "guard" in fields:
                if not isinstance(text, str):
                    r.problem(f"{where}.guard", f"expected a formula string, got {text!r}")
                else:
                    try:
                        guard = Formula(text, schema=schema)
                    except FormulaError as err:
                        r.extend(err.problems, f"{where}.guard")
                    else:
                        if guard.result_type != "bool":
                            r.problem(
                                f"{where}.guard",
                                f"a guard must give True or False, this gives a "
                                f"{guard.result_type}",
                                "compare it, e.g. (x > 0)",
                            )
                            guard = None
            tdesc = fields.get("description", "")
            if not isinstance(tdesc, str):
                r.problem(f"{where}.description", f"expected a string, got {tdesc!r}")
                tdesc = ""
            raw.append((tname, sources, target, priority))
            if guard is not None and priority is not None and sources and target:
                built.append(Transition(tname, tuple(sources), target, guard, priority, tdesc))
        if states and initial:
            _state_problems(r, states, initial, finals, raw)
        r.raise_if_problems(what="lifecycle")
        return cls(
            name,
            str(version),
            states,
            initial,
            built,
            finals=finals,
            inputs=inputs,
            description=description,
        )

    @classmethod
    def from_toml(cls, source: str | bytes | Any) -> Lifecycle:
        """Build a definition from TOML text or a ``.toml`` file path (see :meth:`from_dict`)."""
        data, origin = load_source(source, "toml")
        return cls.from_dict(data, source=origin)

    @classmethod
    def from_json(cls, source: str | bytes | Any) -> Lifecycle:
        """Build a definition from JSON text or a ``.json`` file path (see :meth:`from_dict`)."""
        data, origin = load_source(source, "json")
        return cls.from_dict(data, source=origin)

    def to_dict(self) -> dict[str, Any]:
        """The definition as a configuration mapping; ``from_dict(lc.to_dict()) == lc``.

        >>> lc = Lifecycle.five_stage()
        >>> Lifecycle.from_dict(lc.to_dict()) == lc
        True
        """
        head: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "states": list(self.states),
            "initial": self.initial,
        }
        if self.finals:
            head["final"] = [s for s in self.states if s in self.finals]
        if self.description:
            head["description"] = self.description
        out: dict[str, Any] = {"lifecycle": head}
        if self.inputs:
            out["inputs"] = dict(self.inputs)
        trans: dict[str, Any] = {}
        for t in self.transitions:
            spec: dict[str, Any] = {
                "from": list(t.sources),
                "to": t.target,
                "guard": t.guard.text,
                "priority": t.priority,
            }
            if t.description:
                spec["description"] = t.description
            trans[t.name] = spec
        out["transitions"] = trans
        return out

    def to_json(self) -> str:
        """The definition as JSON text (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    # ------------------------------------------------------------ presets

    @classmethod
    def five_stage(cls, version: int = 2) -> Lifecycle:
        """The five stages of the domain: introduction, growth, maturity, decline, departed.

        See the Lifecycle concept page for the guards, their default
        thresholds and how to tune them (``to_dict()``, edit, ``from_dict()``).
        ``version=1`` gives the first preset (departure after 120 / 180 days,
        no hysteresis between maturity and decline), for hosts whose stored
        transitions carry it.

        >>> lc = Lifecycle.five_stage()
        >>> lc.states
        ('introduction', 'growth', 'maturity', 'decline', 'departed')
        >>> [t.name for t in lc.transitions]  # doctest: +NORMALIZE_WHITESPACE
        ['one_time_lapsed', 'second_purchase', 'lapsed', 'slowing', 'fading', 'settled',
         'recovered', 'win_back']
        >>> Lifecycle.five_stage(version=1).version
        '1'
        """
        from crmkit.lifecycle._presets import FIVE_STAGE, FIVE_STAGE_V1

        if isinstance(version, bool) or version not in (1, 2):
            raise ValidationError("version", expected="1 or 2", got=version)
        return cls.from_dict(FIVE_STAGE if version == 2 else FIVE_STAGE_V1)

    @classmethod
    def b2b_funnel(cls) -> Lifecycle:
        """A B2B lead funnel: lead, qualified, opportunity, customer, advocate, lost.

        >>> Lifecycle.b2b_funnel().finals
        frozenset({'lost'})
        """
        from crmkit.lifecycle._presets import B2B_FUNNEL

        return cls.from_dict(B2B_FUNNEL)

    # ------------------------------------------------------------ reading

    @property
    def names(self) -> frozenset[str]:
        """Every input name the guards read (derived inputs included)."""
        return frozenset().union(*(t.guard.names for t in self.transitions))

    def transitions_from(self, stage: str) -> tuple[Transition, ...]:
        """The transitions leaving *stage*, in the order they are tried (by priority).

        >>> " > ".join(t.name for t in Lifecycle.five_stage().transitions_from("growth"))
        'lapsed > slowing > settled'
        """
        self._stage_code(stage, "stage")
        plan: _Plan = self._plan
        return plan.ordered[stage]

    def _stage_code(self, stage: object, field: str) -> int:
        plan: _Plan = self._plan
        code = plan.codes.get(stage) if isinstance(stage, str) else None
        if code is None:
            raise ValidationError(
                field,
                expected=f"a state of lifecycle {self.name!r}: {', '.join(self.states)}",
                got=stage,
                hint=did_you_mean(stage, self.states) if isinstance(stage, str) else None,
            )
        return code

    # ------------------------------------------------------------ stepping

    def step(
        self,
        stage: str,
        features: Mapping[str, Any] | pd.Series[Any],
        *,
        at: datetime | str,
        customer_id: str | None = None,
    ) -> Step:
        """One step for one customer: the next stage and the record of what fired.

        Tries the transitions leaving *stage* by priority; the first whose
        guard is true fires (a null guard is false). Derived inputs
        (:data:`DERIVED`) a guard reads are computed from *features* when it
        does not hold them.

        Args:
            stage: the customer's current stage (kept by the host).
            features: the customer's features (e.g. ``features_one(...)`` or a
                row of ``features(...)``), plus any declared inputs.
            at: when the step happens (aware datetime or ISO 8601 text with a
                zone; stored in UTC on the record).
            customer_id: put on the transition record; needed to store it.

        Returns:
            A :class:`Step`; ``step.transition`` is ``None`` when the stage stays.

        Raises:
            ValidationError: *stage* is not a state, *at* is naive, or a value
                a guard reads is missing or has the wrong type.

        >>> lc = Lifecycle.five_stage()
        >>> s = lc.step("introduction", {"purchase_days": 2, "days_since_last_purchase": 3.0},
        ...             at="2025-02-28T00:00Z", customer_id="ann")
        >>> s.stage, s.transition.transition, dict(s.transition.inputs)
        ('growth', 'second_purchase', {'purchase_days': 2.0})
        """
        self._stage_code(stage, "stage")
        when = _when(at)
        values = _values(features)
        plan: _Plan = self._plan
        for t in plan.ordered[stage]:
            env = _with_derived(values, t.guard.names)
            if t.guard.evaluate(env) is True:
                record = None
                inputs = {n: _plain(env.get(n)) for n in sorted(t.guard.names)}
                if customer_id is not None:
                    record = LifecycleTransition(
                        customer_id=customer_id,
                        from_stage=stage,
                        to_stage=t.target,
                        at=when,
                        transition=t.name,
                        inputs=FrozenDict(inputs),
                        lifecycle=self.name,
                        version=self.version,
                    )
                return Step(t.target, record)
        return Step(stage, None)

    def next_stage(
        self, stage: str, features: Mapping[str, Any] | pd.Series[Any]
    ) -> tuple[str, str | None]:
        """The next stage and the name of the transition that fired (or ``None``), without a record.

        >>> Lifecycle.five_stage().next_stage("growth", {"purchase_days": 2,
        ...     "days_since_last_purchase": 400.0, "repeat_span": 30.0, "repeat_purchases": 1,
        ...     "tenure_months": 14.0, "spend_last_3m": 0.0, "spend_prev_3m": 0.0})
        ('departed', 'lapsed')
        """
        self._stage_code(stage, "stage")
        values = _values(features)
        plan: _Plan = self._plan
        for t in plan.ordered[stage]:
            if t.guard.evaluate(_with_derived(values, t.guard.names)) is True:
                return t.target, t.name
        return stage, None

    # ------------------------------------------------------------ classifying

    def classify(
        self,
        frame: pd.DataFrame,
        current: str | pd.Series[Any] | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Every row's next stage: exactly what :meth:`step` gives for each row.

        Args:
            frame: one row per customer with the columns the guards read
                (e.g. the output of ``features``).
            current: the current stages: the name of a column of *frame*, a
                Series aligned to *frame*'s index, or a sequence with one stage
                per row. ``None`` starts every row at the initial state.

        Returns:
            A new frame with *frame*'s index: ``stage`` (the next stage,
            categorical over the states in order) and ``transition`` (the
            transition that fired, categorical, NaN where the stage stays).

        Raises:
            MissingColumnError: a column a guard reads is absent.
            FrameError: a current stage is not a state (naming the rows), or a
                column has the wrong type.

        >>> import pandas as pd
        >>> feats = pd.DataFrame({"purchase_days": [1, 3], "days_since_last_purchase": [400.0, 5.0],
        ...     "repeat_span": [0.0, 40.0], "repeat_purchases": [0, 2], "tenure_months": [7.0, 2.0],
        ...     "spend_last_3m": [0.0, 90.0], "spend_prev_3m": [0.0, 0.0]}, index=["ann", "bo"])
        >>> Lifecycle.five_stage().classify(feats)
                    stage       transition
        ann      departed  one_time_lapsed
        bo         growth  second_purchase
        """
        if not isinstance(frame, pd.DataFrame):
            raise ValidationError("frame", expected="a pandas DataFrame", got=type(frame).__name__)
        n = len(frame)
        codes = self._current_codes(frame, current)
        plan: _Plan = self._plan
        arrays = _columns_for(frame, self.names)
        target, fired = plan.run(codes, arrays, n)
        stage = pd.Categorical.from_codes(target, dtype=pd.CategoricalDtype(list(self.states)))
        names = [t.name for t in self.transitions]
        transition = pd.Categorical.from_codes(fired, dtype=pd.CategoricalDtype(names))
        return pd.DataFrame({"stage": stage, "transition": transition}, index=frame.index)

    def _current_codes(self, frame: pd.DataFrame, current: object) -> npt.NDArray[np.int64]:
        n = len(frame)
        plan: _Plan = self._plan
        if current is None:
            return np.full(n, plan.codes[self.initial], dtype=np.int64)
        if isinstance(current, str):
            if current not in frame.columns:
                raise MissingColumnError([current], [str(c) for c in frame.columns])
            values: Any = frame[current]
            label = f"frame[{current!r}]"
        elif isinstance(current, pd.Series):
            if not current.index.equals(frame.index):
                raise FrameError(
                    "current is not aligned with frame",
                    column="current",
                    expected="a Series with the frame's index",
                    hint="pass current.reindex(frame.index)",
                )
            values = current
            label = "current"
        else:
            items = list(cast("Iterable[Any]", current))
            if len(items) != n:
                raise FrameError(
                    "current has the wrong length",
                    column="current",
                    expected=f"{n} stages",
                    got=str(len(items)),
                )
            values = np.empty(n, dtype=object)
            values[:] = items
            label = "current"
        codes = np.asarray(plan.state_index.get_indexer(values), dtype=np.int64)
        bad = codes < 0
        if bad.any():
            rows = list(frame.index[bad][:10])
            first = np.asarray(values, dtype=object)[np.argmax(bad)]
            raise FrameError(
                f"{label} holds stages that are not states of lifecycle {self.name!r}",
                column=label,
                rows=rows,
                expected=", ".join(self.states),
                got=repr(first),
                hint=did_you_mean(first, self.states) if isinstance(first, str) else None,
            )
        return codes

    def replay(
        self,
        transactions: pd.DataFrame,
        *,
        start: Any,
        end: Any,
        freq: str = "M",
        customer: str = "customer_id",
        date: str = "occurred_at",
        amount: str = "amount",
    ) -> Replay:
        """Replay a transaction log period by period: see :func:`crmkit.lifecycle.replay`."""
        from crmkit.lifecycle._replay import replay

        return replay(
            self,
            transactions,
            start=start,
            end=end,
            freq=freq,
            customer=customer,
            date=date,
            amount=amount,
        )

    # ------------------------------------------------------------ reports

    def to_mermaid(self) -> str:
        """The definition as a Mermaid ``stateDiagram-v2`` (states, transitions, names).

        >>> print(Lifecycle.b2b_funnel().to_mermaid())  # doctest: +ELLIPSIS
        stateDiagram-v2
            [*] --> lead
            lead --> qualified: qualify
        ...
            lost --> [*]
        """
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        lines += [
            f"    {src} --> {t.target}: {t.name}" for t in self.transitions for src in t.sources
        ]
        lines += [f"    {s} --> [*]" for s in self.states if s in self.finals]
        return "\n".join(lines)


def _when(at: object) -> datetime:
    """*at* as an aware UTC datetime (ISO 8601 text must carry a zone)."""
    if isinstance(at, str):
        try:
            stamp = pd.Timestamp(at.strip())
        except (ValueError, TypeError, OverflowError):
            raise ValidationError(
                "at", expected="an aware datetime or ISO 8601 text with a zone", got=at
            ) from None
        return to_utc("at", None if pd.isna(stamp) else stamp.to_pydatetime())
    return to_utc("at", at)


def _values(features: object) -> dict[str, Any]:
    if isinstance(features, pd.Series):
        return {str(k): v for k, v in features.items()}
    if not isinstance(features, Mapping):
        raise ValidationError(
            "features", expected="a mapping of feature names to values", got=type(features).__name__
        )
    return dict(features)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, (int, np.integer)):
        return float(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _with_derived(values: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """*values* plus the derived inputs among *names* that *values* lacks (scalar path)."""
    for name in names:
        if name in DERIVED and name not in values:
            values[name] = _DERIVED_FORMULAS[name].evaluate(values)
    return values


def _columns_for(frame: pd.DataFrame, names: frozenset[str]) -> dict[str, Any]:
    """The columns the guards read, derived inputs computed (columnar path)."""
    wanted: set[str] = set()
    for name in names:
        if name in DERIVED and name not in frame.columns:
            wanted |= _DERIVED_FORMULAS[name].names
        else:
            wanted.add(name)
    missing = sorted(w for w in wanted if w not in frame.columns)
    if missing:
        raise MissingColumnError(missing, [str(c) for c in frame.columns])
    arrays: dict[str, Any] = {w: frame[w] for w in wanted}
    return derive_arrays(arrays, names, len(frame))


def derive_arrays(arrays: dict[str, Any], names: frozenset[str], n: int) -> dict[str, Any]:
    """Add the derived inputs among *names* that *arrays* lacks (as float arrays, NaN = null)."""
    for name in names:
        if name in DERIVED and name not in arrays:
            f = _DERIVED_FORMULAS[name]
            result = f.evaluate_arrays({k: arrays[k] for k in f.names}, size=n)
            arrays[name] = np.ma.filled(result.astype(np.float64), np.nan)
    return arrays


class _Plan:
    """The compiled stepping plan: transitions ordered by priority, per state and overall."""

    def __init__(self, states: tuple[str, ...], transitions: tuple[Transition, ...]) -> None:
        self.codes = {s: i for i, s in enumerate(states)}
        self.state_index = pd.Index(list(states), dtype=object)
        index = {t.name: i for i, t in enumerate(transitions)}
        self.ordered: dict[str, tuple[Transition, ...]] = {
            s: tuple(
                sorted(
                    (t for t in transitions if s in t.sources),
                    key=lambda t: (t.priority, index[t.name]),
                )
            )
            for s in states
        }
        self.overall = tuple(sorted(transitions, key=lambda t: (t.priority, index[t.name])))
        self.index = index
        self.n_states = len(states)
        self.source_masks = {
            t.name: np.isin(np.arange(len(states)), [self.codes[s] for s in t.sources])
            for t in transitions
        }

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
