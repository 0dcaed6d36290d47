"""Earning rules: configuration, posting purchases, referrals, monthly points, columnar == scalar."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.domain import Purchase, Refund, to_record
from crmkit.errors import ConfigError, FrameError, MissingColumnError, ValidationError
from crmkit.expr import Formula
from crmkit.loyalty import (
    PURCHASE_SCHEMA,
    Campaign,
    EarningRules,
    InMemoryLedgerRepository,
    Ledger,
    LedgerEntry,
)
from crmkit.scoring import features
from crmkit.testing import strategies as cks

CONFIG = {
    "rounding": "floor",
    "expires_after_days": 365,
    "base": {"unit": 10.0, "points_per_unit": 2},
    "tier_multipliers": {"silver": 1.25, "gold": 1.5},
    "campaigns": [
        {
            "name": "spring",
            "start": "2025-03-01",
            "end": "2025-04-01",
            "condition": "segment == 'vip' and amount >= 20",
            "bonus": "amount / 5",
        },
        {
            "name": "cash",
            "start": "2025-01-01",
            "end": "2026-01-01",
            "condition": "settlement == 'cash'",
            "bonus": "10",
        },
    ],
    "referral": {"referrer": 100, "referred": 50},
}
T = datetime(2025, 3, 10, tzinfo=UTC)


def _purchase(pid: str, amount: str, *, customer: str = "c-1", at: datetime = T) -> Purchase:
    return Purchase(
        id=pid,
        customer_id=customer,
        amount=amount,
        currency="EUR",
        occurred_at=at,
        settlement="cash",
    )


def test_dict_toml_and_json_load_the_same_rules() -> None:
    toml = """
