"""The error hierarchy.

Every error crmkit raises derives from :class:`CrmkitError` and also from the
builtin that fits (``ValueError``, ``KeyError``, ...), so host code that already
catches the builtin keeps working. Each carries structured attributes, and its
message says what was expected, what was got, and a hint where one helps.

The whole hierarchy lives here, in ``crmkit.core`` (the ground floor every layer
may import), including the errors of the higher layers (formulas, segment
statistics, points, coupons): so ``crmkit.errors`` can list them all without
importing upward. Each keeps the public home its users know
(``crmkit.expr.FormulaError``, ``crmkit.loyalty.CouponError``...).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

__all__ = [
    "AlreadyExistsError",
    "ConfigError",
    "ConflictError",
    "CouponError",
    "CrmkitError",
    "FormulaError",
    "FrameError",
    "InsufficientPointsError",
    "MissingColumnError",
    "NotFittedError",
    "NotFoundError",
    "Problem",
    "StorageError",
    "ValidationError",
    "did_you_mean",
]

_MAX_GOT = 80


def _show(value: object) -> str:
    """Render a received value for a message, shortened so messages stay readable."""
    text = repr(value)
    if len(text) > _MAX_GOT:
        text = text[: _MAX_GOT - 3] + "..."
    return text


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """Return a ``did you mean ...?`` hint for a misspelt *name*, or ``None``.

    >>> did_you_mean("total_spnd", ["total_spend", "purchase_count"])
    "did you mean 'total_spend'?"
    >>> did_you_mean("zzz", ["total_spend"]) is None
    True
    """
    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not matches:
        return None
    return "did you mean " + " or ".join(repr(m) for m in matches) + "?"


class CrmkitError(Exception):
    """Root of every error crmkit raises.

    Attributes:
        message: what went wrong, in one sentence.
        expected: what was expected, if it can be said.
        got: a description of what was received.
        hint: how to put it right, if there is a useful hint.

    >>> err = CrmkitError("bad thing", expected="a good thing", got="'bad'")
    >>> str(err)
    "bad thing: expected a good thing, got 'bad'"
    """

    def __init__(
        self,
        message: str,
        *,
        expected: str | None = None,
        got: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.expected = expected
        self.got = got
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        parts = []
        if self.expected is not None:
            parts.append(f"expected {self.expected}")
        if self.got is not None:
            parts.append(f"got {self.got}")
        if parts:
            text += ": " + ", ".join(parts)
        if self.hint:
            text += f" ({self.hint})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (multiprocessing, dask) despite keyword-only arguments.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[CrmkitError], state: dict[str, Any]) -> CrmkitError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class ValidationError(CrmkitError, ValueError):
    """A value given to an entity or a function is not acceptable.

    Attributes:
        field: the field or argument that is wrong (``"Purchase.amount"``).

    >>> from decimal import Decimal
    >>> raise ValidationError("Purchase.amount", expected="an amount >= 0", got=Decimal("-1"))
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: Purchase.amount is invalid: expected an amount >= 0, got Decimal('-1')
    """

    def __init__(
        self,
        field: str,
        *,
        expected: str,
        got: object,
        hint: str | None = None,
        personal: bool = False,
    ) -> None:
        self.field = field
        shown = _redacted(got) if personal else _show(got)
        super().__init__(f"{field} is invalid", expected=expected, got=shown, hint=hint)


def _redacted(value: object) -> str:
    """Describe a personal value without showing it."""
    if isinstance(value, str):
        return f"<personal data withheld: a str of {len(value)} characters>"
    return f"<personal data withheld: a {type(value).__name__}>"


class NotFoundError(CrmkitError, KeyError):
    """A record asked for by key does not exist.

    Attributes:
        entity: what kind of record (``"customer"``).
        key: the key that was looked up.
    """

    def __init__(self, entity: str, key: object, *, hint: str | None = None) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"no {entity} with id {_show(key)}", hint=hint)


class AlreadyExistsError(CrmkitError, ValueError):
    """A record with this key already exists with different content.

    Attributes:
        entity: what kind of record.
        key: the key that is taken.
    """

    def __init__(self, entity: str, key: object, *, hint: str | None = None) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"a {entity} with id {_show(key)} already exists", hint=hint)


class ConflictError(CrmkitError, RuntimeError):
    """A write conflicts with what is stored: nothing was written.

    Either an optimistic-concurrency check failed (the record changed since it
    was read: read it again, re-apply the change, and retry), or a key that
    makes a write idempotent was reused for different content (an idempotency
    key posted again for another customer or another number of points).

    Attributes:
        entity: what kind of record.
        key: its id (or idempotency key).
        expected_version: the version the caller based its change on (``None``
            for a reused key).
        actual_version: the version stored now (``None`` for a reused key).

    >>> str(ConflictError("ledger entry", "purchase|p-1||", expected="c-1, 10 points",
    ...                   got="c-2, 10 points"))
    "ledger entry 'purchase|p-1||' is stored with other content: expected c-1, 10 points, got c-2, 10 points (an idempotency key names one write: use a new key for a new one)"
    """

    def __init__(
        self,
        entity: str,
        key: object,
        *,
        expected_version: int | None = None,
        actual_version: int | None = None,
        expected: str | None = None,
        got: str | None = None,
    ) -> None:
        self.entity = entity
        self.key = key
        self.expected_version = expected_version
        self.actual_version = actual_version
        if expected_version is None or actual_version is None:
            super().__init__(
                f"{entity} {_show(key)} is stored with other content",
                expected=expected,
                got=got,
                hint="an idempotency key names one write: use a new key for a new one",
            )
            return
        super().__init__(
            f"{entity} {_show(key)} was changed by someone else",
            expected=f"stored version {expected_version}",
            got=f"version {actual_version}",
            hint="read it again, re-apply your change and retry",
        )


class StorageError(CrmkitError, RuntimeError):
    """The storage behind a repository cannot be used (wrong schema version, corrupt file)."""


class FrameError(CrmkitError, ValueError):
    """A DataFrame given to crmkit has a problem in one of its columns.

    Attributes:
        column: the column at fault (``None`` when the frame as a whole is).
        rows: labels of the first offending rows (at most ten), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rows: Sequence[object] = (),
        expected: str | None = None,
        got: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.column = column
        self.rows = tuple(rows)[:10]
        if self.rows:
            shown = ", ".join(_show(r) for r in self.rows)
            message = f"{message} (first offending rows: {shown})"
        super().__init__(message, expected=expected, got=got, hint=hint)


