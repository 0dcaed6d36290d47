"""BG/NBD (Fader, Hardie & Lee 2005) and MBG/NBD (Batislam, Denizel & Filiztekin 2007)."""

# ruff: noqa: N803 (T, R, Q... are the names of the literature)

from __future__ import annotations

import math
from typing import ClassVar, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special

from crmkit.clv._base import param
from crmkit.clv._data import Summary, dot
from crmkit.clv._purchase import PurchaseModel, unpack
from crmkit.clv._special import hyp2f1_tail, hyp2f1_tail_one

__all__ = ["BGNBD", "MBGNBD"]

Array: TypeAlias = npt.NDArray[np.float64]

_MAX_LOG: float = 700.0


def _ll_parts(
    theta: Array, data: Summary, *, modified: bool, gradient: bool
) -> tuple[Array, list[float]]:
    """Per-pattern log-likelihood and (with *gradient*) the total gradient over (r, alpha, a, b).

    Gamma and beta functions are evaluated once per distinct ``x``, logs once
    per distinct ``t_x`` and ``T``; per pattern only the two-term mixture is.
    """
    r, alpha, a, b = unpack(theta)
    shift = 1.0 if modified else 0.0  # MBG/NBD: a drop-out chance also at the first purchase
    ux = data.ux
    bx = b + ux + shift
    a12 = (
        special.gammaln(r + ux)
        - special.gammaln(r)
        + r * math.log(alpha)
        + special.betaln(a, bx)
        - special.betaln(a, b)
    )
    live_x = (ux > 0) | modified
    d_x = bx - 1.0  # b + x - 1 (BG/NBD), b + x (MBG/NBD)
    safe_d = np.where(live_x, d_x, 1.0)
    c_x = np.where(live_x, math.log(a) - np.log(safe_d), -np.inf)
    log_at = np.log(alpha + data.uT)[data.iT]
    log_atx = np.log(alpha + data.ut)[data.it]
    rx = r + data.x
    a3 = -rx * log_at
    diff = c_x[data.ix] - rx * (log_atx - log_at)  # a4 - a3 (-inf: no second term)
    value = a12[data.ix] + a3 + np.logaddexp(0.0, diff)
    if not gradient:
        return value, []
    w = data.w
    wx = data.wx
    w4 = special.expit(diff)
    ww4 = w * w4
    ww3 = w - ww4
    dg_abx = special.digamma(a + bx)
    dg_ab = float(special.digamma(a + b))
    inv_at = (1.0 / (alpha + data.uT))[data.iT]
    inv_atx = (1.0 / (alpha + data.ut))[data.it]
    g_r = (dot(wx, special.digamma(r + ux))) + float(wx.sum()) * (
        math.log(alpha) - float(special.digamma(r))
    )
    g_r -= (dot(ww3, log_at)) + (dot(ww4, log_atx))
    g_alpha = float(wx.sum()) * r / alpha - (dot(rx, ww3 * inv_at + ww4 * inv_atx))
    g_a = (dot(wx, dg_ab - dg_abx)) + float(ww4.sum()) / a
    inv_d = np.where(live_x, 1.0 / safe_d, 0.0)[data.ix]
    g_b = dot(wx, special.digamma(bx) - dg_abx - special.digamma(b) + dg_ab)
    g_b -= dot(ww4, inv_d)
    return value, [g_r, g_alpha, g_a, g_b]


def _predict_arrays(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: Array,
    t_x: Array,
    T: Array,
    t: float | Array,
    *,
    modified: bool,
) -> tuple[Array, Array, Array]:
    shift = 1.0 if modified else 0.0
    d = b + x + shift - 1.0
    live = (x > 0) | modified
    rx = r + x
    log_ratio = np.log(alpha + T) - np.log(alpha + t_x)
    odds = np.where(
        live,
        np.minimum(math.log(a) - np.log(np.where(live, d, 1.0)) + rx * log_ratio, _MAX_LOG),
        -np.inf,
    )
    p_alive = 1.0 / (1.0 + np.exp(odds))
    # 1 - stay and 1 - stay * 2F1 through expm1/log1p: no cancellation at short horizons.
    log_stay = -rx * np.log1p(t / (alpha + T))
    p_any = p_alive * -np.expm1(log_stay)
    z = t / (alpha + T + t)
    f1 = hyp2f1_tail(rx, b + x + shift, a + b + x + shift - 1.0, z)
    first = (a + b + x + shift - 1.0) / (a - 1.0)
    g = 1.0 + f1  # 2F1 itself; below 0 only when a + b < 1 and x = 0
    with np.errstate(invalid="ignore"):
        bracket = np.where(g > 0, -np.expm1(log_stay + np.log1p(f1)), 1.0 - np.exp(log_stay) * g)
    expected = first * bracket * p_alive
    return p_alive, p_any, np.maximum(expected, 0.0)


