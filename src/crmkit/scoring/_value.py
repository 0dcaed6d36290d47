"""Composite customer value: a configurable sum of weighted formula components.

One definition, two engines: :meth:`ValueModel.score` evaluates every
component over whole columns, :meth:`ValueModel.score_one` over one
customer's mapping, with bit-for-bit the same arithmetic (the same
operations in the same order), so the two agree exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import (
    ConfigReader,
    Definition,
    MissingColumnError,
    ValidationError,
    check_frame,
    did_you_mean,
)
from crmkit.domain import FrozenDict
from crmkit.expr import Formula, Table, read_formula, read_inputs, read_tables
from crmkit.scoring._columns import FEATURE_INPUTS
from crmkit.scoring._extension import MODEL_INPUTS

__all__ = ["PROFILE_TYPES", "VALUE_INPUTS", "Component", "Score", "ValueModel"]

#: Profile attributes (from :func:`~crmkit.scoring.profile_frame`) a value model may read.
PROFILE_TYPES: Final = FrozenDict(
    {
        "spending_budget": "number",
        "share_of_wallet": "number",
        "influence": "string",
        "is_member": "bool",
        "kind": "string",
        "member_tier": "string",
    }
)

#: Every name a value model may read without declaring it: features, the model outputs of
#: a feature extension (``MODEL_INPUTS``) and profile attributes.
VALUE_INPUTS: Final = FrozenDict({**FEATURE_INPUTS, **MODEL_INPUTS, **PROFILE_TYPES})


@attrs.frozen
class Component:
    """One component of a value model: ``contribution = clip(weight * formula, floor, cap)``.

    Attributes:
        name: the component's name; its contribution column is ``value_<name>``.
        formula: a number-valued formula over features and profile attributes.
        weight: what one unit of the formula is worth in value points.
        floor: the lowest contribution, if bounded.
        cap: the highest contribution, if bounded.
        null_as: the contribution when the formula is null (missing inputs);
            ``None`` makes the whole value null instead.
        description: what the component measures, for people.
    """

    name: str
    formula: Formula
    weight: float = 1.0
    floor: float | None = None
    cap: float | None = None
    null_as: float | None = 0.0
    description: str = ""

    def contribution(self, raw: float | None) -> float | None:
        """The contribution of a formula result (scalar path)."""
        if raw is None:
            return self.null_as
        c = self.weight * raw
        if self.floor is not None:
            c = max(c, self.floor)
        if self.cap is not None:
            c = min(c, self.cap)
        return None if math.isnan(c) else c

    def contributions(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The contributions of a column of formula results (columnar path; NaN is null)."""
        with np.errstate(all="ignore"):
            c = self.weight * raw
            if self.floor is not None:
                c = np.where(np.isnan(c), c, np.maximum(c, self.floor))
            if self.cap is not None:
                c = np.where(np.isnan(c), c, np.minimum(c, self.cap))
        fill = np.nan if self.null_as is None else self.null_as
        return np.where(np.isnan(raw), fill, c)