class MissingColumnError(FrameError, KeyError):
    """A column that crmkit needs is not in the frame.

    Attributes:
        missing: the names that are missing.
        available: the names the frame has.
    """

    def __init__(self, missing: Sequence[str], available: Sequence[str]) -> None:
        self.missing = tuple(missing)
        self.available = tuple(str(c) for c in available)
        hints = [h for m in self.missing if (h := did_you_mean(m, self.available))]
        shown = ", ".join(repr(m) for m in self.missing)
        avail = ", ".join(repr(a) for a in self.available[:20])
        if len(self.available) > 20:
            avail += ", ..."
        super().__init__(
            f"column{'s' if len(self.missing) > 1 else ''} {shown} not found",
            column=self.missing[0] if self.missing else None,
            expected=f"a frame with column{'s' if len(self.missing) > 1 else ''} {shown}",
            got=f"columns [{avail}]",
            hint="; ".join(hints) or "pass the right column names as arguments",
        )


@attrs.frozen(kw_only=True)
class Problem:
    """One problem found while checking a configuration or a formula.

    Attributes:
        where: a path to the place (``"components.credit.formula"``).
        message: what is wrong.
        position: 0-based character offset in a formula, if the problem is in one.
        source: the formula text, so that a caret can be drawn under *position*.
        hint: how to put it right.
    """

    where: str
    message: str
    position: int | None = None
    source: str | None = None
    hint: str | None = None

    def render(self) -> str:
        """Return the problem as text, with the formula and a caret when known.

        >>> print(Problem(where="f", message="unknown name 'x'", position=4, source="1 + x").render())
        f, column 5: unknown name 'x'
            1 + x
                ^
        """
        head = self.where
        if self.position is not None:
            head += f", column {self.position + 1}"
        text = f"{head}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        if self.source is not None and self.position is not None:
            text += f"\n    {self.source}\n    {' ' * self.position}^"
        return text


