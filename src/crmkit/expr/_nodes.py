"""The typed internal form of a formula: small frozen nodes, easy to walk and rewrite.

A :class:`~crmkit.expr.Formula` parses its text into these nodes, checks them
(every node gets its :attr:`Node.type`), and compiles them to its two
evaluators. Later layers walk the tree (:func:`walk`) to find what they need
and rewrite it (:func:`transform`), e.g. to replace a population statistic by
the constant fitted on a frame; :func:`unparse` writes a tree back as formula
text that parses to the same tree.

Node equality is structural: positions are not compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Final, Literal, TypeAlias

import attrs

__all__ = [
    "BOOL",
    "NUMBER",
    "STRING",
    "BoolOp",
    "Call",
    "Compare",
    "Cond",
    "Const",
    "Lookup",
    "Name",
    "Node",
    "Op",
    "TypeName",
    "Unary",
    "Value",
    "children",
    "const_number",
    "transform",
    "unparse",
    "walk",
    "with_children",
]

TypeName: TypeAlias = Literal["number", "bool", "string"]
"""The three value types of the formula language."""

NUMBER: Final = "number"
BOOL: Final = "bool"
STRING: Final = "string"

Value: TypeAlias = float | bool | str | None
"""A value as the scalar evaluator returns it (``None`` is null)."""


@attrs.frozen
class Node:
    """Base of every node.

    Attributes:
        pos: 0-based character offset in the formula text where the node
            starts (for operators, where the operator is). Not compared.
        type: the value type, ``"number"``, ``"bool"`` or ``"string"``; set
            by the checker (``""`` on a node that was not checked).
    """

    pos: int = attrs.field(default=0, eq=False, kw_only=True)
    type: str = attrs.field(default="", kw_only=True)


@attrs.frozen
class Const(Node):
    """A literal (or a folded constant): a float, bool or str; ``None`` is a null of :attr:`type`."""

    value: float | bool | str | None


@attrs.frozen
class Name(Node):
    """A reference to an input: a feature or a profile attribute."""

    name: str


@attrs.frozen
class Unary(Node):
    """``-x``, ``+x`` or ``not x``."""

    op: Literal["-", "+", "not"]
    operand: Node


Op: TypeAlias = Literal["+", "-", "*", "/", "%", "**"]


@attrs.frozen
class Binary(Node):
    """An arithmetic operation: ``+ - * / % **``."""

    op: Op
    left: Node
    right: Node


@attrs.frozen
class Compare(Node):
    """A comparison, possibly chained: ``a < b <= c`` has two ops and three operands.

    A chain means ``a < b and b <= c`` (three-valued ``and``).
    """

    ops: tuple[Literal["==", "!=", "<", "<=", ">", ">="], ...]
    operands: tuple[Node, ...]


@attrs.frozen
class BoolOp(Node):
    """``a and b and ...`` or ``a or b or ...`` (three-valued logic)."""

    op: Literal["and", "or"]
    operands: tuple[Node, ...]


@attrs.frozen
class Cond(Node):
    """``then if test else orelse``; a null test selects ``orelse``."""

    then: Node
    test: Node
    orelse: Node


@attrs.frozen
class Lookup(Node):
    """``table[key]``: a lookup into a declared table."""

    table: str
    key: Node


@attrs.frozen
class Call(Node):
    """``function(args...)``: a call of a registered function."""

    function: str
    args: tuple[Node, ...]


def children(node: Node) -> tuple[Node, ...]:
    """Return the direct children of *node*, left to right.

    >>> from crmkit.expr import Formula
    >>> kinds = [type(c).__name__ for c in children(Formula("a + 1").tree)]
    >>> kinds
    ['Name', 'Const']
    """
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Compare | BoolOp):
        return node.operands
    if isinstance(node, Cond):
        return (node.then, node.test, node.orelse)
    if isinstance(node, Lookup):
        return (node.key,)
    if isinstance(node, Call):
        return node.args
    return ()


def with_children(node: Node, kids: tuple[Node, ...]) -> Node:
    """Return *node* with its children replaced by *kids* (in the order of :func:`children`)."""
    if isinstance(node, Binary):
        return attrs.evolve(node, left=kids[0], right=kids[1])
    if isinstance(node, Unary):
        return attrs.evolve(node, operand=kids[0])
    if isinstance(node, Compare | BoolOp):
        return attrs.evolve(node, operands=kids)
    if isinstance(node, Cond):
        return attrs.evolve(node, then=kids[0], test=kids[1], orelse=kids[2])
    if isinstance(node, Lookup):
        return attrs.evolve(node, key=kids[0])
    if isinstance(node, Call):
        return attrs.evolve(node, args=kids)
    return node


def const_number(node: Node) -> float | None:
    """The value of a numeric literal, possibly signed (``-2``), else ``None``."""
    if isinstance(node, Const) and isinstance(node.value, float) and node.type == NUMBER:
        return node.value
    if isinstance(node, Unary) and node.op in ("-", "+"):
        inner = const_number(node.operand)
        if inner is None:
            return None
        return -inner if node.op == "-" else inner
    return None


def walk(node: Node) -> Iterator[Node]:
    """Yield *node* and every node below it, parents before children, left to right.

    >>> from crmkit.expr import Formula
    >>> names = [n.name for n in walk(Formula("a * 2 + log(b)").tree) if isinstance(n, Name)]
    >>> names
    ['a', 'b']
    """
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def transform(node: Node, fn: Callable[[Node], Node]) -> Node:
    """Rebuild the tree bottom-up, replacing each node by ``fn(node)``.

    *fn* sees each node after its children were transformed, and returns the
    node itself to keep it. Types are not re-checked: build a new
    :class:`~crmkit.expr.Formula` from the result (see
    :meth:`Formula.transform <crmkit.expr.Formula.transform>`).

    >>> from crmkit.expr import Formula
    >>> tree = Formula("a + b").tree
    >>> unparse(transform(tree, lambda n: Const(2.0) if n == Name("b", type="number") else n))
    'a + 2'
    """
    kids = children(node)
    if kids:
        new = tuple(transform(k, fn) for k in kids)
        if any(n is not o for n, o in zip(new, kids, strict=True)):
            node = with_children(node, new)
    return fn(node)


# ---------------------------------------------------------------- unparse

# Binding strength, as in Python: higher binds tighter.
_COND, _OR, _AND, _NOT, _CMP, _ADD, _MUL, _UNARY, _POW, _ATOM = range(10)
_BINARY_LEVEL: Final = {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "%": _MUL, "**": _POW}


def unparse(node: Node) -> str:
    """Write *node* as formula text that parses back to an equal tree.

    Parentheses appear only where they are needed; numbers are written so
    that they read back exactly. A null number is written ``(0 / 0)`` and an
    infinity ``(1e308 * 10)``, which fold back to the same constants.

    >>> from crmkit.expr import Formula
    >>> unparse(Formula("(a+b)*c  if  x>1 else -(2**-1)").tree)
    '(a + b) * c if x > 1 else -2 ** -1'
    """
    text, _ = _unparse(node)
    return text


def _wrap(part: tuple[str, int], minimum: int) -> str:
    text, level = part
    return f"({text})" if level < minimum else text


def _const_text(node: Const) -> tuple[str, int]:
    value = node.value
    if isinstance(value, bool):
        return ("True" if value else "False"), _ATOM
    if isinstance(value, str):
        return repr(value), _ATOM
    if value is None:
        if node.type == BOOL:
            return "0 / 0 > 0", _CMP
        if node.type == STRING:
            msg = "a null string constant cannot be written as formula text"
            raise ValueError(msg)
        return "0 / 0", _MUL
    if math.isnan(value):
        return "0 / 0", _MUL
    if math.isinf(value):
        return ("1e308 * 10" if value > 0 else "-1e308 * 10"), _MUL
    text = repr(float(value))
    if text.endswith(".0") and abs(value) < 1e16:
        text = text[:-2]
    if value < 0 or text.startswith("-"):
        return text, _UNARY
    return text, _ATOM


def _unparse(node: Node) -> tuple[str, int]:
    if isinstance(node, Const):
        return _const_text(node)
    if isinstance(node, Name):
        return node.name, _ATOM
    if isinstance(node, Unary):
        if node.op == "not":
            return "not " + _wrap(_unparse(node.operand), _NOT), _NOT
        return node.op + _wrap(_unparse(node.operand), _UNARY), _UNARY
    if isinstance(node, Binary):
        level = _BINARY_LEVEL[node.op]
        if node.op == "**":
            # Right-associative; the base binds tighter than a unary minus.
            left = _wrap(_unparse(node.left), _ATOM)
            right = _wrap(_unparse(node.right), _UNARY)
        else:
            left = _wrap(_unparse(node.left), level)
            right = _wrap(_unparse(node.right), level + 1)
        return f"{left} {node.op} {right}", level
    if isinstance(node, Compare):
        parts = [_wrap(_unparse(node.operands[0]), _CMP + 1)]
        for op, operand in zip(node.ops, node.operands[1:], strict=True):
            parts.append(f"{op} {_wrap(_unparse(operand), _CMP + 1)}")
        return " ".join(parts), _CMP
    if isinstance(node, BoolOp):
        level = _AND if node.op == "and" else _OR
        return f" {node.op} ".join(_wrap(_unparse(o), level + 1) for o in node.operands), level
    if isinstance(node, Cond):
        then = _wrap(_unparse(node.then), _COND + 1)
        test = _wrap(_unparse(node.test), _COND + 1)
        orelse = _wrap(_unparse(node.orelse), _COND)
        return f"{then} if {test} else {orelse}", _COND
    if isinstance(node, Lookup):
        return f"{node.table}[{_unparse(node.key)[0]}]", _ATOM
    if isinstance(node, Call):
        return f"{node.function}({', '.join(_unparse(a)[0] for a in node.args)})", _ATOM
    msg = f"cannot unparse {type(node).__name__}"
    raise TypeError(msg)