@attrs.frozen
class Score:
    """One customer's composite value, with the contribution of each component.

    Attributes:
        value: the composite value (``None`` if a component without a
            ``null_as`` was null).
        contributions: component name -> contribution.
        raw: component name -> the formula's result before weighting.
        inputs: every input the formulas read, with the value used.
        model: the model's name.
        version: the model's version.
    """

    value: float | None
    contributions: FrozenDict[str, float | None]
    raw: FrozenDict[str, float | None]
    inputs: FrozenDict[str, Any]
    model: str
    version: str
    components: tuple[Component, ...] = attrs.field(repr=False)

    def explain(self) -> str:
        """A readable breakdown: each component's formula, inputs, raw result and contribution.

        >>> model = ValueModel.from_dict({
        ...     "model": {"name": "tiny", "version": "1"},
        ...     "components": {
        ...         "spend": {"formula": "total_spend", "weight": 0.01},
        ...         "tenure": {"formula": "tenure_months", "weight": 2, "cap": 24},
        ...     },
        ... })
        >>> print(model.score_one({"total_spend": 4200.0, "tenure_months": 30.0}).explain())
        value 66.00 (model tiny, version 1)
          spend   42.00 = 0.01 x 4200 | total_spend
                            total_spend = 4200
          tenure  24.00 = 2 x 30, capped at 24 | tenure_months
                            tenure_months = 30
        """

        def num(x: float | None) -> str:
            return "null" if x is None else f"{x:.2f}"

        width = max((len(c.name) for c in self.components), default=0)
        lines = [f"value {num(self.value)} (model {self.model}, version {self.version})"]
        for comp in self.components:
            raw = self.raw[comp.name]
            contribution = self.contributions[comp.name]
            if raw is None:
                how = "formula is null" + (
                    f", counted as {comp.null_as:g}" if comp.null_as is not None else ""
                )
            else:
                how = f"{comp.weight:g} x {raw:g}"
                unclipped = comp.weight * raw
                if comp.cap is not None and unclipped > comp.cap:
                    how += f", capped at {comp.cap:g}"
                if comp.floor is not None and unclipped < comp.floor:
                    how += f", floored at {comp.floor:g}"
            what = comp.formula.text if len(comp.formula.text) <= 40 else comp.description
            if len(what) > 72:
                what = what[:69] + "..."
            lines.append(f"  {comp.name.ljust(width)}  {num(contribution):>6} = {how} | {what}")
            for name in sorted(comp.formula.names):
                value = self.inputs.get(name)
                shown = (
                    "null"
                    if value is None
                    else (f"{value:g}" if isinstance(value, float) else repr(value))
                )
                lines.append(f"  {' ' * width}  {'':>6}   {name} = {shown}")
        return "\n".join(lines)


