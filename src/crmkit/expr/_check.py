"""Untyped nodes -> typed nodes: names, tables, functions, arity and types, all problems at once.

Names declared in a schema have the declared type. Names used without a
schema get their type from how they are used (a name added to a number is a
number, a name used as a table key has the table's key type, ...): each such
name is a type variable, unified with every use; one that no use constrains
is a number. A name used in two incompatible ways is a problem.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

import attrs

from crmkit.core import Problem, did_you_mean
from crmkit.expr._functions import Function, FunctionRegistry, NullAwareFunction
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
    with_children,
)
from crmkit.expr._parse import MAX_EXPONENT, Invalid, problem
from crmkit.expr._scalar import binary_op
from crmkit.expr._tables import Table

__all__ = ["Checked", "NameType", "check", "normalize_schema"]

_TYPE_WORDS: Final = {NUMBER: "a number", BOOL: "a bool", STRING: "a string"}
_SPEC_ALIASES: Final[dict[object, str]] = {
    "number": NUMBER,
    "bool": BOOL,
    "string": STRING,
    float: NUMBER,
    int: NUMBER,
    bool: BOOL,
    str: STRING,
}


@attrs.frozen
class NameType:
    """The declared type of an input name, and for strings the values it may take (if known)."""

    type: str
    values: frozenset[str] | None = None


def normalize_schema(
    schema: Mapping[str, object] | Iterable[str],
) -> tuple[dict[str, NameType], list[Problem]]:
    """Read a schema: a mapping name -> type spec, or an iterable of names (all numbers)."""
    problems: list[Problem] = []
    result: dict[str, NameType] = {}
    if isinstance(schema, str):
        problems.append(
            Problem(
                where="schema",
                message="a schema is a mapping of names to types, or a list of names",
                hint=f"did you mean [{schema!r}]?",
            )
        )
        return result, problems
    if isinstance(schema, Mapping):
        items: Iterable[tuple[object, object]] = schema.items()
    else:
        try:
            items = [(name, NUMBER) for name in schema]
        except TypeError:
            problems.append(
                Problem(
                    where="schema",
                    message=f"a schema is a mapping of names to types, or a list of names, got {type(schema).__name__}",
                )
            )
            return result, problems
    for name, spec in items:
        if not isinstance(name, str):
            problems.append(Problem(where="schema", message=f"name {name!r} is not a string"))
            continue
        where = f"schema[{name!r}]"
        declared = _spec(spec)
        if declared is None:
            problems.append(
                Problem(
                    where=where,
                    message=f"unknown type {spec!r}",
                    hint="use 'number', 'bool', 'string', a str Enum class or a set of strings",
                )
            )
            continue
        result[name] = declared
    return result, problems


def _spec(spec: object) -> NameType | None:
    try:
        alias = _SPEC_ALIASES.get(spec)
    except TypeError:  # unhashable spec
        alias = None
    if alias is not None:
        return NameType(alias)
    if isinstance(spec, type) and issubclass(spec, enum.Enum):
        values = [m.value for m in spec]
        if values and all(isinstance(v, str) for v in values):
            return NameType(STRING, frozenset(str(v) for v in values))
        return None
    if (
        isinstance(spec, set | frozenset | list | tuple)
        and spec
        and all(isinstance(v, str) for v in spec)
    ):
        return NameType(STRING, frozenset(str(v) for v in spec))
    return None


# ---------------------------------------------------------------- type variables


class _Var:
    """A type variable: an undeclared name or the result of a generic function."""

    __slots__ = ("bound_at", "bound_by", "label", "parent", "type")

    def __init__(self, label: str | None) -> None:
        self.parent: _Var | None = None
        self.type: str | None = None
        self.label = label  # the name, for messages
        self.bound_at: int | None = None
        self.bound_by = ""

    def root(self) -> _Var:
        var = self
        while var.parent is not None:
            var = var.parent
        return var


Term = str | _Var | None  # None: unknown because of an earlier problem (no cascade)


@attrs.frozen
class Checked:
    """The outcome of checking: the typed tree and the types of its inputs."""

    tree: Node
    input_types: dict[str, str]


def check(
    tree: Node,
    text: str,
    *,
    schema: dict[str, NameType] | None,
    tables: Mapping[str, Table],
    functions: FunctionRegistry,
    broken: frozenset[str] = frozenset(),
) -> tuple[Checked | None, list[Problem]]:
    """Type-check *tree*; return the typed tree, or every problem found.

    Names and tables in *broken* were declared with problems already
    reported; uses of them are not checked further.
    """
    checker = _Checker(text, schema, tables, functions)
    checker.broken = broken
    checker.visit(tree)
    if checker.problems:
        return None, checker.problems
    return checker.result(tree), []


def _words(t: str) -> str:
    return _TYPE_WORDS.get(t, t)


class _Checker:
    def __init__(
        self,
        text: str,
        schema: dict[str, NameType] | None,
        tables: Mapping[str, Table],
        functions: FunctionRegistry,
    ) -> None:
        self.text = text
        self.schema = schema
        self.tables = tables
        self.functions = functions
        self.problems: list[Problem] = []
        self.terms: dict[int, Term] = {}
        self.vars: dict[str, _Var] = {}
        self.reported: set[int] = set()
        self.broken: frozenset[str] = frozenset()

    # -- problems

    def report(self, pos: int | None, message: str, hint: str | None = None) -> None:
        self.problems.append(problem(self.text, pos, message, hint))

    # -- unification

    def resolve(self, term: Term) -> Term:
        if isinstance(term, _Var):
            root = term.root()
            return root.type if root.type is not None else root
        return term

    def require(self, term: Term, want: str, node: Node, role: str) -> None:
        """Constrain *term* (of *node*) to type *want*, reporting a mismatch."""
        found = self.resolve(term)
        if found is None:
            return
        if isinstance(found, _Var):
            found.type = want
            found.bound_at = node.pos
            found.bound_by = role
            return
        if found != want:
            self.mismatch(term, node, f"{role} must be {_words(want)}, got {_words(found)}")

    def mismatch(self, term: Term, node: Node, message: str) -> None:
        if id(node) in self.reported:
            return
        self.reported.add(id(node))
        if isinstance(term, _Var):
            root = term.root()
            if root.label is not None and root.bound_at is not None:
                column = root.bound_at + 1
                message += f" ('{root.label}' is {_words(root.type or '')} because of its use as {root.bound_by} at column {column})"
        self.report(node.pos, message)

    def unify(self, a: Term, b: Term, node: Node, role: str) -> Term:
        """Make *a* and *b* the same type; *role* describes them for a mismatch message."""
        ra, rb = self.resolve(a), self.resolve(b)
        if ra is None:
            return b
        if rb is None:
            return a
        if isinstance(ra, _Var) and isinstance(rb, _Var):
            if ra is not rb:
                rb.parent = ra
            return ra
        if isinstance(ra, _Var):
            self.require(ra, cast(str, rb), node, role)
            return rb
        if isinstance(rb, _Var):
            self.require(rb, ra, node, role)
            return ra
        if ra != rb:
            culprit = b if isinstance(b, _Var) else a
            self.mismatch(
                culprit, node, f"{role} must have the same type, got {_words(ra)} and {_words(rb)}"
            )
            return None
        return ra

    # -- visiting

    def visit(self, node: Node) -> Term:
        method = getattr(self, "visit_" + type(node).__name__.lower())
        term: Term = method(node)
        self.terms[id(node)] = term
        return term

    def visit_invalid(self, node: Invalid) -> Term:
        return None

    def visit_const(self, node: Const) -> Term:
        return node.type or None

    def visit_name(self, node: Name) -> Term:
        name = node.name
        if name in self.broken:
            return None
        if self.schema is not None:
            declared = self.schema.get(name)
            if declared is not None:
                return declared.type
        if name in self.tables:
            self.report(
                node.pos,
                f"'{name}' is a table",
                hint=f"look a value up with {name}[key]",
            )
            return None
        if self.schema is not None:
            hint = did_you_mean(name, self.schema)
            if hint is None and name in self.functions:
                hint = f"'{name}' is a function: call it as {name}(...)"
            self.report(node.pos, f"unknown name '{name}'", hint=hint)
            return None
        var = self.vars.get(name)
        if var is None:
            var = self.vars[name] = _Var(name)
        return var

    def visit_unary(self, node: Unary) -> Term:
        term = self.visit(node.operand)
        if node.op == "not":
            self.require(term, BOOL, node.operand, "the operand of 'not'")
            return BOOL
        self.require(term, NUMBER, node.operand, f"the operand of unary '{node.op}'")
        return NUMBER

    def visit_binary(self, node: Binary) -> Term:
        left = self.visit(node.left)
        right = self.visit(node.right)
        self.require(left, NUMBER, node.left, f"the left operand of '{node.op}'")
        self.require(right, NUMBER, node.right, f"the right operand of '{node.op}'")
        if node.op == "**":
            exponent = self.constant_value(node.right)
            if exponent is not None and not abs(exponent) <= MAX_EXPONENT:
                shown = f"{exponent:g}"
                self.report(
                    node.pos,
                    f"the exponent {shown} is too large; the limit is {MAX_EXPONENT}",
                )
        return NUMBER

    def constant_value(self, node: Node) -> float | None:
        """Fold a subtree made only of number literals and arithmetic, else ``None``."""
        if isinstance(node, Const):
            return node.value if isinstance(node.value, float) else None
        if isinstance(node, Unary) and node.op != "not":
            inner = self.constant_value(node.operand)
            if inner is None:
                return None
            return -inner if node.op == "-" else inner
        if isinstance(node, Binary):
            left = self.constant_value(node.left)
            right = self.constant_value(node.right)
            if left is None or right is None:
                return None
            if node.op == "**" and not abs(right) <= MAX_EXPONENT:
                return None  # reported where it occurs
            value = binary_op(node.op, left, right)
            return None if math.isnan(value) else value
        return None

    def visit_compare(self, node: Compare) -> Term:
        terms = [self.visit(o) for o in node.operands]
        for i, op in enumerate(node.ops):
            left, right = node.operands[i], node.operands[i + 1]
            if op in ("==", "!="):
                self.unify(terms[i], terms[i + 1], right, f"the operands of '{op}'")
                self.check_known_value(left, right)
                self.check_known_value(right, left)
            else:
                self.require(terms[i], NUMBER, left, f"an operand of '{op}'")
                self.require(terms[i + 1], NUMBER, right, f"an operand of '{op}'")
        return BOOL

    def known_values(self, node: Node) -> tuple[str, frozenset[str]] | None:
        if isinstance(node, Name) and self.schema is not None:
            declared = self.schema.get(node.name)
            if declared is not None and declared.values is not None:
                return node.name, declared.values
        return None

    def check_known_value(self, name_node: Node, const: Node) -> None:
        known = self.known_values(name_node)
        if known is None or not isinstance(const, Const) or not isinstance(const.value, str):
            return
        name, values = known
        if const.value not in values:
            self.report(
                const.pos,
                f"{const.value!r} is not one of the values of '{name}'",
                hint=did_you_mean(const.value, sorted(values))
                or f"the values are {', '.join(repr(v) for v in sorted(values))}",
            )

    def visit_boolop(self, node: BoolOp) -> Term:
        for operand in node.operands:
            self.require(self.visit(operand), BOOL, operand, f"an operand of '{node.op}'")
        return BOOL

    def visit_cond(self, node: Cond) -> Term:
        then = self.visit(node.then)
        test = self.visit(node.test)
        orelse = self.visit(node.orelse)
        self.require(test, BOOL, node.test, "the condition of 'if'")
        return self.unify(then, orelse, node.orelse, "both branches of 'if ... else'")

    def visit_lookup(self, node: Lookup) -> Term:
        key = self.visit(node.key)
        table = self.tables.get(node.table)
        if node.table in self.broken:
            return None
        if table is None:
            if self.schema is not None and node.table in self.schema:
                self.report(
                    node.pos,
                    f"'{node.table}' is not a table",
                    hint="only tables can be looked up with [...]",
                )
            elif node.table in self.functions:
                self.report(
                    node.pos,
                    f"'{node.table}' is a function, not a table",
                    hint=f"call it as {node.table}(...)",
                )
            else:
                hint = did_you_mean(node.table, self.tables)
                if hint is None:
                    hint = (
                        "declare it in tables=..."
                        if not self.tables
                        else f"the tables are {', '.join(sorted(self.tables))}"
                    )
                self.report(node.pos, f"unknown table '{node.table}'", hint=hint)
            return None
        self.require(key, table.key_type, node.key, f"the key of '{node.table}[...]'")
        self.check_keys(node, table)
        return table.value_type

    def check_keys(self, node: Lookup, table: Table) -> None:
        key = node.key
        literal: object = None
        if isinstance(key, Const) and isinstance(key.value, str):
            literal = key.value
        elif table.key_type == NUMBER:
            literal = const_number(key)
        if literal is not None:
            if literal not in table.entries:
                if isinstance(literal, str):
                    hint = did_you_mean(literal, [k for k in table.entries if isinstance(k, str)])
                else:
                    hint = None
                self.report(
                    key.pos,
                    f"table '{node.table}' has no key {literal!r}",
                    hint=hint,
                )
            return
        known = self.known_values(key)
        if known is None or table.key_type != STRING:
            return
        name, values = known
        missing = sorted(values - set(table.entries))
        if missing and table.default is None:
            shown = ", ".join(repr(m) for m in missing)
            self.report(
                node.pos,
                f"table '{node.table}' has no entry for {shown} (values of '{name}') and no default",
                hint="add the entries or give the table a default",
            )
        for k in table.entries:
            if isinstance(k, str) and k not in values:
                self.report(
                    node.pos,
                    f"table '{node.table}' has a key {k!r} that is not a value of '{name}'",
                    hint=did_you_mean(k, sorted(values)),
                )

    def visit_call(self, node: Call) -> Term:
        terms = [self.visit(a) for a in node.args]
        fn = self.functions.get(node.function)
        if fn is None:
            if node.function in self.tables:
                hint: str | None = (
                    f"'{node.function}' is a table: look a value up with {node.function}[key]"
                )
            else:
                hint = did_you_mean(node.function, self.functions)
            self.report(node.pos, f"unknown function '{node.function}'", hint=hint)
            return None
        count = len(node.args)
        if count < fn.min_args or (fn.max_args is not None and count > fn.max_args):
            self.report(node.pos, _arity_message(fn, count))
            return None if isinstance(fn, NullAwareFunction) else fn.result
        if isinstance(fn, NullAwareFunction):
            if fn.name == "is_null":
                return BOOL
            result: Term = terms[0]
            for arg, term in zip(node.args[1:], terms[1:], strict=True):
                result = self.unify(result, term, arg, "the arguments of coalesce()")
            return result
        constants: list[Any] = []
        for i, (arg, term) in enumerate(zip(node.args, terms, strict=True)):
            want = fn.param_type(i)
            self.require(term, want, arg, f"argument {i + 1} of {fn.name}()")
            if i in fn.constant:
                value = _constant_argument(arg, want)
                if value is None:
                    self.report(arg.pos, f"argument {i + 1} of {fn.name}() must be a constant")
                    return fn.result
                constants.append(value)
        if fn.validate is not None:
            message = fn.validate(*constants)
            if message:
                self.report(node.pos, f"{fn.name}(): {message}")
        return fn.result

    # -- result

    def result(self, tree: Node) -> Checked:
        input_types: dict[str, str] = {}

        def final(term: Term) -> str:
            resolved = self.resolve(term)
            return resolved if isinstance(resolved, str) else NUMBER

        def rebuild(node: Node) -> Node:
            kids = tuple(rebuild(k) for k in children(node))
            typed = with_children(node, kids) if kids else node
            t = final(self.terms.get(id(node)))
            if isinstance(node, Name):
                input_types.setdefault(node.name, t)
            return attrs.evolve(typed, type=t)

        return Checked(rebuild(tree), input_types)


def _constant_argument(node: Node, want: str) -> object:
    if want == NUMBER:
        return const_number(node)
    if isinstance(node, Const):
        return node.value
    return None


def _arity_message(fn: Function | NullAwareFunction, count: int) -> str:
    lo, hi = fn.min_args, fn.max_args
    if hi is None:
        expected = f"at least {lo} argument{'s' if lo != 1 else ''}"
    elif lo == hi:
        expected = f"{lo} argument{'s' if lo != 1 else ''}"
    else:
        expected = f"{lo} to {hi} arguments"
    return f"{fn.name}() takes {expected}, got {count}"
