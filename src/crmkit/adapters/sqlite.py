"""SQLite storage: :class:`SQLiteStore` and its three repositories (stdlib ``sqlite3`` only).

>>> from datetime import UTC, datetime
>>> from crmkit.adapters.sqlite import SQLiteStore
>>> from crmkit.domain import Purchase
>>> with SQLiteStore(":memory:") as store:
...     store.activities.append(Purchase(id="p-1", customer_id="c-1", amount="19.90",
...         currency="EUR", occurred_at=datetime(2025, 3, 1, tzinfo=UTC)))
...     store.activities.get("p-1").amount
True
Decimal('19.90')
"""

from crmkit.adapters._sqlite import (
    SCHEMA_VERSION,
    SQLiteActivityRepository,
    SQLiteContactRepository,
    SQLiteCustomerRepository,
    SQLiteStore,
)
from crmkit.adapters._sqlite_lifecycle import SQLiteTransitionHistory
from crmkit.adapters._sqlite_loyalty import SQLiteCouponRepository, SQLiteLedgerRepository
from crmkit.adapters._sqlite_quality import SQLiteMergeJournal

__all__ = [
    "SCHEMA_VERSION",
    "SQLiteActivityRepository",
    "SQLiteContactRepository",
    "SQLiteCouponRepository",
    "SQLiteCustomerRepository",
    "SQLiteLedgerRepository",
    "SQLiteMergeJournal",
    "SQLiteStore",
    "SQLiteTransitionHistory",
]
