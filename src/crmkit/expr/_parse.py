"""Formula text -> untyped nodes, through Python's ``ast`` against a strict allowlist.

Nothing here executes the text: :func:`ast.parse` only builds a syntax tree,
and only the node types listed in :func:`_Converter.convert` are accepted.

Before calling :func:`ast.parse` the text is scanned once: its length,
bracket depth, control characters and comments are checked, so that hostile
input (a 100k-deep nest) fails fast without reaching the parser. The parser's
own limits (it raises ``MemoryError`` or ``RecursionError`` on very deep
expressions) are caught and reported as formula problems too.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from typing import Any, Final, Literal, cast

import attrs

from crmkit.core import FormulaError, Problem
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
    Op,
    Unary,
)

__all__ = ["MAX_DEPTH", "MAX_EXPONENT", "MAX_LENGTH", "Invalid", "parse", "problem"]

MAX_LENGTH: Final = 10_000
"""The longest formula text accepted, in characters."""

MAX_DEPTH: Final = 100
"""The deepest nesting accepted: brackets, and levels of the expression tree
(a chain of n binary operators is n levels deep)."""

MAX_EXPONENT: Final = 1000
"""The largest constant exponent accepted for ``**``, in absolute value."""

WHERE: Final = "formula"

_WHITESPACE: Final = "\t\n\r\f\v"
# Control characters other than the white space above, and lone surrogates.
_BAD_CHAR: Final = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_MAX_REPORTED_CHARS: Final = 5


@attrs.frozen
class Invalid(Node):
    """Stands in for a construct that was reported as a problem, so checking can go on."""


def problem(text: str, pos: int | None, message: str, hint: str | None = None) -> Problem:
    """Return a :class:`Problem` in *text* at *pos*, with the text made caret-friendly."""
    if pos is not None:
        pos = max(0, min(pos, len(text)))
    return Problem(where=WHERE, message=message, position=pos, source=display(text), hint=hint)


def display(text: str) -> str:
    """The text as a problem shows it: on one line, one column per character."""
    for ch in _WHITESPACE:
        text = text.replace(ch, " ")
    return text


def parse(text: str) -> Node:
    """Parse *text* into untyped nodes, or raise :class:`FormulaError` with every problem found.

    The returned tree may contain :class:`Invalid` nodes only if problems were
    found, in which case :class:`FormulaError` is raised instead; so a returned
    tree is complete.
    """
    problems = _prescan(text)
    if problems:
        raise FormulaError(problems, text=text)
    flat = display(text)
    body = flat.lstrip(" ")
    lead = len(flat) - len(body)
    if not body:
        raise FormulaError([problem(text, 0, "the formula is empty")], text=text)
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as err:
        pos = lead + (err.offset - 1 if err.offset else 0)
        raise FormulaError([problem(text, pos, _syntax_message(err))], text=text) from None
    except (MemoryError, RecursionError):
        message = f"the formula is too complex to parse (nested too deeply; the limit is {MAX_DEPTH} levels)"
        raise FormulaError([problem(text, None, message)], text=text) from None
    except Exception as err:  # anything else ast.parse may raise on odd input
        message = f"the formula cannot be parsed: {err}"
        raise FormulaError([problem(text, None, message)], text=text) from None
    converter = _Converter(text, body, lead)
    converter.check_depth(tree.body)
    if converter.problems:
        raise FormulaError(converter.problems, text=text)
    node = converter.convert(tree.body)
    if converter.problems:
        raise FormulaError(sorted_problems(converter.problems), text=text)
    return node


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """Order problems by position (problems without one first), keeping the order of ties."""
    return sorted(problems, key=lambda p: -1 if p.position is None else p.position)


def _syntax_message(err: SyntaxError) -> str:
    message = err.msg or "invalid syntax"
    if "integer string conversion" in message:
        return "the number has too many digits"
    if message == "invalid syntax":
        return "invalid syntax: this is not a formula expression"
    if "unexpected indent" in message or "unindent" in message:
        return "invalid syntax"
    return message


def _prescan(text: str) -> list[Problem]:
    """Check length, characters, comments and bracket depth without parsing."""
    if len(text) > MAX_LENGTH:
        message = f"the formula is {len(text)} characters long; the limit is {MAX_LENGTH}"
        return [problem(text[:200], None, message)]
    problems: list[Problem] = []
    for i, match in enumerate(_BAD_CHAR.finditer(text)):
        if i == _MAX_REPORTED_CHARS:
            break
        code = ord(match.group())
        problems.append(
            problem(text, match.start(), f"character U+{code:04X} is not allowed in a formula")
        )
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                message = f"the formula is nested too deeply (more than {MAX_DEPTH} brackets)"
                problems.append(problem(text, i, message))
                break
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "#":
            problems.append(
                problem(
                    text,
                    i,
                    "comments are not part of the formula language",
                    hint="remove the '#' and what follows",
                )
            )
            break
        elif ch in "'\"":
            i = _skip_string(text, i, problems)
            continue
        i += 1
    return problems


def _skip_string(text: str, start: int, problems: list[Problem]) -> int:
    """Return the index after the string literal starting at *start* (or the end of text)."""
    quote = text[start]
    triple = text.startswith(quote * 3, start)
    delimiter = quote * 3 if triple else quote
    i = start + len(delimiter)
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if text.startswith(delimiter, i):
            return i + len(delimiter)
        if ch in _WHITESPACE:
            problems.append(
                problem(
                    text,
                    i,
                    "a line break or tab inside a string literal",
                    hint="write it as an escape such as \\n or \\t",
                )
            )
            return n
        i += 1
    return n


# ---------------------------------------------------------------- ast -> nodes

_BINOPS: Final[dict[type[ast.operator], Op]] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Mod: "%",
    ast.Pow: "**",
}
_BAD_BINOPS: Final[dict[type[ast.operator], tuple[str, str | None]]] = {
    ast.FloorDiv: ("'//'", "use floor(a / b)"),
    ast.MatMult: ("'@'", None),
    ast.LShift: ("'<<'", None),
    ast.RShift: ("'>>'", None),
    ast.BitOr: ("'|'", "use 'or'"),
    ast.BitAnd: ("'&'", "use 'and'"),
    ast.BitXor: ("'^'", "use '**' for powers, '!=' for exclusive or"),
}
_CMPOPS: Final = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_BAD_CMPOPS: Final[dict[type[ast.cmpop], tuple[str, str]]] = {
    ast.In: ("'in'", "compare with == and combine with 'or'"),
    ast.NotIn: ("'not in'", "compare with != and combine with 'and'"),
    ast.Is: ("'is'", "use '==', or is_null(x) to test for null"),
    ast.IsNot: ("'is not'", "use '!=', or not is_null(x) to test for a value"),
}
# Constructs that are not part of the language: what to call them, and a hint.
_FORBIDDEN: Final[dict[type[ast.AST], tuple[str, str | None]]] = {
    ast.Attribute: ("attribute access ('.')", "formulas can use names, tables and functions only"),
    ast.Lambda: ("lambda", None),
    ast.ListComp: ("a comprehension", None),
    ast.SetComp: ("a comprehension", None),
    ast.DictComp: ("a comprehension", None),
    ast.GeneratorExp: ("a generator expression", None),
    ast.JoinedStr: ("an f-string", "write the string literal without the f prefix"),
    ast.FormattedValue: ("an f-string", None),
    ast.NamedExpr: ("assignment (':=')", None),
    ast.Starred: ("unpacking ('*')", None),
    ast.List: ("a list", None),
    ast.Tuple: ("a tuple", None),
    ast.Set: ("a set", None),
    ast.Dict: ("a dict", None),
    ast.Await: ("await", None),
    ast.Yield: ("yield", None),
    ast.YieldFrom: ("yield", None),
    ast.Slice: ("a slice", "a table lookup takes one key: table[key]"),
}


class _Converter:
    """Turns an ``ast`` expression into nodes, collecting every problem."""

    def __init__(self, text: str, body: str, lead: int) -> None:
        self.text = text
        self.body = body
        self.lead = lead
        self.problems: list[Problem] = []
        self._chars: list[int] | None = None
        if not body.isascii():
            # ast offsets count UTF-8 bytes; map each byte offset to a character offset.
            chars: list[int] = []
            for index, ch in enumerate(body):
                chars.extend([index] * len(ch.encode("utf-8", "surrogatepass")))
            chars.append(len(body))
            self._chars = chars

    # -- positions

    def _char(self, col: int) -> int:
        if self._chars is None:
            return self.lead + col
        col = max(0, min(col, len(self._chars) - 1))
        return self.lead + self._chars[col]

    def start(self, node: ast.AST) -> int:
        return self._char(getattr(node, "col_offset", 0))

    def end(self, node: ast.AST) -> int:
        end = getattr(node, "end_col_offset", None)
        return self._char(end if end is not None else getattr(node, "col_offset", 0))

    def between(self, left: ast.AST, right: ast.AST, token: str, default: int) -> int:
        """Position of *token* in the text between two operands (an operator's position)."""
        lo, hi = self.end(left) - self.lead, self.start(right) - self.lead
        found = self.body.find(token, lo, hi)
        return default if found < 0 else self.lead + found

    def report(self, pos: int | None, message: str, hint: str | None = None) -> Invalid:
        self.problems.append(problem(self.text, pos, message, hint))
        return Invalid(pos=pos or 0)

    # -- limits

    def check_depth(self, root: ast.AST) -> None:
        stack: list[tuple[ast.AST, int]] = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                message = f"the formula is nested too deeply (more than {MAX_DEPTH} levels)"
                hint = "split a long chain of operators into named features"
                self.report(self.start(node), message, hint)
                return
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

    # -- conversion

    def convert(self, node: ast.AST) -> Node:
        handler = self._handlers.get(type(node))
        if handler is not None:
            return handler(self, node)
        what, hint = _FORBIDDEN.get(type(node), (None, None))
        if what is None:
            what = f"'{type(node).__name__}'"
        return self.report(
            self.start(node), f"{what} is not part of the formula language", hint=hint
        )

    def _constant(self, node: ast.Constant) -> Node:
        pos = self.start(node)
        value = node.value
        if isinstance(value, bool):
            return Const(value, pos=pos, type=BOOL)
        if isinstance(value, str):
            return Const(value, pos=pos, type=STRING)
        if isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                return self.report(
                    pos,
                    "the number is out of range",
                    hint="numbers are 64-bit floats, at most about 1.8e308",
                )
            return Const(number, pos=pos, type=NUMBER)
        if value is None:
            return self.report(
                pos,
                "None is not part of the formula language",
                hint="there is no null literal: test with is_null(x), fill with coalesce(x, y)",
            )
        kind = {bytes: "a bytes literal", complex: "a complex number"}.get(type(value), repr(value))
        return self.report(pos, f"{kind} is not part of the formula language")

    def _name(self, node: ast.Name) -> Node:
        pos = self.start(node)
        if node.id.startswith("__"):
            return self.report(pos, f"names may not start with '__' (got {node.id!r})")
        return Name(node.id, pos=pos)

    def _unary(self, node: ast.UnaryOp) -> Node:
        pos = self.start(node)
        operand = self.convert(node.operand)
        if isinstance(node.op, ast.USub):
            return Unary("-", operand, pos=pos)
        if isinstance(node.op, ast.UAdd):
            return Unary("+", operand, pos=pos)
        if isinstance(node.op, ast.Not):
            return Unary("not", operand, pos=pos)
        return self.report(pos, "'~' is not part of the formula language", hint="use 'not'")

    def _binary(self, node: ast.BinOp) -> Node:
        op = _BINOPS.get(type(node.op))
        token = op or _BAD_BINOPS.get(type(node.op), ("?", None))[0].strip("'")
        pos = self.between(node.left, node.right, token, self.start(node))
        left = self.convert(node.left)
        right = self.convert(node.right)
        if op is None:
            what, hint = _BAD_BINOPS.get(type(node.op), ("this operator", None))
            return self.report(pos, f"{what} is not part of the formula language", hint=hint)
        return Binary(op, left, right, pos=pos)

    def _boolop(self, node: ast.BoolOp) -> Node:
        op: Literal["and", "or"] = "and" if isinstance(node.op, ast.And) else "or"
        pos = self.between(node.values[0], node.values[1], op, self.start(node))
        return BoolOp(op, tuple(self.convert(v) for v in node.values), pos=pos)

    def _compare(self, node: ast.Compare) -> Node:
        operands = [node.left, *node.comparators]
        ops = []
        first_pos: int | None = None
        bad = False
        for i, cmpop in enumerate(node.ops):
            known = _CMPOPS.get(type(cmpop))
            token = known or _BAD_CMPOPS[type(cmpop)][0].strip("'").split()[0]
            pos = self.between(operands[i], operands[i + 1], token, self.start(node))
            if first_pos is None:
                first_pos = pos
            if known is None:
                what, hint = _BAD_CMPOPS[type(cmpop)]
                self.report(pos, f"{what} is not part of the formula language", hint=hint)
                bad = True
            else:
                ops.append(known)
        converted = tuple(self.convert(o) for o in operands)
        if bad:
            return Invalid(pos=first_pos or 0)
        return Compare(tuple(ops), converted, pos=first_pos or 0)  # type: ignore[arg-type]

    def _ifexp(self, node: ast.IfExp) -> Node:
        pos = self.between(node.body, node.test, "if", self.start(node))
        then = self.convert(node.body)
        test = self.convert(node.test)
        orelse = self.convert(node.orelse)
        return Cond(then, test, orelse, pos=pos)

    def _call(self, node: ast.Call) -> Node:
        pos = self.start(node)
        ok = True
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                self.convert(node.func)
            else:
                self.report(pos, "only functions can be called, by name: f(x)")
            ok = False
        elif node.func.id.startswith("__"):
            self.report(pos, f"names may not start with '__' (got {node.func.id!r})")
            ok = False
        for keyword in node.keywords:
            kpos = self._char(keyword.col_offset) if hasattr(keyword, "col_offset") else pos
            self.report(kpos, "keyword arguments are not part of the formula language")
            ok = False
        args = tuple(self.convert(a) for a in node.args)
        if not ok:
            return Invalid(pos=pos)
        return Call(cast(ast.Name, node.func).id, args, pos=pos)

    def _subscript(self, node: ast.Subscript) -> Node:
        pos = self.start(node)
        if isinstance(node.slice, ast.Tuple):
            return self.report(self.start(node.slice), "a table lookup takes one key: table[key]")
        if not isinstance(node.value, ast.Name):
            if isinstance(node.value, ast.Attribute | ast.Call | ast.Subscript | ast.Constant):
                # Report the inner construct if it is itself forbidden, else this one.
                before = len(self.problems)
                self.convert(node.value)
                if len(self.problems) > before:
                    return Invalid(pos=pos)
            return self.report(
                pos,
                "only declared tables can be looked up with [...]",
                hint="write table_name[key]",
            )
        if node.value.id.startswith("__"):
            return self.report(pos, f"names may not start with '__' (got {node.value.id!r})")
        key = self.convert(node.slice)
        return Lookup(node.value.id, key, pos=pos)

    _handlers: Final[dict[type[ast.AST], Callable[[_Converter, Any], Node]]] = {
        ast.Constant: _constant,
        ast.Name: _name,
        ast.UnaryOp: _unary,
        ast.BinOp: _binary,
        ast.BoolOp: _boolop,
        ast.Compare: _compare,
        ast.IfExp: _ifexp,
        ast.Call: _call,
        ast.Subscript: _subscript,
    }
