"""The derived features, declared once for every engine.

Each engine (``features`` over a frame, ``features_one`` over one customer's
entities, ``replay`` period by period) computes the same *base aggregates* per
customer in its own way: counts, sums, first and last purchase, distinct days
and months, the spend per settlement method... Everything else is derived
from them here, by one numpy expression per feature that works the same on
whole columns and on one customer (0-d arrays), so the engines agree to the
last bit and a new derived feature is declared in one place.

The base aggregates (names used by every engine):

========================  =========================================================
``count``                 purchases (rows), int
``gross``                 purchase amounts, summed
``refund_total``          refund amounts, summed
``first_ns`` ``last_ns``  first and last purchase, ns since the epoch (any value
                          where ``count`` is 0)
``days`` ``months``       distinct UTC days / calendar months with a purchase
``first_day``             UTC day (days since the epoch) of the first purchase
``last_day``              UTC day of the last purchase
``repeat_spend``          purchase amounts on days after the first purchase day
``method_spend``          (4, n): purchase amounts per settlement method
``complaints``            (4, n): complaints per severity
``interactions``          (8, n): interactions per channel
``as_of_ns`` ``days_per_unit``  the scalars of the call
========================  =========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs
import numpy as np

from crmkit.core import DAYS_PER_MONTH, NS_PER_DAY, days_between_array

__all__ = ["DERIVED_FEATURES", "DerivedFeature", "derive"]

Array = np.ndarray[Any, Any]


@attrs.frozen
class DerivedFeature:
    """A feature computed from base aggregates (or other derived features) by one expression.

    Attributes:
        name: the feature column.
        needs: what it reads: base aggregates or other derived features.
        compute: the expression, over numpy arrays (1-d for a frame, 0-d for
            one customer), in the order of *needs*.
    """

    name: str
    needs: tuple[str, ...]
    compute: Callable[..., Array]


def _none_as_nan(values: Array, count: Array) -> Array:
    return np.where(count > 0, values, np.nan)


def _days_since(as_of_ns: int, when: Array, count: Array) -> Array:
    # Where there is no purchase, `when` may be anything: compute on as_of (no overflow).
    safe = np.where(count > 0, when, as_of_ns).astype(np.int64)
    return _none_as_nan(days_between_array(as_of_ns, safe, NS_PER_DAY), count)


def _ratio(numerator: Array, denominator: Array) -> Array:
    """``numerator / denominator`` where the denominator is > 0, NaN elsewhere."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _settlement_shares(method_spend: Array) -> Array:
    known = ((method_spend[0] + method_spend[1]) + method_spend[2]) + method_spend[3]
    return _ratio(method_spend, known)


DERIVED_FEATURES: Final = (
    DerivedFeature("total_spend", ("gross", "refund_total"), lambda g, r: g - r),
    DerivedFeature(
        "days_since_last_purchase",
        ("as_of_ns", "last_ns", "count"),
        _days_since,
    ),
    DerivedFeature(
        "tenure_months",
        ("as_of_ns", "first_ns", "count"),
        lambda as_of, first, count: _days_since(as_of, first, count) / DAYS_PER_MONTH,
    ),
    # max(tenure, 1) keeps brand-new customers from huge monthly rates; 1 without purchases.
    DerivedFeature(
        "monthly_frequency",
        ("count", "tenure_months"),
        lambda count, tenure: count / np.fmax(tenure, 1.0),
    ),
    DerivedFeature(
        "monthly_avg_spend",
        ("total_spend", "tenure_months"),
        lambda total, tenure: total / np.fmax(tenure, 1.0),
    ),
    DerivedFeature("settlement_shares", ("method_spend",), _settlement_shares),
    DerivedFeature("repeat_purchases", ("days",), lambda days: np.maximum(days - 1, 0)),
    DerivedFeature(
        "repeat_span",
        ("first_day", "last_day", "days_per_unit", "count"),
        lambda first, last, unit, count: _none_as_nan((last - first) / unit, count),
    ),
    DerivedFeature(
        "age",
        ("as_of_ns", "first_day", "days_per_unit", "count"),
        lambda as_of, first, unit, count: _none_as_nan((as_of // NS_PER_DAY - first) / unit, count),
    ),
    DerivedFeature(
        "repeat_avg_spend", ("repeat_spend", "repeat_purchases"), lambda s, r: _ratio(s, r)
    ),
    DerivedFeature("complaint_count", ("complaints",), lambda c: c.sum(axis=0)),
    DerivedFeature("interaction_count", ("interactions",), lambda i: i.sum(axis=0)),
)

_BY_NAME: Final = {d.name: d for d in DERIVED_FEATURES}


def derive(base: Mapping[str, Any], wanted: Iterable[str] | None = None) -> dict[str, Array]:
    """The derived features in *wanted* (all by default) from the base aggregates in *base*.

    Dependencies between derived features are followed; only what is needed
    is computed. *base* holds arrays of one shape (``(n,)`` for n customers,
    ``()`` for one) and the scalars ``as_of_ns`` and ``days_per_unit``.

    >>> import numpy as np
    >>> out = derive({"count": np.array([3, 0]), "gross": np.array([90.0, 0.0]),
    ...               "refund_total": np.array([10.0, 0.0]), "as_of_ns": 60 * 86_400 * 10**9,
    ...               "first_ns": np.array([0, 0])}, ["monthly_avg_spend"])
    >>> out["monthly_avg_spend"].round(3).tolist()
    [40.583, 0.0]
    """
    names = list(_BY_NAME) if wanted is None else [w for w in wanted if w in _BY_NAME]
    known: dict[str, Any] = dict(base)
    out: dict[str, Array] = {}

    def get(name: str) -> Any:
        if name not in known:
            feature = _BY_NAME[name]  # a KeyError here is a missing base aggregate (a bug)
            known[name] = feature.compute(*(get(n) for n in feature.needs))
        return known[name]

    for name in names:
        out[name] = get(name)
    return out
