"""The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987), in a cancellation-free form.

The likelihood of ``(x, t_x, T)`` is (Fader & Hardie 2005, "A note on deriving
the Pareto/NBD model and related expressions")::

    L = C (alpha+T)^-(r+x) (beta/(beta+T))^s
        + C s beta^s  integral_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau

with ``C = Gamma(r+x) alpha^r / Gamma(r)``. Writing the integral as
``F(t_x) - F(T)`` with ``F(t) = integral_t^inf``, and ``F`` through Euler's
transformation of the Gauss hypergeometric function, gives::

    F(t) = (alpha+t)^-(r+x) (beta+t)^-s G(t) / (r+s+x)
    G(t) = 2F1(1, r+x; r+s+x+1; (alpha-beta)/(alpha+t))                  alpha >= beta
    G(t) = (alpha+t)/(beta+t) 2F1(1, s+1; r+s+x+1; (beta-alpha)/(beta+t))  alpha <  beta

whose series have positive terms and an argument in ``[0, 1)`` on both
branches (the two agree, with their first derivatives, at ``alpha = beta``).
Then ``log L = log C - (r+x) log(alpha+T) + s log(beta/(beta+T)) + Q`` with
``Q = log(1 + s/(r+s+x) (rho G(t_x) - G(T)))`` and ``rho >= 1`` a ratio of
powers, evaluated in logs. The gradient is exact: every piece is
differentiated analytically, the series term by term.
"""

# ruff: noqa: N803, N806 (T, R, Q... are the names of the literature)

from __future__ import annotations

import math
from typing import ClassVar, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt
from scipy import special

from crmkit.clv._base import param
from crmkit.clv._data import Summary
from crmkit.clv._purchase import PurchaseModel, unpack, weighted
from crmkit.clv._special import series_1bc_one, series_1bc_with_derivatives

__all__ = ["ParetoNBD"]

Array: TypeAlias = npt.NDArray[np.float64]


def _g(
    r: float, s: float, x: Array, alpha: float, beta: float, t: Array, *, derivatives: bool
) -> tuple[Array, Array, Array, Array, Array]:
    """``G(t)`` and its derivatives with respect to r, s, alpha, beta."""
    c = r + s + x + 1.0
    if alpha >= beta:
        at = alpha + t
        z = (alpha - beta) / at
        S, Sb, Sc, Sz = series_1bc_with_derivatives(r + x, c, z, derivatives=derivatives)
        if not derivatives:
            return S, S, S, S, S
        return S, Sb + Sc, Sc, Sz * (beta + t) / (at * at), -Sz / at
    bt = beta + t
    z = (beta - alpha) / bt
    S, Sb, Sc, Sz = series_1bc_with_derivatives(s + 1.0, c, z, derivatives=derivatives)
    one_z = 1.0 - z
    G = one_z * S
    if not derivatives:
        return G, G, G, G, G
    dz = -S + one_z * Sz
    return G, one_z * Sc, one_z * (Sb + Sc), dz * (-1.0 / bt), dz * (alpha + t) / (bt * bt)


