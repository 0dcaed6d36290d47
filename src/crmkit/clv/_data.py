"""Reading the repeat-purchase summary out of a frame: checks, time unit, and pattern grouping."""

# ruff: noqa: N803 (T, R, Q... are the names of the literature)

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import FrameError, MissingColumnError, ValidationError

__all__ = [
    "ATTR_AS_OF",
    "ATTR_TIME_UNIT",
    "Patterns",
    "Summary",
    "TimeUnit",
    "check_time_unit",
    "column_arrays",
    "dot",
    "frame_as_of",
    "frame_time_unit",
    "group_patterns",
    "one_value",
    "require_unit",
]

TimeUnit: TypeAlias = Literal["D", "W"]
ATTR_TIME_UNIT: Final = "crmkit.time_unit"
ATTR_AS_OF: Final = "crmkit.as_of"
_UNITS: Final = {"D": "days", "W": "weeks"}

Array: TypeAlias = npt.NDArray[np.float64]


def check_time_unit(value: object, field: str = "time_unit") -> TimeUnit:
    """*value* if it is ``"D"`` or ``"W"``; otherwise a ValidationError."""
    if value == "D":
        return "D"
    if value == "W":
        return "W"
    raise ValidationError(field, expected="'D' (days) or 'W' (weeks)", got=value)


def frame_time_unit(frame: pd.DataFrame, given: object | None) -> TimeUnit:
    """The time unit of *frame*: from ``frame.attrs`` (set by ``features``) or *given*.

    Both present and different is a FrameError; neither is one too.
    """
    recorded = frame.attrs.get(ATTR_TIME_UNIT)
    if given is not None:
        unit = check_time_unit(given)
        if recorded is not None and recorded != unit:
            raise FrameError(
                "the frame's time unit is not the one asked for",
                expected=f"time_unit={unit!r}",
                got=f"a frame in {recorded!r} (frame.attrs[{ATTR_TIME_UNIT!r}])",
                hint="recompute the features with that time_unit, or pass the frame's own",
            )
        return unit
    if recorded is None:
        raise FrameError(
            "the frame does not say its time unit",
            expected=f"frame.attrs[{ATTR_TIME_UNIT!r}] (set by crmkit.features) or time_unit=",
            got="neither",
            hint="pass time_unit='W' (or 'D') for a frame made by other means",
        )
    return check_time_unit(recorded, f"frame.attrs[{ATTR_TIME_UNIT!r}]")


def frame_as_of(frame: pd.DataFrame) -> str | None:
    """The ``as_of`` recorded by ``features`` in *frame*, if any."""
    value = frame.attrs.get(ATTR_AS_OF)
    return value if isinstance(value, str) else None


def require_unit(model_unit: TimeUnit, frame: pd.DataFrame, given: object | None) -> None:
    """Refuse a frame whose time unit (recorded, or *given*) differs from the model's."""
    unit = frame_time_unit(frame, given)
    if unit != model_unit:
        raise FrameError(
            f"the frame is in {_UNITS[unit]} but the model is in {_UNITS[model_unit]}",
            expected=f"a frame with time_unit={model_unit!r}",
            got=f"time_unit={unit!r}",
            hint=f"recompute the features with time_unit={model_unit!r}",
        )


def dot(a: Array, b: Array) -> float:
    """``sum(a * b)`` without BLAS.

    numpy's ``dot`` hands long vectors to a multi-threaded BLAS, whose threads
    spin when the machine's cores are shared: ten times slower here.
    """
    return float(np.add.reduce(a * b))


def _rows(frame: pd.DataFrame, bad: npt.NDArray[np.bool_]) -> list[Any]:
    return list(frame.index[np.flatnonzero(bad)[:10]])


def column_arrays(
    frame: object,
    columns: Mapping[str, str],
    *,
    integer: Sequence[str] = (),
    positive: Sequence[str] = (),
    allow_nan: Sequence[str] = (),
) -> dict[str, Array]:
    """The named columns of *frame* as float64 arrays, each checked.

    *columns* maps a role (``"x"``) to a column name. Every value must be a
    finite number >= 0; roles in *integer* must be whole numbers, roles in
    *positive* > 0, roles in *allow_nan* may be NaN.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError("frame", expected="a pandas DataFrame", got=type(frame).__name__)
    for role, name in columns.items():
        if not isinstance(name, str) or not name:
            raise ValidationError(role, expected="a column name (a non-empty str)", got=name)
    missing = [name for name in columns.values() if name not in frame.columns]
    if missing:
        raise MissingColumnError(missing, list(frame.columns))
    out: dict[str, Array] = {}
    for role, name in columns.items():
        series = frame[name]
        if not (
            pd.api.types.is_numeric_dtype(series.dtype)
            and not pd.api.types.is_bool_dtype(series.dtype)
        ):
            raise FrameError(
                f"column {name!r} is not numeric",
                column=name,
                expected="a numeric column",
                got=str(series.dtype),
            )
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        nan = np.isnan(values)
        if role not in allow_nan and nan.any():
            raise FrameError(
                f"column {name!r} has missing values",
                column=name,
                rows=_rows(frame, nan),
                expected="a number in every row",
                got="NaN",
            )
        with np.errstate(invalid="ignore"):
            bad = ~nan & (~np.isfinite(values) | (values < 0))
            if role in positive:
                bad |= ~nan & (values <= 0)
            if role in integer:
                bad |= ~nan & np.isfinite(values) & (values != np.floor(values))
        if bad.any():
            kind = "whole numbers" if role in integer else "numbers"
            bound = "> 0" if role in positive else ">= 0"
            raise FrameError(
                f"column {name!r} has values out of range",
                column=name,
                rows=_rows(frame, bad),
                expected=f"finite {kind} {bound}",
                got=repr(float(values[np.argmax(bad)])),
            )
        out[role] = values
    return out


def check_order(
    frame: pd.DataFrame,
    low: Array,
    high: Array,
    low_name: str,
    high_name: str,
) -> None:
    """Refuse rows where ``low > high`` (e.g. ``repeat_span > age``)."""
    bad = low > high * (1.0 + 1e-12)
    if bad.any():
        raise FrameError(
            f"column {low_name!r} is larger than {high_name!r}",
            column=low_name,
            rows=_rows(frame, bad),
            expected=f"{low_name} <= {high_name}",
            got=f"{float(low[np.argmax(bad)])!r} > {float(high[np.argmax(bad)])!r}",
        )


def check_zero_span(frame: pd.DataFrame, x: Array, t_x: Array, x_name: str, t_name: str) -> None:
    """Refuse rows with no repeat purchase but a span > 0."""
    bad = (x == 0) & (t_x != 0)
    if bad.any():
        raise FrameError(
            f"column {t_name!r} is > 0 where {x_name!r} is 0",
            column=t_name,
            rows=_rows(frame, bad),
            expected=f"{t_name} == 0 for customers with no repeat purchase",
            got=repr(float(t_x[np.argmax(bad)])),
        )


class Patterns:
    """Distinct rows of some columns with their weights, and each input row's pattern."""

    __slots__ = ("codes", "columns", "weights")

    def __init__(self, columns: list[Array], weights: Array, codes: npt.NDArray[np.intp]) -> None:
        self.columns = columns
        self.weights = weights
        self.codes = codes