def _predict_scalar(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: float,
    t_x: float,
    T: float,
    t: float,
    *,
    modified: bool,
) -> tuple[float, float, float]:
    shift = 1.0 if modified else 0.0
    d = b + x + shift - 1.0
    rx = r + x
    if x > 0 or modified:
        log_ratio = math.log(alpha + T) - math.log(alpha + t_x)
        odds = min(math.log(a) - math.log(d) + rx * log_ratio, _MAX_LOG)
        p_alive = 1.0 / (1.0 + math.exp(odds))
    else:
        p_alive = 1.0
    log_stay = -rx * math.log1p(t / (alpha + T))
    p_any = p_alive * -math.expm1(log_stay)
    z = t / (alpha + T + t)
    f1 = hyp2f1_tail_one(rx, b + x + shift, a + b + x + shift - 1.0, z)
    first = (a + b + x + shift - 1.0) / (a - 1.0)
    g = 1.0 + f1
    if g > 0:
        bracket = -math.expm1(log_stay + math.log1p(f1))
    else:
        bracket = 1.0 - math.exp(log_stay) * g
    expected = first * bracket * p_alive
    return p_alive, p_any, max(expected, 0.0)


@attrs.frozen(kw_only=True)
class BGNBD(PurchaseModel):
    """The BG/NBD model: Poisson purchases at a gamma-distributed rate, beta-geometric drop-out.

    While active a customer buys at rate ``lambda ~ Gamma(r, alpha)``; after
    each repeat purchase they drop out with probability ``p ~ Beta(a, b)``.
    Times (``alpha``, the horizon) are in :attr:`time_unit`.

    Attributes:
        r: shape of the purchase-rate distribution.
        alpha: scale of the purchase-rate distribution (in the time unit).
        a: first shape of the drop-out probability's beta distribution.
        b: second shape of the drop-out probability's beta distribution.
        time_unit: ``"W"`` or ``"D"``, the unit the model was fitted in.
        as_of: the ``as_of`` of the fitted frame, if it recorded one.
        fit_info: the :class:`FitInfo` of a fitted model (``None`` when built
            from known parameters).

    The published CDNOW parameters (Fader, Hardie & Lee 2005), in weeks:

    >>> m = BGNBD(r=0.2426, alpha=4.4135, a=0.7929, b=2.4258, time_unit="W")
    >>> one = m.predict_one({"repeat_purchases": 2, "repeat_span": 30.43, "age": 38.86}, horizon=39)
    >>> round(one["expected_purchases"], 4), round(one["p_alive"], 4)
    (1.2259, 0.7266)
    """

    NAME: ClassVar[str] = "bg_nbd"
    PARAMS: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    START: ClassVar[tuple[float, ...]] = (1.0, 1.0, 1.0, 1.0)
    MODIFIED: ClassVar[bool] = False

    r: float = param("r")
    alpha: float = param("alpha")
    a: float = param("a")
    b: float = param("b")

    @classmethod
    def _negative_ll(cls, theta: Array, data: Summary) -> tuple[float, Array]:
        value, grads = _ll_parts(theta, data, modified=cls.MODIFIED, gradient=True)
        params = unpack(theta)
        total = -(dot(data.w, value))
        return total, -np.array(grads) * np.array(params)

    @classmethod
    def _pattern_ll(cls, theta: Array, data: Summary) -> Array:
        return _ll_parts(theta, data, modified=cls.MODIFIED, gradient=False)[0]

    def _predict_arrays(
        self,
        x: Array,
        t_x: Array,
        T: Array,
        t: float | Array,
    ) -> tuple[Array, Array, Array]:
        return _predict_arrays(
            self.r, self.alpha, self.a, self.b, x, t_x, T, t, modified=self.MODIFIED
        )

    def _predict_scalar(
        self,
        x: float,
        t_x: float,
        T: float,
        t: float,
    ) -> tuple[float, float, float]:
        return _predict_scalar(
            self.r, self.alpha, self.a, self.b, x, t_x, T, t, modified=self.MODIFIED
        )


@attrs.frozen(kw_only=True)
class MBGNBD(BGNBD):
    """The MBG/NBD model: BG/NBD where a customer may also drop out right after the first purchase.

    Same parameters as :class:`BGNBD` (Batislam, Denizel & Filiztekin 2007;
    Hoppe & Wagner 2007's "central variant"), so customers without repeat
    purchases are no longer certainly alive.

    >>> m = MBGNBD(r=0.525, alpha=6.183, a=0.891, b=1.614, time_unit="W")
    >>> round(m.predict_one({"repeat_purchases": 0, "repeat_span": 0, "age": 30}, horizon=10)["p_alive"], 4)
    0.4174
    """

    NAME: ClassVar[str] = "mbg_nbd"
    MODIFIED: ClassVar[bool] = True
