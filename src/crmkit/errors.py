"""Every error crmkit raises, under one root, :class:`CrmkitError`.

Each also subclasses the builtin that fits (``ValueError``, ``KeyError``,
``RuntimeError``), carries structured attributes, and says in its message what
was expected, what was got, and how to put it right.

>>> import crmkit as ck
>>> try:
...     ck.Purchase(id="p", customer_id="c", occurred_at="2025-01-01", amount=1, currency="EUR")
... except ck.ValidationError as err:
...     print(err.field, "|", err)
Purchase.occurred_at | Purchase.occurred_at is invalid: expected a timezone-aware datetime, got datetime.datetime(2025, 1, 1, 0, 0) (naive datetimes are rejected; attach a zone, e.g. datetime(..., tzinfo=UTC))
"""

from typing import TYPE_CHECKING, Any

from crmkit.domain._errors import (
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    CrmkitError,
    FrameError,
    MissingColumnError,
    NotFoundError,
    Problem,
    StorageError,
    ValidationError,
    did_you_mean,
)

if TYPE_CHECKING:
    from crmkit.expr._errors import FormulaError
    from crmkit.loyalty._ledger import InsufficientPointsError
    from crmkit.loyalty._rewards import CouponError
    from crmkit.segmentation._rules import NotFittedError

# Errors defined in higher layers, listed here so the whole hierarchy is in one place.
# They load lazily: the layers themselves import this module, so importing them
# here eagerly would make a cycle.
_LAYER_ERRORS = {
    "FormulaError": "crmkit.expr._errors",
    "InsufficientPointsError": "crmkit.loyalty._ledger",
    "CouponError": "crmkit.loyalty._rewards",
    "NotFittedError": "crmkit.segmentation._rules",
}


def __getattr__(name: str) -> Any:
    if name in _LAYER_ERRORS:
        import importlib

        return getattr(importlib.import_module(_LAYER_ERRORS[name]), name)
    raise AttributeError(f"module 'crmkit.errors' has no attribute {name!r}")


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
