"""Activities: purchases, refunds, complaints, referrals, interactions, survey responses, logs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import strategies as st

from crmkit.domain import (
    Activity,
    Channel,
    Complaint,
    ComplaintStatus,
    Direction,
    Interaction,
    Purchase,
    Referral,
    ReferralStatus,
    Refund,
    SettlementMethod,
    Severity,
    SurveyResponse,
    SurveyScale,
)
from crmkit.testing.strategies._basics import amounts, aware_datetimes, currencies, ids, texts
from crmkit.testing.strategies._share import _shared

# ================================================================ activities
# Each takes optional strategies for the common fields, so that a test can make
# activities share customers and instants (ties in time test the ordering by id).


def _common(
    prefix: str,
    activity_id: st.SearchStrategy[str] | None,
    customer_id: st.SearchStrategy[str] | None,
    occurred_at: st.SearchStrategy[datetime] | None,
) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "id": activity_id if activity_id is not None else ids(prefix=prefix),
        "customer_id": customer_id if customer_id is not None else ids(prefix="c-"),
        "occurred_at": occurred_at if occurred_at is not None else aware_datetimes(),
    }


@_shared
@st.composite
def purchases(
    draw: st.DrawFn,
    *,
    activity_id: st.SearchStrategy[str] | None = None,
    customer_id: st.SearchStrategy[str] | None = None,
    occurred_at: st.SearchStrategy[datetime] | None = None,
) -> Purchase:
    """Purchases, sometimes settled in a recorded way and hosting guests."""
    common = {k: draw(v) for k, v in _common("p-", activity_id, customer_id, occurred_at).items()}
    guests = draw(st.frozensets(ids(prefix="c-"), max_size=3))
    return Purchase(
        **common,
        amount=draw(amounts()),
        currency=draw(currencies()),
        settlement=draw(st.none() | st.sampled_from(SettlementMethod)),
        guests=guests - {common["customer_id"]},
    )


@_shared
def refunds(
    *,
    activity_id: st.SearchStrategy[str] | None = None,
    customer_id: st.SearchStrategy[str] | None = None,
    occurred_at: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[Refund]:
    """Refunds on their own (their purchase is not generated: for codec tests).

    For refunds that a repository accepts, use :func:`activity_logs`.
    """
    return st.builds(
        Refund,
        **_common("r-", activity_id, customer_id, occurred_at),
        purchase_id=ids(prefix="p-"),
        amount=amounts(min_value=Decimal("0.01")),
        currency=currencies(),
        reason=st.none() | texts(),
    )


@_shared
@st.composite
def complaints(
    draw: st.DrawFn,
    *,
    activity_id: st.SearchStrategy[str] | None = None,
    customer_id: st.SearchStrategy[str] | None = None,
    occurred_at: st.SearchStrategy[datetime] | None = None,
) -> Complaint:
    """Complaints in every status; resolved and closed ones carry a later ``resolved_at``."""
    common = {k: draw(v) for k, v in _common("x-", activity_id, customer_id, occurred_at).items()}
    status = draw(st.sampled_from(ComplaintStatus))
    resolved_at = None
    if status in (ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED):
        delay = draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)))
        resolved_at = common["occurred_at"] + delay
    return Complaint(
        **common,
        severity=draw(st.sampled_from(Severity)),
        status=status,
        resolved_at=resolved_at,
        channel=draw(st.none() | st.sampled_from(Channel)),
        topic=draw(st.none() | texts()),
    )


@_shared
@st.composite
def referrals(
    draw: st.DrawFn,
    *,
    activity_id: st.SearchStrategy[str] | None = None,
    customer_id: st.SearchStrategy[str] | None = None,
    occurred_at: st.SearchStrategy[datetime] | None = None,
) -> Referral:
    """Referrals of another customer (never the referrer)."""
    common = {k: draw(v) for k, v in _common("f-", activity_id, customer_id, occurred_at).items()}
    referred = draw(ids(prefix="c-").filter(lambda r: r != common["customer_id"]))
    return Referral(
        **common,
        referred_id=referred,
        channel=draw(st.none() | texts(max_size=20)),
        status=draw(st.sampled_from(ReferralStatus)),
    )


@_shared
def interactions(
    *,
    activity_id: st.SearchStrategy[str] | None = None,
    customer_id: st.SearchStrategy[str] | None = None,
    occurred_at: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[Interaction]:
    """Interactions over every channel, both directions."""
    return st.builds(
        Interaction,
        **_common("i-", activity_id, customer_id, occurred_at),
        channel=st.sampled_from(Channel),
        direction=st.sampled_from(Direction),
        contact_id=st.none() | ids(prefix="k-"),
        topic=st.none() | texts(),
    )


@_shared
@st.composite
def survey_responses(
    draw: st.DrawFn,
    *,
    activity_id: st.SearchStrategy[str] | None = None,
    customer_id: st.SearchStrategy[str] | None = None,
    occurred_at: st.SearchStrategy[datetime] | None = None,
) -> SurveyResponse:
    """Survey responses on both scales, scores anywhere in the scale's range."""
    common = {k: draw(v) for k, v in _common("s-", activity_id, customer_id, occurred_at).items()}
    scale = draw(st.sampled_from(SurveyScale))
    low, high = scale.bounds
    return SurveyResponse(
        **common,
        scale=scale,
        score=draw(st.integers(low, high)),
        comment=draw(st.none() | texts()),
    )


