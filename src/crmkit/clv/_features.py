"""The models' forecasts as features: ``p_alive``, ``expected_purchases`` and CLV on every engine."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs
import numpy as np
import pandas as pd

from crmkit.clv._bgnbd import BGNBD, MBGNBD
from crmkit.clv._data import TimeUnit, check_time_unit
from crmkit.clv._gamma_gamma import GammaGamma, check_rate, check_step, clv, clv_one
from crmkit.clv._pareto import ParetoNBD
from crmkit.clv._purchase import PREDICTION_COLUMNS, PurchaseModel, check_horizon
from crmkit.core import ConfigError, ConfigReader, Definition, MissingColumnError, ValidationError

__all__ = ["ClvFeatures"]

_DAYS: Final = {"D": 1.0, "W": 7.0}
_PURCHASE_MODELS: Final[dict[str, type[PurchaseModel]]] = {
    m.NAME: m for m in (BGNBD, MBGNBD, ParetoNBD)
}
_SUMMARY: Final = ("repeat_purchases", "repeat_span", "age")
_SPEND_COLUMNS: Final = ("expected_spend", "clv")


def _purchases(value: object) -> PurchaseModel:
    if not isinstance(value, PurchaseModel):
        raise ValidationError(
            "ClvFeatures.purchases",
            expected="a fitted BGNBD, MBGNBD or ParetoNBD",
            got=type(value).__name__,
            hint="BGBB reads purchase opportunities, which features do not compute",
        )
    return value


def _spend(value: object) -> GammaGamma | None:
    if value is None:
        return None
    if not isinstance(value, GammaGamma):
        raise ValidationError(
            "ClvFeatures.spend", expected="a fitted GammaGamma or None", got=type(value).__name__
        )
    if value.q <= 1.0:
        raise ValidationError(
            "ClvFeatures.spend.q",
            expected="q > 1 (a finite population mean spend, so that CLV is defined)",
            got=value.q,
        )
    return value


def _convert(value: float, given: TimeUnit, model: TimeUnit) -> float:
    """A time in *given* units as the model's (days to weeks exactly: whole days / 7)."""
    if given == model:
        return value
    return value / 7.0 if given == "D" else value * 7.0


