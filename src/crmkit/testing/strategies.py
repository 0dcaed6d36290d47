"""Hypothesis strategies for crmkit's data: the one module of them for the whole project.

crmkit's own tests draw from here, and so can a host's: every strategy
returns valid values (entities that construct without error), spread over the
edges that matter (unicode ids and names, zones other than UTC, microseconds,
Decimal scales, optional fields left out).

The module is organised in sections; add new strategies to the section they
belong to, or add a section at the end.

>>> from hypothesis import given
>>> from crmkit.testing import strategies as cks
>>> @given(cks.customers())
... def test_name_is_trimmed(customer):
...     assert customer.name == customer.name.strip()
>>> test_name_is_trimmed()
"""

from __future__ import annotations

import calendar
import functools
import keyword
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, Final, Literal, NamedTuple, ParamSpec, TypeVar, cast

import attrs
import pandas as pd
from hypothesis import strategies as st

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
    FrozenDict,
    Interaction,
    Membership,
    Purchase,
    Record,
    Referral,
    ReferralStatus,
    Refund,
    SettlementMethod,
    Severity,
    SurveyResponse,
    SurveyScale,
)
from crmkit.expr import Table
from crmkit.lifecycle import LifecycleTransition

__all__ = [
    "FeatureHistory",
    "activities",
    "activity_logs",
    "amounts",
    "aware_datetimes",
    "column_names",
    "complaints",
    "consents",
    "contacts",
    "currencies",
    "customers",
    "e164_phones",
    "earning_frames",
    "earning_rule_configs",
    "emails",
    "feature_histories",
    "formula_frames",
    "formula_names",
    "formula_schemas",
    "formula_tables",
    "formula_values",
    "formulas",
    "ids",
    "interactions",
    "lifecycle_configs",
    "lifecycle_transitions",
    "memberships",
    "names",
    "phones",
    "purchases",
    "records",
    "referrals",
    "refunds",
    "segment_frames",
    "segment_labels",
    "segment_rule_configs",
    "survey_responses",
    "texts",
    "timezones",
    "transaction_frames",
    "value_frames",
    "value_model_configs",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _shared(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Build a strategy once per distinct arguments, then hand out the same object.

    Hypothesis validates every new strategy object on its first draw, which
    costs more than drawing; composites that build their parts on every draw
    would pay it every time. Strategies are immutable, so sharing is safe.
    """
    return cast("Callable[_P, _R]", functools.cache(fn))


# ================================================================ identifiers and text

# Ids: any character UTF-8 can encode except control characters (Cc, which includes
# U+0000, refused by PostgreSQL text), lone surrogates (Cs, not encodable) and white space
# (Zs, Zl, Zp: ids are trimmed tokens). Letters, digits, marks, symbols, punctuation,
# private-use and unassigned code points all appear, so bytewise ordering is exercised.
_ID_ALPHABET = st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"])


@_shared
def ids(*, prefix: str = "") -> st.SearchStrategy[str]:
    """Identifiers as hosts use them: ``c-000042`` style, UUID text, and arbitrary unicode.

    Arbitrary ids exercise ordering: every store must order ids by code point,
    as Python does (in SQL: a bytewise collation over UTF-8, e.g. ``COLLATE "C"``).
    Their characters: anything UTF-8 encodes except control characters (so
    never U+0000, which PostgreSQL ``text`` refuses), lone surrogates and
    white space.
    """
    plain = st.integers(0, 999_999).map(lambda n: f"{n:06d}")
    uuids = st.uuids().map(str)
    arbitrary = st.text(_ID_ALPHABET, min_size=1, max_size=12)
    return st.one_of(plain, uuids, arbitrary).map(lambda s: prefix + s)


# Free text: every character UTF-8 can encode (controls, tabs, newlines, emoji, unassigned
# code points) except lone surrogates (Cs, not encodable) and U+0000, which no database
# text type is required to hold (PostgreSQL text and jsonb refuse it) and no real name or
# note contains. Stores must keep everything else exactly.
_TEXT_ALPHABET = st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00")


@_shared
def texts(*, max_size: int = 40) -> st.SearchStrategy[str]:
    """Free text that crmkit accepts (something besides white space), already normalised.

    Normalised means white space runs collapsed to one space and trimmed, as
    the entities store it, so a generated value equals its stored form. The
    characters: everything UTF-8 encodes, control characters included, except
    lone surrogates and U+0000 (which PostgreSQL ``text`` and ``jsonb`` refuse).
    """
    return (
        st.text(_TEXT_ALPHABET, min_size=1, max_size=max_size)
        .map(lambda s: " ".join(s.split()))
        .filter(bool)
    )


_GIVEN = ["Ann", "Bo", "Chen", "Dana", "Émile", "Fatima", "Giulia", "Hiroshi", "李", "Ольга"]
_FAMILY = ["Lee", "Wang", "O'Brien", "Müller", "García", "Nakamura", "张", "Иванова", "Smith"]


@_shared
def names() -> st.SearchStrategy[str]:
    """Names of people and companies: realistic ones and arbitrary unicode text."""
    realistic = st.builds(
        lambda g, f: f"{g} {f}", st.sampled_from(_GIVEN), st.sampled_from(_FAMILY)
    )
    return st.one_of(realistic, texts())


# ================================================================ time


@_shared
def timezones() -> st.SearchStrategy[tzinfo]:
    """UTC, and fixed offsets from -12:00 to +14:00 in quarter hours (no tz database needed)."""
    offsets = st.integers(-12 * 4, 14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
    return st.one_of(st.just(UTC), offsets)


@_shared
def aware_datetimes(
    *,
    min_value: datetime = datetime(1990, 1, 1),
    max_value: datetime = datetime(2060, 12, 31),
    zones: st.SearchStrategy[tzinfo] | None = None,
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes (with microseconds) in UTC and other zones.

    *min_value* and *max_value* are naive wall-clock bounds, as in
    :func:`hypothesis.strategies.datetimes`.
    """
    return st.datetimes(
        min_value=min_value,
        max_value=max_value,
        timezones=timezones() if zones is None else zones,
    )


# ================================================================ money


@_shared
def amounts(
    *,
    min_value: Decimal | int = 0,
    max_value: Decimal | int = 1_000_000,
    places: int | None = None,
) -> st.SearchStrategy[Decimal]:
    """Non-negative Decimal amounts with realistic scales (0 to 4 places unless *places*).

    The scale is part of the value: ``Decimal("12.50")`` must come back as
    ``12.50``, not ``12.5``.
    """
    scales = st.just(places) if places is not None else st.integers(0, 4)
    return scales.flatmap(
        lambda p: st.decimals(
            min_value=min_value,
            max_value=max_value,
            places=p,
            allow_nan=False,
            allow_infinity=False,
        )
    )


@_shared
def currencies() -> st.SearchStrategy[str]:
    """ISO 4217 currency codes (a few common ones)."""
    return st.sampled_from(["CNY", "EUR", "USD", "GBP", "JPY", "HKD"])


# ================================================================ personal data


_LOWER = "abcdefghijklmnopqrstuvwxyz"
_LABEL = st.builds(
    lambda head, middle: head + middle,
    st.text(_LOWER + "0123456789", min_size=1, max_size=8),
    st.sampled_from(["", "-mail", "-1"]),
)


@_shared
@st.composite
def emails(draw: st.DrawFn) -> str:
    """Email addresses crmkit accepts, already normalised (lower case)."""
    local = draw(st.text(_LOWER + "0123456789._%+-", min_size=1, max_size=16))
    labels = draw(st.lists(_LABEL, min_size=1, max_size=2))
    tld = draw(st.text(_LOWER, min_size=2, max_size=6))
    return f"{local}@{'.'.join(labels)}.{tld}"


@_shared
@st.composite
def phones(draw: st.DrawFn) -> str:
    """Phone numbers crmkit accepts, already normalised (digits, optional leading ``+``)."""
    digits = draw(st.text("0123456789", min_size=5, max_size=15))
    plus = draw(st.booleans()) and not digits.startswith("00")
    if not plus and digits.startswith("00"):
        digits = "1" + digits[1:]  # a leading 00 would be normalised to +
    return ("+" if plus else "") + digits


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


# ================================================================ any record


@_shared
def records() -> st.SearchStrategy[Record]:
    """Any record crmkit persists: customers, contacts, consents, memberships, activities."""
    return st.one_of(customers(), contacts(), consents(), memberships(), activities())


# ================================================================ transaction frames
# Frames and activity histories for crmkit.scoring (features, features_one).
# Tests draw the column names too: nothing may assume "id" or "date".

_FEATURE_ARGUMENTS = (
    "customer",
    "date",
    "amount",
    "settlement",
    "severity",
    "channel",
    "score",
    "scale",
)
_COLUMN_NAMES = st.one_of(
    st.sampled_from(
        ["id", "date", "customer_id", "occurred_at", "amount", "when", "Kunde", "金额"]
    ),
    texts(max_size=12),
)


@_shared
def column_names(*arguments: str) -> st.SearchStrategy[dict[str, str]]:
    """Distinct column names keyed by the argument of ``features`` that names them.

    With no *arguments*: ``customer``, ``date``, ``amount``, ``settlement``,
    ``severity``, ``channel``, ``score`` and ``scale``. Names include the
    usual ones (``"id"``, ``"date"``...) in the wrong places, and unicode.
    """
    keys = arguments or _FEATURE_ARGUMENTS
    return st.lists(_COLUMN_NAMES, min_size=len(keys), max_size=len(keys), unique=True).map(
        lambda names: dict(zip(keys, names, strict=True))
    )


def _add_months(when: datetime, months: int) -> datetime:
    index = when.year * 12 + when.month - 1 + months
    year, month0 = divmod(index, 12)
    day = min(when.day, calendar.monthrange(year, month0 + 1)[1])
    return when.replace(year=year, month=month0 + 1, day=day)


class FeatureHistory(NamedTuple):
    """An ``as_of`` (aware, UTC) and a log of activities around it."""

    as_of: datetime
    activities: list[Activity]


@st.composite
def _edge_instants(draw: st.DrawFn, as_of: datetime) -> list[datetime]:
    """Times on the edges of the features' definitions, in assorted zones."""
    tiny = timedelta(microseconds=1)
    midnight = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    edges = [as_of, as_of - tiny, as_of + tiny, midnight, midnight - tiny]
    edges.append(midnight + timedelta(days=1) - tiny)
    for months in (3, 6):
        start = _add_months(as_of, -months)
        edges += [start, start - tiny, start + tiny]
    chosen = draw(st.lists(st.sampled_from(edges), max_size=5, unique=True))
    back = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=900))
    chosen += [as_of - d for d in draw(st.lists(back, min_size=1, max_size=4))]
    zones = draw(st.lists(timezones(), min_size=len(chosen), max_size=len(chosen)))
    return [t.astimezone(z) for t, z in zip(chosen, zones, strict=True)]