def group_patterns(columns: Sequence[Array], weights: Array | None = None) -> Patterns:
    """Group identical rows of *columns* (hash-based, linear time), summing *weights*."""
    n = len(columns[0])
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for col in columns:
        codes, uniques = pd.factorize(col)
        m = max(len(uniques), 1)
        if size * m >= 2**62:  # pragma: no cover - astronomically many distinct values
            key, _ = pd.factorize(key)
            size = int(key.max()) + 1 if n else 1
        key = key * m + codes
        size *= m
    codes, first = _factorize_with_first(key)
    w = np.ones(n) if weights is None else weights
    total = np.asarray(np.bincount(codes, weights=w, minlength=len(first)), dtype=np.float64)
    return Patterns([np.ascontiguousarray(col[first]) for col in columns], total, codes)


def _factorize_with_first(
    key: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Codes in order of first appearance, and the row where each code first appears."""
    codes, _ = pd.factorize(key)
    codes = codes.astype(np.intp, copy=False)
    if not len(codes):
        return codes, np.empty(0, dtype=np.intp)
    new = np.empty(len(codes), dtype=bool)
    new[0] = True
    new[1:] = codes[1:] > np.maximum.accumulate(codes)[:-1]
    return codes, np.flatnonzero(new)


def one_value(
    values: Mapping[str, object], role: str, name: str, *, integer: bool = False
) -> float:
    """One number of a customer's mapping, checked like a frame column."""
    if not isinstance(values, Mapping):
        raise ValidationError(
            "values", expected="a mapping of feature names to numbers", got=type(values).__name__
        )
    if name not in values:
        raise ValidationError(
            name, expected=f"a value for {name!r} (the {role})", got="no such key"
        )
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(name, expected="a number", got=value)
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValidationError(name, expected="a finite number >= 0", got=value)
    if integer and number != int(number):
        raise ValidationError(name, expected="a whole number >= 0", got=value)
    return number


def _codes(values: Array) -> tuple[npt.NDArray[np.intp], Array]:
    codes, uniques = pd.factorize(values)
    return codes.astype(np.intp, copy=False), np.asarray(uniques, dtype=np.float64)


def _pairs(
    ia: npt.NDArray[np.intp], ib: npt.NDArray[np.intp], ua: Array, ub: Array
) -> tuple[npt.NDArray[np.intp], Array, Array]:
    key = ia.astype(np.int64) * max(len(ub), 1) + ib
    codes, first = _factorize_with_first(key)
    return codes, ua[ia[first]], ub[ib[first]]


class Summary:
    """Distinct patterns ``(x, t_x, T)`` with weights, and the distinct values likelihoods reuse.

    Terms that depend only on ``x`` (gamma functions), on ``(x, t_x)`` or on
    ``(x, T)`` (hypergeometric series) are computed once per distinct value
    and gathered with the ``i*`` codes.
    """

    __slots__ = (
        "T",
        "iT",
        "it",
        "ix",
        "ixT",
        "ixt",
        "t_x",
        "uT",
        "ut",
        "ux",
        "uxT_T",
        "uxT_x",
        "uxt_t",
        "uxt_x",
        "w",
        "wx",
        "x",
    )

    def __init__(self, x: Array, t_x: Array, T: Array, w: Array) -> None:
        self.x, self.t_x, self.T, self.w = x, t_x, T, w
        self.ix, self.ux = _codes(x)
        self.it, self.ut = _codes(t_x)
        self.iT, self.uT = _codes(T)
        self.wx = np.asarray(
            np.bincount(self.ix, weights=w, minlength=len(self.ux)), dtype=np.float64
        )
        self.ixt, self.uxt_x, self.uxt_t = _pairs(self.ix, self.it, self.ux, self.ut)
        self.ixT, self.uxT_x, self.uxT_T = _pairs(self.ix, self.iT, self.ux, self.uT)
