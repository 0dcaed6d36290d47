"""Tiers (upgrade at once, downgrade at period ends after grace, history) and rewards/coupons."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from crmkit.adapters.sqlite import SQLiteCouponRepository, SQLiteLedgerRepository, SQLiteStore
from crmkit.errors import AlreadyExistsError, ConfigError, NotFoundError
from crmkit.loyalty import (
    Catalogue,
    Coupon,
    CouponError,
    CouponRepository,
    CouponState,
    InMemoryCouponRepository,
    InMemoryLedgerRepository,
    InsufficientPointsError,
    Ledger,
    LedgerRepository,
    Rewards,
    TierTable,
)

TABLE = {
    "measure": "points",
    "window_days": 365,
    "evaluation_months": 12,
    "grace_days": 0,
    "tiers": [
        {"name": "member", "threshold": 0},
        {"name": "silver", "threshold": 1000},
        {"name": "gold", "threshold": 5000},
    ],
}


def d(y: int, m: int, day: int) -> datetime:
    return datetime(y, m, day, tzinfo=UTC)


def test_upgrade_happens_on_the_event_that_reaches_the_threshold() -> None:
    table = TierTable.from_dict(TABLE)
    history = table.history(
        [(d(2025, 1, 5), 600), (d(2025, 2, 5), 500), (d(2025, 3, 5), 4000)], until=d(2025, 6, 1)
    )
    assert [(c.at, c.previous, c.tier, c.reason) for c in history] == [
        (d(2025, 2, 5), "member", "silver", "upgrade"),
        (d(2025, 3, 5), "silver", "gold", "upgrade"),
    ]
    assert table.tier_at(history, d(2025, 2, 4)) == "member"
    assert table.tier_at(history, d(2025, 3, 5)) == "gold"


def test_downgrade_only_at_a_period_end_and_to_the_tier_qualified_for() -> None:
    table = TierTable.from_dict(TABLE)
    events = [(d(2025, 1, 5), 6000), (d(2025, 12, 20), 1200)]
    history = table.history(events, until=d(2027, 6, 1))
    # The window still holds 7200 at the end of 2025; at the end of 2026 it holds nothing.
    assert [(c.at, c.tier, c.reason) for c in history] == [
        (d(2025, 1, 5), "gold", "upgrade"),
        (d(2027, 1, 1), "member", "downgrade"),
    ]
    # Mid-period the window drops below gold (2026-01-06): still gold, no downgrade yet.
    assert table.tier_at(history, d(2026, 6, 1)) == "gold"


def test_a_grace_period_delays_a_downgrade_and_requalifying_in_it_keeps_the_tier() -> None:
    table = TierTable.from_dict({**TABLE, "grace_days": 60, "window_days": 90})
    lapsed = table.history([(d(2025, 10, 1), 1500)], until=d(2026, 6, 1))
    assert [(c.at, c.tier) for c in lapsed] == [
        (d(2025, 10, 1), "silver"),
        (d(2026, 3, 2), "member"),  # 2026-01-01 + 60 days
    ]
    kept = table.history([(d(2025, 10, 1), 1500), (d(2026, 2, 1), 1000)], until=d(2026, 6, 1))
    assert [(c.at, c.tier) for c in kept] == [(d(2025, 10, 1), "silver")]


def test_tier_table_problems_are_reported_at_once() -> None:
    bad = {
        "measure": "visits",
        "window_days": 0,
        "evaluation_months": 5,
        "tiers": [{"name": "a", "threshold": 10}, {"name": "a", "threshold": 5}, {"nme": "x"}],
    }
    with pytest.raises(ConfigError) as info:
        TierTable.from_dict(bad)
    where = {p.where for p in info.value.problems}
    assert {
        "measure",
        "window_days",
        "evaluation_months",
        "tiers[0].threshold",
        "tiers[1].threshold",
        "tiers",
        "tiers[2].nme",
        "tiers[2].name",
    } <= where


def test_toml_and_json_load_the_same_table() -> None:
    import json

    toml = """