class ConfigError(CrmkitError, ValueError):
    """A configuration (or a formula) has problems; all of them are listed at once.

    Attributes:
        problems: every problem found, in order.
        source: where the configuration came from (a file name), if known.
    """

    def __init__(
        self,
        problems: Sequence[Problem],
        *,
        source: str | None = None,
        what: str = "configuration",
    ) -> None:
        self.problems = tuple(problems)
        self.source = source
        origin = f" in {source}" if source else ""
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {what}{origin}"
        super().__init__(head + ":\n" + "\n".join("- " + p.render() for p in self.problems))


class FormulaError(ConfigError):
    """A formula (or the schema and tables given with it) has problems; all are listed.

    A :class:`~crmkit.errors.ConfigError`, so also a ``ValueError``. Each of
    :attr:`problems` is a :class:`~crmkit.errors.Problem` whose ``position`` is
    the 0-based character offset in the formula and whose ``source`` is the
    formula text, so that its rendering draws a caret under the place.

    Attributes:
        problems: every problem found, in order of position.
        text: the formula text, if it was a string.

    >>> from crmkit.expr import Formula
    >>> try:
    ...     Formula("total_spnd + 'x'", schema=["total_spend"])
    ... except FormulaError as err:
    ...     print(err)
    2 problems in formula:
    - formula, column 1: unknown name 'total_spnd' (did you mean 'total_spend'?)
        total_spnd + 'x'
        ^
    - formula, column 14: the right operand of '+' must be a number, got a string
        total_spnd + 'x'
                     ^
    """

    def __init__(
        self,
        problems: Sequence[Problem],
        *,
        text: str | None = None,
        source: str | None = None,
    ) -> None:
        self.text = text
        super().__init__(problems, source=source, what="formula")


class NotFittedError(CrmkitError, ValueError):
    """Rules with population statistics were evaluated before ``SegmentRules.fit``.

    Attributes:
        statistics: the statistics that have no fitted value.
    """

    def __init__(self, statistics: Iterable[str]) -> None:
        self.statistics = tuple(statistics)
        super().__init__(
            "the rules use population statistics that are not fitted",
            expected="fitted rules",
            got="unfitted " + ", ".join(self.statistics),
            hint="call rules = rules.fit(frame) on the whole customer base first, "
            "and assign with the fitted rules",
        )


class InsufficientPointsError(CrmkitError, ValueError):
    """A redemption (or a refused reversal) asks for more points than the balance holds.

    Attributes:
        customer_id: whose balance.
        requested: the points asked for.
        available: the balance at that moment.
    """

    def __init__(self, customer_id: str, requested: int, available: int) -> None:
        self.customer_id = customer_id
        self.requested = requested
        self.available = available
        super().__init__(
            f"customer {customer_id!r} has not enough points",
            expected=f"at most {available} points",
            got=str(requested),
            hint="nothing was posted",
        )


class CouponError(CrmkitError, ValueError):
    """A coupon cannot be used: it is redeemed already, or expired.

    Attributes:
        code: the coupon's code.
        state: its state (a ``crmkit.loyalty.CouponState``).
    """

    def __init__(self, code: str, state: Any, message: str) -> None:
        self.code = code
        self.state = state
        super().__init__(
            message,
            got=str(getattr(state, "value", state)),
            hint="a coupon is used once, before it expires",
        )


# Errors are public as ``crmkit.errors.X``; tracebacks and pickles use that stable name.
for _cls in (
    CrmkitError,
    ValidationError,
    NotFoundError,
    AlreadyExistsError,
    ConflictError,
    StorageError,
    FrameError,
    MissingColumnError,
    ConfigError,
    Problem,
):
    _cls.__module__ = "crmkit.errors"
del _cls
FormulaError.__module__ = "crmkit.expr"
NotFittedError.__module__ = "crmkit.segmentation"
InsufficientPointsError.__module__ = "crmkit.loyalty"
CouponError.__module__ = "crmkit.loyalty"
