"""Rewards and coupons: a catalogue with point costs; redeeming points issues a coupon.

A coupon's code comes from :mod:`secrets` (unguessable); its state moves
``issued -> redeemed`` or ``issued -> expired`` and never back, so redeeming a
coupon twice is refused.
"""

from __future__ import annotations

import enum
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

import attrs

from crmkit.core import (
    AlreadyExistsError,
    AsOf,
    ConfigReader,
    CouponError,
    Definition,
    FrozenDict,
    NotFoundError,
    to_instant,
)
from crmkit.loyalty._ledger import Ledger

__all__ = [
    "Catalogue",
    "Coupon",
    "CouponRepository",
    "CouponState",
    "InMemoryCouponRepository",
    "Reward",
    "Rewards",
]


class CouponState(enum.StrEnum):
    """Where a coupon stands."""

    ISSUED = "issued"
    REDEEMED = "redeemed"
    EXPIRED = "expired"


@attrs.frozen(kw_only=True)
class Reward:
    """A catalogue item: its id, name, point cost and how long its coupon is valid."""

    id: str
    name: str
    cost: int
    valid_days: int = 30


@attrs.frozen(kw_only=True)
class Catalogue(Definition):
    """The rewards on offer, by id (load with :meth:`from_dict` / TOML / JSON).

    >>> cat = Catalogue.from_dict({"coffee": {"name": "A coffee", "cost": 150}})
    >>> cat["coffee"].cost
    150
    """

    definition_name: ClassVar[str] = "reward catalogue"

    rewards: Mapping[str, Reward] = attrs.field(converter=FrozenDict[str, Reward])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Catalogue:
        """Build the catalogue from ``{reward id: {name, cost, valid_days}}``; every problem at once."""
        r = ConfigReader(source)
        top = r.section(data, "catalogue")
        rewards: dict[str, Reward] = {}
        for rid, spec in top.items():
            fields = r.section(
                spec, rid, allowed=["name", "cost", "valid_days"], required=["name", "cost"]
            )
            name = r.text(fields, rid, "name")
            ints: dict[str, int] = {}
            for key, default in (("cost", 0), ("valid_days", 30)):
                value = fields.get(key, default)
                if key in fields and (
                    isinstance(value, bool) or not isinstance(value, int) or value <= 0
                ):
                    r.problem(f"{rid}.{key}", f"expected a whole number > 0, got {value!r}")
                    value = default
                ints[key] = value
            if name and ints["cost"] > 0:
                rewards[rid] = Reward(
                    id=rid, name=name, cost=ints["cost"], valid_days=ints["valid_days"]
                )
        if not top:
            r.problem("catalogue", "expected at least one reward")
        r.raise_if_problems(what="reward catalogue")
        return cls(rewards=rewards)

    def to_dict(self) -> dict[str, Any]:
        """The catalogue as ``{reward id: {name, cost, valid_days}}`` (read back by :meth:`from_dict`).

        >>> Catalogue.from_dict({"coffee": {"name": "A coffee", "cost": 150}}).to_dict()
        {'coffee': {'name': 'A coffee', 'cost': 150, 'valid_days': 30}}
        """
        return {
            rid: {"name": r.name, "cost": r.cost, "valid_days": r.valid_days}
            for rid, r in self.rewards.items()
        }

    def __getitem__(self, reward_id: str) -> Reward:
        try:
            return self.rewards[reward_id]
        except KeyError:
            raise NotFoundError("reward", reward_id) from None


@attrs.frozen(kw_only=True)
class Coupon:
    """A coupon issued for a reward.

    Attributes:
        code: unguessable (``secrets.token_urlsafe``), the coupon's identity.
        reward_id: what it is for.
        customer_id: whose it is.
        entry_key: the key of the ledger entry that paid for it.
        issued_at: when it was issued.
        expires_at: the first instant it can no longer be redeemed.
        state: :class:`CouponState`.
        redeemed_at: when it was redeemed, if it was.
    """

    code: str
    reward_id: str
    customer_id: str
    entry_key: str
    issued_at: datetime
    expires_at: datetime
    state: CouponState = CouponState.ISSUED
    redeemed_at: datetime | None = None


@runtime_checkable
class CouponRepository(Protocol):
    """Stores coupons; :meth:`replace` is a compare-and-set on the state."""

    def add(self, coupon: Coupon) -> None:
        """Store a new coupon (AlreadyExistsError if its code or entry key is taken)."""
        ...

    def get(self, code: str) -> Coupon:
        """The coupon with this code (NotFoundError if none)."""
        ...

    def for_entry(self, entry_key: str) -> Coupon | None:
        """The coupon paid for by the ledger entry with this key, or ``None``."""
        ...

    def replace(self, coupon: Coupon, *, expected: CouponState) -> bool:
        """Store *coupon* over the one with its code if that one's state is *expected*; say if it did."""
        ...


