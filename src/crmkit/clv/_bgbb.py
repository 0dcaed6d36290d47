"""The BG/BB model for discrete purchase opportunities (Fader, Hardie & Shang 2010)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from crmkit.clv._base import Model, maximize, param
from crmkit.clv._data import check_order, column_arrays, dot, frame_as_of, group_patterns, one_value
from crmkit.clv._purchase import PREDICTION_COLUMNS, unpack, weighted
from crmkit.core import FrameError, ValidationError

__all__ = ["BGBB"]

Array: TypeAlias = npt.NDArray[np.float64]


def _arrays(
    frame: object, repeat_purchases: str, repeat_span: str, opportunities: str
) -> tuple[Array, Array, Array]:
    cols = column_arrays(
        frame,
        {"x": repeat_purchases, "t_x": repeat_span, "n": opportunities},
        integer=("x", "t_x", "n"),
    )
    if not isinstance(frame, pd.DataFrame):  # pragma: no cover - column_arrays checked it
        raise TypeError("frame")
    x, t_x, n = cols["x"], cols["t_x"], cols["n"]
    check_order(frame, x, t_x, repeat_purchases, repeat_span)
    check_order(frame, t_x, n, repeat_span, opportunities)
    bad = (x == 0) & (t_x != 0)
    if bad.any():
        raise FrameError(
            f"column {repeat_span!r} is > 0 where {repeat_purchases!r} is 0",
            column=repeat_span,
            rows=list(frame.index[np.flatnonzero(bad)[:10]]),
            expected=f"{repeat_span} == 0 for customers with no repeat purchase",
        )
    return x, t_x, n


def _horizon(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float):
        raise ValidationError("horizon", expected="a whole number of opportunities >= 0", got=value)
    if not (math.isfinite(float(value)) and float(value) >= 0 and float(value) == int(value)):
        raise ValidationError("horizon", expected="a whole number of opportunities >= 0", got=value)
    return int(value)


def _terms(
    theta: Array,
    x: Array,
    t_x: Array,
    n: Array,
    *,
    gradient: bool,
) -> tuple[Array, list[Array]]:
    """Per-row log-likelihood (log-sum of the alive term and one term per drop-out time)."""
    alpha, beta, gamma, delta = unpack(theta)
    base_ab = special.betaln(alpha, beta)
    base_gd = special.betaln(gamma, delta)
    logs = [
        special.betaln(alpha + x, beta + n - x)
        - base_ab
        + special.betaln(gamma, delta + n)
        - base_gd
    ]
    gaps = n - t_x
    steps = int(gaps.max()) if len(gaps) else 0
    masks = []
    for i in range(steps):
        m = t_x + i
        live = i < gaps
        masks.append(live)
        term = (
            special.betaln(alpha + x, beta + m - x)
            - base_ab
            + special.betaln(gamma + 1.0, delta + m)
            - base_gd
        )
        logs.append(np.where(live, term, -np.inf))
    stack = np.vstack(logs)
    total = special.logsumexp(stack, axis=0)
    if not gradient:
        return total, []
    weights = np.exp(stack - total)
    d_ab = special.digamma(alpha + beta)
    d_gd = special.digamma(gamma + delta)
    base_a = special.digamma(alpha) - d_ab
    base_b = special.digamma(beta) - d_ab
    base_g = special.digamma(gamma) - d_gd
    base_d = special.digamma(delta) - d_gd
    psi_ax = special.digamma(alpha + x)
    g_a = np.zeros(len(x))
    g_b = np.zeros(len(x))
    g_g = np.zeros(len(x))
    g_d = np.zeros(len(x))
    for k in range(stack.shape[0]):
        w = weights[k]
        if k == 0:
            m = n
            gg, dd = gamma, delta + n
        else:
            m = t_x + (k - 1)
            gg, dd = gamma + 1.0, delta + m
        d_abm = special.digamma(alpha + beta + m)
        d_gdm = special.digamma(gg + dd)
        g_a += w * (psi_ax - d_abm - base_a)
        g_b += w * (special.digamma(beta + m - x) - d_abm - base_b)
        g_g += w * (special.digamma(gg) - d_gdm - base_g)
        g_d += w * (special.digamma(dd) - d_gdm - base_d)
    return total, [g_a, g_b, g_g, g_d]


@attrs.frozen(kw_only=True)
class BGBB(Model):
    """The BG/BB model: purchase opportunities (a yearly event, a weekly issue) instead of time.

    At each opportunity an active customer buys with probability
    ``p ~ Beta(alpha, beta)`` and then drops out with probability
    ``theta ~ Beta(gamma, delta)``. Fitted on whole numbers per customer:
    ``x`` repeat purchases in ``n`` opportunities after the first, the last at
    opportunity ``t_x`` (0 when there is none).

    Attributes:
        alpha: first shape of the purchase probability's beta distribution.
        beta: second shape of the purchase probability's beta distribution.
        gamma: first shape of the drop-out probability's beta distribution.
        delta: second shape of the drop-out probability's beta distribution.
        as_of: the ``as_of`` of the fitted frame, if it recorded one.
        fit_info: the fit record (``None`` for known parameters).

    The published donation-data parameters (Fader, Hardie & Shang 2010):

    >>> m = BGBB(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
    >>> one = m.predict_one({"repeat_purchases": 3, "repeat_span": 4, "opportunities": 6}, horizon=5)
    >>> {k: round(v, 4) for k, v in one.items()}
    {'p_alive': 0.4395, 'p_any_purchase': 0.3958, 'expected_purchases': 1.0342}
    """

    NAME: ClassVar[str] = "bg_bb"
    PARAMS: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")
    NEEDS_TIME_UNIT: ClassVar[bool] = False

    alpha: float = param("alpha")
    beta: float = param("beta")
    gamma: float = param("gamma")
    delta: float = param("delta")

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        *,
        repeat_purchases: str = "repeat_purchases",
        repeat_span: str = "repeat_span",
        opportunities: str = "opportunities",
        weights: str | None = None,
    ) -> BGBB:
        """Fit by maximum likelihood on whole-number columns (``x``, ``t_x``, ``n``).

        Raises:
            FrameError: a missing column or a bad value (naming rows).
            FitError: no optimum could be found.
        """
        x, t_x, n = _arrays(frame, repeat_purchases, repeat_span, opportunities)
        w = None if weights is None else column_arrays(frame, {"weights": weights})["weights"]
        if len(x) == 0 or (w is not None and w.sum() <= 0):
            raise FrameError("the frame has no customers to fit on", expected="at least one row")
        patterns = group_patterns([x, t_x, n], w)
        px, ptx, pn = patterns.columns
        pw = patterns.weights

        def objective(theta: Array) -> tuple[float, Array]:
            value, grads = _terms(theta, px, ptx, pn, gradient=True)
            return weighted(value, grads, pw, unpack(theta))

        start = np.zeros(4)
        params, info = maximize(cls.NAME, objective, start, float(pw.sum()), len(pw))
        a, b, g, d = (float(v) for v in params)
        return cls(alpha=a, beta=b, gamma=g, delta=d, as_of=frame_as_of(frame), fit_info=info)

    def log_likelihood(
        self,
        frame: pd.DataFrame,
        *,
        repeat_purchases: str = "repeat_purchases",
        repeat_span: str = "repeat_span",
        opportunities: str = "opportunities",
        weights: str | None = None,
    ) -> float:
        """The total log-likelihood of *frame* (weighted by *weights* when given)."""
        x, t_x, n = _arrays(frame, repeat_purchases, repeat_span, opportunities)
        w = np.ones(len(x)) if weights is None else column_arrays(frame, {"w": weights})["w"]
        theta = np.log(np.array([self.alpha, self.beta, self.gamma, self.delta]))
        return dot(_terms(theta, x, t_x, n, gradient=False)[0], w)

    def predict(
        self,
        frame: pd.DataFrame,
        *,
        horizon: int,
        repeat_purchases: str = "repeat_purchases",
        repeat_span: str = "repeat_span",
        opportunities: str = "opportunities",
    ) -> pd.DataFrame:
        """Predict every customer over the next *horizon* opportunities.

        Returns:
            A frame with the index of *frame* and columns ``p_alive`` (active at
            the next opportunity), ``p_any_purchase`` and ``expected_purchases``
            (within the horizon).
        """
        h = _horizon(horizon)
        x, t_x, n = _arrays(frame, repeat_purchases, repeat_span, opportunities)
        patterns = group_patterns([x, t_x, n])
        px, ptx, pn = patterns.columns
        alpha, beta, gamma, delta = self.alpha, self.beta, self.gamma, self.delta
        theta = np.log(np.array([alpha, beta, gamma, delta]))
        log_l = _terms(theta, px, ptx, pn, gradient=False)[0]
        base = special.betaln(alpha, beta) + special.betaln(gamma, delta) + log_l
        alive = np.exp(
            special.betaln(alpha + px, beta + pn - px)
            + special.betaln(gamma, delta + pn + 1.0)
            - base
        )
        buy = special.betaln(alpha + px + 1.0, beta + pn - px)
        expected = np.zeros(len(px))
        anyp = np.zeros(len(px))
        for j in range(1, h + 1):
            survive = special.betaln(gamma, delta + pn + j)
            expected += np.exp(buy + survive - base)
            anyp += np.exp(
                special.betaln(alpha + px + 1.0, beta + pn - px + (j - 1)) + survive - base
            )
        codes = patterns.codes
        out = {
            "p_alive": alive[codes],
            "p_any_purchase": anyp[codes],
            "expected_purchases": expected[codes],
        }
        return pd.DataFrame(out, index=frame.index, columns=list(PREDICTION_COLUMNS))

    def predict_one(
        self,
        values: Mapping[str, Any],
        *,
        horizon: int,
        repeat_purchases: str = "repeat_purchases",
        repeat_span: str = "repeat_span",
        opportunities: str = "opportunities",
    ) -> dict[str, float]:
        """Predict one customer in plain Python (the numbers of :meth:`predict`)."""
        h = _horizon(horizon)
        x = one_value(values, "repeat purchases", repeat_purchases, integer=True)
        t_x = one_value(values, "repeat span", repeat_span, integer=True)
        n = one_value(values, "opportunities", opportunities, integer=True)
        if not x <= t_x <= n:
            raise ValidationError(
                repeat_span,
                expected=f"{repeat_purchases} <= {repeat_span} <= {opportunities}",
                got=t_x,
            )
        if x == 0 and t_x != 0:
            raise ValidationError(repeat_span, expected=f"0 when {repeat_purchases} is 0", got=t_x)
        alpha, beta, gamma, delta = self.alpha, self.beta, self.gamma, self.delta
        base_ab = _lbeta(alpha, beta)
        base_gd = _lbeta(gamma, delta)
        logs = [_lbeta(alpha + x, beta + n - x) - base_ab + _lbeta(gamma, delta + n) - base_gd]
        for i in range(int(n - t_x)):
            m = t_x + i
            logs.append(
                _lbeta(alpha + x, beta + m - x) - base_ab + _lbeta(gamma + 1.0, delta + m) - base_gd
            )
        top = max(logs)
        log_l = top + math.log(math.fsum(math.exp(v - top) for v in logs))
        base = base_ab + base_gd + log_l
        alive = math.exp(_lbeta(alpha + x, beta + n - x) + _lbeta(gamma, delta + n + 1.0) - base)
        buy = _lbeta(alpha + x + 1.0, beta + n - x)
        expected = 0.0
        anyp = 0.0
        for j in range(1, h + 1):
            survive = _lbeta(gamma, delta + n + j)
            expected += math.exp(buy + survive - base)
            anyp += math.exp(_lbeta(alpha + x + 1.0, beta + n - x + (j - 1)) + survive - base)
        return {"p_alive": alive, "p_any_purchase": anyp, "expected_purchases": expected}


def _lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
