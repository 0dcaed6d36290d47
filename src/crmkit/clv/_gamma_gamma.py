"""The Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Colombo & Jiang 1999) and discounted CLV."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from crmkit.clv._base import FitError, Model, maximize, param
from crmkit.clv._data import column_arrays, frame_as_of, group_patterns, one_value
from crmkit.clv._purchase import PurchaseModel, check_horizon, unpack, weighted
from crmkit.core import FrameError, ValidationError

__all__ = ["GammaGamma", "check_rate", "check_step", "clv", "clv_one"]

Array: TypeAlias = npt.NDArray[np.float64]


def _spend_arrays(
    frame: object, repeat_purchases: str, repeat_avg_spend: str
) -> tuple[Array, Array]:
    cols = column_arrays(
        frame,
        {"x": repeat_purchases, "zbar": repeat_avg_spend},
        integer=("x",),
        allow_nan=("zbar",),
    )
    x, zbar = cols["x"], cols["zbar"]
    if not isinstance(frame, pd.DataFrame):  # pragma: no cover - column_arrays checked it
        raise TypeError("frame")
    bad = (x > 0) & ~(zbar > 0)
    if bad.any():
        raise FrameError(
            f"column {repeat_avg_spend!r} is missing or 0 for customers with repeat purchases",
            column=repeat_avg_spend,
            rows=list(frame.index[np.flatnonzero(bad)[:10]]),
            expected=f"a mean repeat spend > 0 where {repeat_purchases!r} > 0",
            got=repr(float(zbar[np.argmax(bad)])),
        )
    return x, zbar


def _ll(theta: Array, x: Array, zbar: Array, *, gradient: bool) -> tuple[Array, list[Array]]:
    p, q, v = unpack(theta)
    px = p * x
    log_z = np.log(zbar)
    log_vxz = np.log(v + x * zbar)
    value = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * math.log(v)
        + (px - 1.0) * log_z
        + px * np.log(x)
        - (px + q) * log_vxz
    )
    if not gradient:
        return value, []
    dg = special.digamma(px + q)
    g_p = x * (dg - special.digamma(px) + log_z + np.log(x) - log_vxz)
    g_q = dg - special.digamma(q) + math.log(v) - log_vxz
    g_v = q / v - (px + q) / (v + x * zbar)
    return value, [g_p, g_q, g_v]


@attrs.frozen(kw_only=True)
class GammaGamma(Model):
    """The Gamma-Gamma model of spend per purchase.

    Each purchase's spend is ``Gamma(p, nu)`` with a customer's
    ``nu ~ Gamma(q, v)``; a customer's expected spend per purchase is a
    weighted mean of the population mean ``p v / (q - 1)`` and their own mean
    repeat spend. It is fitted on customers with repeat purchases only, and
    assumes spend independent of purchase frequency (check the correlation).

    Attributes:
        p: shape of the spend per purchase.
        q: shape of the customers' scale distribution; the population mean
            spend is finite only for ``q > 1``.
        v: scale of the customers' scale distribution (money).
        as_of: the ``as_of`` of the fitted frame, if it recorded one.
        fit_info: the fit record (``None`` for known parameters).

    The published CDNOW parameters (Fader, Hardie & Lee 2005):

    >>> gg = GammaGamma(p=6.2488, q=3.7446, v=15.4477)
    >>> round(gg.expected_spend_one({"repeat_purchases": 2, "repeat_avg_spend": 25.0}), 2)
    26.83
    """

    NAME: ClassVar[str] = "gamma_gamma"
    PARAMS: ClassVar[tuple[str, ...]] = ("p", "q", "v")
    NEEDS_TIME_UNIT: ClassVar[bool] = False

    p: float = param("p")
    q: float = param("q")
    v: float = param("v")

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        *,
        repeat_purchases: str = "repeat_purchases",
        repeat_avg_spend: str = "repeat_avg_spend",
    ) -> GammaGamma:
        """Fit by maximum likelihood on the customers with repeat purchases.

        Raises:
            FrameError: a missing column or a bad value (naming rows), or no repeat purchases.
            FitError: no optimum could be found.
        """
        x, zbar = _spend_arrays(frame, repeat_purchases, repeat_avg_spend)
        keep = x > 0
        if not keep.any():
            raise FrameError(
                f"no customer has a repeat purchase ({repeat_purchases!r} is 0 in every row)",
                column=repeat_purchases,
                expected="some customers with repeat purchases",
            )
        patterns = group_patterns([x[keep], zbar[keep]])
        px, pz = patterns.columns
        pw = patterns.weights
        # Start from the moments: per-purchase spend mean / dispersion.
        start = np.log(np.array([1.0, 2.0, float(np.median(pz))]))

        def objective(theta: Array) -> tuple[float, Array]:
            value, grads = _ll(theta, px, pz, gradient=True)
            return weighted(value, grads, pw, unpack(theta))

        params, info = maximize(cls.NAME, objective, start, float(pw.sum()), len(pw))
        p, q, v = (float(value) for value in params)
        return cls(p=p, q=q, v=v, as_of=frame_as_of(frame), fit_info=info)

    def _check_mean(self) -> None:
        if self.q <= 1.0:
            raise FitError(
                self.NAME,
                f"q = {self.q!r} <= 1: the population mean spend is infinite, so expected spend "
                "and CLV are undefined",
                hint="too few repeat purchases per customer to estimate spend; use a plain average",
            )

    def log_likelihood(
        self,
        frame: pd.DataFrame,
        *,
        repeat_purchases: str = "repeat_purchases",
        repeat_avg_spend: str = "repeat_avg_spend",
    ) -> float:
        """The total log-likelihood of the customers of *frame* with repeat purchases."""
        x, zbar = _spend_arrays(frame, repeat_purchases, repeat_avg_spend)
        keep = x > 0
        theta = np.log(np.array([self.p, self.q, self.v]))
        return float(_ll(theta, x[keep], zbar[keep], gradient=False)[0].sum())

    @property
    def mean_spend(self) -> float:
        """The population mean spend per purchase, ``p v / (q - 1)`` (needs ``q > 1``)."""
        self._check_mean()
        return self.p * self.v / (self.q - 1.0)

    def expected_spend(
        self,
        frame: pd.DataFrame,
        *,
        repeat_purchases: str = "repeat_purchases",
        repeat_avg_spend: str = "repeat_avg_spend",
    ) -> pd.Series[float]:
        """Each customer's expected spend per future purchase (always > 0).

        Customers without repeat purchases get the population mean.
        """
        self._check_mean()
        x, zbar = _spend_arrays(frame, repeat_purchases, repeat_avg_spend)
        z = np.where(x > 0, zbar, 0.0)
        px = self.p * x
        spend = self.p * (self.v + x * z) / (px + self.q - 1.0)
        return pd.Series(spend, index=frame.index, name="expected_spend")

    def expected_spend_one(
        self,
        values: Mapping[str, Any],
        *,
        repeat_purchases: str = "repeat_purchases",
        repeat_avg_spend: str = "repeat_avg_spend",
    ) -> float:
        """One customer's expected spend per future purchase, in plain Python."""
        self._check_mean()
        x = one_value(values, "repeat purchases", repeat_purchases, integer=True)
        if x > 0:
            z = one_value(values, "mean repeat spend", repeat_avg_spend)
            if z <= 0:
                raise ValidationError(repeat_avg_spend, expected="a mean spend > 0", got=z)
        else:
            z = 0.0
        return self.p * (self.v + x * z) / (self.p * x + self.q - 1.0)


