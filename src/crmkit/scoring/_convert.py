"""Domain entities to the frames ``features`` reads, customer profiles, and company roll-up."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd

from crmkit.core import AsOf, FrameError, ValidationError, check_frame, first_rows
from crmkit.domain import (
    Complaint,
    Customer,
    Interaction,
    Purchase,
    Referral,
    Refund,
    SurveyResponse,
)
from crmkit.scoring._features import TimeUnit, features

__all__ = [
    "ActivityFrames",
    "activity_frames",
    "profile_frame",
    "roll_up_to_companies",
    "transactions_frame",
]

_ACTIVITY = "Purchase, Refund, Complaint, Referral, Interaction or SurveyResponse activities"


def _times(values: Sequence[datetime | None]) -> pd.DatetimeIndex:
    stamps: list[Any] = list(values)
    return pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)).as_unit("ns")


def _frame(columns: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def _strings(values: Sequence[str | None]) -> pd.Series[Any]:
    return pd.Series(values, dtype=object)


def transactions_frame(purchases: Iterable[Purchase]) -> pd.DataFrame:
    """One row per purchase, with the columns :func:`features` reads by default.

    Columns: ``id``, ``customer_id``, ``occurred_at`` (``datetime64[ns, UTC]``),
    ``amount`` (``float64``), ``currency``, ``settlement`` (the method's value,
    or ``None``), ``guests`` (how many guests were hosted). Rows are in the
    order given.

    >>> from datetime import UTC, datetime
    >>> p = Purchase(id="p1", customer_id="ann", occurred_at=datetime(2025, 1, 5, tzinfo=UTC),
    ...              amount="19.90", currency="EUR", settlement="cash")
    >>> transactions_frame([p])
       id customer_id               occurred_at  amount currency settlement  guests
    0  p1         ann 2025-01-05 00:00:00+00:00    19.9      EUR       cash       0
    """
    rows = list(purchases)
    for item in rows:
        if not isinstance(item, Purchase):
            raise ValidationError(
                "purchases", expected="Purchase activities", got=type(item).__name__
            )
    return _frame(
        {
            "id": _strings([p.id for p in rows]),
            "customer_id": _strings([p.customer_id for p in rows]),
            "occurred_at": _times([p.occurred_at for p in rows]),
            "amount": pd.Series([float(p.amount) for p in rows], dtype="float64"),
            "currency": _strings([p.currency for p in rows]),
            "settlement": _strings(
                [None if p.settlement is None else p.settlement.value for p in rows]
            ),
            "guests": pd.Series([len(p.guests) for p in rows], dtype="int64"),
        }
    )


class ActivityFrames(NamedTuple):
    """Activities as one frame per kind, with the domain's field names as columns.

    Every frame has ``id``, ``customer_id`` and ``occurred_at``
    (``datetime64[ns, UTC]``); besides:

    * ``transactions``: see :func:`transactions_frame`;
    * ``refunds``: ``purchase_id``, ``amount``, ``currency``;
    * ``complaints``: ``severity``, ``status``;
    * ``referrals``: ``referred_id``, ``status`` (``customer_id`` is the referrer);
    * ``interactions``: ``channel``, ``direction``;
    * ``surveys``: ``scale``, ``score``.
    """

    transactions: pd.DataFrame
    refunds: pd.DataFrame
    complaints: pd.DataFrame
    referrals: pd.DataFrame
    interactions: pd.DataFrame
    surveys: pd.DataFrame

    def features(self, *, as_of: AsOf, time_unit: TimeUnit = "D") -> pd.DataFrame:
        """:func:`features` over these frames (with settlement methods and survey scales)."""
        return features(
            self.transactions,
            as_of=as_of,
            settlement="settlement",
            refunds=self.refunds,
            complaints=self.complaints,
            referrals=self.referrals,
            interactions=self.interactions,
            surveys=self.surveys,
            scale="scale",
            time_unit=time_unit,
        )


def _base(items: list[Any]) -> dict[str, Any]:
    return {
        "id": _strings([a.id for a in items]),
        "customer_id": _strings([a.customer_id for a in items]),
        "occurred_at": _times([a.occurred_at for a in items]),
    }


def activity_frames(
    activities: Iterable[Purchase | Refund | Complaint | Referral | Interaction | SurveyResponse],
) -> ActivityFrames:
    """Split activities into one frame per kind, ready for :func:`features`.

    Rows keep the order in which the activities are given.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2025, 1, 5, tzinfo=UTC)
    >>> frames = activity_frames([
    ...     Purchase(id="p1", customer_id="ann", occurred_at=t, amount=20, currency="EUR"),
    ...     Complaint(id="c1", customer_id="bo", occurred_at=t, severity="low"),
    ... ])
    >>> len(frames.transactions), len(frames.complaints), len(frames.surveys)
    (1, 1, 0)
    >>> frames.features(as_of="2025-02-01")[["purchase_count", "complaint_count"]]
                 purchase_count  complaint_count
    customer_id
    ann                       1                0
    bo                        0                1
    """
    buckets: dict[type, list[Any]] = {
        cls: [] for cls in (Purchase, Refund, Complaint, Referral, Interaction, SurveyResponse)
    }
    for item in activities:
        bucket = buckets.get(type(item))
        if bucket is None:
            raise ValidationError("activities", expected=_ACTIVITY, got=type(item).__name__)
        bucket.append(item)
    refunds: list[Refund] = buckets[Refund]
    complaints: list[Complaint] = buckets[Complaint]
    referrals: list[Referral] = buckets[Referral]
    interactions: list[Interaction] = buckets[Interaction]
    surveys: list[SurveyResponse] = buckets[SurveyResponse]
    return ActivityFrames(
        transactions=transactions_frame(buckets[Purchase]),
        refunds=_frame(
            {
                **_base(refunds),
                "purchase_id": _strings([r.purchase_id for r in refunds]),
                "amount": pd.Series([float(r.amount) for r in refunds], dtype="float64"),
                "currency": _strings([r.currency for r in refunds]),
            }
        ),
        complaints=_frame(
            {
                **_base(complaints),
                "severity": _strings([c.severity.value for c in complaints]),
                "status": _strings([c.status.value for c in complaints]),
            }
        ),
        referrals=_frame(
            {
                **_base(referrals),
                "referred_id": _strings([r.referred_id for r in referrals]),
                "status": _strings([r.status.value for r in referrals]),
            }
        ),
        interactions=_frame(
            {
                **_base(interactions),
                "channel": _strings([i.channel.value for i in interactions]),
                "direction": _strings([i.direction.value for i in interactions]),
            }
        ),
        surveys=_frame(
            {
                **_base(surveys),
                "scale": _strings([s.scale.value for s in surveys]),
                "score": pd.Series([s.score for s in surveys], dtype="int64"),
            }
        ),
    )


def profile_frame(customers: Iterable[Customer], *, customer: str = "customer_id") -> pd.DataFrame:
    """One row per customer with the profile attributes value models use.

    Columns: ``kind`` (``"individual"`` / ``"company"``), ``company_id``
    (``None`` if none), ``spending_budget`` (``float64``, NaN if unknown),
    ``share_of_wallet`` (``float64``, NaN if unknown), ``influence``,
    ``is_member`` (``bool``), ``member_tier`` (``None`` if not a member),
    ``member_since`` (``datetime64[ns, UTC]``, NaT if not a member). The index
    is the customer id, named *customer*, so the frame joins onto
    :func:`features`.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2024, 3, 1, tzinfo=UTC)
    >>> acme = Customer(id="acme", name="ACME", kind="company", created_at=t, spending_budget=90000)
    >>> ann = Customer(id="ann", name="Ann Lee", company_id="acme", created_at=t, share_of_wallet=0.4)
    >>> profile_frame([acme, ann])[["kind", "company_id", "spending_budget", "share_of_wallet"]]
                       kind company_id  spending_budget  share_of_wallet
    customer_id
    acme            company       None          90000.0              NaN
    ann          individual       acme              NaN              0.4
    """
    rows = list(customers)
    for item in rows:
        if not isinstance(item, Customer):
            raise ValidationError(
                "customers", expected="Customer entities", got=type(item).__name__
            )
    if not isinstance(customer, str) or not customer:
        raise ValidationError("customer", expected="a column name (a non-empty str)", got=customer)
    ids = [c.id for c in rows]
    seen: set[str] = set()
    for cid in ids:
        if cid in seen:
            raise ValidationError(
                "customers", expected="each customer once", got=f"id {cid!r} twice"
            )
        seen.add(cid)
    frame = _frame(
        {
            "kind": _strings([c.kind.value for c in rows]),
            "company_id": _strings([c.company_id for c in rows]),
            "spending_budget": pd.Series(
                [
                    float("nan") if c.spending_budget is None else float(c.spending_budget)
                    for c in rows
                ],
                dtype="float64",
            ),
            "share_of_wallet": pd.Series(
                [float("nan") if c.share_of_wallet is None else c.share_of_wallet for c in rows],
                dtype="float64",
            ),
            "influence": _strings([c.influence for c in rows]),
            "is_member": pd.Series([c.membership is not None for c in rows], dtype=bool),
            "member_tier": _strings(
                [None if c.membership is None else c.membership.tier for c in rows]
            ),
            "member_since": _times(
                [None if c.membership is None else c.membership.since for c in rows]
            ),
        }
    )
    frame.index = pd.Index(_strings(ids), name=customer)
    return frame


def roll_up_to_companies(
    frame: pd.DataFrame,
    company_of: Mapping[Hashable, Hashable] | pd.Series[Any],
    *,
    customer: str = "customer_id",
) -> pd.DataFrame:
    """Credit individuals' activity also to their company customer.

    Returns a new frame: every row of *frame*, followed by a copy of each row
    whose customer is in *company_of*, with the customer replaced by the
    company. Run :func:`features` on the result and a company's row covers
    its own activity and its staff's, while each individual keeps their own
    row. Works on any activity frame (transactions, refunds, complaints...);
    roll up each frame you pass to :func:`features`. One level only: a
    company cannot itself belong to a company.

    Args:
        frame: an activity frame with a *customer* column.
        company_of: individual id -> company id, e.g.
            ``profile_frame(customers)["company_id"].dropna()``.
        customer: the customer-id column.

    >>> tx = pd.DataFrame({"customer_id": ["ann", "bo", "acme"], "amount": [10.0, 5.0, 100.0]})
    >>> roll_up_to_companies(tx, {"ann": "acme"})
      customer_id  amount
    0         ann    10.0
    1          bo     5.0
    2        acme   100.0
    0        acme    10.0
    """
    check_frame(frame, "frame", [customer])
    if isinstance(company_of, pd.Series):
        mapping = company_of
    elif isinstance(company_of, Mapping):
        mapping = pd.Series(dict(company_of), dtype=object)
    else:
        raise ValidationError(
            "company_of", expected="a mapping of individual id to company id", got=company_of
        )
    absent = mapping.isna().to_numpy(dtype=bool)
    if absent.any():
        raise ValidationError(
            "company_of",
            expected="a company id for every individual listed",
            got=f"no company for {mapping.index[absent][0]!r}",
        )
    if not mapping.index.is_unique:
        raise ValidationError(
            "company_of", expected="each individual once", got="an individual listed twice"
        )
    nested = mapping.index.intersection(pd.Index(mapping.to_numpy()))
    if len(nested):
        raise ValidationError(
            "company_of",
            expected="companies that do not themselves belong to a company (one level)",
            got=f"{nested[0]!r} is both a member and a company",
        )
    companies = frame[customer].map(mapping)
    credited = companies.notna().to_numpy(dtype=bool)
    if not credited.any():
        return frame.copy()
    extra = frame[credited].copy()
    extra[customer] = companies[credited].to_numpy()
    if extra[customer].dtype != frame[customer].dtype and len(frame):
        try:
            extra[customer] = extra[customer].astype(frame[customer].dtype)
        except (TypeError, ValueError):
            raise FrameError(
                f"frame[{customer!r}]: company ids do not fit the column's dtype",
                column=customer,
                rows=first_rows(frame, credited),
                expected=f"company ids of dtype {frame[customer].dtype}",
            ) from None
    return pd.concat([frame, extra])
