"""The scalar evaluator: typed nodes -> precompiled closures over one mapping of values.

Inside the closures a null number is NaN (so arithmetic propagates it for
free), a null bool or string is ``None``. Every name is read and converted
once, before the closures run, into a list indexed by slot: a missing name is
an error whatever branch the formula takes, exactly as on the columnar path.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import numpy as np
import pandas as pd

from crmkit.core import ValidationError
from crmkit.expr._functions import BUILTIN_FUNCTIONS, Function, FunctionRegistry, NullAwareFunction
from crmkit.expr._nodes import (
    BOOL,
    NUMBER,
    STRING,
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
    children,
    const_number,
    transform,
)
from crmkit.expr._tables import Table

__all__ = [
    "Thunk",
    "binary_op",
    "compile_scalar",
    "fold",
    "make_reader",
    "null_of",
]

NAN: Final = math.nan
_FLOAT_LIMIT: Final = 1000.0  # |exponent * log2|base|| below this cannot overflow or underflow

Env = list[Any]
Thunk = Callable[[Env], Any]


def null_of(type_: str) -> Any:
    """The internal null of a type: NaN for numbers, ``None`` otherwise."""
    return NAN if type_ == NUMBER else None


def to_internal(value: object, type_: str) -> Any:
    """A constant's value as the closures use it."""
    if value is None:
        return null_of(type_)
    if type_ == NUMBER:
        return float(value)  # type: ignore[arg-type]
    return value


# ---------------------------------------------------------------- arithmetic


def _div(a: float, b: float) -> float:
    return a / b if b else NAN


def _mod(a: float, b: float) -> float:
    return a % b if b else NAN


def pow_const(a: float, c: float) -> float:
    """``a ** c`` for a constant exponent *c*: the same numpy call as on whole columns."""
    if a != a or c != c:
        return NAN
    if a == 0.0:
        return NAN if c < 0.0 else float(np.power(a, c))
    if math.isinf(a) or math.isinf(c):
        return _slow_pow(a, c)
    if a < 0.0 and c != math.floor(c):
        return NAN
    if abs(c) * abs(math.log2(abs(a))) < _FLOAT_LIMIT:
        return float(np.power(a, c))
    return _slow_pow(a, c)


def _slow_pow(a: float, c: float) -> float:
    with np.errstate(all="ignore"):
        return float(np.power(a, c))


def pow_var(a: float, b: float) -> float:
    """``a ** b`` for an exponent that varies: the same numpy call as array ** array."""
    if a != a or b != b:
        return NAN
    if a == 0.0:
        return NAN if b < 0.0 else float(np.power(a, np.array([b]))[0])
    if math.isinf(a) or math.isinf(b):
        return _slow_pow_var(a, b)
    if a < 0.0 and b != math.floor(b):
        return NAN
    if abs(b) * abs(math.log2(abs(a))) < _FLOAT_LIMIT:
        return float(np.power(a, np.array([b]))[0])
    return _slow_pow_var(a, b)


def _slow_pow_var(a: float, b: float) -> float:
    with np.errstate(all="ignore"):
        return float(np.power(a, np.array([b]))[0])


