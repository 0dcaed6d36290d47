"""One configuration file for the whole job: value, segments, lifecycle, loyalty and CLV features.

Each section is exactly what the section's own loader accepts, so each also
loads alone; problems from every section are collected, re-homed under the
section's key, and raised together as one :class:`~crmkit.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from crmkit.core import ConfigError, ConfigReader, Definition
from crmkit.domain import FrozenDict
from crmkit.lifecycle import Lifecycle
from crmkit.loyalty import EarningRules, TierTable
from crmkit.scoring import ValueModel
from crmkit.segmentation import SegmentRules

if TYPE_CHECKING:  # crmkit.clv (scipy) loads only for a [clv] section: `import crmkit` stays light
    from crmkit.clv import ClvFeatures

__all__ = ["Config"]

# The top-level keys each loader accepts (checked here, so that an unknown key
# is reported under the section's own key path).
_ALLOWED: dict[str, list[str]] = {
    "value": ["model", "tables", "inputs", "components"],
    "segments": ["rules", "inputs", "tables", "segments", "thresholds"],
    "lifecycle": ["lifecycle", "inputs", "transitions"],
    "loyalty.earning": [
        "reversal_policy",
        "rounding",
        "expires_after_days",
        "base",
        "tier_multipliers",
        "campaigns",
        "referral",
    ],
    "loyalty.tiers": ["measure", "window_days", "evaluation_months", "grace_days", "tiers"],
    "clv": ["horizon", "discount_rate", "step", "purchases", "spend"],
}


def _load(
    r: ConfigReader, loader: Any, data: object, where: str, kind: str
) -> Any | None:  # the loaders share from_dict(data) -> instance
    spec = r.section(data, where, allowed=_ALLOWED[kind])
    if not isinstance(data, Mapping):
        return None
    known = {k: v for k, v in spec.items() if k in _ALLOWED[kind]}  # the rest is reported
    try:
        return loader.from_dict(known)
    except ConfigError as err:
        r.extend(err.problems, where)
        return None


def _frozen_rules(rule_sets: Mapping[str, SegmentRules]) -> FrozenDict[str, SegmentRules]:
    return FrozenDict(dict(rule_sets))


@attrs.frozen(kw_only=True)
class Config(Definition):
    """One configuration for the whole job, loaded from one TOML (or JSON) file.

    Sections (each optional, each exactly what its own loader accepts):

    ========================= =====================================================
    section                   loader
    ========================= =====================================================
    ``[value]``               :meth:`ValueModel.from_dict <crmkit.ValueModel.from_dict>`
    ``[segments.<name>]``     :meth:`SegmentRules.from_dict <crmkit.SegmentRules.from_dict>`
                              (one or more named rule sets)
    ``[lifecycle]``           :meth:`Lifecycle.from_dict <crmkit.Lifecycle.from_dict>`
    ``[loyalty.earning]``     :meth:`EarningRules.from_dict <crmkit.EarningRules.from_dict>`
    ``[loyalty.tiers]``       :meth:`TierTable.from_dict <crmkit.TierTable.from_dict>`
    ``[clv]``                 :meth:`ClvFeatures.from_dict <crmkit.clv.ClvFeatures.from_dict>`
                              (fitted models whose forecasts become features)
    ========================= =====================================================

    An absent section is ``None`` (or no rule sets); :meth:`with_presets`
    fills an absent value model with :meth:`ValueModel.default` and an absent
    lifecycle with :meth:`Lifecycle.five_stage`. Every problem in every section
    is reported at once, with the section's key in front of the loader's own.

    Attributes:
        value: the value model, or ``None``.
        segments: the named segment rule sets (possibly none).
        lifecycle: the lifecycle, or ``None``.
        earning: the earning rules, or ``None``.
        tiers: the tier table, or ``None``.
        clv: the CLV features (``p_alive``, ``expected_purchases``... that the
            value model, segments and lifecycle may read), or ``None``.

    >>> config = Config.from_toml('''
    ... [value.model]
    ... name = "spend"
    ... version = "1"
    ... [value.components.spend]
    ... formula = "total_spend"
    ... weight = 0.01
    ...
    ... [segments.size.segments.big]
    ... rule = "total_spend >= 1000"
    ...
    ... [loyalty.tiers]
    ... tiers = [{name = "member", threshold = 0}, {name = "gold", threshold = 500}]
    ... ''')
    >>> config.summary()
    'value model spend 1 (1 component); segment rules size (1 segment); tiers member, gold'
    >>> Config.from_dict(config.to_dict()) == config
    True
    >>> Config.from_dict({"value": {"components": {"x": {"formula": "total_spnd"}}},
    ...                   "segmnts": {}})
    Traceback (most recent call last):
    ...
    crmkit.errors.ConfigError: 4 problems in configuration:
    - segmnts: unknown key (did you mean 'segments'?)
    - value.model.name: missing (required)
    - value.model.version: missing (required)
    - value.components.x.formula, column 1: unknown name 'total_spnd' (did you mean 'total_spend'?)
        total_spnd
        ^
    """

    definition_name: ClassVar[str] = "configuration"

    value: ValueModel | None = None
    segments: FrozenDict[str, SegmentRules] = attrs.field(factory=dict, converter=_frozen_rules)
    lifecycle: Lifecycle | None = None
    earning: EarningRules | None = None
    tiers: TierTable | None = None
    clv: ClvFeatures | None = None
    source: str | None = attrs.field(default=None, eq=False, repr=False)

    # ------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Config:
        """Build the configuration from a mapping (the TOML layout, as a dict).

        Raises:
            ConfigError: every problem of every section, each under its key path
                (``value.components.spend.formula``) with the formula position.
        """
        r = ConfigReader(source)
        top = r.section(data, "", allowed=["value", "segments", "lifecycle", "loyalty", "clv"])
        # section(..., "") names unknown top-level keys ".key": strip the dot.
        r.problems = [
            attrs.evolve(p, where=p.where[1:]) if p.where.startswith(".") else p for p in r.problems
        ]
        value = lifecycle = earning = tiers = clv = None
        if "value" in top:
            value = _load(r, ValueModel, top["value"], "value", "value")
        rule_sets: dict[str, SegmentRules] = {}
        for name, spec in r.section(top.get("segments", {}), "segments").items():
            rules = _load(r, SegmentRules, spec, f"segments.{name}", "segments")
            if rules is not None:
                rule_sets[name] = rules
        if "lifecycle" in top:
            lifecycle = _load(r, Lifecycle, top["lifecycle"], "lifecycle", "lifecycle")
        loyalty = r.section(top.get("loyalty", {}), "loyalty", allowed=["earning", "tiers"])
        if "earning" in loyalty:
            earning = _load(
                r, EarningRules, loyalty["earning"], "loyalty.earning", "loyalty.earning"
            )
        if "tiers" in loyalty:
            tiers = _load(r, TierTable, loyalty["tiers"], "loyalty.tiers", "loyalty.tiers")
        if "clv" in top:
            from crmkit.clv import ClvFeatures

            clv = _load(r, ClvFeatures, top["clv"], "clv", "clv")
        r.raise_if_problems(what="configuration")
        return cls(
            value=value,
            segments=rule_sets,
            lifecycle=lifecycle,
            earning=earning,
            tiers=tiers,
            clv=clv,
            source=source,
        )

    @classmethod
    def load(cls, path: Any) -> Config:
        """Load a ``.toml`` or ``.json`` file by its suffix (TOML otherwise).

        Raises:
            ConfigError: the file cannot be read or parsed, or has problems.
        """
        p = Path(path)
        return cls.from_json(p) if p.suffix.lower() == ".json" else cls.from_toml(p)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a mapping; ``Config.from_dict(c.to_dict()) == c``."""
        out: dict[str, Any] = {}
        if self.value is not None:
            out["value"] = self.value.to_dict()
        if self.segments:
            out["segments"] = {k: v.to_dict() for k, v in self.segments.items()}
        if self.lifecycle is not None:
            out["lifecycle"] = self.lifecycle.to_dict()
        loyalty: dict[str, Any] = {}
        if self.earning is not None:
            loyalty["earning"] = self.earning.to_dict()
        if self.tiers is not None:
            loyalty["tiers"] = self.tiers.to_dict()
        if loyalty:
            out["loyalty"] = loyalty
        if self.clv is not None:
            out["clv"] = self.clv.to_dict()
        return out

    # ------------------------------------------------------------ use

    def with_presets(self) -> Config:
        """A copy with absent sections filled by the documented presets.

        The value model becomes :meth:`ValueModel.default`, the lifecycle
        :meth:`Lifecycle.five_stage`; segments and loyalty stay as they are.

        >>> c = Config().with_presets()
        >>> (c.value.name if c.value else None, c.lifecycle.states[0] if c.lifecycle else None)
        ('crmkit-default', 'introduction')
        """
        return attrs.evolve(
            self,
            value=self.value if self.value is not None else ValueModel.default(),
            lifecycle=self.lifecycle if self.lifecycle is not None else Lifecycle.five_stage(),
        )

    def fit(self, frame: Any) -> Config:
        """A copy whose segment rule sets are fitted on *frame* (those using population statistics).

        Save the fitted configuration (``to_dict()``, e.g. as JSON) so that an
        app assigning one customer at a time uses the thresholds of the whole base.

        >>> import pandas as pd
        >>> config = Config.from_dict({"segments": {"tiers": {
        ...     "segments": {"top": {"rule": "value >= quantile(value, 0.5)"}}}}})
        >>> fitted = config.fit(pd.DataFrame({"value": [1.0, 3.0, 5.0]}))
        >>> dict(fitted.segments["tiers"].thresholds or {})
        {'quantile(value, 0.5)': 3.0}
        """
        return attrs.evolve(
            self,
            segments={k: r.fit(frame) if r.statistics else r for k, r in self.segments.items()},
        )

    def summary(self) -> str:
        """One line naming what the configuration holds."""
        parts: list[str] = []
        if self.value is not None:
            n = len(self.value.components)
            parts.append(
                f"value model {self.value.name} {self.value.version} "
                f"({n} component{'s' if n != 1 else ''})"
            )
        for name, rules in self.segments.items():
            n = len(rules.segments)
            parts.append(f"segment rules {name} ({n} segment{'s' if n != 1 else ''})")
        if self.lifecycle is not None:
            parts.append(f"lifecycle {self.lifecycle.name} ({len(self.lifecycle.states)} stages)")
        if self.earning is not None:
            parts.append(f"earning rules ({len(self.earning.campaigns)} campaigns)")
        if self.tiers is not None:
            parts.append("tiers " + ", ".join(t.name for t in self.tiers.tiers))
        if self.clv is not None:
            parts.append(
                f"CLV features from {self.clv.purchases.NAME}"
                + (" and gamma_gamma" if self.clv.spend is not None else "")
                + f" (horizon {self.clv.horizon:g} {self.clv.time_unit})"
            )
        return "; ".join(parts) or "empty (every section absent: presets apply)"


def problems_text(err: ConfigError) -> list[str]:
    """Each problem of *err* rendered, with the file name in front when known."""
    prefix = f"{err.source}: " if err.source else ""
    return [prefix + p.render() for p in err.problems]
