"""Rewards and coupons: a catalogue with point costs; redeeming points issues a coupon.

A coupon's code comes from :mod:`secrets` (unguessable); its state moves
``issued -> redeemed`` or ``issued -> expired`` and never back, so redeeming a
coupon twice is refused.

Redeeming is exactly once per request id: the debit is a ledger entry keyed
by the request, and a coupon is stored once per debit
(:meth:`CouponRepository.issue`). A coupon repository that shares a database
with the ledger (:class:`AtomicCouponRepository`: crmkit's SQLite and
PostgreSQL ones) posts the debit and stores the coupon in one transaction;
otherwise the two steps are idempotent, and a retry with the same request id
completes the redemption that a crash interrupted.
"""

from __future__ import annotations

import enum
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

import attrs

from crmkit.core import (
    AlreadyExistsError,
    AsOf,
    ConfigReader,
    ConflictError,
    CouponError,
    Definition,
    FrozenDict,
    NotFoundError,
    to_instant,
)
from crmkit.loyalty._entries import LedgerEntry
from crmkit.loyalty._ledger import Ledger
from crmkit.loyalty._repository import Build, LedgerRepository

__all__ = [
    "AtomicCouponRepository",
    "Catalogue",
    "Coupon",
    "CouponMaker",
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

    def issue(self, coupon: Coupon) -> Coupon:
        """Store *coupon* unless its entry key has a coupon already; return the stored one.

        Atomic: of two calls for one entry key, one stores its coupon and both
        return it (never :class:`~crmkit.core.AlreadyExistsError` for the
        entry key; only a code taken by another entry's coupon raises it).
        """
        ...


#: What :meth:`AtomicCouponRepository.post_and_issue` calls to make the coupon of a debit.
CouponMaker = Callable[[LedgerEntry], Coupon]


@runtime_checkable
class AtomicCouponRepository(CouponRepository, Protocol):
    """A coupon repository that can store a coupon in the ledger's own transaction."""

    def post_and_issue(self, ledger: LedgerRepository, build: Build, make: CouponMaker) -> Coupon:
        """Post *build* to *ledger* and :meth:`issue` ``make(last entry)``, in one transaction.

        When *ledger* lives in another database, the two steps run one after
        the other (each idempotent, so a retry completes them).
        """
        ...


class InMemoryCouponRepository:
    """Coupons held in memory (thread-safe)."""

    def __init__(self) -> None:
        self._by_code: dict[str, Coupon] = {}
        self._by_entry: dict[str, str] = {}
        self._lock = threading.RLock()  # post_and_issue holds it around issue

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

    def issue(self, coupon: Coupon) -> Coupon:
        """Store *coupon* unless its entry key has one; return the stored one."""
        with self._lock:
            code = self._by_entry.get(coupon.entry_key)
            if code is not None:
                return self._by_code[code]
            if coupon.code in self._by_code:
                raise AlreadyExistsError("coupon", coupon.code)
            self._by_code[coupon.code] = coupon
            self._by_entry[coupon.entry_key] = coupon.code
            return coupon

    def post_and_issue(self, ledger: LedgerRepository, build: Build, make: CouponMaker) -> Coupon:
        """Post the debit and issue its coupon under this repository's lock (one process)."""
        with self._lock:
            entry = ledger.post(build)[-1]
            return self.issue(make(entry))

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

        Exactly once per *request_id*: the debit is keyed by the request, and
        the coupon is stored once per debit. With an
        :class:`AtomicCouponRepository` (SQLite and PostgreSQL when the coupons
        and the ledger share the store) both are one transaction, so a crash
        leaves either both or neither; otherwise a crash between them leaves
        the debit, and a retry with the same *request_id* issues its coupon
        without spending again. Concurrent retries get the same coupon.

        Raises:
            NotFoundError: no such reward.
            InsufficientPointsError: the balance is smaller than the cost.
            ConflictError: *request_id* was used for another customer or
                another reward.
        """
        reward = self.catalogue[reward_id]
        at = to_instant(at, field="at")
        build = self.ledger.redeem_build(
            customer_id,
            reward.cost,
            at=at,
            source_kind="reward",
            source_id=request_id,
            rule=reward.id,
        )

        def make(entry: LedgerEntry) -> Coupon:
            return Coupon(
                code=secrets.token_urlsafe(16),
                reward_id=reward.id,
                customer_id=entry.customer_id,
                entry_key=entry.key,
                issued_at=entry.at,
                expires_at=entry.at + timedelta(days=reward.valid_days),
            )

        if isinstance(self.coupons, AtomicCouponRepository):
            coupon = self.coupons.post_and_issue(self.ledger.repository, build, make)
        else:
            coupon = self.coupons.issue(make(self.ledger.repository.post(build)[-1]))
        if coupon.customer_id != customer_id or coupon.reward_id != reward.id:
            raise ConflictError(
                "coupon",
                request_id,
                expected=f"a coupon of {coupon.customer_id!r} for {coupon.reward_id!r}",
                got=f"a request of {customer_id!r} for {reward.id!r}",
            )
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
