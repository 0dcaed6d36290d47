"""``features_one``: the features of one customer from domain entities, in plain Python.

This is the scalar path: no pandas, no numpy, for scoring one customer inside
a request. It follows the definitions of the frame path step by step (integer
nanoseconds for time, float64 sums in the order the activities are given), so
that a row of ``features`` and the mapping returned here are equal; a
hypothesis test checks it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, TypeAlias

import numpy as np

from crmkit.core import (
    AsOf,
    ValidationError,
    day_of,
    parse_as_of,
    shift_months,
    to_ns,
)
from crmkit.domain import (
    Channel,
    Complaint,
    Interaction,
    Purchase,
    Referral,
    Refund,
    SettlementMethod,
    Severity,
    SurveyResponse,
)
from crmkit.scoring._columns import (
    CHANNEL_COLUMNS,
    FEATURE_COLUMNS,
    SETTLEMENT_COLUMNS,
    SEVERITY_COLUMNS,
)
from crmkit.scoring._derive import derive
from crmkit.scoring._extension import FeatureExtension, check_extensions, extend_one
from crmkit.scoring._features import TimeUnit, unit_days

__all__ = ["FeatureValue", "features_one"]

FeatureValue: TypeAlias = float | int | datetime | None
"""A feature's value in the scalar path: ``None`` where the frame has NaN or NaT."""

_METHODS = list(SettlementMethod)
_SEVERITIES = list(Severity)
_CHANNELS = list(Channel)
_EXPECTED = "Purchase, Refund, Complaint, Referral, Interaction or SurveyResponse activities"


_ONE_DERIVED = (
    "total_spend",
    "days_since_last_purchase",
    "tenure_months",
    "monthly_frequency",
    "monthly_avg_spend",
    "repeat_purchases",
    "repeat_span",
    "age",
    "repeat_avg_spend",
)


def _plain(value: Any) -> FeatureValue:
    """A 0-d numpy result as a Python int or float; NaN (undefined) as None."""
    item = value.item() if hasattr(value, "item") else value
    if isinstance(item, float) and math.isnan(item):
        return None
    return item  # type: ignore[no-any-return]


def _month(day: int) -> tuple[int, int]:
    when = date.fromordinal(day + 719_163)  # 719_163 = date(1970, 1, 1).toordinal()
    return when.year, when.month