_ARITH: Final[dict[str, Callable[[float, float], float]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _div,
    "%": _mod,
    "**": pow_var,
}


def binary_op(op: str, a: float, b: float) -> float:
    """Apply a binary arithmetic operator to two constants (NaN is null)."""
    if op == "**":
        return pow_const(a, b)
    return _ARITH[op](a, b)


# ---------------------------------------------------------------- input


def _number(name: str, value: object) -> float:
    if value is None or value is pd.NA:
        return NAN
    if isinstance(value, bool | np.bool_):
        return 1.0 if value else 0.0
    if isinstance(value, numbers.Real | Decimal):
        try:
            return float(value)
        except (OverflowError, ValueError, TypeError):
            pass
    raise ValidationError(f"data[{name!r}]", expected="a number (or None for null)", got=value)


def _bool(name: str, value: object) -> bool | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValidationError(
        f"data[{name!r}]",
        expected="a bool (or None for null)",
        got=value,
        hint="numbers are not bools: compare them, e.g. x > 0",
    )


def _string(name: str, value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return str.__str__(value)
    raise ValidationError(f"data[{name!r}]", expected="a string (or None for null)", got=value)


_READERS: Final[dict[str, tuple[type, Callable[[str, object], Any]]]] = {
    NUMBER: (float, _number),
    BOOL: (bool, _bool),
    STRING: (str, _string),
}


def make_reader(inputs: Mapping[str, str]) -> Callable[[Any], Env]:
    """Return ``read(data) -> env``: every input read once, converted, in slot order.

    Raises ``KeyError`` for a missing name (the caller turns it into a crmkit error).
    """
    plan = tuple((name, *_READERS[t]) for name, t in inputs.items())

    def read(data: Any) -> Env:
        env: Env = []
        append = env.append
        for name, fast, convert in plan:
            value = data[name]
            append(value if type(value) is fast else convert(name, value))
        return env

    return read


# ---------------------------------------------------------------- compile


def _is_null(type_: str) -> Callable[[Any], bool]:
    if type_ == NUMBER:
        return lambda v: v != v
    return lambda v: v is None


def compile_scalar(
    node: Node,
    slots: Mapping[str, int],
    tables: Mapping[str, Table],
    functions: FunctionRegistry,
) -> Thunk:
    """Compile a typed node into a closure ``f(env)`` (``env`` as :func:`make_reader` builds it)."""
    return _Compiler(slots, tables, functions).compile(node)


class _Compiler:
    def __init__(
        self, slots: Mapping[str, int], tables: Mapping[str, Table], functions: FunctionRegistry
    ) -> None:
        self.slots = slots
        self.tables = tables
        self.functions = functions

    def compile(self, node: Node) -> Thunk:
        method: Callable[[Node], Thunk] = getattr(self, "c_" + type(node).__name__.lower())
        return method(node)

    def c_const(self, node: Const) -> Thunk:
        value = to_internal(node.value, node.type)
        return lambda env: value

    def c_name(self, node: Name) -> Thunk:
        return operator.itemgetter(self.slots[node.name])

    def c_unary(self, node: Unary) -> Thunk:
        f = self.compile(node.operand)
        if node.op == "-":
            return lambda env: -f(env)
        if node.op == "+":
            return f

        def not_(env: Env) -> bool | None:
            v = f(env)
            return None if v is None else not v

        return not_

    def c_binary(self, node: Binary) -> Thunk:
        lf = self.compile(node.left)
        op = node.op
        if isinstance(node.right, Const):
            c = to_internal(node.right.value, NUMBER)
            if op == "+":
                return lambda env: lf(env) + c
            if op == "-":
                return lambda env: lf(env) - c
            if op == "*":
                return lambda env: lf(env) * c
            if op == "/":
                if c == 0.0 or c != c:
                    return lambda env: NAN
                return lambda env: lf(env) / c
            if op == "**":
                return lambda env: pow_const(lf(env), c)
        rf = self.compile(node.right)
        if op == "+":
            return lambda env: lf(env) + rf(env)
        if op == "-":
            return lambda env: lf(env) - rf(env)
        if op == "*":
            return lambda env: lf(env) * rf(env)
        fn = _ARITH[op]
        return lambda env: fn(lf(env), rf(env))

    def c_compare(self, node: Compare) -> Thunk:
        fs = [self.compile(o) for o in node.operands]
        cmps = [_CMP[op] for op in node.ops]
        null = _is_null(node.operands[0].type)
        if len(cmps) == 1:
            lf, rf, cmp = fs[0], fs[1], cmps[0]
            if node.operands[0].type == NUMBER:

                def compare_numbers(env: Env) -> bool | None:
                    a = lf(env)
                    b = rf(env)
                    if a != a or b != b:
                        return None
                    return cmp(a, b)

                return compare_numbers

            def compare(env: Env) -> bool | None:
                a = lf(env)
                b = rf(env)
                if a is None or b is None:
                    return None
                return cmp(a, b)

            return compare

        pairs = list(zip(cmps, fs[1:], strict=True))
        first = fs[0]

        def chain(env: Env) -> bool | None:
            result: bool | None = True
            prev = first(env)
            for cmp_, f in pairs:
                cur = f(env)
                if null(prev) or null(cur):
                    result = None
                elif not cmp_(prev, cur):
                    return False
                prev = cur
            return result

        return chain

    def c_boolop(self, node: BoolOp) -> Thunk:
        fs = [self.compile(o) for o in node.operands]
        if node.op == "and":
            if len(fs) == 2:
                f, g = fs

                def and2(env: Env) -> bool | None:
                    a = f(env)
                    if a is False:
                        return False
                    b = g(env)
                    if b is False:
                        return False
                    return None if (a is None or b is None) else True

                return and2

            def and_(env: Env) -> bool | None:
                result: bool | None = True
                for f in fs:
                    v = f(env)
                    if v is False:
                        return False
                    if v is None:
                        result = None
                return result

            return and_

        def or_(env: Env) -> bool | None:
            result: bool | None = False
            for f in fs:
                v = f(env)
                if v is True:
                    return True
                if v is None:
                    result = None
            return result

        return or_

    def c_cond(self, node: Cond) -> Thunk:
        then, test, orelse = (self.compile(n) for n in (node.then, node.test, node.orelse))
        return lambda env: then(env) if test(env) is True else orelse(env)

    def c_lookup(self, node: Lookup) -> Thunk:
        table = self.tables[node.table]
        kf = self.compile(node.key)
        vt = table.value_type
        entries = {k: to_internal(v, vt) for k, v in table.entries.items()}
        get = entries.get
        default = to_internal(table.default, vt)
        null = null_of(vt)
        if table.key_type == NUMBER:

            def lookup_number(env: Env) -> Any:
                k = kf(env)
                return get(k, default) if k == k else null

            return lookup_number

        def lookup_string(env: Env) -> Any:
            k = kf(env)
            return null if k is None else get(k, default)

        return lookup_string

    def c_call(self, node: Call) -> Thunk:
        fn = self.functions[node.function]
        if isinstance(fn, NullAwareFunction):
            return self._special(fn, node)
        return self._function(fn, node)

    def _special(self, fn: NullAwareFunction, node: Call) -> Thunk:
        fs = [self.compile(a) for a in node.args]
        null = _is_null(node.args[0].type)
        if fn.name == "is_null":
            f = fs[0]
            return lambda env: null(f(env))
        empty = null_of(node.type)

        def coalesce(env: Env) -> Any:
            for f in fs:
                v = f(env)
                if not null(v):
                    return v
            return empty

        return coalesce

    def _function(self, fn: Function, node: Call) -> Thunk:
        impl = fn.scalar
        result_null = null_of(fn.result)
        trusted = id(fn) in BUILTIN_FUNCTIONS
        out = _identity if trusted else _result_converter(fn.result)
        consts = {
            i: to_internal(_const_value(a), fn.param_type(i))
            for i, a in enumerate(node.args)
            if i in fn.constant
        }
        evaluated = [i for i in range(len(node.args)) if i not in consts]
        fs = [self.compile(node.args[i]) for i in evaluated]
        nulls = [_is_null(fn.param_type(i)) for i in evaluated]
        if len(evaluated) == 1 and not consts and fn.param_type(0) == NUMBER:
            f = fs[0]
            if trusted and fn.result == NUMBER:
                return lambda env: impl(x) if (x := f(env)) == x else NAN
            return lambda env: out(impl(x)) if (x := f(env)) == x else result_null

        def call(env: Env) -> Any:
            values = [f(env) for f in fs]
            for v, null in zip(values, nulls, strict=True):
                if null(v):
                    return result_null
            if consts:
                it = iter(values)
                args = [consts[i] if i in consts else next(it) for i in range(len(node.args))]
                return out(impl(*args))
            return out(impl(*values))

        return call


def _identity(value: Any) -> Any:
    return value


def _const_value(node: Node) -> object:
    if isinstance(node, Const):
        return node.value
    return const_number(node)


def _result_converter(type_: str) -> Callable[[Any], Any]:
    if type_ == NUMBER:

        def number(r: Any) -> float:
            return NAN if r is None else float(r)

        return number
    if type_ == BOOL:

        def boolean(r: Any) -> bool | None:
            if r is None or (isinstance(r, float) and r != r):
                return None
            return bool(r)

        return boolean

    def string(r: Any) -> str | None:
        if r is None or (isinstance(r, float) and r != r):
            return None
        return str(r)

    return string


_CMP: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# ---------------------------------------------------------------- constant folding


def fold(tree: Node, tables: Mapping[str, Table], functions: FunctionRegistry) -> Node:
    """Replace every subtree without names by its constant value (evaluated as scalars).

    Both evaluators then use the same constants, so folding cannot make them
    disagree. A registered function that raises on its constant arguments is
    left unfolded (it will raise at evaluation instead).
    """
    compiler = _Compiler({}, tables, functions)

    def fold_node(node: Node) -> Node:
        if isinstance(node, Const | Name):
            return node
        if not all(isinstance(c, Const) for c in children(node)):
            return node
        try:
            value = compiler.compile(node)([])
        except Exception:  # a user function failing on constants: leave it to evaluation
            return node
        if node.type == NUMBER:
            value = None if value != value else float(value)
        return Const(value, pos=node.pos, type=node.type)

    return transform(tree, fold_node)
