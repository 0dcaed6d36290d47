"""What every fitted model shares: the fit record, the optimiser, and the TOML/JSON/dict round trip."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Self, TypeAlias, TypeVar

import attrs
import numpy as np
import numpy.typing as npt
from scipy import optimize

from crmkit.clv._data import TimeUnit, check_time_unit
from crmkit.core import ConfigError, CrmkitError, Definition, Problem, ValidationError

__all__ = ["FitError", "FitInfo", "Model", "maximize"]

Array: TypeAlias = npt.NDArray[np.float64]
Objective: TypeAlias = Callable[[Array], tuple[float, Array]]
M = TypeVar("M", bound="Model")

FORMAT_VERSION: Final = 1
# Log-parameters stay within exp(+-30): far outside any sensible value, inside float range.
_LOG_BOUND: Final = 30.0


class FitError(CrmkitError, RuntimeError):
    """A model could not be fitted: the data cannot identify it, or the optimiser found no optimum.

    Attributes:
        model: the model's name (``"bg_nbd"``).
        gradient_norm: the largest absolute score (per customer) where the search stopped.
    """

    def __init__(
        self,
        model: str,
        message: str,
        *,
        gradient_norm: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.model = model
        self.gradient_norm = gradient_norm
        super().__init__(f"{model} fit failed: {message}", hint=hint)


@attrs.frozen(kw_only=True)
class FitInfo:
    """How a model was fitted: the optimum, its precision, and the data it saw.

    Attributes:
        log_likelihood: the total log-likelihood at the optimum.
        standard_errors: one per parameter, from the inverse Hessian of the
            log-likelihood at the optimum (in the order of the parameters).
        gradient_norm: the largest absolute derivative of the mean
            log-likelihood per customer with respect to the log-parameters.
        iterations: optimiser iterations (quasi-Newton plus Newton polish).
        evaluations: log-likelihood and gradient evaluations.
        message: the optimiser's last word.
        customers: number of customers (sum of weights) fitted.
        patterns: number of distinct data patterns the likelihood was summed over.
    """

    log_likelihood: float
    standard_errors: tuple[float, ...]
    gradient_norm: float
    iterations: int
    evaluations: int
    message: str
    customers: float
    patterns: int

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data (``standard_errors`` as a list)."""
        out = attrs.asdict(self)
        out["standard_errors"] = list(self.standard_errors)
        return out


GTOL: Final = 1e-7
"""A fit has converged when no derivative of the mean log-likelihood per customer exceeds this."""


def maximize(
    model: str, objective: Objective, start: Array, customers: float, patterns: int
) -> tuple[Array, FitInfo]:
    """Maximise a log-likelihood over log-parameters.

    *objective* returns the negative total log-likelihood and its gradient with
    respect to the log-parameters. BFGS finds the
    region, then Newton steps on a Hessian from central differences of the
    analytic gradient (computed once, at the quasi-Newton optimum) polish
    the optimum and give the standard errors. A
    stationary point with a positive definite Hessian is accepted whatever the
    quasi-Newton stage reported.
    """
    scale = 1.0 / max(customers, 1.0)
    evaluations = 0

    def scaled(theta: Array) -> tuple[float, Array]:
        nonlocal evaluations
        evaluations += 1
        if np.any(np.abs(theta) > _LOG_BOUND):
            return math.inf, np.zeros_like(theta)
        value, grad = objective(theta)
        if not math.isfinite(value) or not np.all(np.isfinite(grad)):
            return math.inf, np.zeros_like(theta)
        return value * scale, grad * scale

    first, _ = scaled(start)
    if not math.isfinite(first):
        raise FitError(model, "the log-likelihood is not finite at the starting values")
    result = optimize.minimize(
        scaled, start, jac=True, method="BFGS", options={"maxiter": 1000, "gtol": 1e-7}
    )
    theta = np.asarray(result.x, dtype=np.float64)
    message = str(result.message)
    iterations = int(result.nit)
    value, grad = scaled(theta)
    hessian = _hessian(scaled, theta)
    refreshed = False
    for _ in range(20):
        if np.max(np.abs(grad)) <= GTOL * 1e-3:
            break
        step = _newton_step(hessian, grad)
        if step is None:
            break
        accepted = False
        for shrink in (1.0, 0.5, 0.25, 0.125):
            candidate = np.clip(theta + shrink * step, -_LOG_BOUND, _LOG_BOUND)
            cvalue, cgrad = scaled(candidate)
            if cvalue <= value + 1e-15 * abs(value) or np.max(np.abs(cgrad)) < np.max(np.abs(grad)):
                theta, value, grad = candidate, cvalue, cgrad
                accepted = True
                break
        iterations += 1
        message = "Newton polish"
        if not accepted:
            if refreshed:
                break
            hessian = _hessian(scaled, theta)  # the Hessian from the quasi-Newton point was too far
            refreshed = True
    gnorm = float(np.max(np.abs(grad)))
    if not math.isfinite(value):
        raise FitError(model, "the log-likelihood is not finite at the optimum found")
    if np.any(np.abs(theta) >= _LOG_BOUND - 1e-6):
        raise FitError(
            model,
            "a parameter ran to 0 or infinity (the data cannot identify the model)",
            gradient_norm=gnorm,
            hint="too few repeat purchases, or a model that does not fit these data",
        )
    if gnorm > GTOL:
        raise FitError(
            model,
            f"no optimum found ({message}; largest gradient per customer {gnorm:.3g})",
            gradient_norm=gnorm,
        )
    covariance = _inverse(hessian)
    if covariance is None:
        raise FitError(
            model,
            "the Hessian at the optimum is not positive definite (a saddle point or a flat ridge)",
            gradient_norm=gnorm,
            hint="the data cannot identify every parameter",
        )
    params = np.exp(theta)
    se_log = np.sqrt(np.diag(covariance) * scale)
    info = FitInfo(
        log_likelihood=-value / scale,
        standard_errors=tuple(float(v) for v in params * se_log),
        gradient_norm=gnorm,
        iterations=iterations,
        evaluations=evaluations,
        message=message,
        customers=float(customers),
        patterns=int(patterns),
    )
    return params, info