def _ll(theta: Array, data: Summary, *, gradient: bool) -> tuple[Array, list[Array], Array]:
    """Per-pattern log-likelihood, its gradient (r, alpha, s, beta) and ``Q`` (``-log P(alive)``).

    The series are summed once per distinct ``(x, t_x)`` and ``(x, T)``, the
    gamma functions once per distinct ``x``.
    """
    r, alpha, s, beta = unpack(theta)
    x, t_x, T = data.x, data.t_x, data.T
    rx = r + x
    R = r + s + x
    log_at = np.log(alpha + data.uT)[data.iT]
    log_atx = np.log(alpha + data.ut)[data.it]
    log_bt = np.log(beta + data.uT)[data.iT]
    log_btx = np.log(beta + data.ut)[data.it]
    log_c = (special.gammaln(r + data.ux) - special.gammaln(r))[data.ix] + r * math.log(alpha)
    p1 = -rx * log_at
    p2 = s * (math.log(beta) - log_bt)
    log_rho = rx * (log_at - log_atx) + s * (log_bt - log_btx)
    g1 = tuple(
        v[data.ixt] for v in _g(r, s, data.uxt_x, alpha, beta, data.uxt_t, derivatives=gradient)
    )
    g2 = tuple(
        v[data.ixT] for v in _g(r, s, data.uxT_x, alpha, beta, data.uxT_T, derivatives=gradient)
    )
    log_sr = math.log(s) - np.log(R)
    A = log_sr + log_rho + np.log(g1[0])
    B = np.exp(log_sr) * g2[0]
    M = np.maximum(A, 0.0)
    e_neg = np.exp(-M)
    e_a = np.exp(A - M)
    E = np.maximum(e_neg * (1.0 - B) + e_a, np.finfo(float).tiny)
    Q = M + np.log(E)
    value = log_c + p1 + p2 + Q
    if not gradient:
        return value, [], Q
    w_b = -e_neg / E  # dQ = w_b dB + w_a dA
    w_a = e_a / E
    sr = np.exp(log_sr)
    # d log(s/R)
    dsr_r = -1.0 / R
    dsr_s = 1.0 / s - 1.0 / R
    # d log rho
    drho_r = log_at - log_atx
    drho_a = rx * (1.0 / (alpha + T) - 1.0 / (alpha + t_x))
    drho_s = log_bt - log_btx
    drho_b = s * (1.0 / (beta + T) - 1.0 / (beta + t_x))
    G1, G1r, G1s, G1a, G1b = g1
    _, G2r, G2s, G2a, G2b = g2
    dA_r = dsr_r + drho_r + G1r / G1
    dA_s = dsr_s + drho_s + G1s / G1
    dA_a = drho_a + G1a / G1
    dA_b = drho_b + G1b / G1
    dB_r = B * dsr_r + sr * G2r
    dB_s = B * dsr_s + sr * G2s
    dB_a = sr * G2a
    dB_b = sr * G2b
    g_r = (special.digamma(r + data.ux) - special.digamma(r))[data.ix] + math.log(alpha) - log_at
    g_r = g_r + w_a * dA_r + w_b * dB_r
    g_alpha = r / alpha - rx / (alpha + T) + w_a * dA_a + w_b * dB_a
    g_s = math.log(beta) - log_bt + w_a * dA_s + w_b * dB_s
    g_beta = s / beta - s / (beta + T) + w_a * dA_b + w_b * dB_b
    return value, [g_r, g_alpha, g_s, g_beta], Q


def _h(e: float, length: Array) -> Array:
    """``(1 - exp(-e L)) / e``, and ``L`` at ``e = 0``."""
    if e == 0.0:
        return length
    return -np.expm1(-e * length) / e


def _h_one(e: float, length: float) -> float:
    if e == 0.0:
        return length
    return -math.expm1(-e * length) / e


