"""``features_one``: the features of one customer from domain entities, in plain Python.

This is the scalar path: no pandas, no numpy, for scoring one customer inside
a request. It follows the definitions of the frame path step by step (integer
nanoseconds for time, float64 sums in the order the activities are given), so
that a row of ``features`` and the mapping returned here are equal; a
hypothesis test checks it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TypeAlias

from crmkit.core import (
    DAYS_PER_MONTH,
    NS_PER_DAY,
    AsOf,
    ValidationError,
    day_of,
    days_between,
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
from crmkit.scoring._features import TimeUnit, unit_days

__all__ = ["FeatureValue", "features_one"]

FeatureValue: TypeAlias = float | int | datetime | None
"""A feature's value in the scalar path: ``None`` where the frame has NaN or NaT."""

_METHODS = list(SettlementMethod)
_SEVERITIES = list(Severity)
_CHANNELS = list(Channel)
_EXPECTED = "Purchase, Refund, Complaint, Referral, Interaction or SurveyResponse activities"


def _month(day: int) -> tuple[int, int]:
    when = date.fromordinal(day + 719_163)  # 719_163 = date(1970, 1, 1).toordinal()
    return when.year, when.month


def features_one(
    activities: Iterable[Purchase | Refund | Complaint | Referral | Interaction | SurveyResponse],
    *,
    as_of: AsOf,
    time_unit: TimeUnit = "D",
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
    total = gross - refund_total
    out["total_spend"] = total
    out["refund_total"] = refund_total
    out["purchase_count"] = count
    out["spend_last_3m"] = spend_last3
    out["spend_prev_3m"] = spend_prev3
    known = ((method_spend[0] + method_spend[1]) + method_spend[2]) + method_spend[3]
    for name, spend in zip(SETTLEMENT_COLUMNS, method_spend, strict=True):
        out[name] = spend / known if known > 0 else None

    if purchases:
        first_at, _, _, first_time = min(purchases, key=lambda p: p[0])
        last_at, _, _, last_time = max(purchases, key=lambda p: p[0])
        days = sorted({day_of(p[0]) for p in purchases})
        first_day = days[0]
        repeat_spend = 0.0
        for at, amount, _, _ in purchases:
            if day_of(at) != first_day:
                repeat_spend += amount
        tenure = days_between(now, first_at) / DAYS_PER_MONTH
        divisor = max(tenure, 1.0)
        repeats = len(days) - 1
        out["purchase_days"] = len(days)
        out["first_purchase"] = first_time
        out["last_purchase"] = last_time
        out["days_since_last_purchase"] = days_between(now, last_at)
        out["tenure_months"] = tenure
        out["active_months"] = len({_month(d) for d in days})
        out["repeat_purchases"] = repeats
        out["repeat_span"] = (days[-1] - first_day) / days_per_unit
        out["age"] = (now // NS_PER_DAY - first_day) / days_per_unit
        out["repeat_avg_spend"] = repeat_spend / repeats if repeats > 0 else None
    else:
        divisor = 1.0
        out["purchase_days"] = 0
        out["active_months"] = 0
        out["repeat_purchases"] = 0
    out["monthly_frequency"] = count / divisor
    out["monthly_avg_spend"] = total / divisor

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
    return out