def _hessian(fun: Callable[[Array], tuple[float, Array]], theta: Array) -> Array:
    n = len(theta)
    h = np.empty((n, n))
    for i in range(n):
        step = 1e-5 * max(1.0, abs(theta[i]))
        up = theta.copy()
        up[i] += step
        down = theta.copy()
        down[i] -= step
        h[:, i] = (fun(up)[1] - fun(down)[1]) / (2 * step)
    return 0.5 * (h + h.T)


def _newton_step(hessian: Array, grad: Array) -> Array | None:
    if not np.all(np.isfinite(hessian)):
        return None
    try:
        np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return None
    step: Array = -np.linalg.solve(hessian, grad).astype(np.float64)
    return step if np.all(np.isfinite(step)) else None


def _inverse(hessian: Array) -> Array | None:
    if not np.all(np.isfinite(hessian)):
        return None
    try:
        np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return None
    inverse: Array = np.linalg.inv(hessian).astype(np.float64)
    return inverse


def check_param(model: str, name: str, value: object) -> float:
    """A model parameter: a finite float > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(f"{model}.{name}", expected="a number > 0", got=value)
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValidationError(f"{model}.{name}", expected="a finite number > 0", got=value)
    return number


def _param_converter(name: str) -> Callable[[object], float]:
    def convert(value: object) -> float:
        return check_param("parameter", name, value)

    return convert


def param(name: str) -> Any:
    """An attrs field for a model parameter (a finite float > 0)."""
    return attrs.field(converter=_param_converter(name))


def _unit(value: object) -> TimeUnit | None:
    return None if value is None else check_time_unit(value)


def _as_of(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return str(iso())
    raise ValidationError("as_of", expected="an ISO 8601 string, a date or None", got=value)


@attrs.frozen(kw_only=True)
class Model(Definition):
    """Base of the fitted models: parameters (in subclasses), time unit, ``as_of`` and fit record.

    Purchase models need a time unit (their rates are per unit); the spend
    model has none.
    """

    definition_name: ClassVar[str] = "fitted model"
    NAME: ClassVar[str] = "model"
    PARAMS: ClassVar[tuple[str, ...]] = ()
    NEEDS_TIME_UNIT: ClassVar[bool] = True

    def __attrs_post_init__(self) -> None:
        if self.NEEDS_TIME_UNIT and self.time_unit is None:
            raise ValidationError(
                f"{type(self).__name__}.time_unit", expected="'D' (days) or 'W' (weeks)", got=None
            )

    time_unit: TimeUnit | None = attrs.field(default=None, converter=_unit)
    as_of: str | None = attrs.field(default=None, converter=_as_of)
    fit_info: FitInfo | None = attrs.field(default=None, repr=False)

    @property
    def params(self) -> dict[str, float]:
        """The parameters by name, in their documented order."""
        return {name: float(getattr(self, name)) for name in self.PARAMS}

    @property
    def standard_errors(self) -> dict[str, float] | None:
        """Standard errors by parameter name (``None`` for a model not fitted here)."""
        if self.fit_info is None:
            return None
        return dict(zip(self.PARAMS, self.fit_info.standard_errors, strict=True))

    # ------------------------------------------------------------ round trip
    def to_dict(self) -> dict[str, Any]:
        """The model as plain data; :meth:`from_dict` reads it back."""
        out: dict[str, Any] = {"model": self.NAME, "format_version": FORMAT_VERSION}
        if self.time_unit is not None:
            out["time_unit"] = self.time_unit
        if self.as_of is not None:
            out["as_of"] = self.as_of
        out["params"] = self.params
        if self.fit_info is not None:
            fit = self.fit_info.to_dict()
            fit["standard_errors"] = dict(zip(self.PARAMS, fit["standard_errors"], strict=True))
            out["fit"] = fit
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Self:
        """Read a model written by :meth:`to_dict`; every problem is reported at once.

        Raises:
            ConfigError: a missing or unknown key, a wrong model name, a bad value.
        """
        problems: list[Problem] = []
        if not isinstance(data, Mapping):
            raise ConfigError(
                [Problem(where="(top)", message=f"expected a table, got {type(data).__name__}")]
            )
        allowed = {"model", "format_version", "time_unit", "as_of", "params", "fit"}
        problems.extend(
            Problem(where=str(key), message="unknown key") for key in data if key not in allowed
        )
        if data.get("model") != cls.NAME:
            problems.append(
                Problem(where="model", message=f"expected {cls.NAME!r}, got {data.get('model')!r}")
            )
        if data.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
            problems.append(
                Problem(
                    where="format_version",
                    message=f"expected {FORMAT_VERSION}, got {data.get('format_version')!r}",
                )
            )
        unit = data.get("time_unit")
        if unit not in ("D", "W") and not (unit is None and not cls.NEEDS_TIME_UNIT):
            problems.append(
                Problem(where="time_unit", message=f"expected 'D' or 'W', got {unit!r}")
            )
        as_of = data.get("as_of")
        if as_of is not None and not isinstance(as_of, str):
            problems.append(Problem(where="as_of", message=f"expected a string, got {as_of!r}"))
        params = data.get("params")
        values: dict[str, float] = {}
        if not isinstance(params, Mapping):
            problems.append(Problem(where="params", message="expected a table of parameters"))
        else:
            problems.extend(
                Problem(where=f"params.{name}", message="unknown parameter")
                for name in params
                if name not in cls.PARAMS
            )
            for name in cls.PARAMS:
                if name not in params:
                    problems.append(Problem(where=f"params.{name}", message="missing"))
                    continue
                try:
                    values[name] = check_param(cls.NAME, name, params[name])
                except ValidationError as err:
                    problems.append(Problem(where=f"params.{name}", message=str(err)))
        fit_info = None
        fit = data.get("fit")
        if fit is not None:
            fit_info = _read_fit(fit, cls.PARAMS, problems)
        if problems:
            raise ConfigError(problems, source=source, what=cls.definition_name)
        return cls(time_unit=unit, as_of=as_of, fit_info=fit_info, **values)


_FIT_KEYS: Final = {
    "log_likelihood": float,
    "gradient_norm": float,
    "iterations": int,
    "evaluations": int,
    "message": str,
    "customers": float,
    "patterns": int,
}


def _read_fit(fit: object, names: tuple[str, ...], problems: list[Problem]) -> FitInfo | None:
    if not isinstance(fit, Mapping):
        problems.append(Problem(where="fit", message="expected a table"))
        return None
    before = len(problems)
    values: dict[str, Any] = {}
    problems.extend(
        Problem(where=f"fit.{key}", message="unknown key")
        for key in fit
        if key not in _FIT_KEYS and key != "standard_errors"
    )
    for key, kind in _FIT_KEYS.items():
        value = fit.get(key)
        ok = (
            isinstance(value, str)
            if kind is str
            else (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and (kind is float or float(value) == int(value))
            )
        )
        if not ok:
            problems.append(
                Problem(where=f"fit.{key}", message=f"expected a {kind.__name__}, got {value!r}")
            )
        else:
            values[key] = kind(value)
    errors = fit.get("standard_errors")
    if not isinstance(errors, Mapping) or set(errors) != set(names):
        problems.append(
            Problem(
                where="fit.standard_errors",
                message=f"expected a table with keys {', '.join(names)}",
            )
        )
    elif not all(
        isinstance(errors[n], int | float) and not isinstance(errors[n], bool) for n in names
    ):
        problems.append(Problem(where="fit.standard_errors", message="expected numbers"))
    else:
        values["standard_errors"] = tuple(float(errors[n]) for n in names)
    if len(problems) > before:
        return None
    return FitInfo(**values)


def rough_start(objective: Objective, start: Array, customers: float) -> Array:
    """A quick, loose BFGS optimum (a warm start for the fit on all the data)."""
    scale = 1.0 / max(customers, 1.0)

    def scaled(theta: Array) -> tuple[float, Array]:
        if np.any(np.abs(theta) > _LOG_BOUND):
            return math.inf, np.zeros_like(theta)
        value, grad = objective(theta)
        if not math.isfinite(value) or not np.all(np.isfinite(grad)):
            return math.inf, np.zeros_like(theta)
        return value * scale, grad * scale

    result = optimize.minimize(
        scaled, start, jac=True, method="BFGS", options={"maxiter": 200, "gtol": 1e-5}
    )
    theta = np.asarray(result.x, dtype=np.float64)
    return theta if np.all(np.isfinite(theta)) else start
