"""Customer bases to merge: duplicates with staff, guests, referrals, refunds and expiring points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
from hypothesis import strategies as st

from crmkit.domain import Activity, Customer, CustomerKind, Purchase, Referral, Refund

__all__ = ["MergeBase", "merge_bases"]

_START = datetime(2025, 1, 1, tzinfo=UTC)


@attrs.frozen(kw_only=True)
class MergeBase:
    """A customer base with groups of duplicates to merge (drawn by :func:`merge_bases`).

    Attributes:
        customers: companies (``co-*``) and individuals (``c-*``), some staff
            of a company.
        activities: purchases (some with guests, some refunded), their
            refunds and referrals, in an order a repository accepts.
        awards: points earned, as ``(customer id, points, at, expires_at)``
            (``expires_at`` ``None``: never).
        redemptions: points spent before the merge, as ``(customer id, points, at)``.
        groups: disjoint groups of duplicates (two or three ids each).
        merge_at: when the groups are merged (after every activity and award).
        undo_at: when the merges are undone (at or after *merge_at*).
    """

    customers: tuple[Customer, ...]
    activities: tuple[Activity, ...]
    awards: tuple[tuple[str, int, datetime, datetime | None], ...]
    redemptions: tuple[tuple[str, int, datetime], ...]
    groups: tuple[tuple[str, ...], ...]
    merge_at: datetime
    undo_at: datetime


@st.composite
def merge_bases(draw: st.DrawFn, *, max_customers: int = 8) -> MergeBase:
    """Customer bases to merge and unmerge, with every kind of reference a merge must keep.

    Companies and individuals (individuals sometimes staff of a company);
    purchases that host other customers as guests, some refunded in part;
    referrals between customers; points earned with and without an expiry,
    some spent. Expiries fall before the merge, between the merge and the
    undo, and after both, so that lots lapse at every stage. Groups of
    duplicates mix companies with companies and individuals with individuals,
    and the survivor and the duplicates reference each other (guests,
    referrals, staff) as often as third parties do.
    """
    n_companies = draw(st.integers(1, 3))
    n_people = draw(st.integers(2, max(2, max_customers - n_companies)))
    company_ids = [f"co-{i}" for i in range(n_companies)]
    people_ids = [f"c-{i}" for i in range(n_people)]
    everyone = [*company_ids, *people_ids]

    def day(lo: int, hi: int) -> datetime:
        return _START + timedelta(days=draw(st.integers(lo, hi)))

    customers: list[Customer] = [
        Customer(id=cid, name=f"Firm {cid}", created_at=day(0, 30), kind=CustomerKind.COMPANY)
        for cid in company_ids
    ]
    customers.extend(
        Customer(
            id=cid,
            name=f"Person {cid}",
            created_at=day(0, 30),
            company_id=draw(st.none() | st.sampled_from(company_ids)),
            email=draw(st.none() | st.just(f"{cid}@example.com")),
        )
        for cid in people_ids
    )

    activities: list[Activity] = []
    for i in range(draw(st.integers(0, 8))):
        payer = draw(st.sampled_from(everyone))
        guests = draw(st.frozensets(st.sampled_from(everyone), max_size=3)) - {payer}
        amount = Decimal(draw(st.integers(1, 500)))
        at = day(31, 60)
        purchase = Purchase(
            id=f"p-{i}",
            customer_id=payer,
            occurred_at=at,
            amount=amount,
            currency="EUR",
            guests=guests,
        )
        activities.append(purchase)
        if draw(st.booleans()):
            activities.append(
                Refund(
                    id=f"r-{i}",
                    customer_id=payer,
                    occurred_at=at + timedelta(days=1),
                    purchase_id=purchase.id,
                    amount=Decimal(draw(st.integers(1, int(amount)))),
                    currency="EUR",
                )
            )
    for i in range(draw(st.integers(0, 4))):
        referrer = draw(st.sampled_from(everyone))
        referred = draw(st.sampled_from([c for c in everyone if c != referrer]))
        activities.append(
            Referral(
                id=f"f-{i}", customer_id=referrer, occurred_at=day(31, 60), referred_id=referred
            )
        )

    merge_at = _START + timedelta(days=90)
    undo_at = merge_at + timedelta(days=draw(st.sampled_from([0, 1, 30, 60])))
    awards = []
    for _ in range(draw(st.integers(0, 10))):
        expires = draw(st.none() | st.integers(70, 200))
        awards.append(
            (
                draw(st.sampled_from(everyone)),
                draw(st.integers(1, 300)),
                day(31, 60),
                None if expires is None else _START + timedelta(days=expires),
            )
        )
    redemptions = [
        (draw(st.sampled_from(everyone)), draw(st.integers(1, 100)), day(61, 65))
        for _ in range(draw(st.integers(0, 2)))
    ]

    pool = draw(st.permutations(everyone))
    groups: list[tuple[str, ...]] = []
    companies = [c for c in pool if c in company_ids]
    people = [c for c in pool if c in people_ids]
    for kind_pool in (companies, people):
        while len(kind_pool) >= 2 and draw(st.booleans()):
            size = min(len(kind_pool), draw(st.integers(2, 3)))
            groups.append(tuple(kind_pool[:size]))
            del kind_pool[:size]
    if not groups:
        groups.append(tuple(people[:2]))
    return MergeBase(
        customers=tuple(customers),
        activities=tuple(activities),
        awards=tuple(awards),
        redemptions=tuple(redemptions),
        groups=tuple(groups),
        merge_at=merge_at,
        undo_at=undo_at,
    )
