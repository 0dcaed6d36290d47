"""Simulating a customer base from a purchase model (for tests, benchmarks and checks of fit)."""

# ruff: noqa: N806 (T, R, Q... are the names of the literature)

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.clv._bgnbd import BGNBD, MBGNBD
from crmkit.clv._data import ATTR_TIME_UNIT
from crmkit.clv._pareto import ParetoNBD
from crmkit.core import ValidationError

__all__ = ["simulate"]

Array: TypeAlias = npt.NDArray[np.float64]


def simulate(
    model: BGNBD | ParetoNBD,
    ages: npt.ArrayLike,
    *,
    seed: int,
    resolution: float | None = None,
) -> pd.DataFrame:
    """Draw one customer per age from *model*'s process; return their repeat-purchase summary.

    Args:
        model: a :class:`BGNBD`, :class:`MBGNBD` or :class:`ParetoNBD`.
        ages: each customer's time from first purchase to the end of observation
            (``T``, in the model's time unit).
        seed: the seed of numpy's default generator (the result depends only on it).
        resolution: report times in whole multiples of this (``1/7`` for
            daily data in weeks), as a transaction log of purchase days would:
            the span is the number of day boundaries between the first and
            the last purchase (unbiased), the age is rounded down.

    Returns:
        A frame with ``repeat_purchases``, ``repeat_span`` and ``age``
        (``attrs`` record the model's time unit), one row per age.

    >>> from crmkit.clv import BGNBD
    >>> m = BGNBD(r=0.25, alpha=4.4, a=0.8, b=2.4, time_unit="W")
    >>> base = simulate(m, [39.0] * 20_000, seed=1)
    >>> round(float(base["repeat_purchases"].mean()), 1), round(float(m.expected_purchases_new(39.0)), 1)
    (1.2, 1.2)
    """
    if not isinstance(model, BGNBD | ParetoNBD):
        raise ValidationError(
            "model", expected="a BGNBD, MBGNBD or ParetoNBD", got=type(model).__name__
        )
    T = np.asarray(ages, dtype=np.float64).ravel()
    if T.size and (not np.all(np.isfinite(T)) or T.min() < 0):
        raise ValidationError(
            "ages", expected="finite times >= 0", got="negative or non-finite ages"
        )
    rng = np.random.default_rng(seed)
    size = T.size
    if isinstance(model, ParetoNBD):
        lam = rng.gamma(model.r, 1.0 / model.alpha, size)
        mu = rng.gamma(model.s, 1.0 / model.beta, size)
        window = np.minimum(rng.exponential(1.0, size) / mu, T)
        n = rng.poisson(lam * window)
        x = n
        span = window * rng.beta(np.maximum(x, 1), 1.0)
    else:
        lam = rng.gamma(model.r, 1.0 / model.alpha, size)
        p = rng.beta(model.a, model.b, size)
        allowed = rng.geometric(p) - (1 if isinstance(model, MBGNBD) else 0)
        n = rng.poisson(lam * T)
        x = np.minimum(n, allowed)
        span = T * rng.beta(np.maximum(x, 1), np.maximum(n - x, 0) + 1.0)
    span = np.where(x > 0, span, 0.0)
    age = T.copy()
    if resolution is not None:
        # The first purchase falls somewhere in its day: the span between the
        # two purchase days is floor(offset + span), which is unbiased.
        offset = rng.uniform(0.0, 1.0, size)
        age = np.floor(age / resolution + 1e-9) * resolution
        span = np.where(x > 0, np.floor(offset + span / resolution) * resolution, 0.0)
        span = np.minimum(span, age)
    frame = pd.DataFrame({"repeat_purchases": x.astype(np.int64), "repeat_span": span, "age": age})
    frame.attrs[ATTR_TIME_UNIT] = model.time_unit
    return frame
