"""Lifecycle definitions: states and guarded transitions, as data, validated when built.

The machine does not own the state: :meth:`Lifecycle.step` takes a customer's
current stage and features and returns the next stage (and the record of the
transition that fired); :meth:`Lifecycle.classify` does the same for every row
of a frame at once, with exactly the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, cast

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import (
    AsOf,
    ConfigReader,
    Definition,
    FrameError,
    MissingColumnError,
    ValidationError,
    check_frame,
    did_you_mean,
    parse_as_of,
    to_instant,
)
from crmkit.domain import Activity, FrozenDict, Purchase
from crmkit.expr import read_formula, read_inputs
from crmkit.lifecycle._inputs import (
    GUARD_INPUTS,
    _columns_for,
    _plain,
    _values,
    _with_derived,
)
from crmkit.lifecycle._plan import Step, Transition, _Plan
from crmkit.lifecycle._records import LifecycleTransition, TransitionHistory
from crmkit.lifecycle._replay import Replay, run_replay
from crmkit.lifecycle._stored import read_stored_stages
from crmkit.scoring import FeatureExtension, check_extensions, features_one

__all__ = ["Lifecycle", "replay"]


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
class Lifecycle(Definition):
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

    definition_name: ClassVar[str] = "lifecycle"

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

        inputs = {k: v.type for k, v in read_inputs(r, top.get("inputs", {})).items()}
        schema = {**GUARD_INPUTS, **inputs}

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
            guard = (
                read_formula(
                    r,
                    fields["guard"],
                    f"{where}.guard",
                    schema=schema,
                    result="bool",
                    what="a guard",
                )
                if "guard" in fields
                else None
            )
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
        at: AsOf,
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
            ValidationError: *stage* is not a state, *at* is not a time, or a value
                a guard reads is missing or has the wrong type.

        >>> lc = Lifecycle.five_stage()
        >>> s = lc.step("introduction", {"purchase_days": 2, "days_since_last_purchase": 3.0},
        ...             at="2025-02-28T00:00Z", customer_id="ann")
        >>> s.stage, s.transition.transition, dict(s.transition.inputs)
        ('growth', 'second_purchase', {'purchase_days': 2.0})
        """
        self._stage_code(stage, "stage")
        when = to_instant(at, field="at")
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

    def replay_one(
        self,
        activities: Iterable[Activity],
        *,
        customer_id: str,
        as_of: AsOf,
        stage: str | None = None,
        since: AsOf | None = None,
        extensions: Iterable[FeatureExtension] = (),
    ) -> list[Step]:
        """One customer's steps up to *as_of*, month by month: the app's path to the job's stage.

        The customer steps at every month end before *as_of*, and once more
        at *as_of*, on :func:`~crmkit.scoring.features_one` of their
        activities at that instant: exactly what :meth:`replay` with
        ``as_of`` (and so ``crmkit score``) does for the whole base (tested).
        Without a stored *stage* it starts from :attr:`initial` in the month
        of the first purchase; with one (the stage the host stored, reached
        at *since*), it continues from it with the month ends after *since*
        (compared to the microsecond: a month end stored as a ``datetime``,
        ``23:59:59.999999``, is that month end), as :meth:`replay` with
        ``resume=`` does for the whole base.

        Args:
            activities: the customer's activities (entities).
            customer_id: whose (for the transition records).
            as_of: the instant of the last step.
            stage: the stored stage, if the host keeps one.
            since: when the stored stage was reached (required with *stage*).
            extensions: feature extensions whose columns guards read, as for
                :meth:`replay` (here their one-customer path, on
                ``features_one(..., extensions=...)`` at each step).

        Returns:
            One :class:`Step` per step, in time order (empty before the first
            purchase); ``steps[-1].stage`` is the stage as of *as_of*, and
            each ``step.transition`` is the record to keep, if one fired.
            When *as_of* is not a month end its step is provisional (the
            month goes on): to continue later, store the stage of the last
            month end (``steps[-2]``) and that instant as *since*.

        >>> from datetime import UTC, datetime
        >>> from crmkit.domain import Purchase
        >>> buys = [Purchase(id=f"p{i}", customer_id="c", amount=20, currency="EUR",
        ...                  occurred_at=datetime(2025, m, 3, tzinfo=UTC)) for i, m in enumerate([1, 2])]
        >>> steps = Lifecycle.five_stage().replay_one(buys, customer_id="c", as_of="2025-03-15")
        >>> [s.stage for s in steps]
        ['introduction', 'growth', 'growth']
        """
        history = list(activities)
        exts = check_extensions(extensions)
        when = parse_as_of(as_of)
        if stage is None:
            if since is not None:
                raise ValidationError("since", expected="None without a stored stage", got=since)
            purchases = [a for a in history if isinstance(a, Purchase)]
            starts = [to_instant(p.occurred_at, field="occurred_at") for p in purchases]
            firsts = [t for t in starts if t <= when]
            if not firsts:
                return []
            month = pd.Timestamp(min(firsts)).tz_convert(None).to_period("M")
            current = self.initial
        else:
            self._stage_code(stage, "stage")
            if since is None:
                raise ValidationError(
                    "since", expected="when the stored stage was reached", got=None
                )
            after = parse_as_of(since, field="since")
            month = after.tz_convert(None).to_period("M")
            # A month end stored as a datetime (to the microsecond) is that month end.
            if month.end_time.tz_localize("UTC").floor("us") <= after.floor("us"):
                month += 1
            current = stage
        steps: list[Step] = []
        while True:
            end = min(month.end_time.tz_localize("UTC"), when)
            feats = features_one(history, as_of=end, extensions=exts)
            step = self.step(current, feats, at=end, customer_id=customer_id)
            steps.append(step)
            current = step.stage
            if end >= when:
                return steps
            month += 1

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
        frame = check_frame(frame, "frame", [])
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
        codes = np.asarray(
            pd.Index(list(plan.states), dtype=object).get_indexer(values), dtype=np.int64
        )
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
        end: Any = None,
        freq: str = "M",
        customer: str = "customer_id",
        date: str = "occurred_at",
        amount: str = "amount",
        as_of: Any = None,
        extensions: Iterable[FeatureExtension] = (),
        resume: pd.DataFrame | TransitionHistory | None = None,
    ) -> Replay:
        """Replay a transaction log period by period: see :func:`crmkit.lifecycle.replay`."""
        return run_replay(
            self,
            transactions,
            start=start,
            end=end,
            freq=freq,
            customer=customer,
            date=date,
            amount=amount,
            as_of=as_of,
            extensions=extensions,
            resume=resume,
        )

    def stored_stages(
        self,
        stored: pd.DataFrame | TransitionHistory,
        *,
        customer: str = "customer_id",
        until: AsOf | None = None,
    ) -> pd.DataFrame:
        """The stages a host stored, checked: what :meth:`replay` continues from (``resume=``).

        Args:
            stored: either a frame of current stages, one row per customer,
                indexed by customer id or with a *customer* column, with the
                columns ``stage`` (a state of this lifecycle) and ``at`` (when
                the stage was reached or last evaluated: timezone-aware
                times, a ``datetime64[ns, <tz>]`` column or aware
                ``datetime`` objects); or a :class:`TransitionHistory`: each
                customer's latest transition of this lifecycle (records whose
                ``lifecycle`` is :attr:`name`) at or before *until*, its
                ``to_stage`` and ``at`` (one ``for_customer`` call per
                customer of ``latest_stages()``).
            customer: the customer-id column (or the index's name).
            until: the last instant a stored stage may have been reached (a
                replay passes its last period end).

        Returns:
            A frame indexed by customer id (named *customer*): ``stage``
            (categorical over :attr:`states`) and ``at`` (``datetime64[ns, UTC]``).

        Raises:
            MissingColumnError: the frame has no ``stage`` or ``at`` column.
            FrameError: a stage that is not a state or is missing, a missing,
                naive or non-time ``at``, a time after *until*, a missing or
                repeated customer id (naming the column and the customers).

        >>> import pandas as pd
        >>> lc = Lifecycle.five_stage()
        >>> stored = pd.DataFrame({"customer_id": ["a", "b"], "stage": ["growth", "decline"],
        ...     "at": pd.to_datetime(["2025-01-31 23:59:59.999999"] * 2, utc=True)})
        >>> lc.stored_stages(stored)["stage"].tolist()
        ['growth', 'decline']
        >>> lc.stored_stages(stored.assign(stage=["growth", "declin"]))
        Traceback (most recent call last):
        ...
        crmkit.errors.FrameError: stored stages are not states of lifecycle 'five-stage' (first offending rows: 'b'): ... got 'declin' (did you mean 'decline'?)
        """
        return read_stored_stages(self, stored, customer=customer, until=until)

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