@attrs.frozen(kw_only=True)
class ParetoNBD(PurchaseModel):
    """The Pareto/NBD model: Poisson purchases and exponential lifetimes, both gamma-mixed.

    While active a customer buys at rate ``lambda ~ Gamma(r, alpha)`` and
    drops out at rate ``mu ~ Gamma(s, beta)``, at any time. The likelihood is
    evaluated in a form without cancellation (see the module notes in the
    reference page) and its gradient is exact.

    Attributes:
        r: shape of the purchase-rate distribution.
        alpha: scale of the purchase-rate distribution (in the time unit).
        s: shape of the drop-out-rate distribution.
        beta: scale of the drop-out-rate distribution (in the time unit).
        time_unit: ``"W"`` or ``"D"``.
        as_of: the ``as_of`` of the fitted frame, if it recorded one.
        fit_info: the fit record (``None`` for known parameters).

    >>> m = ParetoNBD(r=0.5534, alpha=10.5776, s=0.6061, beta=11.6689, time_unit="W")
    >>> one = m.predict_one({"repeat_purchases": 2, "repeat_span": 30.43, "age": 38.86}, horizon=39)
    >>> round(one["expected_purchases"], 4), round(one["p_alive"], 4)
    (1.4553, 0.8691)
    """

    NAME: ClassVar[str] = "pareto_nbd"
    PARAMS: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")
    START: ClassVar[tuple[float, ...]] = (1.0, 1.0, 1.0, 1.0)

    r: float = param("r")
    alpha: float = param("alpha")
    s: float = param("s")
    beta: float = param("beta")

    @classmethod
    def _negative_ll(cls, theta: Array, data: Summary) -> tuple[float, Array]:
        value, grads, _ = _ll(theta, data, gradient=True)
        return weighted(value, grads, data.w, unpack(theta))

    @classmethod
    def _pattern_ll(cls, theta: Array, data: Summary) -> Array:
        return _ll(theta, data, gradient=False)[0]

    def _predict_arrays(
        self,
        x: Array,
        t_x: Array,
        T: Array,
        t: float | Array,
    ) -> tuple[Array, Array, Array]:
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        theta = np.log(np.array([r, alpha, s, beta]))
        Q = _ll(theta, Summary(x, t_x, T, np.ones(len(x))), gradient=False)[2]
        p_alive = np.exp(-Q)
        rx = r + x
        bT = beta + T
        aT = alpha + T
        expected = p_alive * rx / aT * bT * _h(s - 1.0, np.log1p(t / bT))
        g0 = _g_any(rx + 1.0, s, aT, bT, 0.0)
        gt = _g_any(rx + 1.0, s, aT, bT, t)
        tail = np.exp(rx * (np.log(aT) - np.log(aT + t)) + s * (np.log(bT) - np.log(bT + t)))
        inner = bT / aT * g0 - tail * (bT + t) / (aT + t) * gt
        p_any = p_alive * rx / (rx + s) * np.maximum(inner, 0.0)
        return p_alive, np.minimum(p_any, p_alive), expected

    def _predict_scalar(
        self,
        x: float,
        t_x: float,
        T: float,
        t: float,
    ) -> tuple[float, float, float]:
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        rx = r + x
        R = r + s + x
        log_rho = rx * (math.log(alpha + T) - math.log(alpha + t_x)) + s * (
            math.log(beta + T) - math.log(beta + t_x)
        )
        g1 = _g_one(r, s, x, alpha, beta, t_x)
        g2 = _g_one(r, s, x, alpha, beta, T)
        log_sr = math.log(s) - math.log(R)
        A = log_sr + log_rho + math.log(g1)
        B = math.exp(log_sr) * g2
        M = max(A, 0.0)
        E = max(math.exp(-M) * (1.0 - B) + math.exp(A - M), 2.2250738585072014e-308)
        p_alive = math.exp(-(M + math.log(E)))
        bT = beta + T
        aT = alpha + T
        expected = p_alive * rx / aT * bT * _h_one(s - 1.0, math.log1p(t / bT))
        g0 = _g_any_one(rx + 1.0, s, aT, bT, 0.0)
        gt = _g_any_one(rx + 1.0, s, aT, bT, t)
        tail = math.exp(
            rx * (math.log(aT) - math.log(aT + t)) + s * (math.log(bT) - math.log(bT + t))
        )
        inner = bT / aT * g0 - tail * (bT + t) / (aT + t) * gt
        p_any = p_alive * rx / (rx + s) * max(inner, 0.0)
        return p_alive, min(p_any, p_alive), expected


def _g_one(r: float, s: float, x: float, alpha: float, beta: float, t: float) -> float:
    c = r + s + x + 1.0
    if alpha >= beta:
        return series_1bc_one(r + x, c, (alpha - beta) / (alpha + t))
    z = (beta - alpha) / (beta + t)
    return (1.0 - z) * series_1bc_one(s + 1.0, c, z)


def _g_any(p: Array, q: float, a: Array, b: Array, u: float | Array) -> Array:
    """``G`` of ``integral_u^inf (a+tau)^-p (b+tau)^-q dtau`` (elementwise ``a``, ``b``)."""
    out = np.empty(np.shape(a))
    high = a >= b
    au = np.broadcast_to(a + u, np.shape(a))
    bu = np.broadcast_to(b + u, np.shape(a))
    if high.any():
        out[high] = series_1bc_with_derivatives(
            p[high], p[high] + q, (a[high] - b[high]) / au[high], derivatives=False
        )[0]
    low = ~high
    if low.any():
        z = (b[low] - a[low]) / bu[low]
        out[low] = (1.0 - z) * series_1bc_with_derivatives(
            np.full(int(low.sum()), q), p[low] + q, z, derivatives=False
        )[0]
    return out


def _g_any_one(p: float, q: float, a: float, b: float, u: float) -> float:
    if a >= b:
        return series_1bc_one(p, p + q, (a - b) / (a + u))
    z = (b - a) / (b + u)
    return (1.0 - z) * series_1bc_one(q, p + q, z)
