"""Segment rule sets: named boolean formulas, multi-label or exclusive, with population statistics.

One definition, two engines: :meth:`SegmentRules.assign` evaluates every rule
over whole columns, :meth:`SegmentRules.assign_one` over one customer's
mapping, and both give the same segments (a rule whose result is null does
not hold, on both paths).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import (
    ConfigError,
    ConfigReader,
    Definition,
    MissingColumnError,
    NotFittedError,
    ValidationError,
    check_frame,
    did_you_mean,
)
from crmkit.domain import FrozenDict
from crmkit.expr import (
    Formula,
    Input,
    Table,
    read_inputs,
    read_tables,
)
from crmkit.scoring import PROFILE_TYPES
from crmkit.segmentation._compile import (
    _MODES,
    _compile,
    _Compiled,
    stat_calls_keys,
)
from crmkit.segmentation._explain import Explanation, RuleResult
from crmkit.segmentation._labels import _label_tuples
from crmkit.segmentation._loading import _read_segments, _text
from crmkit.segmentation._segment import Segment
from crmkit.segmentation._stats import compute

__all__ = ["SegmentRules"]


Mode = Literal["multi", "exclusive"]
Scalar = float | bool | str


@attrs.frozen(init=False)
class SegmentRules(Definition):
    """A rule set: named segments, each a boolean formula over a customer's features.

    In **multi-label** mode a customer is in every segment whose rule holds;
    :meth:`assign` gives one boolean column per segment and a ``segments``
    column with the tuple of labels. In **exclusive** mode a customer is in
    the first segment (by priority) whose rule holds, or in the declared
    ``default`` segment; :meth:`assign` gives a categorical ``segment``
    column. A rule whose result is null does not hold.

    Rules may use population statistics (``quantile(x, q)``, ``mean(x)``,
    ``median(x)``, ``std(x)``, ``min_of(x)``, ``max_of(x)``) of the whole
    customer base: :meth:`fit` computes them once and returns rules whose
    thresholds are frozen, visible in :attr:`thresholds` and saved by
    :meth:`to_dict`. Rules are validated when built, every problem at once.

    Args:
        segments: the segments, in order of declaration.
        mode: ``"multi"`` (default) or ``"exclusive"``.
        default: the segment of customers no rule matches (exclusive mode only; required there).
        name: the rule set's name.
        description: what the rule set is for.
        inputs: extra inputs the rules may read (name -> type, or :class:`Input` with a default).
        tables: lookup tables the rules may use.
        thresholds: fitted population statistics (as :meth:`fit` gives them).

    Raises:
        ConfigError: every problem of the rules, with the segment and the
            position in the rule.

    >>> rules = SegmentRules([
    ...     Segment("big", "total_spend >= quantile(total_spend, 0.5)"),
    ...     Segment("frequent", "purchase_days >= 3"),
    ... ])
    >>> import pandas as pd
    >>> feats = pd.DataFrame({"total_spend": [10.0, 500.0, 80.0], "purchase_days": [1, 4, 3]},
    ...                      index=pd.Index(["ann", "bo", "cy"], name="customer_id"))
    >>> fitted = rules.fit(feats)
    >>> dict(fitted.thresholds)
    {'quantile(total_spend, 0.5)': 80.0}
    >>> fitted.assign(feats)
                   big  frequent          segments
    customer_id
    ann          False     False                ()
    bo            True      True  (big, frequent)
    cy            True      True  (big, frequent)
    >>> fitted.assign_one({"total_spend": 60.0, "purchase_days": 5})
    ('frequent',)
    """

    definition_name: ClassVar[str] = "segment rules"

    name: str
    mode: str
    segments: tuple[Segment, ...]
    default: str | None
    description: str
    inputs: FrozenDict[str, Input]
    tables: FrozenDict[str, Table]
    thresholds: FrozenDict[str, float | None] | None
    _compiled: _Compiled = attrs.field(eq=False, repr=False, hash=False)

    def __init__(
        self,
        segments: Iterable[Segment],
        *,
        mode: Mode | str = "multi",
        default: str | None = None,
        name: str = "segments",
        description: str = "",
        inputs: Mapping[str, str | Input] | None = None,
        tables: Mapping[str, Table] | None = None,
        thresholds: Mapping[str, float | None] | None = None,
    ) -> None:
        r = ConfigReader()
        segs = tuple(segments) if isinstance(segments, Iterable) else ()
        if not isinstance(segments, Iterable) or not all(isinstance(s, Segment) for s in segs):
            raise ValidationError("segments", expected="Segment objects", got=segments)
        ins: dict[str, Input] = {}
        for key, spec in (inputs or {}).items():
            if isinstance(spec, Input):
                ins[key] = spec
            else:
                ins[key] = Input(str(spec))
        compiled = _compile(
            r,
            segs,
            mode=mode,
            default=default,
            inputs=ins,
            tables=dict(tables or {}),
            thresholds=thresholds,
            where="segments",
        )
        r.raise_if_problems(what="segment rules")
        if compiled is None:  # pragma: no cover - raise_if_problems raised
            raise ConfigError(r.problems, what="segment rules")
        self.__attrs_init__(
            name=name,
            mode=mode,
            segments=segs,
            default=default,
            description=description,
            inputs=FrozenDict(ins),
            tables=FrozenDict(tables or {}),
            thresholds=None
            if thresholds is None or not (thresholds or compiled.statistics)
            else FrozenDict(thresholds),
            compiled=compiled,
        )

    # ------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> SegmentRules:
        """Build a rule set from a configuration mapping (the TOML layout, as a dict).

        The layout: a ``[rules]`` table (``name``, ``mode``, ``default``,
        ``description``), ``[segments.<name>]`` tables (``rule``,
        ``priority``, ``description``) or a ``[[segments]]`` list with a
        ``name`` each, optional ``[inputs]`` and ``[tables]``, and, for
        fitted rules, ``[thresholds]``. See the how-to "Write segment rules in TOML".

        Raises:
            ConfigError: every problem, each with its key path and, for
                rules, the position in the rule and a caret.

        >>> SegmentRules.from_dict({"segments": {"big": {"rule": "total_spnd > 100"}}})
        Traceback (most recent call last):
        ...
        crmkit.errors.ConfigError: 1 problem in segment rules:
        - segments.big.rule, column 1: unknown name 'total_spnd' (did you mean 'total_spend'?)
            total_spnd > 100
            ^
        """
        r = ConfigReader(source)
        top = r.section(
            data,
            "segment rules",
            allowed=["rules", "inputs", "tables", "segments", "thresholds"],
            required=["segments"],
        )
        head = r.section(
            top.get("rules", {}), "rules", allowed=["name", "mode", "default", "description"]
        )
        name = r.text(head, "rules", "name", default="segments")
        mode = head.get("mode", "multi")
        if mode not in _MODES:
            r.problem("rules.mode", f"expected 'multi' or 'exclusive', got {mode!r}")
            mode = "multi"
        default: str | None = None
        if "default" in head:
            default = r.text(head, "rules", "default") or None
        description = _text(r, head, "rules", "description")
        inputs = read_inputs(r, top.get("inputs", {}), defaults=True)
        tables = read_tables(r, top.get("tables", {}))
        segments = _read_segments(r, top.get("segments"), "segments" in top)
        thresholds: dict[str, float | None] | None = None
        if "thresholds" in top:
            thresholds = {}
            for key, value in r.section(top["thresholds"], "thresholds").items():
                if value == "null":
                    thresholds[key] = None
                elif isinstance(value, bool) or not isinstance(value, int | float):
                    r.problem(f"thresholds.{key}", f"expected a number or 'null', got {value!r}")
                else:
                    thresholds[key] = float(value)
        compiled = _compile(
            r,
            tuple(segments),
            mode=mode,
            default=default,
            inputs=inputs,
            tables=tables,
            thresholds=thresholds,
            where="segments",
            keyed="segments" in top and isinstance(top["segments"], Mapping),
        )
        r.raise_if_problems(what="segment rules")
        del compiled
        return cls(
            segments,
            mode=mode,
            default=default,
            name=name or "segments",
            description=description,
            inputs=inputs,
            tables=tables,
            thresholds=thresholds,
        )

    def to_dict(self) -> dict[str, Any]:
        """The rule set as a configuration mapping, fitted thresholds included.

        ``SegmentRules.from_dict(rules.to_dict()) == rules``. A null
        threshold is written ``"null"`` (TOML has no null).

        >>> rules = SegmentRules([Segment("big", "value >= mean(value)")])
        >>> import pandas as pd
        >>> rules.fit(pd.DataFrame({"value": [1.0, 3.0]})).to_dict()
        {'rules': {'name': 'segments', 'mode': 'multi'}, 'segments': {'big': {'rule': 'value >= mean(value)'}}, 'thresholds': {'mean(value)': 2.0}}
        """
        head: dict[str, Any] = {"name": self.name, "mode": self.mode}
        if self.default is not None:
            head["default"] = self.default
        if self.description:
            head["description"] = self.description
        out: dict[str, Any] = {"rules": head}
        if self.inputs:
            out["inputs"] = {
                k: v.type if v.default is None else {"type": v.type, "default": v.default}
                for k, v in self.inputs.items()
            }
        if self.tables:
            out["tables"] = {
                k: {
                    "entries": dict(t.entries),
                    **({} if t.default is None else {"default": t.default}),
                }
                for k, t in self.tables.items()
            }
        segs: dict[str, Any] = {}
        for s in self.segments:
            spec: dict[str, Any] = {"rule": s.rule}
            if s.priority:
                spec["priority"] = int(s.priority) if float(s.priority).is_integer() else s.priority
            if s.description:
                spec["description"] = s.description
            segs[s.name] = spec
        out["segments"] = segs
        if self.thresholds is not None and self._compiled.statistics:
            out["thresholds"] = {k: "null" if v is None else v for k, v in self.thresholds.items()}
        return out

    # ------------------------------------------------------------ properties

    @property
    def names(self) -> tuple[str, ...]:
        """The segment names, in order of declaration."""
        return tuple(s.name for s in self.segments)

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label :meth:`assign` can give: the segments in the order tried, then the default."""
        names = tuple(self.segments[i].name for i in self._compiled.order)
        return (*names, self.default) if self.default is not None else names

    @property
    def statistics(self) -> tuple[str, ...]:
        """The population statistics the rules use, by canonical text.

        >>> SegmentRules([Segment("a", "x > mean(x) + std(x)")], inputs={"x": "number"}).statistics
        ('mean(x)', 'std(x)')
        """
        return tuple(self._compiled.statistics)

    @property
    def statistic_columns(self) -> frozenset[str]:
        """The inputs the population statistics read: the columns :meth:`fit` needs.

        >>> SegmentRules([Segment("a", "x > mean(x) and y > 1")],
        ...              inputs={"x": "number", "y": "number"}).statistic_columns
        frozenset({'x'})
        """
        return frozenset(self._stat_names())

    @property
    def is_fitted(self) -> bool:
        """Whether the rules can be evaluated: they use no statistic, or all are fitted."""
        return self._compiled.fitted is not None

    @property
    def columns(self) -> frozenset[str]:
        """Every input the rules read (statistics included)."""
        names: set[str] = set()
        for f in self._compiled.formulas:
            names |= f.names
        return frozenset(names)

    def rule(self, name: str) -> Formula:
        """The rule of segment *name* as a formula, fitted if the rules are.

        >>> SegmentRules([Segment("a", "value > 1")]).rule("a")
        Formula('value > 1', ...)
        """
        for i, s in enumerate(self.segments):
            if s.name == name:
                fitted = self._compiled.fitted
                return (fitted or self._compiled.formulas)[i]
        raise ValidationError(
            "name", expected="a segment name", got=name, hint=did_you_mean(name, self.names)
        )

    # ------------------------------------------------------------ changing

    def drop(self, *names: str) -> SegmentRules:
        """A copy without the named segments (e.g. ``member`` when there is no profile data).

        >>> SegmentRules.positioning().drop("member").names
        ('big', 'old', 'potential', 'complaint', 'complaint_severe')
        """
        for n in names:
            if n not in self.names:
                raise ValidationError(
                    "names", expected="names of segments", got=n, hint=did_you_mean(n, self.names)
                )
        kept = [s for s in self.segments if s.name not in names]
        used = set().union(
            *(
                stat_calls_keys(f)
                for s, f in zip(self.segments, self._compiled.formulas, strict=True)
                if s.name not in names
            )
        )
        thresholds = (
            None
            if self.thresholds is None
            else {k: v for k, v in self.thresholds.items() if k in used}
        )
        return SegmentRules(
            kept,
            mode=self.mode,
            default=self.default,
            name=self.name,
            description=self.description,
            inputs=self.inputs,
            tables=self.tables,
            thresholds=thresholds,
        )

    # ------------------------------------------------------------ fitting

    def fit(self, frame: pd.DataFrame) -> SegmentRules:
        """Compute the population statistics on *frame* and return rules with them frozen.

        Every statistic skips nulls; a statistic of no values (empty frame,
        all null) is null, and a rule that compares with it does not hold.
        Rules without statistics are returned fitted as they are.

        Raises:
            MissingColumnError: a column a statistic reads is absent.
            FrameError: a column has the wrong type.

        >>> rules = SegmentRules([Segment("top", "value >= quantile(value, 0.75)")])
        >>> rules.is_fitted
        False
        >>> import pandas as pd
        >>> fitted = rules.fit(pd.DataFrame({"value": [1.0, 2.0, 3.0, 4.0, None]}))
        >>> fitted.thresholds
        FrozenDict({'quantile(value, 0.75)': 3.25})
        >>> fitted.rule("top").text
        'value >= 3.25'
        """
        frame = _frame(frame)
        columns = self._columns(frame, self._stat_names())
        thresholds: dict[str, float | None] = {}
        for key, stat in self._compiled.statistics.items():
            raw = stat.argument.evaluate_arrays(columns, size=len(frame))
            values = np.ma.filled(raw.astype(np.float64), np.nan)
            thresholds[key] = compute(stat.function, values, stat.q)
        return SegmentRules(
            self.segments,
            mode=self.mode,
            default=self.default,
            name=self.name,
            description=self.description,
            inputs=self.inputs,
            tables=self.tables,
            thresholds=thresholds,
        )

    def _stat_names(self) -> set[str]:
        names: set[str] = set()
        for stat in self._compiled.statistics.values():
            names |= stat.argument.names
        return names

    # ------------------------------------------------------------ assigning

    def _require_fitted(self) -> tuple[Formula, ...]:
        fitted = self._compiled.fitted
        if fitted is None:
            raise NotFittedError(self.statistics)
        return fitted

    def _columns(self, frame: pd.DataFrame, names: Iterable[str]) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        missing: list[str] = []
        n = len(frame)
        for name in sorted(names):
            if name in frame.columns:
                columns[name] = frame[name]
            elif name in self.inputs and self.inputs[name].default is not None:
                default = self.inputs[name].default
                dtype = object if isinstance(default, str) else type(default)
                columns[name] = np.full(n, default, dtype=dtype)
            else:
                missing.append(name)
        if missing:
            err = MissingColumnError(missing, [str(c) for c in frame.columns])
            profile = [m for m in missing if m in PROFILE_TYPES]
            if profile:
                users = [
                    s.name
                    for s, f in zip(self.segments, self._compiled.formulas, strict=True)
                    if f.names & set(profile)
                ]
                err.hint = (
                    f"{', '.join(profile)} are profile attributes: join "
                    f"crmkit.profile_frame(customers) onto the features, or drop the "
                    f"segments that need them with rules.drop({', '.join(map(repr, users))})"
                )
            raise err
        return columns

    def held(self, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Whether each rule holds on each row: a ``(rows, segments)`` bool array (null is False).

        >>> rules = SegmentRules([Segment("a", "value > 1"), Segment("b", "value > 2")])
        >>> import pandas as pd
        >>> rules.held(pd.DataFrame({"value": [1.5, None, 3.0]}))
        array([[ True, False],
               [False, False],
               [ True,  True]])
        """
        fitted = self._require_fitted()
        frame = _frame(frame)
        n = len(frame)
        columns = self._columns(frame, set().union(*(f.names for f in fitted)))
        out = np.zeros((n, len(fitted)), dtype=bool, order="F")
        for i, f in enumerate(fitted):
            result = f.evaluate_arrays(columns, size=n)
            out[:, i] = np.ma.filled(result, False)
        return out

    def assign(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Assign every row of a frame of features to its segments.

        Returns a new frame with the same index. Multi-label mode: one bool
        column per segment (in order of declaration) and ``segments``, the
        tuple of the segments whose rule holds. Exclusive mode: ``segment``,
        a categorical of the first segment (by priority) whose rule holds,
        else the default.

        Raises:
            NotFittedError: the rules use population statistics and are not fitted.
            MissingColumnError: a column a rule reads is absent (the hint
                says how to add profile columns or drop segments).
            FrameError: a column has the wrong type.

        >>> rules = SegmentRules(
        ...     [Segment("vip", "value >= 100", priority=1), Segment("active", "purchase_days >= 2")],
        ...     mode="exclusive", default="other",
        ... )
        >>> import pandas as pd
        >>> rules.assign(pd.DataFrame({"value": [150.0, 20.0, None], "purchase_days": [5, 3, 0]}))
          segment
        0     vip
        1  active
        2   other
        """
        frame = _frame(frame)
        held = self.held(frame)
        n, k = held.shape
        index = frame.index
        if self.mode == "exclusive":
            order = self._compiled.order
            codes = np.full(n, k, dtype=np.int32)
            for rank in range(k - 1, -1, -1):
                codes[held[:, order[rank]]] = rank
            labels = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(list(self.labels)))
            return pd.DataFrame({"segment": labels}, index=index)
        out: dict[str, Any] = {s.name: held[:, i] for i, s in enumerate(self.segments)}
        out["segments"] = _label_tuples(held, self.names)
        return pd.DataFrame(out, index=index)

    def _env(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        if not isinstance(values, Mapping | pd.Series):
            raise ValidationError(
                "values", expected="a mapping of names to values", got=type(values).__name__
            )
        fill = {
            k: spec.default
            for k, spec in self.inputs.items()
            if spec.default is not None and k not in values
        }
        return {**values, **fill} if fill else values

    def _results(self, values: Mapping[str, Any]) -> tuple[list[bool | None], Mapping[str, Any]]:
        fitted = self._require_fitted()
        env = self._env(values)
        results: list[bool | None] = []
        for f in fitted:
            result = f.evaluate(env)
            results.append(None if result is None else bool(result))
        return results, env

    def assign_one(self, values: Mapping[str, Any]) -> str | tuple[str, ...]:
        """Assign one customer from a mapping of features (and profile attributes).

        Gives exactly what :meth:`assign` gives for the same values in a row.

        Returns:
            Multi-label mode: the tuple of the segments whose rule holds, in
            order of declaration. Exclusive mode: the segment's name.

        Raises:
            NotFittedError: the rules use population statistics and are not fitted.
            ValidationError: a value a rule reads is missing or has the wrong type.

        >>> rules = SegmentRules([Segment("vip", "value >= 100"), Segment("any", "value >= 0")])
        >>> rules.assign_one({"value": 120.0})
        ('vip', 'any')
        >>> rules.assign_one({"value": None})
        ()
        """
        results, _ = self._results(values)
        if self.mode == "exclusive":
            for i in self._compiled.order:
                if results[i]:
                    return self.segments[i].name
            return str(self.default)  # exclusive rules always have a default
        return tuple(s.name for s, held in zip(self.segments, results, strict=True) if held)

    def explain_one(self, values: Mapping[str, Any]) -> Explanation:
        """Which rules held for one customer, with the values they read.

        >>> rules = SegmentRules([Segment("big", "total_spend >= quantile(total_spend, 0.5)")])
        >>> import pandas as pd
        >>> fitted = rules.fit(pd.DataFrame({"total_spend": [10.0, 30.0]}))
        >>> print(fitted.explain_one({"total_spend": 25.0}))
        segments: big
          yes  big: total_spend >= 20
                 as written: total_spend >= quantile(total_spend, 0.5)
                 total_spend = 25
        """
        results, env = self._results(values)
        fitted = self._require_fitted()
        if self.mode == "exclusive":
            order = self._compiled.order
            segments: tuple[str, ...] = (str(self.assign_one(values)),)
        else:
            order = tuple(range(len(self.segments)))
            segments = tuple(s.name for s, held in zip(self.segments, results, strict=True) if held)
        rows = []
        for i in order:
            f = fitted[i]
            inputs = {n: env.get(n) for n in sorted(f.names)}
            rows.append(
                RuleResult(
                    segment=self.segments[i].name,
                    held=results[i],
                    rule=self.segments[i].rule,
                    fitted=f.text,
                    inputs=FrozenDict(inputs),
                )
            )
        return Explanation(
            segments=segments,
            results=tuple(rows),
            thresholds=self.thresholds or FrozenDict({}),
        )

    # ------------------------------------------------------------ presets

    @classmethod
    def positioning(
        cls,
        *,
        top: float = 0.8,
        old_top: float = 0.7,
        old_tenure_months: float = 24.0,
        potential_top: float = 0.8,
        potential_days: int = 2,
    ) -> SegmentRules:
        """The positioning segments of the domain (multi-label); see the presets how-to.

        ``big``, ``old``, ``potential``, ``complaint``, ``complaint_severe``
        and ``member``. ``potential`` counts a guest of hosted purchases
        through the optional input ``guest_purchases`` (0 when the column is
        absent; :func:`~crmkit.segmentation.guest_purchases` computes it).

        Args:
            top: the spend and frequency quantile a big customer reaches.
            old_top: the spend and frequency quantile an old customer reaches.
            old_tenure_months: the tenure an old customer has, in months.
            potential_top: the quantile of spend per purchase a potential customer reaches.
            potential_days: the most purchase days a potential customer has.

        >>> SegmentRules.positioning().names
        ('big', 'old', 'potential', 'complaint', 'complaint_severe', 'member')
        """
        from crmkit.segmentation._presets import positioning

        return cls.from_dict(
            positioning(
                top=top,
                old_top=old_top,
                old_tenure_months=old_tenure_months,
                potential_top=potential_top,
                potential_days=potential_days,
            )
        )

    @classmethod
    def recency_view(
        cls, *, new_days: float = 30.0, active_days: float = 90.0, lapsed_days: float = 365.0
    ) -> SegmentRules:
        """The e-commerce recency view (exclusive): new, active, lapsed, churned; see the presets how-to.

        >>> SegmentRules.recency_view().labels
        ('new', 'active', 'lapsed', 'churned', 'no_purchase')
        """
        from crmkit.segmentation._presets import recency_view

        return cls.from_dict(
            recency_view(new_days=new_days, active_days=active_days, lapsed_days=lapsed_days)
        )

    @classmethod
    def value_tiers(
        cls, *, high: float = 0.8, medium: float = 0.5, column: str = "value"
    ) -> SegmentRules:
        """Value tiers (exclusive) by quantiles of the composite value: high, medium, low.

        >>> SegmentRules.value_tiers().statistics
        ('quantile(value, 0.8)', 'quantile(value, 0.5)')
        """
        from crmkit.segmentation._presets import value_tiers

        return cls.from_dict(value_tiers(high=high, medium=medium, column=column))


# ---------------------------------------------------------------- helpers


def _frame(frame: object) -> pd.DataFrame:
    return check_frame(frame, "frame", [])
