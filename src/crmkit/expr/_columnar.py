"""The columnar evaluator: typed nodes -> numpy kernels over whole columns.

Internal column forms (shape ``(n,)``, or ``()`` for a constant, broadcast by numpy):

* number: a ``float64`` array; NaN is null.
* bool: :class:`BoolCol`, a ``bool`` array of values and a ``bool`` null mask
  (``None`` when nothing is null); values are ``False`` where null.
* string: :class:`StrCol`, ``int64`` codes into an ``object`` array of
  distinct strings (like a pandas Categorical); code ``-1`` is null.

No per-row Python runs here: string columns are factorised once on input,
lookups go through ``searchsorted`` or a pandas hash index over the distinct
values, and everything else is numpy over whole arrays. Number inputs are
made contiguous, so numpy uses the same loops for every layout (its
vectorised ``log``/``exp``/``power`` may differ in the last bit from its
strided fallback).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

import numpy as np
import pandas as pd

from crmkit.core import FrameError
from crmkit.expr._functions import BUILTIN_FUNCTIONS, Function, FunctionRegistry, NullAwareFunction
from crmkit.expr._nodes import (
    BOOL,
    NUMBER,
    Binary,
    BoolOp,
    Call,
    Compare,
    Cond,
    Const,
    Lookup,
    Name,
    Node,
    Unary,
    const_number,
)
from crmkit.expr._tables import Table

__all__ = [
    "BoolCol",
    "Col",
    "Kernel",
    "StrCol",
    "compile_columnar",
    "read_column",
    "to_masked",
    "to_series",
]

NDArray = np.ndarray[Any, Any]
_FALSE: Final[NDArray] = np.array(False)  # "no nulls", broadcast


class BoolCol:
    """A bool column: values and a null mask (``None``: no nulls); values are False where null."""

    __slots__ = ("mask", "values")

    def __init__(self, values: NDArray, mask: NDArray | None) -> None:
        self.values = values
        self.mask = mask

    def null(self) -> NDArray:
        return self.mask if self.mask is not None else _FALSE


class StrCol:
    """A string column: codes into distinct strings; code -1 is null."""

    __slots__ = ("cats", "codes")

    def __init__(self, codes: NDArray, cats: NDArray) -> None:
        self.codes = codes
        self.cats = cats


Col = NDArray | BoolCol | StrCol
Env = list[Any]
Kernel = Callable[[Env, int], Any]


def _null_mask(col: Col) -> NDArray:
    if isinstance(col, BoolCol):
        return col.null()
    if isinstance(col, StrCol):
        return col.codes < 0
    return np.isnan(col)


def _str_const(value: str | None) -> StrCol:
    if value is None:
        return StrCol(np.array(-1, dtype=np.int64), np.array([], dtype=object))
    return StrCol(np.array(0, dtype=np.int64), np.array([value], dtype=object))


def _recode(codes: NDArray, remap: NDArray) -> NDArray:
    if remap.size == 0:
        return codes
    return np.where(codes < 0, -1, remap[np.maximum(codes, 0)])


def _unify(a: StrCol, b: StrCol) -> tuple[NDArray, NDArray, NDArray]:
    """Codes of *a* and *b* over one shared array of distinct strings."""
    if a.cats is b.cats or (a.cats.shape == b.cats.shape and bool(np.all(a.cats == b.cats))):
        return a.codes, b.codes, a.cats
    combined = np.concatenate([a.cats, b.cats])
    remap, uniques = pd.factorize(combined)
    remap = np.asarray(remap, dtype=np.int64)
    n = len(a.cats)
    cats = np.asarray(uniques, dtype=object)
    return _recode(a.codes, remap[:n]), _recode(b.codes, remap[n:]), cats


def _take(values: NDArray, codes: NDArray, fill: Any) -> NDArray:
    """``values[codes]``, with *fill* where a code is -1."""
    if values.size == 0:
        return np.full(codes.shape, fill, dtype=values.dtype)
    return np.where(codes >= 0, values[np.maximum(codes, 0)], fill)


def _where(sel: NDArray, a: Col, b: Col) -> Col:
    if isinstance(a, BoolCol) and isinstance(b, BoolCol):
        mask = None
        if a.mask is not None or b.mask is not None:
            mask = np.where(sel, a.null(), b.null())
        return BoolCol(np.where(sel, a.values, b.values), mask)
    if isinstance(a, StrCol) and isinstance(b, StrCol):
        ca, cb, cats = _unify(a, b)
        return StrCol(np.where(sel, ca, cb), cats)
    return np.where(sel, cast(NDArray, a), cast(NDArray, b))


# ---------------------------------------------------------------- compile


def compile_columnar(
    node: Node,
    slots: Mapping[str, int],
    tables: Mapping[str, Table],
    functions: FunctionRegistry,
) -> Kernel:
    """Compile a typed node into a kernel ``k(env, n) -> column`` over internal columns."""
    return _Compiler(slots, tables, functions).compile(node)


_ARITH: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
}
_CMP: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _div(a: NDArray, b: NDArray) -> NDArray:
    return np.where(b == 0.0, np.nan, np.divide(a, b))


def _mod(a: NDArray, b: NDArray) -> NDArray:
    return np.where(b == 0.0, np.nan, np.remainder(a, b))


def _pow(a: NDArray, b: NDArray | float) -> NDArray:
    result = np.power(a, b)
    bad = np.isnan(a) | np.isnan(b) | ((a == 0.0) & (np.less(b, 0.0)))
    return np.where(bad, np.nan, result)


class _Compiler:
    def __init__(
        self, slots: Mapping[str, int], tables: Mapping[str, Table], functions: FunctionRegistry
    ) -> None:
        self.slots = slots
        self.tables = tables
        self.functions = functions

    def compile(self, node: Node) -> Kernel:
        method: Callable[[Node], Kernel] = getattr(self, "c_" + type(node).__name__.lower())
        return method(node)

    def c_const(self, node: Const) -> Kernel:
        value: Col
        if node.type == NUMBER:
            value = np.array(np.nan if node.value is None else node.value, dtype=np.float64)
        elif node.type == BOOL:
            null = node.value is None
            value = BoolCol(np.array(bool(node.value)), np.array(True) if null else None)
        else:
            value = _str_const(node.value if isinstance(node.value, str) else None)
        return lambda env, n: value

    def c_name(self, node: Name) -> Kernel:
        slot = self.slots[node.name]
        return lambda env, n: env[slot]

    def c_unary(self, node: Unary) -> Kernel:
        f = self.compile(node.operand)
        if node.op == "-":
            return lambda env, n: np.negative(f(env, n))
        if node.op == "+":
            return f

        def not_(env: Env, n: int) -> BoolCol:
            a: BoolCol = f(env, n)
            if a.mask is None:
                return BoolCol(~a.values, None)
            return BoolCol(~a.values & ~a.mask, a.mask)

        return not_

    def c_binary(self, node: Binary) -> Kernel:
        lf = self.compile(node.left)
        op = node.op
        if op == "**" and isinstance(node.right, Const):
            # A constant exponent goes to numpy as a Python float, exactly as the
            # scalar path passes it (numpy special-cases some exponents).
            c = np.nan if node.right.value is None else float(node.right.value)
            return lambda env, n: _pow(lf(env, n), c)
        rf = self.compile(node.right)
        if op in _ARITH:
            ufunc = _ARITH[op]
            return lambda env, n: ufunc(lf(env, n), rf(env, n))
        if op == "/":
            return lambda env, n: _div(lf(env, n), rf(env, n))
        if op == "%":
            return lambda env, n: _mod(lf(env, n), rf(env, n))
        return lambda env, n: _pow(lf(env, n), rf(env, n))

    def c_compare(self, node: Compare) -> Kernel:
        fs = [self.compile(o) for o in node.operands]
        kind = node.operands[0].type
        ops = node.ops

        def compare(env: Env, n: int) -> BoolCol:
            cols = [f(env, n) for f in fs]
            result = _compare_pair(ops[0], kind, cols[0], cols[1])
            for i in range(1, len(ops)):
                result = _and(result, _compare_pair(ops[i], kind, cols[i], cols[i + 1]))
            return result

        return compare

    def c_boolop(self, node: BoolOp) -> Kernel:
        fs = [self.compile(o) for o in node.operands]
        combine = _and if node.op == "and" else _or

        def boolop(env: Env, n: int) -> BoolCol:
            result: BoolCol = fs[0](env, n)
            for f in fs[1:]:
                result = combine(result, f(env, n))
            return result

        return boolop

    def c_cond(self, node: Cond) -> Kernel:
        then, test, orelse = (self.compile(x) for x in (node.then, node.test, node.orelse))

        def cond(env: Env, n: int) -> Col:
            t: BoolCol = test(env, n)
            return _where(t.values, then(env, n), orelse(env, n))

        return cond

    def c_lookup(self, node: Lookup) -> Kernel:
        table = self.tables[node.table]
        kf = self.compile(node.key)
        values, nulls, default, default_null, out_cats = _table_arrays(table)
        vt = table.value_type

        def finish(idx: NDArray, found: NDArray, key_null: NDArray) -> Col:
            # idx: table row per position (valid where found); rows not found get the default.
            if vt == NUMBER:
                picked = np.where(found, values[idx], default)
                return np.where(key_null, np.nan, picked)
            null = np.where(found, nulls[idx], default_null) | key_null
            if vt == BOOL:
                picked_b = np.where(found, values[idx], default) & ~null
                return BoolCol(picked_b, null)
            codes = np.where(found, values[idx], default)
            return StrCol(np.where(null, -1, codes), out_cats)

        if table.key_type == NUMBER:
            keys = np.array(list(table.entries), dtype=np.float64)
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            values, nulls = values[order], nulls[order]

            def lookup_number(env: Env, n: int) -> Col:
                k: NDArray = kf(env, n)
                pos = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
                found = keys[pos] == k
                return finish(pos, found, np.isnan(k))

            return lookup_number

        index = pd.Index(np.array(list(table.entries), dtype=object))

        def lookup_string(env: Env, n: int) -> Col:
            k: StrCol = kf(env, n)
            per_cat = np.asarray(index.get_indexer(k.cats), dtype=np.int64)
            row = _take(per_cat, k.codes, -1)
            found = row >= 0
            return finish(np.maximum(row, 0), found, k.codes < 0)

        return lookup_string

    def c_call(self, node: Call) -> Kernel:
        fn = self.functions[node.function]
        if isinstance(fn, NullAwareFunction):
            return self._special(fn, node)
        return self._function(fn, node)

    def _special(self, fn: NullAwareFunction, node: Call) -> Kernel:
        fs = [self.compile(a) for a in node.args]
        if fn.name == "is_null":
            f = fs[0]
            return lambda env, n: BoolCol(np.asarray(_null_mask(f(env, n))), None)

        def coalesce(env: Env, n: int) -> Col:
            result: Col = fs[0](env, n)
            for f in fs[1:]:
                result = _where(_null_mask(result), f(env, n), result)
            return result

        return coalesce

    def _function(self, fn: Function, node: Call) -> Kernel:
        impl = fn.columnar
        trusted = id(fn) in BUILTIN_FUNCTIONS
        consts: dict[int, Any] = {}
        for i, arg in enumerate(node.args):
            if i in fn.constant:
                value = arg.value if isinstance(arg, Const) else const_number(arg)
                consts[i] = float(value) if fn.param_type(i) == NUMBER else value  # type: ignore[arg-type]
        evaluated = [i for i in range(len(node.args)) if i not in consts]
        fs = [self.compile(node.args[i]) for i in evaluated]
        result = fn.result

        def builtin(env: Env, n: int) -> Col:
            cols = [f(env, n) for f in fs]
            null: NDArray = _FALSE
            for col in cols:
                null = null | _null_mask(col)
            it = iter(cols)
            args = [consts[i] if i in consts else next(it) for i in range(len(node.args))]
            return _from_result(impl(*args), result, null, n, trusted=True)

        def registered(env: Env, n: int) -> Col:
            # Called on the rows where no argument is null, as the scalar path is.
            cols = [f(env, n) for f in fs]
            keep = np.ones(n, dtype=bool)
            for col in cols:
                keep &= ~_null_mask(col)
            m = int(keep.sum())
            plain = [_plain(col, n, keep if m < n else None) for col in cols]
            it = iter(plain)
            args = [consts[i] if i in consts else next(it) for i in range(len(node.args))]
            out = _from_result(impl(*args), result, _FALSE, m, trusted=False)
            return out if m == n else _scatter(out, keep, n)

        return builtin if trusted else registered


def _plain(col: Col, n: int, keep: NDArray | None) -> NDArray:
    """A column as a registered function receives it: full length, contiguous, only *keep* rows."""
    if isinstance(col, BoolCol):
        values = col.values
    elif isinstance(col, StrCol):
        values = _take(col.cats, col.codes, "")
    else:
        values = col
    full = np.broadcast_to(values, (n,))
    return np.ascontiguousarray(full if keep is None else full[keep])


def _scatter(col: Col, keep: NDArray, n: int) -> Col:
    """Spread a result computed on the *keep* rows over *n* rows; the others are null."""
    if isinstance(col, BoolCol):
        values = np.zeros(n, dtype=bool)
        values[keep] = col.values
        mask = np.ones(n, dtype=bool)
        mask[keep] = col.null()
        return BoolCol(values, mask)
    if isinstance(col, StrCol):
        codes = np.full(n, -1, dtype=np.int64)
        codes[keep] = col.codes
        return StrCol(codes, col.cats)
    numbers = np.full(n, np.nan)
    numbers[keep] = col
    return numbers


def _from_result(out: Any, type_: str, null: NDArray, n: int, trusted: bool) -> Col:
    """A function's result in internal form; rows where an argument was null become null.

    Results of registered functions are read as leniently as their scalar
    results are: ``None`` or NaN is null, and string results go through ``str``.
    """
    if type_ == NUMBER:
        values = np.asarray(out, dtype=np.float64)
        if not trusted:
            values = np.broadcast_to(values, (n,))
        if null is _FALSE:
            return values
        return np.where(null, np.nan, values)
    if type_ == BOOL:
        raw = np.broadcast_to(np.asarray(out), (n,))
        if raw.dtype == object:
            array = pd.array(raw, dtype="boolean")
            null = null | np.asarray(array.isna(), dtype=bool)
            bools = np.asarray(array.to_numpy(dtype=bool, na_value=False))
        else:
            bools = raw.astype(bool)
        mask = None if null is _FALSE else np.array(np.broadcast_to(null, (n,)))
        return BoolCol(bools & ~null, mask)
    objects = np.broadcast_to(np.asarray(out, dtype=object), (n,))
    codes, uniques = pd.factorize(objects)
    codes = np.asarray(codes, dtype=np.int64)
    if not trusted:
        remap, distinct = pd.factorize(np.array([str(u) for u in uniques], dtype=object))
        codes = _recode(codes, np.asarray(remap, dtype=np.int64))
        uniques = distinct
    return StrCol(np.where(null, -1, codes), np.asarray(uniques, dtype=object))


def _compare_pair(op: str, kind: str, a: Col, b: Col) -> BoolCol:
    cmp = _CMP[op]
    if kind == NUMBER:
        null = np.isnan(a) | np.isnan(b)  # type: ignore[arg-type]
        return BoolCol(cmp(a, b) & ~null, null)
    if isinstance(a, BoolCol) and isinstance(b, BoolCol):
        null = a.null() | b.null()
        return BoolCol(np.asarray(cmp(a.values, b.values)) & ~null, null)
    ca, cb, _ = _unify(cast(StrCol, a), cast(StrCol, b))
    null = (ca < 0) | (cb < 0)
    return BoolCol(np.asarray(cmp(ca, cb)) & ~null, null)


def _and(a: BoolCol, b: BoolCol) -> BoolCol:
    values = a.values & b.values
    if a.mask is None and b.mask is None:
        return BoolCol(values, None)
    am, bm = a.null(), b.null()
    false = (~a.values & ~am) | (~b.values & ~bm)
    return BoolCol(values, (am | bm) & ~false)


def _or(a: BoolCol, b: BoolCol) -> BoolCol:
    values = a.values | b.values
    if a.mask is None and b.mask is None:
        return BoolCol(values, None)
    return BoolCol(values, (a.null() | b.null()) & ~values)


def _table_arrays(
    table: Table,
) -> tuple[NDArray, NDArray, Any, bool, NDArray]:
    """Values of a table as arrays (in entry order), null flags, the default, and string cats."""
    raw = list(table.entries.values())
    nulls = np.array([v is None for v in raw], dtype=bool)
    default_null = table.default is None
    cats = np.array([], dtype=object)
    if table.value_type == NUMBER:
        values = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
        default: Any = np.nan if table.default is None else float(table.default)
    elif table.value_type == BOOL:
        values = np.array([bool(v) for v in raw], dtype=bool)
        default = bool(table.default)
    else:
        strings = [v for v in raw if v is not None]
        if table.default is not None:
            strings.append(table.default)
        distinct = list(dict.fromkeys(strings))
        position = {s: i for i, s in enumerate(distinct)}
        cats = np.array(distinct, dtype=object)
        values = np.array([-1 if v is None else position[v] for v in raw], dtype=np.int64)
        default = -1 if table.default is None else position[table.default]
    return values, nulls, default, default_null, cats


# ---------------------------------------------------------------- input


_NUMBER_OBJECTS: Final = frozenset(
    {"floating", "integer", "mixed-integer-float", "decimal", "boolean", "empty"}
)


def read_column(data: Any, type_: str, name: str) -> Col:
    """Convert an input column (a pandas Series, numpy array or array-like) to internal form.

    Raises:
        FrameError: the column cannot be read as *type_*.
    """
    if isinstance(data, np.ma.MaskedArray):
        return _read_masked(data, type_, name)
    if isinstance(data, np.ndarray) and data.ndim == 1:
        if type_ == NUMBER and data.dtype.kind in "fiub":
            return np.ascontiguousarray(data, dtype=np.float64)
        if type_ == BOOL and data.dtype.kind == "b":
            return BoolCol(np.ascontiguousarray(data), None)
    series = data if isinstance(data, pd.Series) else _as_series(data, name)
    if type_ == NUMBER:
        return _read_number(series, name)
    if type_ == BOOL:
        return _read_bool(series, name)
    return _read_string(series, name)


def _as_series(data: Any, name: str) -> pd.Series[Any]:
    try:
        series = pd.Series(data, copy=False)
    except (TypeError, ValueError) as err:
        raise FrameError(
            f"column {name!r} is not a one-dimensional array",
            column=name,
            expected="a one-dimensional array or pandas Series",
            got=type(data).__name__,
        ) from err
    return series


def _read_masked(data: np.ma.MaskedArray[Any, Any], type_: str, name: str) -> Col:
    mask = np.ma.getmaskarray(data)
    raw = np.ma.getdata(data)
    if type_ == NUMBER and raw.dtype.kind in "fiub":
        values = np.array(raw, dtype=np.float64)
        values[mask] = np.nan
        return values
    if type_ == BOOL and raw.dtype.kind == "b":
        return BoolCol(np.ascontiguousarray(raw) & ~mask, mask if mask.any() else None)
    objects = np.array(raw, dtype=object)
    objects[mask] = None
    return read_column(pd.Series(objects, dtype=object), type_, name)


def _wrong(name: str, series: pd.Series[Any], what: str, hint: str | None = None) -> FrameError:
    if hint is None:
        hint = f"its values are {pd.api.types.infer_dtype(series, skipna=True)}"
    return FrameError(
        f"column {name!r} cannot be read as {what}",
        column=name,
        expected=f"a column of {what}",
        got=f"dtype {series.dtype}",
        hint=hint,
    )


def _read_number(series: pd.Series[Any], name: str) -> NDArray:
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "fiub":
            return np.ascontiguousarray(series.to_numpy(dtype=np.float64))
        if dtype.kind != "O":
            raise _wrong(name, series, "numbers")
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred not in _NUMBER_OBJECTS:
            raise _wrong(name, series, "numbers", hint=f"its values are {inferred}")
    elif not (
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
        or (
            isinstance(dtype, pd.CategoricalDtype)
            and pd.api.types.is_numeric_dtype(dtype.categories.dtype)
        )
    ):
        raise _wrong(name, series, "numbers")
    try:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError, OverflowError) as err:
        raise _wrong(name, series, "numbers", hint=str(err)) from err
    return np.ascontiguousarray(values)


_BOOL_OBJECTS: Final = frozenset({"boolean", "empty"})


def _read_bool(series: pd.Series[Any], name: str) -> BoolCol:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return BoolCol(np.ascontiguousarray(series.to_numpy(dtype=bool)), None)
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, np.dtype):
        mask = np.asarray(series.isna().to_numpy(), dtype=bool)
        values = series.to_numpy(dtype=bool, na_value=False)
        return BoolCol(values & ~mask, mask if mask.any() else None)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred in _BOOL_OBJECTS:
            array = pd.array(series.to_numpy(dtype=object), dtype="boolean")
            mask = np.asarray(array.isna(), dtype=bool)
            values = np.asarray(array.to_numpy(dtype=bool, na_value=False))
            return BoolCol(values & ~mask, mask if mask.any() else None)
        raise _wrong(name, series, "bools", hint=f"its values are {inferred}")
    hint = None
    if pd.api.types.is_numeric_dtype(dtype):
        hint = "numbers are not bools: compare them, e.g. x > 0"
    raise _wrong(name, series, "bools", hint=hint)


def _read_string(series: pd.Series[Any], name: str) -> StrCol:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if len(categories) and pd.api.types.infer_dtype(categories) != "string":
            raise _wrong(name, series, "strings", hint="its categories are not strings")
        codes = np.asarray(series.cat.codes.to_numpy(), dtype=np.int64)
        return StrCol(codes, np.asarray(categories, dtype=object))
    if pd.api.types.is_string_dtype(dtype) or (isinstance(dtype, np.dtype) and dtype.kind == "O"):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred not in ("string", "empty"):
            raise _wrong(name, series, "strings", hint=f"its values are {inferred}")
        codes, uniques = pd.factorize(series)
        return StrCol(np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object))
    raise _wrong(name, series, "strings")


# ---------------------------------------------------------------- output


def _string_dtype() -> Any:
    # The dtype pandas itself gives a column of strings: ``str`` on pandas 3, ``object`` before.
    return pd.Series(["a"]).dtype


_STRING_DTYPE: Final = _string_dtype()


def _full(col: Col, n: int) -> Col:
    if isinstance(col, BoolCol):
        values = np.broadcast_to(col.values, (n,))
        mask = None if col.mask is None else np.broadcast_to(col.mask, (n,))
        return BoolCol(values, mask)
    if isinstance(col, StrCol):
        return StrCol(np.broadcast_to(col.codes, (n,)), col.cats)
    return np.broadcast_to(col, (n,))


def _strings(col: StrCol, n: int) -> NDArray:
    out = _take(col.cats, np.broadcast_to(col.codes, (n,)), None)
    return np.asarray(out, dtype=object)


def to_series(col: Col, type_: str, n: int, index: pd.Index[Any]) -> pd.Series[Any]:
    """The result as a pandas Series: float64, nullable ``boolean``, or pandas' string dtype."""
    full = _full(col, n)
    if type_ == NUMBER:
        numbers: pd.Series[Any] = pd.Series(np.array(full, dtype=np.float64), index=index)
        return numbers
    if type_ == BOOL:
        full = cast(BoolCol, full)
        mask = np.zeros(n, dtype=bool) if full.mask is None else np.array(full.mask)
        array = pd.arrays.BooleanArray(np.array(full.values), mask)
        bools: pd.Series[Any] = pd.Series(array, index=index)
        return bools
    strings: pd.Series[Any] = pd.Series(
        _strings(cast(StrCol, full), n), index=index, dtype=_STRING_DTYPE
    )
    return strings


def to_masked(col: Col, type_: str, n: int) -> np.ma.MaskedArray[Any, Any]:
    """The result as a numpy masked array: float64, bool or object (str), masked where null."""
    full = _full(col, n)
    if type_ == NUMBER:
        data = np.array(full, dtype=np.float64)
        return np.ma.MaskedArray(data, mask=np.isnan(data))
    if type_ == BOOL:
        full = cast(BoolCol, full)
        mask = np.zeros(n, dtype=bool) if full.mask is None else np.array(full.mask)
        return np.ma.MaskedArray(np.array(full.values), mask=mask)
    strings = cast(StrCol, full)
    codes = np.broadcast_to(strings.codes, (n,))
    return np.ma.MaskedArray(_strings(strings, n), mask=np.array(codes < 0))
