"""Contract test suites a host runs against its own repositories, and hypothesis strategies.

Subclass :class:`RepositoryContract` (or :class:`PersistentRepositoryContract`
for storage that outlives the process) in a pytest module, under a name
starting with ``Test``, and implement its hook; every promise of the
repository Protocols is then checked against your implementation. crmkit's
in-memory and SQLite repositories run the very same suites.

This package needs pytest and hypothesis (``pip install "crmkit[testing]"``);
``import crmkit`` does not import it.

>>> import crmkit.testing
>>> class TestInMemory(crmkit.testing.RepositoryContract):
...     def create_repositories(self):
...         return crmkit.testing.Repositories.in_memory()
>>> TestInMemory().test_refunds_may_not_exceed_what_is_left_of_the_purchase()

:mod:`crmkit.testing.strategies` holds the hypothesis strategies for crmkit's data.
"""

from crmkit.domain import RepositorySet
from crmkit.testing import strategies
from crmkit.testing._contracts import (
    ClosableRepositorySet,
    Opener,
    PersistentRepositoryContract,
    Repositories,
    RepositoryContract,
)
from crmkit.testing._coupon_contracts import (
    CouponContract,
    CouponOpener,
    PersistentCouponContract,
)
from crmkit.testing._ledger_contracts import (
    LedgerContract,
    LedgerOpener,
    PersistentLedgerContract,
    check_ledger,
)
from crmkit.testing._lifecycle_contracts import TransitionHistoryContract
from crmkit.testing._merge_contracts import MergeJournalContract

__all__ = [
    "ClosableRepositorySet",
    "CouponContract",
    "CouponOpener",
    "LedgerContract",
    "LedgerOpener",
    "MergeJournalContract",
    "Opener",
    "PersistentCouponContract",
    "PersistentLedgerContract",
    "PersistentRepositoryContract",
    "Repositories",
    "RepositoryContract",
    "RepositorySet",
    "TransitionHistoryContract",
    "check_ledger",
    "strategies",
]