def _non_refunds(
    activity_id: st.SearchStrategy[str] | None = None,
    customer_id: st.SearchStrategy[str] | None = None,
    occurred_at: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[Activity]:
    return st.one_of(
        purchases(activity_id=activity_id, customer_id=customer_id, occurred_at=occurred_at),
        complaints(activity_id=activity_id, customer_id=customer_id, occurred_at=occurred_at),
        referrals(activity_id=activity_id, customer_id=customer_id, occurred_at=occurred_at),
        interactions(activity_id=activity_id, customer_id=customer_id, occurred_at=occurred_at),
        survey_responses(activity_id=activity_id, customer_id=customer_id, occurred_at=occurred_at),
    )


@_shared
def activities(
    *,
    activity_id: st.SearchStrategy[str] | None = None,
    customer_id: st.SearchStrategy[str] | None = None,
    occurred_at: st.SearchStrategy[datetime] | None = None,
) -> st.SearchStrategy[Activity]:
    """Any one activity, every type included (refunds on their own, see :func:`refunds`)."""
    return st.one_of(
        _non_refunds(activity_id, customer_id, occurred_at),
        refunds(activity_id=activity_id, customer_id=customer_id, occurred_at=occurred_at),
    )


@st.composite
def activity_logs(
    draw: st.DrawFn,
    *,
    min_size: int = 0,
    max_size: int = 12,
    customer_ids: Sequence[str] | None = None,
    instants: Sequence[datetime] | None = None,
) -> list[Activity]:
    """A list of activities that a repository accepts, in an order it accepts them.

    Every type appears; ids are unique; refunds follow their purchase, belong to
    its customer and currency, are not earlier, and never exceed what is left.
    Activities share a few customers and a few instants, so that ranges and
    ties in time (ordered by id) are exercised. Shrinks towards short logs.

    *min_size* and *max_size* bound the number of activities before refunds
    are added; *customer_ids* are the customers to spread them over and
    *instants* the times to draw ``occurred_at`` from (both drawn if ``None``).
    """
    if customer_ids is None:
        customer_ids = draw(st.lists(ids(prefix="c-"), min_size=1, max_size=3, unique=True))
    if instants is None:
        instants = draw(st.lists(aware_datetimes(), min_size=1, max_size=5))
    one = _non_refunds(
        customer_id=st.sampled_from(list(customer_ids)),
        occurred_at=st.sampled_from(list(instants)),
    )
    log = draw(st.lists(one, min_size=min_size, max_size=max_size))
    # Refunds, each with the index in *log* of the purchase it refunds.
    refunds_: list[tuple[int, Refund]] = []
    for index, purchase in enumerate(log):
        if not isinstance(purchase, Purchase):
            continue
        left = purchase.amount
        later = [t for t in instants if t >= purchase.occurred_at] or [purchase.occurred_at]
        for _ in range(draw(st.integers(0, 2))):
            if left < Decimal("0.01"):
                break
            amount = draw(
                st.just(left)  # the exact remainder: refunding in full is allowed
                | st.decimals(min_value=Decimal("0.01"), max_value=left, places=2)
            )
            left -= amount
            refund = Refund(
                id="r",  # replaced below
                customer_id=purchase.customer_id,
                occurred_at=draw(st.sampled_from(later)),
                purchase_id=purchase.id,
                amount=amount,
                currency=purchase.currency,
                reason=draw(st.none() | texts()),
            )
            refunds_.append((index, refund))
    # Unique ids for everything, refunds pointing at their purchase's new id.
    total = len(log) + len(refunds_)
    fresh = draw(st.lists(ids(), min_size=total, max_size=total, unique=True))
    out: list[Activity] = [attrs.evolve(a, id=i) for a, i in zip(log, fresh, strict=False)]
    for (index, refund), new_id in zip(refunds_, fresh[len(log) :], strict=True):
        out.append(attrs.evolve(refund, id=new_id, purchase_id=fresh[index]))
    return out
