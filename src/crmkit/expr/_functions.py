"""The function registry: pure functions with a scalar and a vectorised implementation.

Every function a formula may call is a :class:`Function` in a
:class:`FunctionRegistry`. A function is *pure* (same arguments, same result;
no state, no I/O) and comes as a pair of implementations that must agree
exactly: ``scalar`` for one value, ``columnar`` for numpy arrays. Nulls never
reach either: when any argument is null the result is null (the two built-ins
that look at nulls, ``coalesce`` and ``is_null``, are handled by the
compiler).

The built-ins that compute transcendental results (``log``, ``exp``, ...)
call the same numpy ufuncs on both paths, because numpy's vectorised loops and
the C library's ``math`` functions may differ in the last bit.
"""

from __future__ import annotations

import keyword
import math
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

import attrs
import numpy as np

from crmkit.core import ValidationError

__all__ = [
    "BUILTINS",
    "DEFAULT_FUNCTIONS",
    "Function",
    "FunctionRegistry",
    "NullAwareFunction",
]

_TYPES: Final = ("number", "bool", "string")


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _ints(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(values)


def _check_types(field: str, types: tuple[str, ...]) -> None:
    for t in types:
        if t not in _TYPES:
            raise ValidationError(field, expected="'number', 'bool' or 'string'", got=t)


@attrs.frozen(kw_only=True)
class Function:
    """A pure function formulas may call, with its signature and two implementations.

    Nulls are handled for you: if any argument is null the result is null and
    neither implementation is called for that value or row.

    Attributes:
        name: the name formulas call it by (an identifier).
        params: the type of each parameter: ``"number"``, ``"bool"`` or ``"string"``.
        result: the type of the result.
        scalar: ``scalar(*args)`` for one set of values: numbers arrive as
            ``float``, bools as ``bool``, strings as ``str``. Return the
            result, or ``None`` / NaN for null. It must not raise for any
            non-null input (return NaN where the function is undefined).
        columnar: ``columnar(*arrays)`` for whole columns: numbers arrive as
            contiguous ``float64`` arrays, bools as ``bool`` arrays, strings
            as ``object`` arrays of ``str``, all of one length and holding
            only the rows where no argument is null. Return an array of that
            length: ``float64`` (NaN is null), ``bool``, or ``str`` objects
            (``None`` is null). It runs with numpy floating-point warnings
            silenced. It must return, for every row, exactly what ``scalar``
            returns.
        optional: how many trailing parameters may be left out (the
            implementations then receive fewer arguments).
        variadic: the last parameter may be repeated any number of times.
        constant: indexes of parameters that must be given as constants
            (literals); both implementations receive them as plain Python
            values, never as arrays.
        validate: called at build time with the values of the constant
            arguments, in order; returns an error message, or ``None`` if
            they are acceptable.
        doc: one line for the function reference.

    >>> import math, numpy as np
    >>> from crmkit.expr import Formula, DEFAULT_FUNCTIONS
    >>> cube_root = Function(
    ...     name="cbrt", params=("number",), result="number",
    ...     scalar=lambda x: float(np.cbrt(x)), columnar=np.cbrt,
    ...     doc="the cube root",
    ... )
    >>> Formula("cbrt(x) + 1", functions=DEFAULT_FUNCTIONS.extend(cube_root)).evaluate({"x": 27.0})
    4.0
    """

    name: str
    params: tuple[str, ...] = attrs.field(converter=_strings)
    result: str
    scalar: Callable[..., Any]
    columnar: Callable[..., Any]
    optional: int = 0
    variadic: bool = False
    constant: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    validate: Callable[..., str | None] | None = attrs.field(default=None, eq=False)
    doc: str = attrs.field(default="", eq=False)

    def __attrs_post_init__(self) -> None:
        if not (
            isinstance(self.name, str)
            and self.name.isidentifier()
            and not keyword.iskeyword(self.name)
            and not self.name.startswith("__")
        ):
            raise ValidationError(
                "Function.name", expected="an identifier not starting with '__'", got=self.name
            )
        _check_types("Function.params", self.params)
        _check_types("Function.result", (self.result,))
        if not 0 <= self.optional <= len(self.params):
            raise ValidationError(
                "Function.optional",
                expected=f"between 0 and the number of params ({len(self.params)})",
                got=self.optional,
            )
        if self.variadic and not self.params:
            raise ValidationError(
                "Function.variadic", expected="at least one parameter to repeat", got=self.params
            )
        for index in self.constant:
            if not 0 <= index < len(self.params) or (
                self.variadic and index == len(self.params) - 1
            ):
                raise ValidationError(
                    "Function.constant",
                    expected="indexes of non-repeated parameters",
                    got=self.constant,
                )

    @property
    def min_args(self) -> int:
        """The fewest arguments a call may pass."""
        return len(self.params) - self.optional

    @property
    def max_args(self) -> int | None:
        """The most arguments a call may pass (``None``: no limit)."""
        return None if self.variadic else len(self.params)

    def param_type(self, index: int) -> str:
        """The type of argument *index* (repeating the last parameter if variadic)."""
        return self.params[min(index, len(self.params) - 1)]

    def signature(self) -> str:
        """The call signature as the reference shows it, e.g. ``round(x: number, ndigits: number = 0)``.

        >>> DEFAULT_FUNCTIONS["clip"].signature()
        'clip(number, number, number) -> number'
        """
        parts = list(self.params)
        for i in self.constant:
            parts[i] = f"{parts[i]} constant"
        for i in range(len(parts) - self.optional, len(parts)):
            parts[i] = f"[{parts[i]}]"
        if self.variadic:
            parts.append("...")
        return f"{self.name}({', '.join(parts)}) -> {self.result}"


@attrs.frozen(kw_only=True)
class NullAwareFunction:
    """A built-in that sees nulls (``coalesce``, ``is_null``); compiled by the evaluators."""

    name: str
    min_args: int
    max_args: int | None
    doc: str = attrs.field(default="", eq=False)

    def signature(self) -> str:
        """The call signature as the reference shows it."""
        if self.name == "is_null":
            return "is_null(T) -> bool"
        return f"{self.name}(T, T, ...) -> T"


class FunctionRegistry(Mapping[str, "Function | NullAwareFunction"]):
    """An immutable set of functions, by name; :meth:`extend` returns a bigger one.

    >>> reg = DEFAULT_FUNCTIONS
    >>> "log" in reg, len(reg) >= 12
    (True, True)
    """

    __slots__ = ("_functions", "_hash")

    def __init__(self, functions: Iterable[Function | NullAwareFunction] = ()) -> None:
        table: dict[str, Function | NullAwareFunction] = {}
        for fn in functions:
            if not isinstance(fn, Function | NullAwareFunction):
                raise ValidationError("functions", expected="crmkit.expr.Function objects", got=fn)
            if fn.name in table:
                raise ValidationError(
                    "functions", expected="one function per name", got=f"{fn.name!r} twice"
                )
            table[fn.name] = fn
        self._functions = types.MappingProxyType(table)  # read-only: a registry is a value
        self._hash: int | None = None

    def extend(self, *functions: Function, replace: bool = False) -> FunctionRegistry:
        """Return a registry with *functions* added.

        Args:
            *functions: the functions to add.
            replace: allow replacing a function of the same name (by default
                that is an error, so that a built-in is not shadowed by mistake).

        Raises:
            ValidationError: a name is already taken and *replace* is false.

        >>> double = Function(name="double", params=("number",), result="number",
        ...                   scalar=lambda x: 2 * x, columnar=lambda x: 2 * x)
        >>> "double" in DEFAULT_FUNCTIONS.extend(double)
        True
        """
        table = dict(self._functions)
        for fn in functions:
            if not isinstance(fn, Function):
                raise ValidationError("functions", expected="crmkit.expr.Function objects", got=fn)
            if fn.name in table and not replace:
                raise ValidationError(
                    "functions",
                    expected="a name not yet registered",
                    got=fn.name,
                    hint="pass replace=True to replace it",
                )
            table[fn.name] = fn
        return FunctionRegistry(table.values())

    def __getitem__(self, name: str) -> Function | NullAwareFunction:
        return self._functions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FunctionRegistry):
            return NotImplemented
        return self._functions == other._functions

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._functions.items()))
        return self._hash

    def __repr__(self) -> str:
        if self is DEFAULT_FUNCTIONS:
            return "DEFAULT_FUNCTIONS"
        return f"FunctionRegistry([{', '.join(sorted(self._functions))}])"

    def __reduce__(self) -> tuple[Any, ...]:
        if self == DEFAULT_FUNCTIONS:
            return (_default_functions, ())
        return (FunctionRegistry, (tuple(self._functions.values()),))


