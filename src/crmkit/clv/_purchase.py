"""What the continuous-time purchase models share: fitting on the summary, ``predict`` and ``predict_one``."""

# ruff: noqa: N803, N806 (T, R, Q... are the names of the literature)

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeAlias, TypeVar

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.clv._base import FitInfo, Model, maximize, rough_start
from crmkit.clv._data import (
    Patterns,
    Summary,
    TimeUnit,
    check_order,
    check_zero_span,
    column_arrays,
    dot,
    frame_as_of,
    frame_time_unit,
    group_patterns,
    one_value,
    require_unit,
)
from crmkit.core import FrameError, ValidationError

__all__ = ["PREDICTION_COLUMNS", "PurchaseModel", "check_horizon"]

Array: TypeAlias = npt.NDArray[np.float64]
P = TypeVar("P", bound="PurchaseModel")

PREDICTION_COLUMNS = ("p_alive", "p_any_purchase", "expected_purchases")
_WARM_START_PATTERNS = 20_000


def check_horizon(value: object) -> float:
    """A forecast horizon: a finite number >= 0, in the model's time unit."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(
            "horizon", expected="a number >= 0 (in the model's time unit)", got=value
        )
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ValidationError("horizon", expected="a finite number >= 0", got=value)
    return number


def summary_arrays(
    frame: object, repeat_purchases: str, repeat_span: str, age: str
) -> tuple[Array, Array, Array]:
    """``x``, ``t_x`` and ``T`` from *frame*, checked (whole x >= 0, 0 <= t_x <= T, t_x = 0 when x = 0)."""
    cols = column_arrays(
        frame,
        {"x": repeat_purchases, "t_x": repeat_span, "T": age},
        integer=("x",),
    )
    assert isinstance(frame, pd.DataFrame)  # checked by column_arrays
    check_order(frame, cols["t_x"], cols["T"], repeat_span, age)
    check_zero_span(frame, cols["x"], cols["t_x"], repeat_purchases, repeat_span)
    return cols["x"], cols["t_x"], cols["T"]


def _weights(frame: pd.DataFrame, weights: str | None) -> Array | None:
    if weights is None:
        return None
    values = column_arrays(frame, {"weights": weights})["weights"]
    return values


@attrs.frozen(kw_only=True)
class PurchaseModel(Model):
    """Base of BG/NBD, MBG/NBD and Pareto/NBD: fit on the repeat-purchase summary, predict."""

    START: ClassVar[tuple[float, ...]] = ()

    # ------------------------------------------------------------ subclass hooks
    @classmethod
    def _negative_ll(cls, theta: Array, data: Summary) -> tuple[float, Array]:
        """Negative total log-likelihood and its gradient over the log-parameters."""
        raise NotImplementedError

    @classmethod
    def _pattern_ll(cls, theta: Array, data: Summary) -> Array:
        """Log-likelihood of each pattern of *data*."""
        raise NotImplementedError

    def _predict_arrays(
        self, x: Array, t_x: Array, T: Array, t: float | Array
    ) -> tuple[Array, Array, Array]:
        raise NotImplementedError

    def _predict_scalar(
        self, x: float, t_x: float, T: float, t: float
    ) -> tuple[float, float, float]:
        raise NotImplementedError

    @property
    def unit(self) -> TimeUnit:
        """The model's time unit (a purchase model always has one)."""
        if self.time_unit is None:  # pragma: no cover - refused at construction
            raise ValidationError("time_unit", expected="'D' or 'W'", got=None)
        return self.time_unit

    # ------------------------------------------------------------ public API
    @classmethod
    def fit(
        cls: type[P],
        frame: pd.DataFrame,
        *,
        time_unit: str | None = None,
        repeat_purchases: str = "repeat_purchases",
        repeat_span: str = "repeat_span",
        age: str = "age",
        weights: str | None = None,
    ) -> P:
        """Fit by maximum likelihood on the repeat-purchase summary.

        Args:
            frame: one row per customer (``crmkit.features(..., time_unit="W")``
                or any frame with the three columns).
            time_unit: ``"D"`` or ``"W"``; needed when *frame* does not record
                its own (``frame.attrs`` set by ``features``), and must agree
                with it when it does.
            repeat_purchases: column of repeat purchases ``x`` (whole numbers >= 0).
            repeat_span: column of first-to-last purchase time ``t_x``.
            age: column of first-purchase-to-``as_of`` time ``T``.
            weights: optional column of customer counts per row (a frame of
                distinct patterns).

        Raises:
            FrameError: a missing column, a bad value (naming rows), a time unit mismatch.
            FitError: no optimum could be found (the message says why).
        """
        unit = frame_time_unit(frame, time_unit) if isinstance(frame, pd.DataFrame) else "W"
        x, t_x, T = summary_arrays(frame, repeat_purchases, repeat_span, age)
        w = _weights(frame, weights)
        if len(x) == 0 or (w is not None and w.sum() <= 0):
            raise FrameError("the frame has no customers to fit on", expected="at least one row")
        if not np.any(x > 0):
            raise FrameError(
                f"no customer has a repeat purchase ({repeat_purchases!r} is 0 in every row)",
                column=repeat_purchases,
                expected="some customers with repeat purchases",
            )
        patterns: Patterns = group_patterns([x, t_x, T], w)
        px, ptx, pT = patterns.columns
        pw = patterns.weights
        data = Summary(px, ptx, pT, pw)

        def objective(theta: Array) -> tuple[float, Array]:
            return cls._negative_ll(theta, data)

        start = np.log(np.array(cls.START, dtype=np.float64))
        if len(pw) > _WARM_START_PATTERNS:
            # Find the region on a fixed random subset of the patterns first.
            pick = np.sort(
                np.random.default_rng(0).choice(len(pw), _WARM_START_PATTERNS, replace=False)
            )
            sub = Summary(px[pick], ptx[pick], pT[pick], pw[pick])
            start = rough_start(
                lambda theta: cls._negative_ll(theta, sub), start, float(pw[pick].sum())
            )
        params, info = maximize(cls.NAME, objective, start, float(pw.sum()), len(pw))
        values = dict(zip(cls.PARAMS, (float(p) for p in params), strict=True))
        return cls(time_unit=unit, as_of=frame_as_of(frame), fit_info=info, **values)

    def log_likelihood(
        self,
        frame: pd.DataFrame,
        *,
        time_unit: str | None = None,
        repeat_purchases: str = "repeat_purchases",
        repeat_span: str = "repeat_span",
        age: str = "age",
    ) -> float:
        """The total log-likelihood of *frame* under these parameters."""
        require_unit(self.unit, frame, time_unit)
        x, t_x, T = summary_arrays(frame, repeat_purchases, repeat_span, age)
        patterns = group_patterns([x, t_x, T])
        px, ptx, pT = patterns.columns
        data = Summary(px, ptx, pT, patterns.weights)
        theta = np.log(np.array([self.params[n] for n in self.PARAMS]))
        return dot(self._pattern_ll(theta, data), patterns.weights)

    def predict(
        self,
        frame: pd.DataFrame,
        *,
        horizon: float,
        time_unit: str | None = None,
        repeat_purchases: str = "repeat_purchases",
        repeat_span: str = "repeat_span",
        age: str = "age",
    ) -> pd.DataFrame:
        """Predict every customer of *frame*, *horizon* time units past its ``as_of``.

        Returns:
            A frame with the index of *frame* and columns ``p_alive`` (the
            probability the customer is still active at ``as_of``),
            ``p_any_purchase`` (of at least one purchase within the horizon)
            and ``expected_purchases`` (within the horizon).

        Raises:
            FrameError: a bad value, or a frame in another time unit than the model's.
        """
        t = check_horizon(horizon)
        require_unit(self.unit, frame, time_unit)
        x, t_x, T = summary_arrays(frame, repeat_purchases, repeat_span, age)
        patterns = group_patterns([x, t_x, T])
        px, ptx, pT = patterns.columns
        alive, anyp, expected = self._predict_arrays(px, ptx, pT, t)
        codes = patterns.codes
        return pd.DataFrame(
            {
                "p_alive": alive[codes],
                "p_any_purchase": anyp[codes],
                "expected_purchases": expected[codes],
            },
            index=frame.index,
        )

    def predict_one(
        self,
        values: Mapping[str, Any],
        *,
        horizon: float,
        repeat_purchases: str = "repeat_purchases",
        repeat_span: str = "repeat_span",
        age: str = "age",
    ) -> dict[str, float]:
        """Predict one customer from a mapping of its summary, in plain Python.

        Gives the numbers of :meth:`predict` (to about 1e-12 relative) for the
        same customer; the mapping's values are in the model's time unit.
        """
        t = check_horizon(horizon)
        x = one_value(values, "repeat purchases", repeat_purchases, integer=True)
        t_x = one_value(values, "repeat span", repeat_span)
        T = one_value(values, "age", age)
        if t_x > T * (1.0 + 1e-12):
            raise ValidationError(repeat_span, expected=f"a value <= {age} ({T!r})", got=t_x)
        if x == 0 and t_x != 0:
            raise ValidationError(repeat_span, expected=f"0 when {repeat_purchases} is 0", got=t_x)
        alive, anyp, expected = self._predict_scalar(x, t_x, T, t)
        return {"p_alive": alive, "p_any_purchase": anyp, "expected_purchases": expected}

    def expected_purchases_new(self, t: npt.ArrayLike) -> Array:
        """Expected repeat purchases within *t* of a customer's first purchase (a new customer)."""
        times = np.asarray(t, dtype=np.float64)
        if times.size and (not np.all(np.isfinite(times)) or np.min(times) < 0):
            raise ValidationError("t", expected="finite times >= 0", got=times)
        flat = np.ascontiguousarray(times.ravel())
        zero = np.zeros(len(flat))
        return self._predict_arrays(zero, zero, zero, flat)[2].reshape(times.shape)


def unpack(theta: Array) -> list[float]:
    """Parameters from log-parameters."""
    return [float(v) for v in np.exp(theta)]


def weighted(
    value: Array, grads: list[Array], w: Array, params: list[float]
) -> tuple[float, Array]:
    """Negative total log-likelihood and its gradient over log-parameters."""
    total = -(dot(w, value))
    grad = np.array([-(dot(w, g)) * p for g, p in zip(grads, params, strict=True)])
    return total, grad


_ = FitInfo  # re-exported type used in signatures of subclasses
