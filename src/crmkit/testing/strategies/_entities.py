"""Entities: consents, memberships, customers, contacts, and any record crmkit persists."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

from crmkit.domain import (
    Channel,
    Consent,
    Contact,
    Customer,
    CustomerKind,
    FrozenDict,
    Membership,
    Record,
)
from crmkit.testing.strategies._activities import activities
from crmkit.testing.strategies._basics import (
    amounts,
    aware_datetimes,
    emails,
    ids,
    names,
    phones,
    texts,
)
from crmkit.testing.strategies._share import _shared

# ================================================================ entities


@_shared
def consents() -> st.SearchStrategy[Consent]:
    """Consent records for any purpose and channel."""
    return st.builds(
        Consent,
        purpose=st.sampled_from(["marketing", "service", "profiling"]) | texts(max_size=20),
        channel=st.sampled_from(Channel),
        granted=st.booleans(),
        at=aware_datetimes(),
        source=st.none() | texts(),
    )


@_shared
def memberships() -> st.SearchStrategy[Membership]:
    """Loyalty-programme enrolments."""
    return st.builds(
        Membership,
        since=aware_datetimes(),
        tier=st.sampled_from(["bronze", "silver", "gold"]) | texts(max_size=20),
    )


_ATTRIBUTE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    texts(max_size=20),
)


@_shared
@st.composite
def customers(
    draw: st.DrawFn,
    *,
    customer_id: st.SearchStrategy[str] | None = None,
    kind: st.SearchStrategy[CustomerKind] | None = None,
) -> Customer:
    """Customers of either kind, with every optional field sometimes set.

    Individuals sometimes belong to a company (``company_id``), never to themselves.
    """
    cid = draw(customer_id if customer_id is not None else ids(prefix="c-"))
    chosen = draw(kind if kind is not None else st.sampled_from(CustomerKind))
    company_id = None
    if chosen is CustomerKind.INDIVIDUAL:
        company_id = draw(st.none() | ids(prefix="co-").filter(lambda c: c != cid))
    return Customer(
        id=cid,
        name=draw(names()),
        created_at=draw(aware_datetimes()),
        kind=chosen,
        company_id=company_id,
        email=draw(st.none() | emails()),
        phone=draw(st.none() | phones()),
        spending_budget=draw(st.none() | amounts()),
        share_of_wallet=draw(st.none() | st.floats(0.0, 1.0)),
        influence=draw(st.sampled_from(["none", "senior_position", "celebrity"])),
        membership=draw(st.none() | memberships()),
        consents=tuple(draw(st.lists(consents(), max_size=2))),
        attributes=FrozenDict(
            draw(st.dictionaries(texts(max_size=12), _ATTRIBUTE_VALUES, max_size=4))
        ),
        version=draw(st.integers(0, 5)),
    )


@_shared
def contacts(*, customer_id: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Contact]:
    """Contacts, with every optional field sometimes set."""
    return st.builds(
        Contact,
        id=ids(prefix="k-"),
        customer_id=customer_id if customer_id is not None else ids(prefix="c-"),
        name=names(),
        role=st.sampled_from(["purchasing manager", "spouse", "assistant"]) | texts(max_size=30),
        primary=st.booleans(),
        email=st.none() | emails(),
        phone=st.none() | phones(),
        birthday=st.none() | aware_datetimes(min_value=datetime(1930, 1, 1)),
        consents=st.lists(consents(), max_size=2).map(tuple),
        version=st.integers(0, 5),
    )


# ================================================================ any record


@_shared
def records() -> st.SearchStrategy[Record]:
    """Any record crmkit persists: customers, contacts, consents, memberships, activities."""
    return st.one_of(customers(), contacts(), consents(), memberships(), activities())