def check_rate(value: object) -> float:
    """A discount rate: a finite number >= 0 per time unit."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError("discount_rate", expected="a number >= 0 (per time unit)", got=value)
    rate = float(value)
    if not (math.isfinite(rate) and rate >= 0):
        raise ValidationError("discount_rate", expected="a finite number >= 0", got=value)
    return rate


def check_step(step: object) -> float:
    """A discounting period: a finite number > 0 in the model's time unit."""
    if (
        isinstance(step, bool)
        or not isinstance(step, int | float)
        or not (math.isfinite(float(step)) and float(step) > 0)
    ):
        raise ValidationError("step", expected="a number > 0 (in the model's time unit)", got=step)
    return float(step)


def _steps(horizon: float, step: object) -> list[float]:
    step = check_step(step)
    n = max(1, math.ceil(horizon / float(step) - 1e-12)) if horizon > 0 else 0
    return [min(float(step) * k, horizon) for k in range(1, n + 1)]


def clv(
    frame: pd.DataFrame,
    *,
    purchases: PurchaseModel,
    spend: GammaGamma,
    horizon: float,
    discount_rate: float,
    step: float = 1.0,
    time_unit: str | None = None,
    repeat_purchases: str = "repeat_purchases",
    repeat_span: str = "repeat_span",
    age: str = "age",
    repeat_avg_spend: str = "repeat_avg_spend",
) -> pd.Series[float]:
    """Discounted customer lifetime value over *horizon*, for every customer of *frame*.

    The horizon is cut into periods of *step* time units; the purchases
    expected in period *k* times the expected spend per purchase is discounted
    by ``(1 + discount_rate) ** (k * step)`` (*discount_rate* is per time
    unit, e.g. weekly). Expected purchases per period are never negative and
    the expected spend is always positive, so the CLV is never negative.

    Raises:
        FitError: the spend model has ``q <= 1`` (infinite mean spend).
        FrameError, ValidationError: bad input.
    """
    t = check_horizon(horizon)
    rate = check_rate(discount_rate)
    per_purchase = spend.expected_spend(
        frame, repeat_purchases=repeat_purchases, repeat_avg_spend=repeat_avg_spend
    ).to_numpy()
    total = np.zeros(len(frame))
    before = np.zeros(len(frame))
    for end in _steps(t, step):
        now = purchases.predict(
            frame,
            horizon=end,
            time_unit=time_unit,
            repeat_purchases=repeat_purchases,
            repeat_span=repeat_span,
            age=age,
        )["expected_purchases"].to_numpy()
        total += np.maximum(now - before, 0.0) / (1.0 + rate) ** end
        before = np.maximum(before, now)
    return pd.Series(total * per_purchase, index=frame.index, name="clv")