@_shared
@st.composite
def feature_histories(
    draw: st.DrawFn, *, max_customers: int = 4, max_size: int = 16
) -> FeatureHistory:
    """Activity logs (as :func:`activity_logs`) for comparing ``features`` with ``features_one``.

    Activity times cluster where the definitions have edges: at ``as_of`` and
    a microsecond either side, at the starts of the 3- and 6-month windows,
    at both ends of ``as_of``'s UTC day, and elsewhere in the 900 days
    before; several activities share instants and days. ``as_of`` is
    sometimes midnight UTC (what a date means).
    """
    as_of = draw(
        aware_datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), zones=st.just(UTC)
        )
    )
    if draw(st.booleans()):
        as_of = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    instants = draw(_edge_instants(as_of))
    customer_ids = draw(st.lists(ids(prefix="c-"), min_size=1, max_size=max_customers, unique=True))
    log = draw(activity_logs(customer_ids=customer_ids, instants=instants, max_size=max_size))
    return FeatureHistory(as_of=as_of, activities=log)


_Unit = Literal["s", "ms", "us", "ns"]
_UNITS: dict[_Unit, int] = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}  # microseconds per step


@_shared
@st.composite
def transaction_frames(
    draw: st.DrawFn,
    *,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    settlement: str | None = "settlement",
    min_rows: int = 0,
    max_rows: int = 30,
) -> pd.DataFrame:
    """Transaction frames as hosts hand them to ``features``, in every accepted representation.

    Customer ids are text, integers or categorical; dates are naive
    ``datetime64`` (UTC) at a resolution of s, ms, us or ns, aware in a
    non-UTC zone, or ISO 8601 text (all naive or all with offsets); amounts
    are float or integer; settlement methods are ``SettlementMethod`` values
    with some missing. Row labels are arbitrary integers, not 0..n-1.
    """
    rows = draw(st.integers(min_rows, max_rows))
    id_kind = draw(st.sampled_from(["text", "int", "category"]))
    pool_size = draw(st.integers(1, 5))
    if id_kind == "int":
        pool: list[Any] = draw(
            st.lists(
                st.integers(-(10**9), 10**9), min_size=pool_size, max_size=pool_size, unique=True
            )
        )
    else:
        pool = draw(st.lists(ids(), min_size=pool_size, max_size=pool_size, unique=True))
    who = draw(st.lists(st.sampled_from(pool), min_size=rows, max_size=rows))
    unit = draw(st.sampled_from(list(_UNITS)))
    step = _UNITS[unit]
    walls = draw(
        st.lists(
            st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)),
            min_size=rows,
            max_size=rows,
        )
    )
    walls = [w.replace(microsecond=w.microsecond // step * step) for w in walls]
    stamps = pd.Series(pd.DatetimeIndex(walls).as_unit(unit))
    form = draw(st.sampled_from(["naive", "aware", "text", "zoned text"]))
    zone = draw(timezones())
    dates: pd.Series[Any]
    if form == "naive":
        dates = stamps
    elif form == "aware":
        dates = stamps.dt.tz_localize(UTC).dt.tz_convert(zone)
    elif form == "text":
        dates = pd.Series(
            [w.isoformat(sep=draw(st.sampled_from("T "))) for w in walls], dtype=object
        )
    else:
        dates = pd.Series(
            [w.replace(tzinfo=UTC).astimezone(zone).isoformat() for w in walls], dtype=object
        )
    paid = draw(st.lists(st.integers(0, 10**6), min_size=rows, max_size=rows))
    columns: dict[str, Any] = {
        customer: pd.Series(who, dtype="category" if id_kind == "category" else None),
        date: dates.reset_index(drop=True),
        amount: pd.Series(paid, dtype="int64")
        if draw(st.booleans())
        else pd.Series([p / 100 for p in paid], dtype="float64"),
    }
    if settlement is not None:
        methods = st.none() | st.sampled_from([m.value for m in SettlementMethod])
        columns[settlement] = pd.Series(
            draw(st.lists(methods, min_size=rows, max_size=rows)), dtype=object
        )
    labels = draw(st.lists(st.integers(-(10**6), 10**6), min_size=rows, max_size=rows, unique=True))
    frame = pd.DataFrame(columns)
    frame.index = pd.Index(labels, dtype="int64")
    return frame


# ================================================================ value models
# Frames of features and profile attributes, and value-model configurations over
# them, for crmkit.scoring.ValueModel (score vs score_one, round-trips).

_VALUE_INPUTS = (
    "total_spend",
    "monthly_frequency",
    "monthly_avg_spend",
    "tenure_months",
    "settlement_share_prepaid",
    "spending_budget",
    "share_of_wallet",
)
_INFLUENCE_LABELS = ("none", "senior_position", "celebrity", "unknown-label")


def _feature_numbers() -> st.SearchStrategy[float]:
    edges = st.sampled_from([0.0, -0.0, 1.0, -1.0, float("nan"), float("inf"), float("-inf")])
    return edges | st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-1000, 1000).map(float)


@st.composite
def value_frames(draw: st.DrawFn, *, max_rows: int = 12) -> pd.DataFrame:
    """A frame with every column value models in these strategies read.

    Numbers include NaN (null), zeros, infinities and negatives; ``influence``
    includes nulls and labels no table knows. The index is unique strings.
    """
    rows = draw(st.integers(0, max_rows))
    columns: dict[str, Any] = {
        name: pd.Series(
            draw(st.lists(_feature_numbers(), min_size=rows, max_size=rows)), dtype="float64"
        )
        for name in _VALUE_INPUTS
    }
    columns["influence"] = pd.Series(
        draw(
            st.lists(st.none() | st.sampled_from(_INFLUENCE_LABELS), min_size=rows, max_size=rows)
        ),
        dtype=object,
    )
    frame = pd.DataFrame(columns)
    frame.index = pd.Index([f"c{i}" for i in range(rows)], name="customer_id")
    return frame


_COMPONENT_FORMULAS = (
    "total_spend",
    "monthly_frequency * 2 + monthly_avg_spend",
    "tenure_months if tenure_months > 0 else 0",
    "coalesce(settlement_share_prepaid, 0) * rate['prepaid'] * total_spend",
    "points[influence]",
    "(40 if spending_budget >= 100000 else 10) * (1 - coalesce(share_of_wallet, 0.5))",
    "max(total_spend, monthly_avg_spend) / tenure_months",
    "log1p(abs(total_spend))",
)


@st.composite
def value_model_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid value-model configuration (the dict/TOML layout) over :func:`value_frames`."""
    finite = st.floats(-100, 100, allow_nan=False) | st.integers(-5, 5).map(float)
    picked = draw(
        st.lists(st.sampled_from(_COMPONENT_FORMULAS), min_size=1, max_size=5, unique=True)
    )
    components: dict[str, Any] = {}
    for i, formula in enumerate(picked):
        spec: dict[str, Any] = {"formula": formula, "weight": draw(finite)}
        floor = draw(st.none() | finite)
        cap = draw(st.none() | finite)
        if floor is not None and cap is not None and floor > cap:
            floor, cap = cap, floor
        if floor is not None:
            spec["floor"] = floor
        if cap is not None:
            spec["cap"] = cap
        spec["null_as"] = draw(st.sampled_from(["null", 0.0, 1.5]))
        components[f"c{i}"] = spec
    return {
        "model": {"name": draw(st.sampled_from(["m", "loyalty value"])), "version": "1"},
        "tables": {
            "rate": {"entries": {"prepaid": 0.5, "cash": 0.25}},
            "points": {
                "entries": {"none": 0.0, "senior_position": 30.0, "celebrity": 80.0},
                "default": draw(st.sampled_from([0.0, None])),
            },
        },
        "components": components,
    }


# ================================================================ formulas
# Formulas of the crmkit.expr language, well-typed by construction, and data
# for them: frames (and the same rows as dicts) full of nulls, zeros,
# infinities, negative and huge numbers, in every column dtype crmkit reads.

_FORMULA_TABLE_NAMES: Final = ("t_rate", "t_label", "t_flag")
_FORMULA_WORDS: Final = ("cash", "prepaid", "on_time", "on_account", "", "Ünï", "李")
_FORMULA_FUNCTIONS1: Final = ("abs", "sqrt", "log", "log10", "log1p", "exp", "floor", "ceil")
_FORMULA_LITERALS: Final = (
    "0", "1", "2", "7", "0.5", "0.1", "2.5", "(-3)", "(-0.5)", "1000", "1e308", "1e-300", "5e-324",
)  # fmt: skip
_FORMULA_EXPONENTS: Final = (
    "0", "1", "2", "3", "0.5", "(-1)", "(-2)", "2.5", "10", "(-0.5)", "1000",
)  # fmt: skip
_FORMULA_NUMBERS: Final = (
    0.0, -0.0, 1.0, -1.0, 2.0, 0.5, -2.5, 3.0, 10.0, 1000.0, 1e308, -1e308, 1e-300, 5e-324,
    math.inf, -math.inf, math.nan, 709.0, 710.0, -745.0,
)  # fmt: skip
_KEYWORDS: Final = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)

FormulaType = Literal["number", "bool", "string"]


@_shared
def formula_names() -> st.SearchStrategy[str]:
    """Names a formula can use: identifiers (unicode too), not keywords, not starting with ``__``.

    They never equal the names of :func:`formula_tables`.
    """
    first = st.sampled_from("abcxyzABC_éλ李")
    rest = st.text(st.sampled_from("abcxyz_0129éλ李"), max_size=8)
    return st.builds(lambda a, b: a + b, first, rest).filter(
        lambda n: (
            n.isidentifier()
            and n not in _KEYWORDS
            and not n.startswith("__")
            and n not in _FORMULA_TABLE_NAMES
        )
    )


@_shared
def formula_schemas(
    *, min_size: int = 1, max_size: int = 5
) -> st.SearchStrategy[dict[str, FormulaType]]:
    """Schemas: distinct names, each ``"number"``, ``"bool"`` or ``"string"`` (mostly numbers)."""
    kinds: list[FormulaType] = ["number", "number", "number", "bool", "string"]
    return st.dictionaries(
        formula_names(), st.sampled_from(kinds), min_size=min_size, max_size=max_size
    )


@st.composite
def formula_tables(draw: st.DrawFn) -> dict[str, Table]:
    """Tables for generated formulas, with and without defaults and with null values.

    ``t_rate``: strings -> numbers; ``t_label``: strings -> strings;
    ``t_flag``: numbers (small whole numbers) -> bools.
    """
    words = list(_FORMULA_WORDS)
    some_words = st.lists(st.sampled_from(words), min_size=1, max_size=len(words), unique=True)
    numbers = st.none() | st.sampled_from(_FORMULA_NUMBERS[:14])
    strings = st.none() | st.sampled_from(words)
    bools = st.none() | st.booleans()

    def table(keys: list[Any], values: st.SearchStrategy[Any]) -> Table:
        entries = {k: draw(values) for k in keys}
        default = draw(values) if draw(st.booleans()) else None
        if all(v is None for v in entries.values()) and default is None:
            default = draw(values.filter(lambda v: v is not None))
        return Table(entries, default=default)

    number_keys = draw(st.lists(st.integers(-2, 4), min_size=1, max_size=5, unique=True))
    return {
        "t_rate": table(draw(some_words), numbers),
        "t_label": table(draw(some_words), strings),
        "t_flag": table([float(k) for k in number_keys], bools),
    }


class _FormulaContext(NamedTuple):
    names: dict[str, list[str]]  # type -> names of that type
    tables: bool


def _formula_leaf(draw: st.DrawFn, ctx: _FormulaContext, kind: str) -> str:
    names = ctx.names.get(kind, [])
    if names and draw(st.integers(0, 3)) > 0:
        return draw(st.sampled_from(names))
    if kind == "number":
        return draw(st.sampled_from(_FORMULA_LITERALS))
    if kind == "bool":
        return draw(st.sampled_from(["True", "False"]))
    return repr(draw(st.sampled_from((*_FORMULA_WORDS, "other"))))


def _formula_key(key: str) -> str:
    # A literal key that is not in the table is an error when the formula is
    # built; generated keys are wrapped so that they are never plain literals.
    return f"coalesce({key}, {key})" if key.startswith("('") else key


def _formula_expression(draw: st.DrawFn, ctx: _FormulaContext, kind: str, depth: int) -> str:
    if depth <= 0 or draw(st.integers(0, 4)) == 0:
        return _formula_leaf(draw, ctx, kind)

    def sub(k: str) -> str:
        return f"({_formula_expression(draw, ctx, k, depth - 1)})"

    def any_kind() -> str:
        return draw(st.sampled_from(["number", "bool", "string"]))

    if kind == "number":
        choice = draw(st.integers(0, 10 if ctx.tables else 9))
        if choice == 0:
            return f"-{sub('number')}"
        if choice == 1:
            op = draw(st.sampled_from(["+", "-", "*", "/", "%"]))
            return f"{sub('number')} {op} {sub('number')}"
        if choice == 2:
            numbers = ctx.names.get("number", [])
            form = draw(st.integers(0, 2 if numbers else 1))
            if form == 0:
                exponent = draw(st.sampled_from(_FORMULA_EXPONENTS))
            elif form == 1:
                exponent = f"clip({sub('number')}, -20, 20)"  # not folded: within the limit
            else:
                exponent = draw(st.sampled_from(numbers))
            return f"{sub('number')} ** ({exponent})"
        if choice == 3:
            fn = draw(st.sampled_from(_FORMULA_FUNCTIONS1))
            return f"{fn}({sub('number')})"
        if choice == 4:
            if draw(st.booleans()):
                return f"round({sub('number')})"
            return f"round({sub('number')}, {draw(st.integers(-3, 3))})"
        if choice == 5:
            fn = draw(st.sampled_from(["min", "max"]))
            args = [sub("number") for _ in range(draw(st.integers(2, 3)))]
            return f"{fn}({', '.join(args)})"
        if choice == 6:
            return f"clip({sub('number')}, {sub('number')}, {sub('number')})"
        if choice == 7:
            args = [sub("number") for _ in range(draw(st.integers(2, 3)))]
            return f"coalesce({', '.join(args)})"
        if choice in (8, 9):
            return f"{sub('number')} if {sub('bool')} else {sub('number')}"
        return f"t_rate[{_formula_key(sub('string'))}]"
    if kind == "bool":
        choice = draw(st.integers(0, 8 if ctx.tables else 7))
        if choice == 0:
            return f"not {sub('bool')}"
        if choice == 1:
            op = draw(st.sampled_from(["and", "or"]))
            return f" {op} ".join(sub("bool") for _ in range(draw(st.integers(2, 3))))
        if choice == 2:
            parts = [sub("number")]
            for _ in range(draw(st.integers(1, 2))):
                parts.append(draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])))
                parts.append(sub("number"))
            return " ".join(parts)
        if choice == 3:
            op = draw(st.sampled_from(["==", "!="]))
            k = draw(st.sampled_from(["string", "bool"]))
            return f"{sub(k)} {op} {sub(k)}"
        if choice == 4:
            return f"is_null({sub(any_kind())})"
        if choice == 5:
            return f"{sub('bool')} if {sub('bool')} else {sub('bool')}"
        if choice == 6:
            return f"coalesce({sub('bool')}, {sub('bool')})"
        if choice == 7:
            return f"{sub('number')} > 0 or {sub('bool')}"
        return f"t_flag[floor({sub('number')})]"
    choice = draw(st.integers(0, 3 if ctx.tables else 1))
    if choice == 0:
        return f"{sub('string')} if {sub('bool')} else {sub('string')}"
    if choice == 1:
        return f"coalesce({sub('string')}, {sub('string')})"
    return f"t_label[{_formula_key(sub('string'))}]"


@st.composite
def formulas(
    draw: st.DrawFn,
    schema: dict[str, FormulaType],
    *,
    tables: bool = False,
    result_type: FormulaType | None = None,
    max_depth: int = 4,
) -> str:
    """Formula texts that are well-typed under *schema* (and the :func:`formula_tables` if *tables*).

    Every construct of the language appears: arithmetic with ``**`` and
    unary minus, chained comparisons, ``and``/``or``/``not``, conditionals,
    every built-in function, lookups, and edge literals (``1e308``,
    ``5e-324``, ``-0.5``...).

    >>> from hypothesis import given
    >>> from crmkit.expr import Formula
    >>> from crmkit.testing import strategies as cks
    >>> @given(cks.formulas({"x": "number", "ok": "bool"}))
    ... def test_builds(text):
    ...     Formula(text, schema={"x": "number", "ok": "bool"})
    >>> test_builds()
    """
    names: dict[str, list[str]] = {}
    for name, kind in schema.items():
        names.setdefault(kind, []).append(name)
    ctx = _FormulaContext(names, tables)
    kinds: list[FormulaType] = ["number", "number", "bool", "string"]
    kind = result_type if result_type is not None else draw(st.sampled_from(kinds))
    return _formula_expression(draw, ctx, kind, max_depth)


@_shared
def formula_values(kind: FormulaType) -> st.SearchStrategy[Any]:
    """Values for a name of type *kind*, ``None`` (null) included; numbers lean to the edges."""
    if kind == "number":
        return st.one_of(
            st.none(),
            st.sampled_from(_FORMULA_NUMBERS),
            st.floats(),
            st.integers(-5, 5).map(float),
        )
    if kind == "bool":
        return st.sampled_from([True, False, None])
    return st.one_of(st.none(), st.sampled_from((*_FORMULA_WORDS, "other")), st.text(max_size=3))


_NUMBER_DTYPES: Final = ("float64", "float64", "Float64", "object")
_BOOL_DTYPES: Final = ("boolean", "object")
_STRING_DTYPES: Final = (None, "object", "string", "category")


def _formula_column(values: list[Any], kind: str, dtype: str | None) -> pd.Series[Any]:
    if kind == "number":
        if dtype == "float64":
            return pd.Series([math.nan if v is None else v for v in values], dtype="float64")
        return pd.Series(values, dtype=dtype)
    if kind == "bool":
        if dtype == "boolean" and None not in values and values:
            return pd.Series(values, dtype="bool")
        return pd.Series(values, dtype=dtype)
    if dtype is None:
        return pd.Series(values, dtype=pd.Series(["a"]).dtype)  # pandas' own string dtype
    return pd.Series(values, dtype=dtype)


@st.composite
def formula_frames(
    draw: st.DrawFn, schema: dict[str, FormulaType], *, min_rows: int = 0, max_rows: int = 12
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A frame with a column per name of *schema*, and the same rows as dicts of plain values.

    Columns come in the dtypes crmkit reads (float64, nullable Float64,
    object, bool, nullable boolean, str/string/category); the row index is
    shuffled integers, so results must align by label. Frames may be empty.
    """
    rows = draw(st.integers(min_rows, max_rows))
    columns: dict[str, pd.Series[Any]] = {}
    dicts: list[dict[str, Any]] = [{} for _ in range(rows)]
    for name, kind in schema.items():
        values = draw(st.lists(formula_values(kind), min_size=rows, max_size=rows))
        dtypes = {"number": _NUMBER_DTYPES, "bool": _BOOL_DTYPES}.get(kind, _STRING_DTYPES)
        columns[name] = _formula_column(values, kind, draw(st.sampled_from(dtypes)))
        for row, value in zip(dicts, values, strict=True):
            row[name] = value
    labels = draw(st.lists(st.integers(-1000, 1000), min_size=rows, max_size=rows, unique=True))
    frame = pd.DataFrame(columns, index=pd.RangeIndex(rows))
    frame.index = pd.Index(labels, dtype="int64")
    return frame, dicts


# ================================================================ lifecycles
# Lifecycle definitions that are valid by construction (every state reachable,
# no dead ends, one priority per transition), guards drawn from formulas over
# declared inputs, and transition records.


@st.composite
def lifecycle_configs(
    draw: st.DrawFn, schema: dict[str, FormulaType], *, max_states: int = 5
) -> dict[str, Any]:
    """A valid lifecycle configuration (the TOML layout as a dict) whose guards read *schema*.

    *schema* is declared as the definition's ``inputs``. States form a chain
    from the initial state (so all are reachable), plus random extra
    transitions; the last state is either final or leads back to the first.

    >>> from hypothesis import given
    >>> from crmkit.lifecycle import Lifecycle
    >>> from crmkit.testing import strategies as cks
    >>> @given(cks.lifecycle_configs({"x": "number"}))
    ... def test_builds(config):
    ...     Lifecycle.from_dict(config)
    >>> test_builds()
    """
    k = draw(st.integers(2, max_states))
    states = draw(
        st.lists(
            st.text(st.sampled_from("abcdefgh_"), min_size=1, max_size=6),
            min_size=k,
            max_size=k,
            unique=True,
        )
    )
    final = draw(st.booleans())
    edges: list[tuple[list[str], str]] = [([states[i]], states[i + 1]) for i in range(k - 1)]
    if not final:
        edges.append(([states[-1]], states[0]))
    movable = states if not final else states[:-1]
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(states))
        sources = draw(
            st.lists(
                st.sampled_from([s for s in movable if s != target] or movable),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        if target not in sources:
            edges.append((sources, target))
    priorities = draw(st.permutations(range(len(edges))))
    transitions: dict[str, Any] = {}
    for i, ((sources, target), priority) in enumerate(zip(edges, priorities, strict=True)):
        transitions[f"t{i}"] = {
            "from": sources,
            "to": target,
            "guard": draw(formulas(schema, result_type="bool", max_depth=3)),
            "priority": priority,
        }
    head: dict[str, Any] = {
        "name": "generated",
        "version": "1",
        "states": states,
        "initial": states[0],
    }
    if final:
        head["final"] = [states[-1]]
    return {"lifecycle": head, "inputs": dict(schema), "transitions": transitions}


@_shared
def lifecycle_transitions(
    *, customer_id: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[LifecycleTransition]:
    """Transition records (from != to; inputs of numbers, bools, text and None)."""
    stages = st.sampled_from(("introduction", "growth", "maturity", "decline", "departed"))
    values = st.one_of(
        st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), texts()
    )
    return (
        st.tuples(stages, stages)
        .filter(lambda p: p[0] != p[1])
        .flatmap(
            lambda p: st.builds(
                LifecycleTransition,
                customer_id=customer_id if customer_id is not None else ids(prefix="c-"),
                from_stage=st.just(p[0]),
                to_stage=st.just(p[1]),
                at=aware_datetimes(),
                transition=st.sampled_from(("second_purchase", "lapsed", "slowing", "win_back")),
                inputs=st.dictionaries(
                    st.sampled_from(("purchase_days", "days_since_last_purchase", "x")),
                    values,
                    max_size=3,
                ),
                lifecycle=st.just("five-stage"),
                version=st.sampled_from(("1", "2")),
            )
        )
    )


# ================================================================ segments
# Frames of numbers full of ties and nulls, and segment rule sets over them
# (multi-label or exclusive, with population statistics), for
# crmkit.segmentation (assign vs assign_one, fitted round-trips, movement).

_SEGMENT_NUMBERS: Final = (0.0, 1.0, 1.0, 2.0, 2.5, -1.0, 10.0, 1e6, math.nan, math.nan, math.inf)
_SEGMENT_STATS: Final = ("mean", "median", "std", "min_of", "max_of")
_SEGMENT_RESERVED: Final = frozenset({"segments", "segment"})


@st.composite
def segment_frames(draw: st.DrawFn, *, columns: Sequence[str], max_rows: int = 12) -> pd.DataFrame:
    """A frame with a float column per name in *columns*: many ties, NaN (null), infinities.

    Rows may be zero. The index is unique strings named ``customer_id``.
    """
    rows = draw(st.integers(0, max_rows))
    numbers = st.sampled_from(_SEGMENT_NUMBERS) | st.integers(-3, 3).map(float)
    data = {
        name: pd.Series(draw(st.lists(numbers, min_size=rows, max_size=rows)), dtype="float64")
        for name in columns
    }
    frame = pd.DataFrame(data, columns=list(columns))
    frame.index = pd.Index([f"c{i}" for i in range(rows)], name="customer_id")
    return frame


@st.composite
def _segment_operand(draw: st.DrawFn, columns: Sequence[str]) -> str:
    col = draw(st.sampled_from(columns))
    kind = draw(st.sampled_from(("literal", "column", "quantile", "stat", "stat_expr")))
    if kind == "literal":
        return draw(st.sampled_from(("0", "1", "2", "(-1)", "2.5", "1000")))
    if kind == "column":
        return col
    if kind == "quantile":
        q = draw(st.sampled_from(("0", "0.1", "0.25", "0.5", "0.8", "1")))
        return f"quantile({col}, {q})"
    stat = draw(st.sampled_from(_SEGMENT_STATS))
    return f"{stat}({col} * 2 + 1)" if kind == "stat_expr" else f"{stat}({col})"


@st.composite
def _segment_rule(draw: st.DrawFn, columns: Sequence[str], depth: int = 0) -> str:
    shape = draw(st.sampled_from(("compare", "compare", "and", "or", "not", "null")))
    if depth >= 2 or shape in ("compare", "null"):
        if shape == "null":
            return f"is_null({draw(st.sampled_from(columns))})"
        op = draw(st.sampled_from(("<", "<=", ">", ">=", "==", "!=")))
        return f"{draw(st.sampled_from(columns))} {op} {draw(_segment_operand(columns))}"
    if shape == "not":
        return f"not ({draw(_segment_rule(columns, depth + 1))})"
    left = draw(_segment_rule(columns, depth + 1))
    right = draw(_segment_rule(columns, depth + 1))
    return f"({left}) {shape} ({right})"


@st.composite
def segment_rule_configs(
    draw: st.DrawFn, *, columns: Sequence[str], max_segments: int = 5
) -> dict[str, Any]:
    """A valid segment rule-set configuration (the dict/TOML layout) over number *columns*.

    Multi-label or exclusive (with priorities and a default); segment names
    are generated identifiers; rules combine comparisons with literals,
    other columns and population statistics, ``and``/``or``/``not`` and
    ``is_null``.
    """
    names = draw(
        st.lists(
            formula_names().filter(lambda n: n not in _SEGMENT_RESERVED),
            min_size=1,
            max_size=max_segments + 1,
            unique=True,
        )
    )
    mode = draw(st.sampled_from(("multi", "exclusive")))
    head: dict[str, Any] = {"name": "generated", "mode": mode}
    if mode == "exclusive":
        if len(names) == 1:
            names.append(names[0] + "_0")
        head["default"] = names.pop()
    segments: dict[str, Any] = {}
    for name in names:
        spec: dict[str, Any] = {"rule": draw(_segment_rule(columns))}
        if mode == "exclusive" and draw(st.booleans()):
            spec["priority"] = draw(st.integers(-2, 2))
        segments[name] = spec
    return {
        "rules": head,
        "inputs": dict.fromkeys(columns, "number"),
        "segments": segments,
    }


@st.composite
def segment_labels(
    draw: st.DrawFn, *, labels: Sequence[str] = ("new", "active", "lapsed"), max_rows: int = 12
) -> tuple[pd.Series[Any], pd.Series[Any]]:
    """Two label Series (before, after) over overlapping customers, with some null labels."""
    customers = draw(st.lists(ids(prefix="c-"), max_size=max_rows, unique=True))
    label = st.none() | st.sampled_from(labels)
    before_ids = [c for c in customers if draw(st.booleans())]
    after_ids = [c for c in customers if draw(st.booleans())]
    before = pd.Series(
        [draw(label) for _ in before_ids], index=pd.Index(before_ids, dtype=object), dtype=object
    )
    after = pd.Series(
        [draw(label) for _ in after_ids], index=pd.Index(after_ids, dtype=object), dtype=object
    )
    return before, after


# ================================================================ loyalty


@st.composite
def earning_rule_configs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid earning-rule configurations (:class:`crmkit.loyalty.EarningRules`) in dict form.

    Campaign windows fall in March-April 2025; the formulas read the purchase
    names ``amount``, ``segment``, ``settlement`` and ``tier``.
    """
    campaigns = []
    for i in range(draw(st.integers(0, 2))):
        start = draw(st.integers(1, 40))
        campaigns.append(
            {
                "name": f"c{i}",
                "start": (datetime(2025, 2, 28, tzinfo=UTC) + timedelta(days=start)).isoformat(),
                "end": (
                    datetime(2025, 2, 28, tzinfo=UTC)
                    + timedelta(days=start + draw(st.integers(1, 30)))
                ).isoformat(),
                "condition": draw(
                    st.sampled_from(
                        [
                            "segment == 'vip'",
                            "amount >= 20 and settlement == 'cash'",
                            "tier != 'tin'",
                            "True",
                        ]
                    )
                ),
                "bonus": draw(st.sampled_from(["amount / 5", "10", "amount * 0.15 + 1", "-3"])),
            }
        )
    return {
        "rounding": draw(st.sampled_from(["floor", "half_up", "ceil"])),
        "base": {
            "unit": draw(st.sampled_from([1.0, 2.5, 10.0])),
            "points_per_unit": draw(st.sampled_from([0.5, 1, 3])),
        },
        "tier_multipliers": draw(
            st.dictionaries(st.sampled_from(["silver", "gold"]), st.sampled_from([1.0, 1.25, 1.5]))
        ),
        "campaigns": campaigns,
    }


@st.composite
def earning_frames(
    draw: st.DrawFn,
    *,
    columns: dict[str, str] | None = None,
    max_rows: int = 25,
) -> pd.DataFrame:
    """Purchase frames for earning (:meth:`crmkit.loyalty.EarningRules.earn_frame`).

    Columns: customer, a naive-UTC timestamp, amount (some null or negative),
    segment, settlement and tier (some null), under the names in *columns*
    (keys ``customer``, ``date``, ``amount``, ``segment``, ``settlement``, ``tier``).
    """
    names = {
        "customer": "customer_id",
        "date": "occurred_at",
        "amount": "amount",
        "segment": "segment",
        "settlement": "settlement",
        "tier": "tier",
        **(columns or {}),
    }
    n = draw(st.integers(0, max_rows))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    base = datetime(2025, 2, 20)
    return pd.DataFrame(
        {
            names["customer"]: column(st.sampled_from(["a", "b", "c"])),
            names["date"]: [
                base + timedelta(seconds=s) for s in column(st.integers(0, 60 * 86400))
            ],
            names["amount"]: column(st.none() | st.floats(-10, 1e4, allow_nan=False)),
            names["segment"]: column(st.sampled_from([None, "vip", "std"])),
            names["settlement"]: column(st.sampled_from([None, "cash", "prepaid"])),
            names["tier"]: column(st.sampled_from([None, "gold", "silver", "tin"])),
        }
    )


# ================================================================ data quality and privacy

_PHONE_REGIONS: Final = ("CN", "DE", "US", "GB", "FR", "JP", "BR", "IN", "SG", "AU")


@_shared
def e164_phones() -> st.SearchStrategy[str]:
    """Valid phone numbers in E.164 form (``+8613812345678``), as ``phonenumbers`` reads them.

    Built from the library's example numbers of several regions with the
    last digits varied and kept only where still valid. Needs the
    ``quality`` extra (``phonenumbers``).
    """
    import phonenumbers

    def build(region: str, tail: int) -> str | None:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if example is None:
            return None
        national = str(example.national_number)
        varied = national[:-3] + f"{tail:03d}"
        number = phonenumbers.parse(f"+{example.country_code}{varied}")
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    return (
        st.builds(build, st.sampled_from(_PHONE_REGIONS), st.integers(0, 999))
        .filter(lambda p: p is not None)
        .map(lambda p: cast(str, p))
    )
