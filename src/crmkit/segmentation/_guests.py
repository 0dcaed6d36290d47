"""How often each customer was the guest of a hosted purchase (an input of the positioning preset).

The feature frame has no guest column (the transactions frame of
:func:`~crmkit.scoring.activity_frames` counts the guests a payer hosted, not
who they were), so the positioning preset declares ``guest_purchases`` as an
optional input that is 0 when the column is absent, and this helper computes
it from the purchases.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd

from crmkit.core import ValidationError, parse_as_of
from crmkit.domain import Purchase
from crmkit.scoring import AsOf

__all__ = ["guest_purchases"]


def guest_purchases(purchases: Iterable[object], *, as_of: AsOf) -> pd.Series[float]:
    """Count, per customer, the purchases at or before *as_of* where they were a guest.

    Activities that are not purchases are skipped. Join the result onto the
    features (customers who were never a guest get 0)::

        feats["guest_purchases"] = guest_purchases(activities, as_of=...).reindex(
            feats.index, fill_value=0.0)

    Args:
        purchases: domain activities (:class:`~crmkit.domain.Purchase` and others).
        as_of: the date of the features; later purchases do not count.

    Returns:
        A float Series named ``guest_purchases``, indexed by ``customer_id``
        (customers who were a guest at least once), sorted by id.

    >>> from datetime import UTC, datetime
    >>> p = Purchase(id="p-1", customer_id="c-1", occurred_at=datetime(2025, 5, 1, tzinfo=UTC),
    ...              amount=88.5, currency="CNY", guests={"c-7", "c-8"})
    >>> guest_purchases([p], as_of="2025-06-01")
    customer_id
    c-7    1.0
    c-8    1.0
    Name: guest_purchases, dtype: float64
    """
    cutoff = parse_as_of(as_of).floor("us").to_pydatetime()
    if isinstance(purchases, str | bytes) or not isinstance(purchases, Iterable):
        raise ValidationError(
            "purchases", expected="an iterable of activities", got=type(purchases).__name__
        )
    counts: Counter[str] = Counter()
    for p in purchases:
        if isinstance(p, Purchase) and p.guests and p.occurred_at <= cutoff:
            counts.update(p.guests)
    keys = sorted(counts)
    return pd.Series(
        [float(counts[k]) for k in keys],
        index=pd.Index(keys, name="customer_id", dtype=object),
        name="guest_purchases",
        dtype="float64",
    )