class InMemoryCouponRepository:
    """Coupons held in memory (thread-safe)."""

    def __init__(self) -> None:
        self._by_code: dict[str, Coupon] = {}
        self._by_entry: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, coupon: Coupon) -> None:
        """Store a new coupon."""
        with self._lock:
            if coupon.code in self._by_code or coupon.entry_key in self._by_entry:
                raise AlreadyExistsError("coupon", coupon.code)
            self._by_code[coupon.code] = coupon
            self._by_entry[coupon.entry_key] = coupon.code

    def get(self, code: str) -> Coupon:
        """The coupon with this code."""
        found = self._by_code.get(code) if isinstance(code, str) else None
        if found is None:
            raise NotFoundError("coupon", code)
        return found

    def for_entry(self, entry_key: str) -> Coupon | None:
        """The coupon paid for by this ledger entry, or ``None``."""
        code = self._by_entry.get(entry_key)
        return None if code is None else self._by_code[code]

    def replace(self, coupon: Coupon, *, expected: CouponState) -> bool:
        """Compare-and-set on the state."""
        with self._lock:
            stored = self._by_code.get(coupon.code)
            if stored is None:
                raise NotFoundError("coupon", coupon.code)
            if stored.state is not expected:
                return False
            self._by_code[coupon.code] = coupon
            return True


class Rewards:
    """Redeem points for rewards; use coupons once, before they expire.

    Args:
        ledger: the points ledger.
        catalogue: the rewards on offer.
        coupons: where coupons are kept.

    >>> from datetime import UTC, datetime
    >>> from crmkit.loyalty import InMemoryLedgerRepository
    >>> ledger = Ledger(InMemoryLedgerRepository())
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> _ = ledger.earn("c-1", 500, at=t, source_kind="purchase", source_id="p-1")
    >>> shop = Rewards(ledger, Catalogue.from_dict({"coffee": {"name": "A coffee", "cost": 150}}),
    ...                InMemoryCouponRepository())
    >>> coupon = shop.redeem("c-1", "coffee", at=t, request_id="req-1")
    >>> coupon.state, ledger.balance("c-1"), len(coupon.code) >= 16
    (<CouponState.ISSUED: 'issued'>, 350, True)
    >>> shop.redeem("c-1", "coffee", at=t, request_id="req-1") == coupon   # a retry
    True
    >>> shop.use(coupon.code, at=t).state
    <CouponState.REDEEMED: 'redeemed'>
    """

    def __init__(self, ledger: Ledger, catalogue: Catalogue, coupons: CouponRepository) -> None:
        self.ledger = ledger
        self.catalogue = catalogue
        self.coupons = coupons

    def redeem(self, customer_id: str, reward_id: str, *, at: AsOf, request_id: str) -> Coupon:
        """Spend the reward's cost and issue a coupon; a repeated *request_id* returns the same coupon.

        The points are posted first (keyed by the request), then the coupon
        is stored; if storing the coupon fails, retrying with the same
        *request_id* issues it without spending again.

        Raises:
            NotFoundError: no such reward.
            InsufficientPointsError: the balance is smaller than the cost.
        """
        reward = self.catalogue[reward_id]
        at = to_instant(at, field="at")
        entry = self.ledger.redeem(
            customer_id,
            reward.cost,
            at=at,
            source_kind="reward",
            source_id=request_id,
            rule=reward.id,
        )
        existing = self.coupons.for_entry(entry.key)
        if existing is not None:
            return existing
        coupon = Coupon(
            code=secrets.token_urlsafe(16),
            reward_id=reward.id,
            customer_id=entry.customer_id,
            entry_key=entry.key,
            issued_at=entry.at,
            expires_at=entry.at + timedelta(days=reward.valid_days),
        )
        self.coupons.add(coupon)
        return coupon

    def use(self, code: str, *, at: AsOf) -> Coupon:
        """Redeem a coupon (once, before it expires).

        Raises:
            NotFoundError: no coupon has this code.
            CouponError: it was redeemed already, or it has expired (it is
                then marked expired).
        """
        at = to_instant(at, field="at")
        coupon = self.coupons.get(code)
        if coupon.state is CouponState.ISSUED and at >= coupon.expires_at:
            self.coupons.replace(
                attrs.evolve(coupon, state=CouponState.EXPIRED), expected=CouponState.ISSUED
            )
            coupon = self.coupons.get(code)
        if coupon.state is not CouponState.ISSUED:
            raise CouponError(code, coupon.state, f"the coupon is {coupon.state.value}")
        used = attrs.evolve(coupon, state=CouponState.REDEEMED, redeemed_at=at)
        if not self.coupons.replace(used, expected=CouponState.ISSUED):
            state = self.coupons.get(code).state
            raise CouponError(code, state, f"the coupon is {state.value}")
        return used
