"""Every error crmkit raises, under one root, :class:`CrmkitError`.

Each also subclasses the builtin that fits (``ValueError``, ``KeyError``,
``RuntimeError``), carries structured attributes, and says in its message what
was expected, what was got, and how to put it right. The hierarchy is defined
in ``crmkit.core``; this module is its public home.

>>> import crmkit as ck
>>> try:
...     ck.Purchase(id="p", customer_id="c", occurred_at="2025-01-01", amount=1, currency="EUR")
... except ck.ValidationError as err:
...     print(err.field, "|", err)
Purchase.occurred_at | Purchase.occurred_at is invalid: expected a timezone-aware datetime, got datetime.datetime(2025, 1, 1, 0, 0) (naive datetimes are rejected; attach a zone, e.g. datetime(..., tzinfo=UTC))
"""

from crmkit.core import (
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    CouponError,
    CrmkitError,
    FormulaError,
    FrameError,
    InsufficientPointsError,
    MissingColumnError,
    NotFittedError,
    NotFoundError,
    Problem,
    StorageError,
    ValidationError,
    did_you_mean,
)

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