rounding = "floor"
expires_after_days = 365
[base]
unit = 10.0
points_per_unit = 2
[tier_multipliers]
silver = 1.25
gold = 1.5
[[campaigns]]
name = "spring"
start = 2025-03-01
end = 2025-04-01
condition = "segment == 'vip' and amount >= 20"
bonus = "amount / 5"
[[campaigns]]
name = "cash"
start = "2025-01-01"
end = "2026-01-01"
condition = "settlement == 'cash'"
bonus = "10"
[referral]
referrer = 100
referred = 50
"""
    a = EarningRules.from_dict(CONFIG)
    assert EarningRules.from_toml(toml) == a
    assert EarningRules.from_json(json.dumps(CONFIG)) == a


def test_every_problem_is_reported_at_once() -> None:
    bad = {
        "rounding": "up",
        "reversal_policy": "forgive",
        "expires_after_days": 0,
        "base": {"unit": 0, "points_per_unit": -1, "extra": 1},
        "tier_multipliers": {"gold": "x"},
        "campaigns": [
            {
                "name": "a",
                "start": "nope",
                "end": "2025-01-01",
                "condition": "amount +",
                "bonus": "segment",
            },
            {"name": "a", "start": "2025-02-01", "end": "2025-01-01", "bonus": "amont * 2"},
        ],
        "referral": {"referrer": -5},
        "tiers": {},
    }
    with pytest.raises(ConfigError) as info:
        EarningRules.from_dict(bad)
    where = [p.where for p in info.value.problems]
    for key in (
        "rounding",
        "reversal_policy",
        "expires_after_days",
        "base.unit",
        "base.points_per_unit",
        "base.extra",
        "tier_multipliers.gold",
        "campaigns[0].start",
        "campaigns[0].condition",
        "campaigns[0].bonus",
        "campaigns[1].name",
        "campaigns[1].end",
        "campaigns[1].bonus",
        "referral.referrer",
        "earning rules.tiers",
    ):
        assert key in where, (key, where)
    assert "did you mean 'amount'" in str(info.value)


def test_points_per_rule() -> None:
    rules = EarningRules.from_dict(CONFIG)
    assert rules.points(99.0, at=T, segment="vip", tier="gold", settlement="cash") == {
        "base": 29,
        "campaign:spring": 19,
        "campaign:cash": 10,
    }
    assert rules.points(99.0, at=T + timedelta(days=30)) == {"base": 19}
    assert rules.points(-5.0, at=T) == {}


def test_award_posts_each_rule_once_and_referral_bonuses_once() -> None:
    rules = EarningRules.from_dict(CONFIG)
    ledger = Ledger(InMemoryLedgerRepository())
    first = rules.award(ledger, _purchase("p-1", "40"), segment="vip", referrer="c-0")
    assert {(e.customer_id, e.rule, e.points) for e in first} == {
        ("c-1", "base", 8),
        ("c-1", "campaign:spring", 8),
        ("c-1", "campaign:cash", 10),
        ("c-0", "referrer", 100),
        ("c-1", "referred", 50),
    }
    assert all(e.expires_at == T + timedelta(days=365) for e in first)
    assert rules.award(ledger, _purchase("p-1", "40"), segment="vip", referrer="c-0") == first
    rules.award(ledger, _purchase("p-2", "10"), referrer="c-0")  # not a first purchase: no bonus
    assert ledger.balance("c-0") == 100
    assert ledger.balance("c-1") == 8 + 8 + 10 + 50 + 2 + 10
    award = next(e for e in first if e.rule == "base")
    assert ledger.reverse(award.key, at=T, source_id="f-1", amount=Decimal("20")).points == -4


def test_a_refund_reverses_every_award_of_the_purchase_in_proportion_once() -> None:
    rules = EarningRules.from_dict(CONFIG)
    ledger = Ledger(InMemoryLedgerRepository())
    rules.award(ledger, _purchase("p-1", "40"), segment="vip")  # 8 + 8 + 10 points
    half = Refund(
        id="f-1",
        customer_id="c-1",
        purchase_id="p-1",
        amount="20",
        currency="EUR",
        occurred_at=T + timedelta(days=1),
    )
    assert sorted(e.points for e in rules.refund(ledger, half)) == [-5, -4, -4]
    assert rules.refund(ledger, half) == rules.refund(ledger, half)
    assert ledger.balance("c-1") == 13
    rest = Refund(
        id="f-2",
        customer_id="c-1",
        purchase_id="p-1",
        amount="20",
        currency="EUR",
        occurred_at=T + timedelta(days=2),
    )
    rules.refund(ledger, rest)
    assert ledger.balance("c-1") == 0


def test_monthly_value_points_are_posted_once_per_customer_and_month() -> None:
    rules = EarningRules.from_dict({"rounding": "half_up"})
    ledger = Ledger(InMemoryLedgerRepository())
    monthly = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "month": pd.PeriodIndex(["2025-01", "2025-02", "2025-02"], freq="M"),
            "value": [10.4, 20.5, -3.0],
        }
    )
    posted = rules.award_monthly(ledger, monthly)
    assert [(e.customer_id, e.period, e.points) for e in posted] == [
        ("a", "2025-01", 10),
        ("a", "2025-02", 21),
    ]
    assert posted[0].at == datetime(2025, 2, 1, tzinfo=UTC)
    rules.award_monthly(ledger, monthly)
    assert ledger.balance("a") == 31
    both = monthly.assign(value=[1.0, 2.0, 3.0])  # two customers in one month: two awards
    assert len(rules.award_monthly(Ledger(InMemoryLedgerRepository()), both)) == 3


@settings(max_examples=60, deadline=None)
@given(
    names=cks.column_names("customer", "date", "amount", "segment", "settlement", "tier"),
    data=st.data(),
    config=st.one_of(cks.earning_rule_configs(), st.just(CONFIG)),
)
def test_columnar_earning_equals_posting_purchases_one_by_one(
    names: dict[str, str], data: st.DataObject, config: dict[str, Any]
) -> None:
    frame = data.draw(cks.earning_frames(columns=names))
    # Null and negative amounts are refused at the frame boundary (see the test below).
    frame = frame[frame[names["amount"]].notna() & (frame[names["amount"]] >= 0)]
    rules = EarningRules.from_dict(config)
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 10, tzinfo=UTC)
    got = rules.earn_frame(frame, start=start, end=end, **names)
    expected: dict[str, int] = {}
    for i in range(len(frame)):
        row = {k: frame[v].iloc[i] for k, v in names.items()}
        at = row["date"].to_pydatetime().replace(tzinfo=UTC)
        if not start <= at < end:
            continue
        spend = float(row["amount"])
        pts = rules.points(
            spend, at=at, segment=row["segment"], settlement=row["settlement"], tier=row["tier"]
        )
        expected[row["customer"]] = expected.get(row["customer"], 0) + sum(pts.values())
    assert got["points"].to_dict() == expected
    assert (got.drop(columns="points").sum(axis=1) == got["points"]).all()


def test_earn_frame_rejects_missing_columns() -> None:
    rules = EarningRules.from_dict(CONFIG)
    with pytest.raises(MissingColumnError):
        rules.earn_frame(pd.DataFrame({"customer_id": []}), start="2025-01-01", end="2025-02-01")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("amount", float("inf"), "infinite amounts"),
        ("amount", float("nan"), "NaN"),
        ("amount", -5.0, "negative amounts"),
        ("customer_id", None, "missing customer ids"),
        ("settlement", "barter", "settlement"),
    ],
)
def test_earn_frame_refuses_what_features_refuses(column: str, value: object, message: str) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "occurred_at": pd.to_datetime(["2025-03-02", "2025-03-03", "2025-03-04"]),
            "amount": [10.0, 20.0, 30.0],
            "settlement": ["cash", None, "prepaid"],
        }
    )
    if column != "amount":
        frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    rules = EarningRules.from_dict(CONFIG)
    with pytest.raises(FrameError, match=message) as info:
        rules.earn_frame(frame, start="2025-03-01", end="2025-04-01", settlement="settlement")
    assert info.value.rows == (1,)
    with pytest.raises(FrameError, match=message):
        features(frame, as_of="2025-04-01", settlement="settlement")


def test_earn_frame_refuses_bool_amounts_integer_dates_and_an_empty_window() -> None:
    rules = EarningRules.from_dict(CONFIG)
    good = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": pd.to_datetime(["2025-03-02"]), "amount": [10.0]}
    )
    with pytest.raises(FrameError, match="not numeric"):
        rules.earn_frame(good.assign(amount=[True]), start="2025-03-01", end="2025-04-01")
    with pytest.raises(FrameError, match="does not hold dates"):
        rules.earn_frame(good.assign(occurred_at=[20250302]), start="2025-03-01", end="2025-04-01")
    with pytest.raises(ValidationError, match="end"):
        rules.earn_frame(good, start="2025-04-01", end="2025-03-01")
    assert rules.earn_frame(good, start="2025-03-01", end="2025-04-01")["points"].tolist() == [
        rules.points(10.0, at="2025-03-02")["base"]
    ]


@pytest.mark.parametrize("method", ["earn_frame", "points_frame"])
@pytest.mark.parametrize(
    ("column", "values", "rows"),
    [
        ("amount", [10.0, float("inf"), 1.0], (1,)),
        ("amount", [10.0, 2.0, float("nan")], (2,)),
        ("amount", [-1.0, 2.0, 3.0], (0,)),
        ("amount", [True, False, True], None),  # a bool column: refused whole
        ("customer_id", ["a", None, None], (1, 2)),
        ("occurred_at", [20250302, 20250303, 20250304], None),  # integer dates
        ("occurred_at", ["2025-03-02", None, "2025-03-04"], (1,)),
        ("settlement", ["cash", "barter", "prepaid"], (1,)),
    ],
)
def test_both_frame_paths_name_the_column_and_rows_of_every_bad_input(
    method: str, column: str, values: list[object], rows: tuple[int, ...] | None
) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "occurred_at": pd.to_datetime(["2025-03-02", "2025-03-03", "2025-03-04"]),
            "amount": [10.0, 20.0, 30.0],
            "settlement": ["cash", None, "prepaid"],
        }
    )
    frame[column] = pd.Series(values, dtype=object if column != "amount" else None)
    run = getattr(EarningRules.from_dict(CONFIG), method)
    with pytest.raises(FrameError) as info:
        run(frame, start="2025-03-01", end="2025-04-01", settlement="settlement")
    assert info.value.column == column
    if rows is not None:
        assert info.value.rows == rows
    with pytest.raises(ValidationError) as window:  # start after end: refused, not empty
        run(frame.iloc[:0], start="2025-04-01", end="2025-03-01")
    assert window.value.field == "end"


def _checked_award(
    rules: EarningRules, purchase: Purchase, segment: str | None, tier: str | None, ref: str | None
) -> list[LedgerEntry]:
    """What award posts for *purchase*, every entry built by LedgerEntry with every check."""
    settlement = None if purchase.settlement is None else str(purchase.settlement)
    at = purchase.occurred_at
    expires = None if rules.expires_after_days is None else at + timedelta(rules.expires_after_days)
    points = rules.points(
        float(purchase.amount), at=at, segment=segment, settlement=settlement, tier=tier
    )
    out = [
        LedgerEntry(
            customer_id=purchase.customer_id,
            kind="earn",
            points=p,
            at=at,
            source_kind="purchase",
            source_id=purchase.id,
            rule=rule,
            expires_at=expires,
            amount=purchase.amount,
        )
        for rule, p in points.items()
    ]
    for who, rule, p in (
        (ref, "referrer", rules.referrer_bonus),
        (purchase.customer_id, "referred", rules.referred_bonus),
    ):
        if ref is not None and who is not None and p > 0:
            out.append(
                LedgerEntry(
                    customer_id=who,
                    kind="earn",
                    points=p,
                    at=at,
                    source_kind="referral",
                    source_id=purchase.customer_id,
                    rule=rule,
                    expires_at=expires,
                )
            )
    return out


def _outcome(run: Any) -> tuple[Any, ...]:
    try:
        return ("ok", run())
    except ValidationError as exc:
        return ("error", type(exc), str(exc))


@settings(max_examples=80, deadline=None)
@given(
    config=cks.earning_rule_configs(every_key=True),
    bought=st.lists(
        cks.purchases(
            customer_id=st.sampled_from(["c-1", "c-2", "c|3"]),
            occurred_at=st.datetimes(
                datetime(2025, 2, 20), datetime(2025, 5, 1), timezones=st.just(UTC)
            ),
        ),
        max_size=12,
        unique_by=lambda p: p.id,
    ),
    who=st.dictionaries(
        st.sampled_from(["c-1", "c-2", "c|3"]),
        st.tuples(st.sampled_from(["vip", "x"]), st.sampled_from(["gold", "tin"]), cks.ids()),
    ),
    chunk_size=st.integers(1, 7),
)
def test_award_many_posts_the_entries_award_builds_with_every_check(
    config: dict[str, Any],
    bought: list[Purchase],
    who: dict[str, tuple[str, str, str]],
    chunk_size: int,
) -> None:
    # award_many builds a Purchase's earn entries without re-running the checks its
    # fields passed: the entries, keys, records and the ledger left must be those
    # of LedgerEntry built with every check, posted one purchase at a time.
    rules = EarningRules.from_dict(config)
    segments = {c: v[0] for c, v in who.items()}
    tiers = {c: v[1] for c, v in who.items()}
    referrers = {c: v[2] for c, v in who.items()}
    fast, slow = Ledger(InMemoryLedgerRepository()), Ledger(InMemoryLedgerRepository())
    got = _outcome(
        lambda: rules.award_many(
            fast, bought, segments=segments, tiers=tiers, referrers=referrers, chunk_size=chunk_size
        )
    )

    def one_by_one() -> list[LedgerEntry]:
        out: list[LedgerEntry] = []
        for p in bought:
            c = p.customer_id
            out += slow.post(
                _checked_award(rules, p, segments.get(c), tiers.get(c), referrers.get(c))
            )
        return out

    expected = _outcome(one_by_one)
    assert got[0] == expected[0]
    if got[0] == "error":
        assert got[1:] == expected[1:]
        return
    assert got[1] == expected[1]
    for a, b in zip(got[1], expected[1], strict=True):
        assert (a.key, hash(a), to_record(a), repr(a)) == (b.key, hash(b), to_record(b), repr(b))
    for c in {p.customer_id for p in bought} | set(referrers.values()):
        assert fast.balance(c) == slow.balance(c)
        assert fast.lots(c) == slow.lots(c)


def test_award_many_checks_a_rule_name_it_did_not_read_from_a_configuration() -> None:
    rules = EarningRules.from_dict({"base": {"points_per_unit": 1}})
    bad = Campaign(
        name="bad\x00",
        start=T - timedelta(days=1),
        end=T + timedelta(days=1),
        condition=Formula("True", schema=PURCHASE_SCHEMA),
        bonus=Formula("5", schema=PURCHASE_SCHEMA),
    )
    rules = attrs.evolve(rules, campaigns=(bad,))
    ledger = Ledger(InMemoryLedgerRepository())
    with pytest.raises(ValidationError, match=r"LedgerEntry\.rule"):
        rules.award_many(ledger, [_purchase("p-1", "40"), _purchase("p-2", "40")])
    assert len(ledger.repository) == 0