def replay(
    lifecycle: Lifecycle,
    transactions: pd.DataFrame,
    *,
    start: AsOf,
    end: AsOf | None = None,
    freq: str = "M",
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    as_of: AsOf | None = None,
    extensions: Iterable[FeatureExtension] = (),
    resume: pd.DataFrame | TransitionHistory | None = None,
) -> Replay:
    """Replay a transaction log: every customer's stage at every period end, and what fired.

    At the last instant of each period from *start*'s to *end*'s, each
    customer with a purchase at or before it takes one step (at most one
    transition per period) from their stage at the previous period end, or
    from the initial state in the period of their first purchase. The
    features the guards read are those :func:`~crmkit.scoring.features` gives
    ``as_of`` that instant (only the transaction features in
    :data:`REPLAY_INPUTS`, plus :data:`DERIVED`; refunds are not read, so
    ``refund_total`` is 0), computed incrementally. Purchases before *start*
    count as history. Deterministic: the same log gives the same result.

    Args:
        lifecycle: the definition.
        transactions: one row per purchase.
        start: a time in the first period.
        end: a time in the last period (may be left out when *as_of* is given).
        freq: the period: ``"M"`` (months, the default), ``"W"`` (weeks ending
            on Sunday), ``"Q"``, ``"Y"`` or ``"D"``.
        customer: the customer-id column.
        date: the timestamp column (naive = UTC).
        amount: the amount column.
        as_of: cut the last period short at this instant: its step is taken
            ``as_of`` it, on the activity at or before it (a customer's stage
            *now*, mid-month). Must lie in the last period.
        extensions: feature extensions (e.g. :class:`crmkit.clv.ClvFeatures`)
            whose columns guards may read: computed at every period end from
            that period's features (``repeat_span`` and ``age`` in days), as
            ``features(..., as_of=<period end>, extensions=...)`` gives them.
            An extension none of whose columns a guard reads is not computed.
        resume: the stages the host stored, to continue from instead of
            replaying from the first purchase: a frame with ``stage`` and
            ``at`` columns, one row per customer (indexed by customer id or
            with the *customer* column), or a :class:`TransitionHistory`
            (each customer's latest transition of this lifecycle at or before
            the last period end); see :meth:`Lifecycle.stored_stages`. A
            customer with a stored stage steps from it at the first period end
            strictly after its ``at`` (to the microsecond: a period end stored
            as a ``datetime`` is that period end); the periods before are not
            stepped (``stages`` holds NaN there, and the stored stage at the
            period end equal to ``at``). The features are still those of the
            whole log. Customers without a stored stage replay from their first
            purchase; stored customers absent from the log are ignored; a
            stored time after the last period end is an error, and so are
            stored ids of another kind than the log's (a history's ids are
            text: text against numbers would match no one). Continuing from
            the stages a replay gave at a period end gives exactly that
            replay's later stages (tested).

    Returns:
        A :class:`Replay`: ``.stages``, ``.transitions``, ``.counts()``,
        ``.matrix(period)``, ``.records()``.

    Raises:
        ValidationError: bad arguments, or a guard reads an input replay does
            not compute.
        MissingColumnError, FrameError: bad transactions (naming the column
            and the first offending rows).

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [10.0, 5.0, 7.0],
    ...     "occurred_at": pd.to_datetime(["2025-01-03", "2025-02-10", "2025-02-11"])})
    >>> r = replay(Lifecycle.five_stage(), tx, start="2025-01-01", end="2025-03-31")
    >>> r.stages
                2025-01       2025-02       2025-03
    customer_id
    a      introduction        growth        growth
    b               NaN  introduction  introduction
    >>> r.transitions[["customer_id", "period", "from_stage", "to_stage", "transition"]]
      customer_id   period    from_stage to_stage       transition
    0           a  2025-02  introduction   growth  second_purchase

    Continuing from the stages stored at the end of January (``b`` has none):

    >>> stored = pd.DataFrame({"stage": ["introduction"],
    ...     "at": pd.to_datetime(["2025-01-31 23:59:59.999999"], utc=True)},
    ...     index=pd.Index(["a"], name="customer_id"))
    >>> again = replay(Lifecycle.five_stage(), tx, start="2025-01-01", end="2025-03-31",
    ...                resume=stored)
    >>> again.stages
                2025-01       2025-02       2025-03
    customer_id
    a      introduction        growth        growth
    b               NaN  introduction  introduction
    """
    if not isinstance(lifecycle, Lifecycle):
        raise ValidationError("lifecycle", expected="a Lifecycle", got=type(lifecycle).__name__)
    return run_replay(
        lifecycle,
        transactions,
        start=start,
        end=end,
        freq=freq,
        customer=customer,
        date=date,
        amount=amount,
        as_of=as_of,
        extensions=extensions,
        resume=resume,
    )
