"""Loyalty: an append-only points ledger with four promises, earning rules, tiers, rewards.

The four promises (see the Loyalty concept page):

1. one award per source event (an idempotency key per entry);
2. a refund reverses (a reverse entry referring to the award; nothing is updated or deleted);
3. oldest points are spent first (lots with expiry dates, drawn soonest-expiring first);
4. the balance is the sum of the entries (a cached running balance, checked against the fold).

>>> from datetime import UTC, datetime
>>> from crmkit.loyalty import InMemoryLedgerRepository, Ledger
>>> ledger = Ledger(InMemoryLedgerRepository())
>>> _ = ledger.earn("c-1", 10, at=datetime(2025, 1, 1, tzinfo=UTC),
...                 source_kind="purchase", source_id="p-1")
>>> ledger.balance("c-1")
10
"""

from crmkit.core import CouponError, InsufficientPointsError
from crmkit.loyalty._entries import (
    MAX_POINTS,
    EntryKind,
    LedgerEntry,
    Lot,
    entry_from_record,
    idempotency_key,
)
from crmkit.loyalty._ledger import Ledger, ReversalPolicy, expiry_entry
from crmkit.loyalty._repository import (
    Build,
    InMemoryLedgerRepository,
    LedgerRepository,
    LedgerView,
    check_posting,
)
from crmkit.loyalty._rewards import (
    AtomicCouponRepository,
    Catalogue,
    Coupon,
    CouponMaker,
    CouponRepository,
    CouponState,
    InMemoryCouponRepository,
    Reward,
    Rewards,
)
from crmkit.loyalty._rules import PURCHASE_SCHEMA, Campaign, EarningRules, Rounding
from crmkit.loyalty._tiers import Tier, TierChange, TierTable

__all__ = [
    "MAX_POINTS",
    "PURCHASE_SCHEMA",
    "AtomicCouponRepository",
    "Build",
    "Campaign",
    "Catalogue",
    "Coupon",
    "CouponError",
    "CouponMaker",
    "CouponRepository",
    "CouponState",
    "EarningRules",
    "EntryKind",
    "InMemoryCouponRepository",
    "InMemoryLedgerRepository",
    "InsufficientPointsError",
    "Ledger",
    "LedgerEntry",
    "LedgerRepository",
    "LedgerView",
    "Lot",
    "ReversalPolicy",
    "Reward",
    "Rewards",
    "Rounding",
    "Tier",
    "TierChange",
    "TierTable",
    "check_posting",
    "entry_from_record",
    "expiry_entry",
    "idempotency_key",
]