def _default_functions() -> FunctionRegistry:
    return DEFAULT_FUNCTIONS


# ---------------------------------------------------------------- built-in implementations
# Scalar implementations receive non-null floats; columnar ones float64 arrays
# (or 0-d arrays for constants). Both give bit-identical results.

_NAN: Final = math.nan


def _s_abs(x: float) -> float:
    return abs(x)


def _s_sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0.0 else _NAN


def _c_sqrt(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0.0, np.sqrt(x), np.nan)


def _s_log(x: float) -> float:
    return float(np.log(x)) if x > 0.0 else _NAN


def _c_log(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0.0, np.log(x), np.nan)


def _s_log10(x: float) -> float:
    return float(np.log10(x)) if x > 0.0 else _NAN


def _c_log10(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0.0, np.log10(x), np.nan)


def _s_log1p(x: float) -> float:
    return float(np.log1p(x)) if x > -1.0 else _NAN


def _c_log1p(x: np.ndarray) -> np.ndarray:
    return np.where(x > -1.0, np.log1p(x), np.nan)


def _s_exp(x: float) -> float:
    if -700.0 < x < 700.0:
        return float(np.exp(x))
    with np.errstate(all="ignore"):  # overflow to inf, underflow to 0, as on arrays
        return float(np.exp(x))


def _s_floor(x: float) -> float:
    return float(math.floor(x)) if math.isfinite(x) else x


