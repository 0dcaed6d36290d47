"""The base of every entity: field checks declared as metadata, run at construction.

A field declares its check with ``attrs.field(metadata=check(fn))``; the check
receives the qualified field name (``"Purchase.amount"``) and the value, and
returns the normalised value or raises :class:`ValidationError`. Fields marked
``personal`` are hidden from ``repr``. Cross-field rules go in ``_validate``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import attrs

__all__ = ["Record", "check", "personal_fields", "personal_repr"]

Check = Callable[[str, Any], Any]


def check(fn: Check, *, personal: bool = False) -> dict[str, Any]:
    """Metadata for a field whose value *fn* checks and normalises."""
    return {"crmkit.check": fn, "crmkit.personal": personal}


def personal_repr(value: object) -> str:
    """How a personal field appears in ``repr``: never its value."""
    return "<withheld>" if value is not None else "None"


_CHECKS: dict[type, tuple[tuple[str, str, Check], ...]] = {}


def _checks_of(cls: type) -> tuple[tuple[str, str, Check], ...]:
    found = _CHECKS.get(cls)
    if found is None:
        found = tuple(
            (f.name, f"{cls.__name__}.{f.name}", f.metadata["crmkit.check"])
            for f in attrs.fields(cls)
            if "crmkit.check" in f.metadata
        )
        _CHECKS[cls] = found
    return found


@attrs.frozen(kw_only=True)
class Record:
    """Base class of entities and activities: runs the declared field checks."""

    #: Stable name under which records of this type are persisted (never an import path).
    type_name: ClassVar[str] = ""

    def __attrs_post_init__(self) -> None:
        for name, qualified, fn in _checks_of(type(self)):
            value = getattr(self, name)
            normalised = fn(qualified, value)
            if normalised is not value:
                object.__setattr__(self, name, normalised)
        self._validate()

    def _validate(self) -> None:
        """Cross-field rules; subclasses override and raise ValidationError."""


def personal_fields(cls: type[Record]) -> frozenset[str]:
    """Names of the fields of *cls* that hold personal data.

    >>> from crmkit.domain import Contact
    >>> sorted(personal_fields(Contact))
    ['birthday', 'email', 'name', 'phone']
    """
    return frozenset(f.name for f in attrs.fields(cls) if f.metadata.get("crmkit.personal"))