@attrs.frozen(kw_only=True)
class ClvFeatures(Definition):
    """A purchase model (and optionally the spend model) as a feature extension.

    Adds ``p_alive``, ``p_any_purchase`` and ``expected_purchases`` (within
    *horizon*), and with a spend model ``expected_spend`` (per future
    purchase) and ``clv`` (discounted over *horizon*, :func:`clv`), to
    ``features(..., extensions=[...])``, ``features_one``,
    ``Lifecycle.replay`` and ``Lifecycle.replay_one``; value models, segment
    rules, lifecycle guards and ``ChurnWarning(p_alive_below=...)`` read them
    by name (:data:`crmkit.scoring.MODEL_INPUTS`).

    The forecast is each customer's *at the features' as_of*: their repeat
    purchases, repeat span and age at that instant (the model's own
    ``as_of`` is only the date it was fitted on). Times are converted to the
    model's time unit (features in days become weeks by dividing by 7, which
    is exact for whole days), so the features may keep ``time_unit="D"``.
    Customers without a purchase (other activity only) get NaN (``None``),
    as do the spend columns of a customer whose repeat purchases had no
    spend. The one-customer path (``predict_one``, ``clv_one``, plain
    Python) agrees with the frame path to 1e-9 relative in the property
    tests, not bit for bit.

    Attributes:
        purchases: the fitted purchase model (BG/NBD, MBG/NBD or Pareto/NBD).
        spend: the fitted Gamma-Gamma model, or ``None`` (no spend columns).
        horizon: the forecast horizon in the purchase model's time unit.
        discount_rate: the CLV's discount rate per time unit.
        step: the CLV's discounting period, in time units.

    >>> import pandas as pd
    >>> import crmkit as ck
    >>> from crmkit.clv import BGNBD, GammaGamma
    >>> ext = ClvFeatures(purchases=BGNBD(r=0.2426, alpha=4.4135, a=0.7929, b=2.4258, time_unit="W"),
    ...                   spend=GammaGamma(p=6.2488, q=3.7446, v=15.4477), horizon=52)
    >>> ext.columns
    ('p_alive', 'p_any_purchase', 'expected_purchases', 'expected_spend', 'clv')
    >>> tx = pd.DataFrame({"customer_id": ["ann", "ann", "ann", "bo"],
    ...     "occurred_at": pd.to_datetime(["1997-01-05", "1997-03-01", "1997-08-20", "1997-01-20"]),
    ...     "amount": [20.0, 30.0, 20.0, 15.0]})
    >>> f = ck.features(tx, as_of="1997-09-30", extensions=[ext])
    >>> f[["repeat_purchases", "p_alive", "expected_purchases", "clv"]].round(3)
                 repeat_purchases  p_alive  expected_purchases     clv
    customer_id
    ann                         2    0.756               1.640  44.006
    bo                          0    1.000               0.266   9.369
    """

    definition_name: ClassVar[str] = "CLV features"

    purchases: PurchaseModel = attrs.field(converter=_purchases)
    spend: GammaGamma | None = attrs.field(default=None, converter=_spend)
    horizon: float = attrs.field(converter=check_horizon)
    discount_rate: float = attrs.field(default=0.0, converter=check_rate)
    step: float = attrs.field(default=1.0, converter=check_step)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns added: the predictions, then (with a spend model) ``expected_spend``, ``clv``."""
        return PREDICTION_COLUMNS + (_SPEND_COLUMNS if self.spend is not None else ())

    @property
    def needs(self) -> tuple[str, ...]:
        """The feature columns read: the repeat-purchase summary."""
        return _SUMMARY + (("repeat_avg_spend",) if self.spend is not None else ())

    @property
    def time_unit(self) -> TimeUnit:
        """The purchase model's time unit (of *horizon*, *step* and *discount_rate*)."""
        return self.purchases.unit

    # ------------------------------------------------------------ engines
    def frame(self, features: pd.DataFrame, *, time_unit: TimeUnit) -> pd.DataFrame:
        """The added columns for every row of *features* (the summary in *time_unit*)."""
        given = check_time_unit(time_unit)
        model = self.time_unit
        missing = [c for c in self.needs if c not in features.columns]
        if missing:
            raise MissingColumnError(missing, [str(c) for c in features.columns])
        n = len(features)
        out = {name: np.full(n, np.nan) for name in self.columns}
        age = features["age"].to_numpy(dtype=np.float64, na_value=np.nan)
        rows = np.flatnonzero(~np.isnan(age))
        x = features["repeat_purchases"].to_numpy(dtype=np.float64)[rows]
        span = features["repeat_span"].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
        T = age[rows]  # noqa: N806 (the literature's name)
        if given != model:
            span = span / 7.0 if given == "D" else span * 7.0
            T = T / 7.0 if given == "D" else T * 7.0  # noqa: N806
        summary = pd.DataFrame({"repeat_purchases": x, "repeat_span": span, "age": T})
        predicted = self.purchases.predict(summary, horizon=self.horizon, time_unit=model)
        for name in PREDICTION_COLUMNS:
            out[name][rows] = predicted[name].to_numpy()
        if self.spend is not None:
            zbar = features["repeat_avg_spend"].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
            ok = np.flatnonzero((x == 0) | (zbar > 0))
            part = summary.iloc[ok].assign(repeat_avg_spend=zbar[ok])
            out["expected_spend"][rows[ok]] = self.spend.expected_spend(part).to_numpy()
            out["clv"][rows[ok]] = clv(
                part,
                purchases=self.purchases,
                spend=self.spend,
                horizon=self.horizon,
                discount_rate=self.discount_rate,
                step=self.step,
                time_unit=model,
            ).to_numpy()
        return pd.DataFrame(out, index=features.index, columns=list(self.columns))

    def one(self, features: Mapping[str, Any], *, time_unit: TimeUnit) -> dict[str, float | None]:
        """The added values for one customer's features (``features_one``, or a frame's row)."""
        given = check_time_unit(time_unit)
        model = self.time_unit
        out: dict[str, float | None] = dict.fromkeys(self.columns)
        for name in self.needs:
            if name not in features:
                raise ValidationError(
                    name, expected=f"a value for {name!r} (read by ClvFeatures)", got="no such key"
                )
        age = features["age"]
        if age is None or (isinstance(age, float) and math.isnan(age)):
            return out
        x = float(features["repeat_purchases"])
        summary = {
            "repeat_purchases": x,
            "repeat_span": _convert(float(features["repeat_span"]), given, model),
            "age": _convert(float(age), given, model),
        }
        out.update(self.purchases.predict_one(summary, horizon=self.horizon))
        if self.spend is not None:
            zbar = features["repeat_avg_spend"]
            z = math.nan if zbar is None else float(zbar)
            if x == 0 or z > 0:
                values = {**summary, "repeat_avg_spend": z if x > 0 else 0.0}
                out["expected_spend"] = self.spend.expected_spend_one(values)
                out["clv"] = clv_one(
                    values,
                    purchases=self.purchases,
                    spend=self.spend,
                    horizon=self.horizon,
                    discount_rate=self.discount_rate,
                    step=self.step,
                )
        return out

    # ------------------------------------------------------------ round trip
    def to_dict(self) -> dict[str, Any]:
        """The extension as plain data (the ``[clv]`` section of a configuration)."""
        out: dict[str, Any] = {
            "horizon": self.horizon,
            "discount_rate": self.discount_rate,
            "step": self.step,
            "purchases": self.purchases.to_dict(),
        }
        if self.spend is not None:
            out["spend"] = self.spend.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> ClvFeatures:
        """Read the layout of :meth:`to_dict`: ``horizon``, ``discount_rate``, ``step``, and the models.

        ``purchases`` and ``spend`` are each a fitted model's own table
        (``model = "bg_nbd"``, ``time_unit``, ``[params]``...: what the
        model's ``to_toml`` writes).

        Raises:
            ConfigError: every problem at once, with its key path.

        >>> ClvFeatures.from_dict({"horizon": 52, "purchases": {"model": "bg_nbd", "time_unit": "W",
        ...     "params": {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}}}).columns
        ('p_alive', 'p_any_purchase', 'expected_purchases')
        """
        r = ConfigReader(source)
        spec = r.section(
            data, "clv", allowed=["horizon", "discount_rate", "step", "purchases", "spend"]
        )
        r.problems = [attrs.evolve(p, where=p.where.removeprefix("clv.")) for p in r.problems]
        if "horizon" not in spec:
            r.problem(
                "horizon", "missing (required): the forecast horizon in the model's time unit"
            )
        if "purchases" not in spec:
            r.problem("purchases", "missing (required): a fitted purchase model's table")
        horizon = r.number(spec, "", "horizon", minimum=0.0)
        rate = r.number(spec, "", "discount_rate", default=0.0, minimum=0.0)
        step = r.number(spec, "", "step", default=1.0)
        r.problems = [attrs.evolve(p, where=p.where.removeprefix(".")) for p in r.problems]
        if step is not None and step <= 0:
            r.problem("step", f"expected a number > 0, got {spec['step']!r}")
            step = None
        purchases: PurchaseModel | None = None
        if "purchases" in spec:
            table = spec["purchases"]
            name = table.get("model") if isinstance(table, Mapping) else None
            kind = _PURCHASE_MODELS.get(name) if isinstance(name, str) else None
            if kind is None:
                r.problem(
                    "purchases.model",
                    f"expected one of {', '.join(map(repr, _PURCHASE_MODELS))}, got {name!r}",
                )
            else:
                try:
                    purchases = kind.from_dict(table)
                except ConfigError as err:
                    r.extend(err.problems, "purchases")
        spend: GammaGamma | None = None
        if "spend" in spec:
            try:
                spend = GammaGamma.from_dict(spec["spend"])
            except ConfigError as err:
                r.extend(err.problems, "spend")
            if spend is not None and spend.q <= 1.0:
                r.problem(
                    "spend.params.q", f"expected q > 1 (a finite mean spend), got {spend.q!r}"
                )
        r.raise_if_problems(what=cls.definition_name)
        if purchases is None or horizon is None or rate is None or step is None:  # pragma: no cover
            raise ConfigError(r.problems, source=source, what=cls.definition_name)
        return cls(purchases=purchases, spend=spend, horizon=horizon, discount_rate=rate, step=step)