measure = "points"
window_days = 365
evaluation_months = 12
grace_days = 0
[[tiers]]
name = "member"
threshold = 0
[[tiers]]
name = "silver"
threshold = 1000
[[tiers]]
name = "gold"
threshold = 5000
"""
    assert TierTable.from_toml(toml) == TierTable.from_dict(TABLE)
    assert TierTable.from_json(json.dumps(TABLE)) == TierTable.from_dict(TABLE)


T = d(2025, 1, 1)


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[LedgerRepository, CouponRepository]]:
    if request.param == "memory":
        yield InMemoryLedgerRepository(), InMemoryCouponRepository()
        return
    with SQLiteStore(":memory:") as store:
        yield SQLiteLedgerRepository(store), SQLiteCouponRepository(store)


def _shop(backend: tuple[LedgerRepository, CouponRepository]) -> tuple[Ledger, Rewards]:
    ledger = Ledger(backend[0])
    ledger.earn("c-1", 300, at=T, source_kind="purchase", source_id="p-1")
    catalogue = Catalogue.from_toml("""
[coffee]
name = "A coffee"
cost = 150
valid_days = 10
[bag]
name = "A tote bag"
cost = 1000
""")
    return ledger, Rewards(ledger, catalogue, backend[1])


def test_redeeming_issues_a_coupon_with_an_unguessable_code_once_per_request(
    backend: tuple[LedgerRepository, CouponRepository],
) -> None:
    ledger, shop = _shop(backend)
    a = shop.redeem("c-1", "coffee", at=T, request_id="r-1")
    b = shop.redeem("c-1", "coffee", at=T, request_id="r-2")
    assert a.code != b.code
    assert len(a.code) >= 20
    assert shop.redeem("c-1", "coffee", at=T, request_id="r-1") == a
    assert ledger.balance("c-1") == 0
    assert a.expires_at == T + timedelta(days=10)
    with pytest.raises(InsufficientPointsError):
        shop.redeem("c-1", "coffee", at=T, request_id="r-3")
    with pytest.raises(NotFoundError):
        shop.redeem("c-1", "yacht", at=T, request_id="r-4")


def test_a_coupon_is_redeemed_once_and_not_after_it_expires(
    backend: tuple[LedgerRepository, CouponRepository],
) -> None:
    _, shop = _shop(backend)
    a = shop.redeem("c-1", "coffee", at=T, request_id="r-1")
    b = shop.redeem("c-1", "coffee", at=T, request_id="r-2")
    used = shop.use(a.code, at=T + timedelta(days=1))
    assert (used.state, used.redeemed_at) == (CouponState.REDEEMED, T + timedelta(days=1))
    with pytest.raises(CouponError, match="redeemed"):
        shop.use(a.code, at=T + timedelta(days=2))
    with pytest.raises(CouponError, match="expired"):
        shop.use(b.code, at=T + timedelta(days=10))
    assert shop.coupons.get(b.code).state is CouponState.EXPIRED
    with pytest.raises(NotFoundError):
        shop.use("nope", at=T)


def test_catalogue_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Catalogue.from_dict({"a": {"name": "", "cost": 0}, "b": {"cost": 5, "valid": 3}})
    assert {p.where for p in info.value.problems} == {"a.name", "a.cost", "b.valid", "b.name"}


def test_a_coupon_code_or_entry_is_stored_once(
    backend: tuple[LedgerRepository, CouponRepository],
) -> None:
    coupons = backend[1]
    c = Coupon(
        code="abc",
        reward_id="r",
        customer_id="c-1",
        entry_key="k",
        issued_at=T,
        expires_at=T + timedelta(days=1),
    )
    coupons.add(c)
    with pytest.raises(AlreadyExistsError):
        coupons.add(c)
    assert coupons.get("abc") == c
    assert coupons.for_entry("k") == c
    assert coupons.for_entry("nope") is None
    with pytest.raises(NotFoundError):
        coupons.get("nope")
