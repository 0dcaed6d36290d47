"""A seeded, realistic synthetic customer base for the demo, docs and tests.

Deterministic for a given seed and ``as_of``; it never reads the clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import numpy as np
import pandas as pd

from crmkit.domain import (
    Activity,
    Channel,
    Complaint,
    ComplaintStatus,
    Consent,
    Contact,
    Customer,
    CustomerKind,
    Direction,
    Interaction,
    Membership,
    Purchase,
    Referral,
    ReferralStatus,
    Refund,
    SettlementMethod,
    Severity,
    SurveyResponse,
    SurveyScale,
)

__all__ = ["SyntheticBase", "synthetic_base", "synthetic_transactions"]

_GIVEN = [
    "Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Hao", "Xin", "Ling", "Jun", "Mei", "Tao",
    "Anna", "James", "Sofia", "Lucas", "Emma", "Noah", "Maria", "David", "Laura", "Omar",
]  # fmt: skip
_FAMILY = [
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu",
    "Smith", "Garcia", "Muller", "Rossi", "Kim", "Tanaka", "Silva", "Novak",
]  # fmt: skip
_COMPANIES = [
    "Huaxin Trading Co.", "Blue Harbour Logistics", "Jade Garden Catering",
    "Northwind Consulting", "Golden Sail Travel", "Pearl River Textiles",
]  # fmt: skip
_ROLES_STAFF = ["purchasing manager", "office manager", "sales director", "executive assistant"]
_INTERACTION_CHANNELS = [
    Channel.PHONE,
    Channel.SMS,
    Channel.EMAIL,
    Channel.SOCIAL,
    Channel.IN_PERSON,
]
_ROLES_FAMILY = ["spouse", "assistant", "parent", "child"]
_SETTLEMENT_INDIVIDUAL = (["cash", "prepaid", "on_time"], [0.55, 0.25, 0.20])
_SETTLEMENT_COMPANY = (["on_account", "on_time", "prepaid", "cash"], [0.50, 0.30, 0.12, 0.08])


@attrs.frozen
class SyntheticBase:
    """A generated customer base: customers, contacts and their activities."""

    customers: tuple[Customer, ...]
    contacts: tuple[Contact, ...]
    activities: tuple[Activity, ...]
    as_of: datetime

    def summary(self) -> dict[str, int]:
        """Counts of each kind of record."""
        counts: dict[str, int] = {
            "customers": len(self.customers),
            "companies": sum(c.kind == "company" for c in self.customers),
            "contacts": len(self.contacts),
        }
        for a in self.activities:
            counts[a.type_name + "s"] = counts.get(a.type_name + "s", 0) + 1
        return counts


def _ids(prefix: str) -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"{prefix}-{n:05d}"


def synthetic_base(
    *,
    seed: int = 7,
    as_of: datetime = datetime(2025, 12, 31, tzinfo=UTC),
    individuals: int = 60,
    companies: int = 4,
    months: int = 24,
) -> SyntheticBase:
    """Generate a realistic customer base.

    Individuals (some attached to companies as staff), company customers,
    contacts (staff of companies; family members or assistants of some
    individuals), and ``months`` of history before ``as_of``: purchases with
    settlement methods and hosted guests, refunds, complaints, referrals
    (referred customers join later), interactions and survey responses.

    >>> base = synthetic_base(seed=1, individuals=10, companies=1)
    >>> base == synthetic_base(seed=1, individuals=10, companies=1)   # deterministic
    True
    >>> base.summary()["companies"]
    1
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    start = as_of - timedelta(days=round(months * 30.44))
    cust_ids, contact_ids, act_ids = _ids("c"), _ids("k"), _ids("a")

    def when(after: datetime, before: datetime = as_of) -> datetime:
        seconds = max(int((before - after).total_seconds()), 1)
        return after + timedelta(seconds=rng.randrange(seconds))

    def person_name() -> str:
        return f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}"

    def email_of(name: str, domain: str) -> str:
        return name.lower().replace(" ", ".") + f"{rng.randrange(100)}@{domain}"

    customers: list[Customer] = []
    contacts: list[Contact] = []
    activities: list[Activity] = []

    company_list = []
    for i in range(companies):
        cid = next(cust_ids)
        name = _COMPANIES[i % len(_COMPANIES)]
        company_list.append(
            Customer(
                id=cid,
                name=name,
                kind=CustomerKind.COMPANY,
                created_at=when(start, start + timedelta(days=90)),
                spending_budget=Decimal(rng.choice([50_000, 120_000, 300_000])),
                share_of_wallet=round(rng.uniform(0.1, 0.6), 2),
                influence="none",
            )
        )
    customers.extend(company_list)

    for _ in range(individuals):
        cid = next(cust_ids)
        name = person_name()
        employer = rng.choice(company_list) if company_list and rng.random() < 0.3 else None
        created = when(start, as_of - timedelta(days=30))
        member = rng.random() < 0.4
        customers.append(
            Customer(
                id=cid,
                name=name,
                created_at=created,
                company_id=employer.id if employer else None,
                email=email_of(name, "example.com") if rng.random() < 0.8 else None,
                phone=f"+86 1{rng.randrange(30, 90)} {rng.randrange(1000, 9999)} "
                f"{rng.randrange(1000, 9999)}",
                spending_budget=Decimal(rng.choice([2_000, 5_000, 10_000, 30_000])),
                share_of_wallet=round(rng.uniform(0.05, 0.9), 2),
                influence=rng.choices(["none", "senior_position", "celebrity"], [85, 12, 3])[0],
                membership=Membership(since=when(created), tier=rng.choice(["silver", "gold"]))
                if member
                else None,
                consents=(
                    Consent(purpose="marketing", channel=Channel.EMAIL, granted=True, at=created),
                )
                if rng.random() < 0.6
                else (),
            )
        )

    # Contacts: staff for companies, family or an assistant for some individuals.
    for company in company_list:
        domain = company.name.split()[0].lower() + ".example.cn"
        for j in range(rng.randint(2, 3)):
            name = person_name()
            contacts.append(
                Contact(
                    id=next(contact_ids),
                    customer_id=company.id,
                    name=name,
                    role=_ROLES_STAFF[j % len(_ROLES_STAFF)],
                    primary=j == 0,
                    email=email_of(name, domain),
                )
            )
    for person in customers[companies:]:
        if rng.random() < 0.25:
            contacts.append(  # noqa: PERF401 - a loop with a random draw per item reads better
                Contact(
                    id=next(contact_ids),
                    customer_id=person.id,
                    name=person_name(),
                    role=rng.choice(_ROLES_FAMILY),
                    phone=f"+86 13{rng.randrange(10, 99)} {rng.randrange(1000, 9999)} "
                    f"{rng.randrange(1000, 9999)}",
                )
            )

    # Referrals: some individuals bring a new customer, who joins later.
    for referrer in rng.sample(customers[companies:], k=max(1, individuals // 10)):
        at = when(max(referrer.created_at, start), as_of - timedelta(days=60))
        name = person_name()
        newcomer = Customer(
            id=next(cust_ids),
            name=name,
            created_at=at + timedelta(days=rng.randint(1, 20)),
            email=email_of(name, "example.org"),
            spending_budget=Decimal(rng.choice([5_000, 10_000])),
            share_of_wallet=round(rng.uniform(0.2, 0.8), 2),
        )
        customers.append(newcomer)
        activities.append(
            Referral(
                id=next(act_ids),
                customer_id=referrer.id,
                occurred_at=at,
                referred_id=newcomer.id,
                channel=rng.choice(["word of mouth", "wechat", "email"]),
                status=ReferralStatus.CONVERTED,
            )
        )

    # Purchases: each customer has a buying rate; some stop buying (churn).
    everyone = [c.id for c in customers]
    for cust in customers:
        is_company = cust.kind == "company"
        rate = rng.gammavariate(2.0, 1.0) * (2.5 if is_company else 1.0)  # purchases / month
        churn_at = when(cust.created_at) if rng.random() < 0.25 else as_of
        methods, weights = _SETTLEMENT_COMPANY if is_company else _SETTLEMENT_INDIVIDUAL
        typical = rng.lognormvariate(5.5 if is_company else 4.2, 0.5)
        t = max(cust.created_at, start)
        while True:
            t += timedelta(days=rng.expovariate(max(rate, 0.05) / 30.44))
            if t >= churn_at:
                break
            amount = Decimal(str(round(typical * rng.lognormvariate(0, 0.4), 2)))
            guests: frozenset[str] = frozenset()
            if rng.random() < 0.08:
                guests = frozenset(
                    g for g in rng.sample(everyone, k=rng.randint(1, 3)) if g != cust.id
                )
            purchase = Purchase(
                id=next(act_ids),
                customer_id=cust.id,
                occurred_at=t,
                amount=amount,
                currency="CNY",
                settlement=SettlementMethod(rng.choices(methods, weights)[0]),
                guests=guests,
            )
            activities.append(purchase)
            if rng.random() < 0.03:
                activities.append(
                    Refund(
                        id=next(act_ids),
                        customer_id=cust.id,
                        occurred_at=when(t, min(t + timedelta(days=14), as_of)),
                        purchase_id=purchase.id,
                        amount=(amount * Decimal("0.5")).quantize(Decimal("0.01")),
                        currency="CNY",
                        reason="partial return",
                    )
                )
            if rng.random() < 0.04:
                severity = rng.choices(["low", "medium", "high", "critical"], [40, 35, 20, 5])[0]
                opened = when(t, min(t + timedelta(days=7), as_of))
                resolved = rng.random() < 0.7 and opened + timedelta(days=3) < as_of
                activities.append(
                    Complaint(
                        id=next(act_ids),
                        customer_id=cust.id,
                        occurred_at=opened,
                        severity=Severity(severity),
                        status=ComplaintStatus.RESOLVED if resolved else ComplaintStatus.OPEN,
                        resolved_at=opened + timedelta(days=rng.randint(1, 3))
                        if resolved
                        else None,
                        channel=rng.choice([Channel.CALL_CENTRE, Channel.EMAIL, Channel.IN_PERSON]),
                        topic=rng.choice(["late delivery", "billing", "service quality"]),
                    )
                )
            if rng.random() < 0.1:
                activities.append(
                    SurveyResponse(
                        id=next(act_ids),
                        customer_id=cust.id,
                        occurred_at=when(t, min(t + timedelta(days=5), as_of)),
                        scale=SurveyScale.NPS,
                        score=rng.choices(range(11), [1, 1, 1, 1, 2, 3, 4, 6, 8, 7, 5])[0],
                    )
                )
        for _ in range(rng.randint(0, 3)):
            activities.append(  # noqa: PERF401 - one random draw per item
                Interaction(
                    id=next(act_ids),
                    customer_id=cust.id,
                    occurred_at=when(max(cust.created_at, start)),
                    channel=rng.choice(_INTERACTION_CHANNELS),
                    direction=rng.choice(list(Direction)),
                )
            )
    activities.sort(key=lambda a: (a.occurred_at, a.id))
    return SyntheticBase(
        customers=tuple(customers),
        contacts=tuple(contacts),
        activities=tuple(activities),
        as_of=as_of,
    )


def synthetic_transactions(
    rows: int,
    customers: int,
    *,
    seed: int = 0,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
) -> pd.DataFrame:
    """A seeded transaction log as a DataFrame, generated with numpy (fast at 10M rows).

    Columns: ``customer_id`` (pandas ``str`` with Python storage), ``date`` (``datetime64``, naive = UTC),
    ``amount`` (float64, lognormal), ``settlement`` (one of the settlement
    methods). Customers differ in how often they buy (a skewed activity
    weight) and how much (a per-customer spend level); every customer has at
    least one row when ``rows >= customers``.

    >>> tx = synthetic_transactions(1_000, 100, seed=1)
    >>> tx.shape, tx["customer_id"].nunique()
    ((1000, 4), 100)
    """
    rng = np.random.default_rng(seed)
    weight = rng.gamma(0.8, 1.0, customers)
    weight /= weight.sum()
    extra = max(rows - customers, 0)
    cust = np.concatenate(
        [np.arange(min(rows, customers)), rng.choice(customers, size=extra, p=weight)]
    )
    rng.shuffle(cust)
    lo = np.datetime64(start, "s").astype(np.int64)
    hi = np.datetime64(end, "s").astype(np.int64) + 86_399
    seconds = rng.integers(lo, hi, size=rows)
    level = rng.lognormal(3.5, 0.6, customers)
    amount = np.round(level[cust] * rng.lognormal(0.0, 0.5, rows), 2)
    methods = np.array(["prepaid", "cash", "on_time", "on_account"], dtype=object)
    settlement = methods[rng.choice(4, size=rows, p=[0.2, 0.45, 0.2, 0.15])]
    ids = np.char.add("c", np.char.zfill(np.arange(customers).astype(str), 7)).astype(object)
    # Python-backed strings whatever is installed (pandas 3 picks Arrow storage when pyarrow
    # is), with repeated ids sharing one object, as read_csv gives them.
    text = pd.StringDtype("python")
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids[cust], dtype=text),
            "date": seconds.astype("datetime64[s]").astype("datetime64[ns]"),
            "amount": amount,
            "settlement": pd.array(settlement, dtype=text),
        }
    )