def clv_one(
    values: Mapping[str, Any],
    *,
    purchases: PurchaseModel,
    spend: GammaGamma,
    horizon: float,
    discount_rate: float,
    step: float = 1.0,
    repeat_purchases: str = "repeat_purchases",
    repeat_span: str = "repeat_span",
    age: str = "age",
    repeat_avg_spend: str = "repeat_avg_spend",
) -> float:
    """One customer's discounted CLV, in plain Python (the numbers of :func:`clv`).

    >>> from crmkit.clv import BGNBD
    >>> bg = BGNBD(r=0.2426, alpha=4.4135, a=0.7929, b=2.4258, time_unit="W")
    >>> gg = GammaGamma(p=6.2488, q=3.7446, v=15.4477)
    >>> one = {"repeat_purchases": 2, "repeat_span": 30.43, "age": 38.86, "repeat_avg_spend": 25.0}
    >>> round(clv_one(one, purchases=bg, spend=gg, horizon=52, discount_rate=0.002), 2)
    39.83
    """
    t = check_horizon(horizon)
    rate = check_rate(discount_rate)
    per_purchase = spend.expected_spend_one(
        values, repeat_purchases=repeat_purchases, repeat_avg_spend=repeat_avg_spend
    )
    total = 0.0
    before = 0.0
    for end in _steps(t, step):
        now = purchases.predict_one(
            values, horizon=end, repeat_purchases=repeat_purchases, repeat_span=repeat_span, age=age
        )["expected_purchases"]
        total += max(now - before, 0.0) / (1.0 + rate) ** end
        before = max(before, now)
    return total * per_purchase
