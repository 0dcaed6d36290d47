"""Bulk validation of a customer frame: every bad row and field at once, the good rows through."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pandas as pd

from crmkit.core import check_frame
from crmkit.quality._standardize import as_objects, standardize_columns

__all__ = ["ValidationReport", "validate_customers"]

_PROBLEM_COLUMNS = ["row", "column", "value", "problem"]


@attrs.frozen(repr=False, eq=False)
class ValidationReport:
    """What :func:`validate_customers` found.

    Attributes:
        valid: the rows without any problem, standardised (same index and columns).
        problems: one row per bad field: ``row`` (the frame's index label),
            ``column``, ``value`` (as given) and ``problem``, in row order. It
            holds the bad values themselves, which may be personal data: treat
            it like the frame it came from.
        rows: how many rows were checked.
    """

    valid: pd.DataFrame
    problems: pd.DataFrame
    rows: int

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return self.problems.empty

    @property
    def bad_rows(self) -> pd.Index[Any]:
        """Index labels of the rows with at least one problem, in frame order."""
        rows: pd.Index[Any] = pd.Index(self.problems["row"].drop_duplicates())
        return rows

    def __repr__(self) -> str:
        # Counts only: the problems hold personal values.
        return (
            f"ValidationReport(rows={self.rows}, valid={len(self.valid)},"
            f" problems={len(self.problems)})"
        )


def validate_customers(
    frame: pd.DataFrame,
    *,
    customer: str = "customer_id",
    name: str | None = "name",
    email: str | None = "email",
    phone: str | None = "phone",
    created_at: str | None = None,
    region: str | None = None,
) -> ValidationReport:
    """Check every row of a customer frame; report every bad field instead of stopping.

    *customer* names the id column. Checks that each id is a non-empty string and appears once, that each
    name is present and non-empty, that emails and phone numbers (optional:
    missing is fine) can be standardised (phones to E.164 for *region*), and,
    if *created_at* is given, that it holds a timestamp. The good rows come
    back standardised in :attr:`ValidationReport.valid`. Pass ``None`` for a
    column the frame does not have.

    Raises:
        MissingColumnError: a named column is not in the frame.
        ValidationError: an unknown *region*, or *frame* is not a DataFrame.

    >>> import pandas as pd
    >>> df = pd.DataFrame({
    ...     "customer_id": ["c-1", "c-2", "c-2", None],
    ...     "name": ["Ann Lee", " ", "Bo Chen", "Cy"],
    ...     "email": ["ANN@EXAMPLE.COM", "not-an-email", None, "cy@example.com"],
    ...     "phone": ["138 1234 5678", None, "12", None],
    ... })
    >>> report = validate_customers(df, region="CN")
    >>> report
    ValidationReport(rows=4, valid=1, problems=6)
    >>> report.problems[["row", "column", "problem"]]
       row       column                                            problem
    0    1  customer_id                                  expected each id once
    1    1         name                          expected a non-empty name
    2    1        email    expected an email address like name@example.com
    3    2  customer_id                                  expected each id once
    4    2        phone  expected a valid phone number (national number...
    5    3  customer_id                            expected a non-empty id
    >>> report.valid
      customer_id     name            email           phone
    0         c-1  Ann Lee  ann@example.com  +8613812345678
    """
    frame = check_frame(frame, "frame", [customer, created_at])
    out, found = standardize_columns(frame, name=name, email=email, phone=phone, region=region)
    n = len(frame)
    # (column, position in frame.columns, mask, problem)
    checks: list[tuple[str, np.ndarray[Any, np.dtype[np.bool_]], str]] = []

    ids = as_objects(frame[customer])
    is_id = np.fromiter(
        (isinstance(v, str) and v != "" and v == v.strip() for v in ids), dtype=bool, count=n
    )
    checks.append((customer, ~is_id, "expected a non-empty id"))
    dup = pd.Series(ids, dtype=object).duplicated(keep=False).to_numpy() & is_id
    checks.append((customer, dup, "expected each id once"))
    for column, bad, problem in found:
        checks.append((column, bad, problem))
        if column == name:
            absent = out[column].isna().to_numpy() & ~bad
            checks.append((column, absent, "expected a non-empty name"))
    if created_at is not None:
        raw = frame[created_at]
        parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
        bad_time = parsed.isna().to_numpy()
        checks.append((created_at, bad_time, "expected a timestamp (ISO 8601)"))
        out[created_at] = parsed

    order = {c: i for i, c in enumerate(frame.columns)}
    parts = []
    any_bad = np.zeros(n, dtype=bool)
    for column, mask, problem in checks:
        if not mask.any():
            continue
        any_bad |= mask
        where = np.flatnonzero(mask)
        parts.append(
            pd.DataFrame(
                {
                    "_pos": where,
                    "_col": order[column],
                    "row": frame.index[where],
                    "column": column,
                    "value": frame[column].to_numpy(dtype=object)[where],
                    "problem": problem,
                }
            )
        )
    if parts:
        problems = (
            pd.concat(parts, ignore_index=True)
            .sort_values(["_pos", "_col"], kind="stable")
            .drop(columns=["_pos", "_col"])
            .reset_index(drop=True)
        )
    else:
        problems = pd.DataFrame({c: pd.Series(dtype=object) for c in _PROBLEM_COLUMNS})
    return ValidationReport(valid=out[~any_bad], problems=problems, rows=n)