def features_one(
    activities: Iterable[Purchase | Refund | Complaint | Referral | Interaction | SurveyResponse],
    *,
    as_of: AsOf,
    time_unit: TimeUnit = "D",
    extensions: Iterable[FeatureExtension] = (),
) -> dict[str, FeatureValue]:
    """Compute one customer's features from their activities, as of a point in time.

    The result has the keys of ``FEATURE_COLUMNS`` and the values of the
    customer's row of :func:`features` computed from the same activities, with
    ``None`` where the frame has NaN or NaT. Every activity given counts: pass
    one customer's activities (for a company with roll-up, its own and its
    staff's). Activities after *as_of* are ignored. Amounts are summed as
    floats in the order given, as the frame path sums rows in frame order.

    Args:
        activities: the customer's activities (any order; other activity
            types are an error).
        as_of: the point in time (as for :func:`features`).
        time_unit: unit of ``repeat_span`` and ``age``: ``"D"`` or ``"W"``.
        extensions: feature extensions whose values are added after the
            features (their ``one`` path; the keys of each ``columns``).

    Returns:
        A new dict of feature name to value (``float``, ``int``, an aware UTC
        ``datetime``, or ``None``).

    Raises:
        ValidationError: *as_of* or *time_unit* is not valid, or an item is not an activity.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Purchase, Complaint
    >>> day = lambda d: datetime(2025, 1, d, tzinfo=UTC)
    >>> history = [
    ...     Purchase(id="p1", customer_id="ann", occurred_at=day(5), amount="20", currency="EUR",
    ...              settlement="cash"),
    ...     Purchase(id="p2", customer_id="ann", occurred_at=day(19), amount="60", currency="EUR",
    ...              settlement="on_account"),
    ...     Complaint(id="c1", customer_id="ann", occurred_at=day(20), severity="high"),
    ... ]
    >>> one = features_one(history, as_of="2025-01-31", time_unit="W")
    >>> one["total_spend"], one["repeat_purchases"], one["repeat_span"], one["age"]
    (80.0, 1, 2.0, 3.7142857142857144)
    >>> one["settlement_share_on_account"], one["complaints_high"], one["latest_survey_score"]
    (0.75, 1, None)
    """
    stamp = parse_as_of(as_of)
    now = int(stamp.value)
    days_per_unit = unit_days(time_unit)
    exts = check_extensions(extensions)
    last3_start = int(shift_months(stamp, -3).value)
    prev3_start = int(shift_months(stamp, -6).value)

    purchases: list[tuple[int, float, SettlementMethod | None, datetime]] = []
    refund_total = 0.0
    severities = [0] * len(_SEVERITIES)
    referrals = 0
    channels = [0] * len(_CHANNELS)
    latest_survey: int | None = None
    latest_scores: list[float] = []
    for item in activities:
        if not isinstance(
            item, (Purchase, Refund, Complaint, Referral, Interaction, SurveyResponse)
        ):
            raise ValidationError("activities", expected=_EXPECTED, got=type(item).__name__)
        at = to_ns(item.occurred_at)
        if at > now:
            continue
        if isinstance(item, Purchase):
            purchases.append((at, float(item.amount), item.settlement, item.occurred_at))
        elif isinstance(item, Refund):
            refund_total += float(item.amount)
        elif isinstance(item, Complaint):
            severities[_SEVERITIES.index(item.severity)] += 1
        elif isinstance(item, Referral):
            referrals += 1
        elif isinstance(item, Interaction):
            channels[_CHANNELS.index(item.channel)] += 1
        elif latest_survey is None or at > latest_survey:
            latest_survey, latest_scores = at, [float(item.score)]
        elif at == latest_survey:
            latest_scores.append(float(item.score))

    out: dict[str, FeatureValue] = dict.fromkeys(FEATURE_COLUMNS)
    count = len(purchases)
    gross = 0.0
    spend_last3 = 0.0
    spend_prev3 = 0.0
    method_spend = [0.0] * len(_METHODS)
    for at, amount, method, _ in purchases:
        gross += amount
        if at > last3_start:
            spend_last3 += amount
        elif at > prev3_start:
            spend_prev3 += amount
        if method is not None:
            method_spend[_METHODS.index(method)] += amount
    out["refund_total"] = refund_total
    out["purchase_count"] = count
    out["spend_last_3m"] = spend_last3
    out["spend_prev_3m"] = spend_prev3
    base: dict[str, Any] = {
        "count": np.int64(count),
        "gross": np.float64(gross),
        "refund_total": np.float64(refund_total),
        "method_spend": np.array(method_spend, dtype=np.float64),
        "as_of_ns": now,
        "days_per_unit": days_per_unit,
        "first_ns": np.int64(now),
        "last_ns": np.int64(now),
        "first_day": np.int64(0),
        "last_day": np.int64(0),
        "days": np.int64(0),
        "repeat_spend": np.float64(0.0),
    }
    if purchases:
        first_at, _, _, first_time = min(purchases, key=lambda p: p[0])
        last_at, _, _, last_time = max(purchases, key=lambda p: p[0])
        days = sorted({day_of(p[0]) for p in purchases})
        repeat_spend = 0.0
        for at, amount, _, _ in purchases:
            if day_of(at) != days[0]:
                repeat_spend += amount
        base.update(
            first_ns=np.int64(first_at),
            last_ns=np.int64(last_at),
            first_day=np.int64(days[0]),
            last_day=np.int64(days[-1]),
            days=np.int64(len(days)),
            repeat_spend=np.float64(repeat_spend),
        )
        out["first_purchase"] = first_time
        out["last_purchase"] = last_time
        out["active_months"] = len({_month(d) for d in days})
    else:
        out["active_months"] = 0
    out["purchase_days"] = int(base["days"])
    derived = derive(base, _ONE_DERIVED)
    for name, number in derived.items():
        out[name] = _plain(number)
    shares = derive(base, ["settlement_shares"])["settlement_shares"]
    for name, share in zip(SETTLEMENT_COLUMNS, shares, strict=True):
        out[name] = _plain(share)

    out["complaint_count"] = sum(severities)
    out.update(zip(SEVERITY_COLUMNS, severities, strict=True))
    out["referrals_made"] = referrals
    out["interaction_count"] = sum(channels)
    out.update(zip(CHANNEL_COLUMNS, channels, strict=True))
    if latest_scores:
        total_score = 0.0
        for value in latest_scores:
            total_score += value
        out["latest_survey_score"] = total_score / len(latest_scores)
    return extend_one(out, exts, time_unit) if exts else out
