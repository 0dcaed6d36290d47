"""The formula error: every problem in a formula, reported at once, with a caret."""

from __future__ import annotations

from collections.abc import Sequence

from crmkit.domain._errors import ConfigError, Problem

__all__ = ["FormulaError"]


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


FormulaError.__module__ = "crmkit.expr"