@attrs.frozen(init=False)
class ValueModel(Definition):
    """A composite customer value model: named, weighted formula components.

    ``value = sum of clip(weight * formula, floor, cap)`` over the components,
    evaluated per customer. Build one from a dict, TOML or JSON (see the
    how-to "Write a value model in TOML"), or start from :meth:`default`, the
    seven components of the domain. A model is validated when it is built:
    every formula is checked against the known feature and profile names
    (plus any declared ``inputs``), and every problem is reported at once.

    Attributes:
        name: the model's name (appears in every output).
        version: the model's version (appears in every output).
        components: the components, in order.
        tables: lookup tables shared by the formulas.
        inputs: extra input names (beyond features and profile attributes)
            the formulas may read, with their types.

    >>> model = ValueModel.from_toml('''
    ... [model]
    ... name = "spend-and-loyalty"
    ... version = "2025.1"
    ...
    ... [components.spend]
    ... formula = "total_spend"
    ... weight = 0.01
    ...
    ... [components.loyalty]
    ... formula = "tenure_months"
    ... weight = 2
    ... cap = 120
    ... ''')
    >>> model.score_one({"total_spend": 2500.0, "tenure_months": 12.0}).value
    49.0
    """

    definition_name: ClassVar[str] = "value model"

    name: str
    version: str
    components: tuple[Component, ...]
    tables: FrozenDict[str, Table]
    inputs: FrozenDict[str, str]

    def __init__(
        self,
        name: str,
        version: str,
        components: Iterable[Component],
        *,
        tables: Mapping[str, Table] | None = None,
        inputs: Mapping[str, str] | None = None,
    ) -> None:
        comps = tuple(components)
        if not comps:
            raise ValidationError("components", expected="at least one component", got=comps)
        seen: set[str] = set()
        for c in comps:
            if not isinstance(c, Component):
                raise ValidationError("components", expected="Component objects", got=c)
            if c.name in seen:
                raise ValidationError("components", expected="unique names", got=c.name)
            seen.add(c.name)
        self.__attrs_init__(
            name=name,
            version=version,
            components=comps,
            tables=FrozenDict(tables or {}),
            inputs=FrozenDict(inputs or {}),
        )

    # ------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> ValueModel:
        """Build a model from a configuration mapping (the TOML layout, as a dict).

        Raises:
            ConfigError: every problem in the configuration, each with its key
                path and, for formulas, the position and a caret.
        """
        r = ConfigReader(source)
        top = r.section(data, "value model", allowed=["model", "tables", "inputs", "components"])
        head = r.section(
            top.get("model", {}),
            "model",
            allowed=["name", "version", "description"],
            required=["name", "version"],
        )
        name = r.text(head, "model", "name")
        version = head.get("version")
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            version = str(version)
        if "version" in head and not (isinstance(version, str) and version.strip()):
            r.problem("model.version", f"expected a version string such as '1', got {version!r}")
            version = ""

        inputs = {k: v.type for k, v in read_inputs(r, top.get("inputs", {})).items()}
        tables = read_tables(r, top.get("tables", {}))

        schema = {**VALUE_INPUTS, **inputs}
        components: list[Component] = []
        comp_specs = r.section(top.get("components", {}), "components")
        if "components" in top and not comp_specs:
            r.problem("components", "expected at least one component")
        if "components" not in top:
            r.problem("components", "missing (required): at least one component")
        for cname, spec in comp_specs.items():
            where = f"components.{cname}"
            fields = r.section(
                spec,
                where,
                allowed=["formula", "weight", "floor", "cap", "null_as", "description"],
                required=["formula"],
            )
            formula = (
                read_formula(
                    r,
                    fields["formula"],
                    f"{where}.formula",
                    schema=schema,
                    tables=tables,
                    result="number",
                    what="a component",
                )
                if "formula" in fields
                else None
            )
            weight = r.number(fields, where, "weight", default=1.0)
            floor = r.number(fields, where, "floor")
            cap = r.number(fields, where, "cap")
            null_as: float | None = 0.0
            if "null_as" in fields:
                if fields["null_as"] == "null":
                    null_as = None
                else:
                    null_as = r.number(fields, where, "null_as", default=0.0)
            if floor is not None and cap is not None and floor > cap:
                r.problem(where, f"floor {floor:g} is above cap {cap:g}")
            description = fields.get("description", "")
            if not isinstance(description, str):
                r.problem(f"{where}.description", f"expected a string, got {description!r}")
                description = ""
            if formula is not None and weight is not None:
                components.append(
                    Component(cname, formula, weight, floor, cap, null_as, description)
                )
        r.raise_if_problems(what="value model")
        return cls(name, str(version), components, tables=tables, inputs=inputs)

    def to_dict(self) -> dict[str, Any]:
        """The model as a configuration mapping; ``from_dict(model.to_dict()) == model``.

        >>> m = ValueModel.default()
        >>> ValueModel.from_dict(m.to_dict()) == m
        True
        """
        comps: dict[str, Any] = {}
        for c in self.components:
            spec: dict[str, Any] = {"formula": c.formula.text, "weight": c.weight}
            if c.floor is not None:
                spec["floor"] = c.floor
            if c.cap is not None:
                spec["cap"] = c.cap
            spec["null_as"] = "null" if c.null_as is None else c.null_as
            if c.description:
                spec["description"] = c.description
            comps[c.name] = spec
        out: dict[str, Any] = {"model": {"name": self.name, "version": self.version}}
        if self.inputs:
            out["inputs"] = dict(self.inputs)
        if self.tables:
            out["tables"] = {
                k: {
                    "entries": dict(t.entries),
                    **({} if t.default is None else {"default": t.default}),
                }
                for k, t in self.tables.items()
            }
        out["components"] = comps
        return out

    # ------------------------------------------------------------ presets

    @classmethod
    def default(cls, version: int = 2) -> ValueModel:
        """The seven components of composite customer value (see the Composite value page).

        ============== ========================================================== ======
        component      formula                                                    weight
        ============== ========================================================== ======
        consumption    total spend                                                0.01
        frequency      purchases per month                                        20
        average        average spend per month                                    0.1
        credit         spend weighted by settlement-method rate                   0.01
        tenure         months from the first to the latest purchase (cap 120 pts) 2
        growth         budget tier x (1 - share of wallet)                        1
        brand          influence tier points                                      1
        ============== ========================================================== ======

        Args:
            version: ``2`` (the default) counts tenure only up to the latest
                purchase, so months of silence add nothing; ``1`` is the first
                model, whose tenure counted every month since the first
                purchase (kept for hosts that stored its scores).

        >>> print(", ".join(c.name for c in ValueModel.default().components))
        consumption, frequency, average, credit, tenure, growth_potential, brand
        >>> ValueModel.default(version=1).components[4].formula.text
        'tenure_months'
        """
        if version == 2 and not isinstance(version, bool):
            return cls.from_dict(DEFAULT_MODEL)
        if version == 1 and not isinstance(version, bool):
            return cls.from_dict(DEFAULT_MODEL_V1)
        raise ValidationError("version", expected="1 or 2", got=version)

    def drop(self, *names: str) -> ValueModel:
        """A copy without the named components (e.g. those needing profile data you lack).

        >>> ValueModel.default().drop("growth_potential", "brand").version
        '2-drop-brand-growth_potential'
        """
        known = [c.name for c in self.components]
        for n in names:
            if n not in known:
                raise ValidationError(
                    "names", expected="names of components", got=n, hint=did_you_mean(n, known)
                )
        kept = [c for c in self.components if c.name not in names]
        return ValueModel(
            self.name,
            f"{self.version}-drop-{'-'.join(sorted(names))}",
            kept,
            tables=self.tables,
            inputs=self.inputs,
        )

    # ------------------------------------------------------------ scoring

    @property
    def names(self) -> frozenset[str]:
        """Every input name the model's formulas read."""
        return frozenset().union(*(c.formula.names for c in self.components))

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score every row of a frame of features (and profile attributes).

        Returns a new frame with the same index: ``value``, one
        ``value_<component>`` contribution column per component (they sum to
        ``value``), and ``value_model`` (``"name/version"``, categorical).

        Raises:
            MissingColumnError: a column the formulas read is absent; the
                hint says how to add profile columns or drop components.
            FrameError: a column has the wrong type.

        >>> import pandas as pd
        >>> model = ValueModel.default().drop("growth_potential", "brand")
        >>> feats = pd.DataFrame({"total_spend": [1000.0, 50.0], "monthly_frequency": [2.0, 0.5],
        ...     "monthly_avg_spend": [80.0, 5.0], "tenure_months": [12.5, 1.0],
        ...     "days_since_last_purchase": [0.0, 0.0],
        ...     "settlement_share_prepaid": [1.0, None], "settlement_share_cash": [0.0, None],
        ...     "settlement_share_on_time": [0.0, None], "settlement_share_on_account": [0.0, None]},
        ...     index=pd.Index(["ann", "bo"], name="customer_id"))
        >>> model.score(feats)[["value", "value_consumption", "value_tenure"]]
                     value  value_consumption  value_tenure
        customer_id
        ann          88.0              10.0          25.0
        bo           13.0               0.5           2.0
        """
        frame = check_frame(frame, "frame", [])
        missing = sorted(n for n in self.names if n not in frame.columns)
        if missing:
            err = MissingColumnError(missing, [str(c) for c in frame.columns])
            profile = [m for m in missing if m in PROFILE_TYPES]
            if profile:
                users = sorted(c.name for c in self.components if c.formula.names & set(profile))
                err.hint = (
                    f"{', '.join(profile)} are profile attributes: join "
                    f"crmkit.profile_frame(customers) onto the features, or drop the "
                    f"components that need them with model.drop({', '.join(map(repr, users))})"
                )
            raise err
        # The same additions in the same order as score_one, so both agree exactly.
        total: npt.NDArray[np.float64] = np.zeros(len(frame))
        columns: dict[str, Any] = {}
        for comp in self.components:
            raw = comp.formula.evaluate_arrays(
                {n: frame[n] for n in comp.formula.names}, size=len(frame)
            )
            values = np.ma.filled(raw.astype(np.float64), np.nan)
            contribution = comp.contributions(values)
            columns[f"value_{comp.name}"] = contribution
            with np.errstate(invalid="ignore"):  # inf + -inf is null, as in score_one
                total = total + contribution
        out = pd.DataFrame({"value": total, **columns}, index=frame.index)
        out["value_model"] = pd.Categorical.from_codes(
            np.zeros(len(frame), dtype=np.int8),
            dtype=pd.CategoricalDtype([f"{self.name}/{self.version}"]),
        )
        return out

    def score_one(self, values: Mapping[str, Any]) -> Score:
        """Score one customer from a mapping of features and profile attributes.

        Gives exactly what :meth:`score` gives for the same values in a row.

        Raises:
            ValidationError: a value the formulas read is missing or has the wrong type.
        """
        if not isinstance(values, Mapping):
            raise ValidationError(
                "values", expected="a mapping of names to values", got=type(values).__name__
            )
        raws: dict[str, float | None] = {}
        contributions: dict[str, float | None] = {}
        total: float | None = 0.0
        for comp in self.components:
            raw = comp.formula.evaluate(values)
            raw_f = None if raw is None else float(raw)
            c = comp.contribution(raw_f)
            raws[comp.name] = raw_f
            contributions[comp.name] = c
            total = None if total is None or c is None else total + c
        if total is not None and math.isnan(total):
            total = None
        inputs = {n: values.get(n) for n in sorted(self.names)}
        return Score(
            value=total,
            contributions=FrozenDict(contributions),
            raw=FrozenDict(raws),
            inputs=FrozenDict(inputs),
            model=self.name,
            version=self.version,
            components=self.components,
        )


_CREDIT = (
    "total_spend * ("
    "coalesce(settlement_share_prepaid, 0) * settlement_rate['prepaid'] + "
    "coalesce(settlement_share_cash, 0) * settlement_rate['cash'] + "
    "coalesce(settlement_share_on_time, 0) * settlement_rate['on_time'] + "
    "coalesce(settlement_share_on_account, 0) * settlement_rate['on_account'])"
)
_GROWTH = (
    "(40 if spending_budget >= 100000 else 20 if spending_budget >= 20000 "
    "else 10 if spending_budget >= 5000 else 0) * (1 - coalesce(share_of_wallet, 0.5))"
)

DEFAULT_MODEL_V1: dict[str, Any] = {
    "model": {"name": "crmkit-default", "version": "1"},
    "tables": {
        "settlement_rate": {
            "entries": {"prepaid": 0.5, "cash": 0.4, "on_time": 0.25, "on_account": 0.0},
        },
        "influence_points": {
            "entries": {"none": 0.0, "senior_position": 30.0, "celebrity": 80.0},
            "default": 0.0,
        },
    },
    "components": {
        "consumption": {
            "formula": "total_spend",
            "weight": 0.01,
            "description": "total spend: 1 point per 100 spent",
        },
        "frequency": {
            "formula": "monthly_frequency",
            "weight": 20.0,
            "description": "purchases per month: 20 points per monthly purchase",
        },
        "average": {
            "formula": "monthly_avg_spend",
            "weight": 0.1,
            "description": "average spend per month: 1 point per 10 spent a month",
        },
        "credit": {
            "formula": _CREDIT,
            "weight": 0.01,
            "description": "how the customer settles: per 100 spent, 0.5 points prepaid, "
            "0.4 cash, 0.25 on time, 0 on account",
        },
        "tenure": {
            "formula": "tenure_months",
            "weight": 2.0,
            "cap": 120.0,
            "description": "loyalty: 2 points per month since the first purchase, at most 120",
        },
        "growth_potential": {
            "formula": _GROWTH,
            "weight": 1.0,
            "description": "budget tier (40/20/10/0 points) times the share of wallet not yet won",
        },
        "brand": {
            "formula": "influence_points[influence]",
            "weight": 1.0,
            "description": "brand contribution: 30 points for a senior position, 80 for a celebrity",
        },
    },
}

#: Version 2: tenure counts the months from the first to the latest purchase
#: (``tenure_months`` less the months since the last purchase), so a customer
#: who bought once long ago no longer earns value by waiting. Measured on
#: CDNOW master (calibration to 1997-09-30, holdout to 1998-06-30): Spearman
#: with holdout spend 0.458 (version 1: 0.416; RFM: 0.453).
DEFAULT_MODEL: dict[str, Any] = {
    **DEFAULT_MODEL_V1,
    "model": {"name": "crmkit-default", "version": "2"},
    "components": {
        **DEFAULT_MODEL_V1["components"],
        "tenure": {
            "formula": "max(tenure_months - days_since_last_purchase / 30.4375, 0)",
            "weight": 2.0,
            "cap": 120.0,
            "description": (
                "loyalty: 2 points per month from the first to the latest purchase, at most 120"
            ),
        },
    },
}