def _s_ceil(x: float) -> float:
    return float(math.ceil(x)) if math.isfinite(x) else x


_INTEGRAL: Final = 2.0**52  # at or beyond this magnitude every float is an integer


def _round0(y: float) -> float:
    """Round half away from zero; *y* is finite with ``|y| < 2**52``."""
    r = float(math.trunc(y))
    frac = y - r
    if frac >= 0.5:
        return r + 1.0
    if frac <= -0.5:
        return r - 1.0
    return r


def _s_round(x: float, ndigits: float = 0.0) -> float:
    d = int(ndigits)
    if d == 0:
        return _round0(x) if abs(x) < _INTEGRAL else x
    scale = 10.0 ** abs(d)
    y = x * scale if d > 0 else x / scale
    if not abs(y) < _INTEGRAL:
        return x
    r = _round0(y)
    return r / scale if d > 0 else r * scale


def _c_round0(y: np.ndarray) -> np.ndarray:
    r = np.trunc(y)
    frac = y - r
    result: np.ndarray = r + (frac >= 0.5) - (frac <= -0.5)
    return result


def _c_round(x: np.ndarray, ndigits: float = 0.0) -> np.ndarray:
    d = int(ndigits)
    if d == 0:
        return np.where(np.abs(x) < _INTEGRAL, _c_round0(x), x)
    scale = 10.0 ** abs(d)
    y = x * scale if d > 0 else x / scale
    r = _c_round0(y)
    r = r / scale if d > 0 else r * scale
    return np.where(np.abs(y) < _INTEGRAL, r, x)


def _validate_round(ndigits: float | None = None) -> str | None:
    if ndigits is None:
        return None
    if ndigits != int(ndigits) or not -15 <= ndigits <= 15:
        return f"ndigits must be a whole number from -15 to 15, got {ndigits!r}"
    return None


def _s_min(*xs: float) -> float:
    result = xs[0]
    for x in xs[1:]:
        if x < result:
            result = x
    return result


def _c_min(*xs: np.ndarray) -> np.ndarray:
    result = xs[0]
    for x in xs[1:]:
        result = np.where(x < result, x, result)
    return result


def _s_max(*xs: float) -> float:
    result = xs[0]
    for x in xs[1:]:
        if x > result:
            result = x
    return result


def _c_max(*xs: np.ndarray) -> np.ndarray:
    result = xs[0]
    for x in xs[1:]:
        result = np.where(x > result, x, result)
    return result


def _s_clip(x: float, lo: float, hi: float) -> float:
    return _s_min(_s_max(x, lo), hi)


def _c_clip(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return _c_min(_c_max(x, lo), hi)


def _num(name: str, scalar: Callable[..., Any], columnar: Callable[..., Any], doc: str) -> Function:
    return Function(
        name=name, params=("number",), result="number", scalar=scalar, columnar=columnar, doc=doc
    )


BUILTINS: Final[tuple[Function | NullAwareFunction, ...]] = (
    _num("abs", _s_abs, np.abs, "the absolute value"),
    _num("sqrt", _s_sqrt, _c_sqrt, "the square root; null for x < 0"),
    _num("log", _s_log, _c_log, "the natural logarithm; null for x <= 0"),
    _num("log10", _s_log10, _c_log10, "the base-10 logarithm; null for x <= 0"),
    _num("log1p", _s_log1p, _c_log1p, "log(1 + x), accurate near 0; null for x <= -1"),
    _num("exp", _s_exp, np.exp, "e to the power x (inf when it overflows)"),
    _num("floor", _s_floor, np.floor, "the largest whole number <= x"),
    _num("ceil", _s_ceil, np.ceil, "the smallest whole number >= x"),
    Function(
        name="round",
        params=("number", "number"),
        result="number",
        scalar=_s_round,
        columnar=_c_round,
        optional=1,
        constant=(1,),
        validate=_validate_round,
        doc="x rounded to ndigits decimals (default 0), halves away from zero",
    ),
    Function(
        name="min",
        params=("number", "number"),
        result="number",
        scalar=_s_min,
        columnar=_c_min,
        variadic=True,
        doc="the smallest argument (two or more)",
    ),
    Function(
        name="max",
        params=("number", "number"),
        result="number",
        scalar=_s_max,
        columnar=_c_max,
        variadic=True,
        doc="the largest argument (two or more)",
    ),
    Function(
        name="clip",
        params=("number", "number", "number"),
        result="number",
        scalar=_s_clip,
        columnar=_c_clip,
        doc="x limited to [lo, hi]: min(max(x, lo), hi)",
    ),
    NullAwareFunction(
        name="coalesce",
        min_args=2,
        max_args=None,
        doc="the first argument that is not null (all of one type)",
    ),
    NullAwareFunction(
        name="is_null", min_args=1, max_args=1, doc="whether x is null (never null itself)"
    ),
)

DEFAULT_FUNCTIONS: Final = FunctionRegistry(BUILTINS)
"""The built-in functions; extend it with :meth:`FunctionRegistry.extend`."""

BUILTIN_FUNCTIONS: Final = frozenset(id(f) for f in BUILTINS)
