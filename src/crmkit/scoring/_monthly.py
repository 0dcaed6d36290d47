"""The composite value of every customer at each month end: for trends and monthly points."""

from __future__ import annotations

from typing import Any

import pandas as pd

from crmkit.core import AsOf, ValidationError, check_frame, parse_as_of
from crmkit.scoring._features import features
from crmkit.scoring._value import ValueModel

__all__ = ["score_monthly"]

_ONE_NS = pd.Timedelta(1, unit="ns")


def score_monthly(
    transactions: pd.DataFrame,
    *,
    model: ValueModel,
    start: AsOf,
    end: AsOf,
    profile: pd.DataFrame | None = None,
    customer: str = "customer_id",
    **feature_options: Any,
) -> pd.DataFrame:
    """Score every customer at the end of each month from *start* to *end*.

    The value at a month's end uses all activity up to the last instant of
    that month (features ``as_of`` the month's last nanosecond). Months before
    the first activity are left out; a customer appears from the month of
    their first activity on.

    Args:
        transactions: the transaction frame, as for :func:`features`.
        model: the value model.
        start: a day in the first month.
        end: a day in the last month.
        profile: optional profile attributes indexed by customer
            (:func:`profile_frame`), joined onto the features.
        customer: the customer-id column.
        **feature_options: any other argument of :func:`features` (column
            names, ``settlement``, ``refunds``, ...).

    Returns:
        A tidy frame, one row per customer and month: *customer*, ``month``
        (``Period[M]``), ``value``, the ``value_<component>`` columns and
        ``value_model``, ordered by month then customer.

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["ann", "ann", "bo"],
    ...                    "occurred_at": pd.to_datetime(["2025-01-10", "2025-02-20", "2025-02-01"]),
    ...                    "amount": [100.0, 300.0, 50.0]})
    >>> model = ValueModel.from_dict({"model": {"name": "spend", "version": "1"},
    ...                               "components": {"spend": {"formula": "total_spend"}}})
    >>> score_monthly(tx, model=model, start="2025-01-01", end="2025-03-01")[
    ...     ["customer_id", "month", "value"]]
      customer_id    month  value
    0         ann  2025-01  100.0
    1         ann  2025-02  400.0
    2          bo  2025-02   50.0
    3         ann  2025-03  400.0
    4          bo  2025-03   50.0
    """
    if not isinstance(model, ValueModel):
        raise ValidationError("model", expected="a ValueModel", got=type(model).__name__)
    first = parse_as_of(start, field="start").tz_localize(None).to_period("M")
    last = parse_as_of(end, field="end").tz_localize(None).to_period("M")
    if last < first:
        raise ValidationError("end", expected=f"a month at or after {first}", got=str(last))
    if "as_of" in feature_options:
        raise ValidationError("as_of", expected="no as_of (each month end is used)", got="as_of")

    transactions = check_frame(transactions, "transactions", [customer])  # converted once
    months = pd.period_range(first, last, freq="M")
    as_ofs = [(m + 1).start_time.tz_localize("UTC") - _ONE_NS for m in months]
    # Validate the input once, on the widest window, and find where activity begins.
    final = features(transactions, as_of=as_ofs[-1], customer=customer, **feature_options)
    if final.empty:
        return _empty(model, customer)
    begin = final["first_purchase"].min()

    parts = []
    for month, as_of in zip(months, as_ofs, strict=True):
        if pd.isna(begin) or as_of < begin:
            continue
        feats = features(transactions, as_of=as_of, customer=customer, **feature_options)
        if profile is not None:
            feats = feats.join(profile, how="left")
        scored = model.score(feats)
        scored.insert(0, "month", pd.period_range(month, periods=1).repeat(len(scored)))
        parts.append(scored.sort_index())
    if not parts:
        return _empty(model, customer)
    out = pd.concat(parts)
    out.index.name = customer
    return out.reset_index()


def _empty(model: ValueModel, customer: str) -> pd.DataFrame:
    columns: dict[str, Any] = {
        customer: pd.Series([], dtype=object),
        "month": pd.Series([], dtype="period[M]"),
        "value": pd.Series([], dtype="float64"),
    }
    for c in model.components:
        columns[f"value_{c.name}"] = pd.Series([], dtype="float64")
    columns["value_model"] = pd.Categorical([], categories=[f"{model.name}/{model.version}"])
    return pd.DataFrame(columns)
