"""PostgreSQL storage (psycopg 3, the ``postgres`` extra): every crmkit repository in one schema.

:class:`PostgresStore` holds customers, contacts and activities;
:class:`PostgresLedgerRepository`, :class:`PostgresCouponRepository` and
:class:`PostgresTransitionHistory` add the points ledger, coupons and
lifecycle history to the same schema. Each part of the schema is versioned
and migrated forward on open (``crmkit_schema_parts``). Pass a connection
string, your own ``psycopg.Connection`` or a pool.

>>> import os
>>> from datetime import UTC, datetime
>>> from crmkit.adapters.postgres import PostgresStore
>>> from crmkit.domain import Purchase
>>> with PostgresStore(os.environ["CRMKIT_TEST_POSTGRES_URL"], schema="doc_module") as store:
...     store.activities.append(Purchase(id="p-1", customer_id="c-1", amount="19.90",
...         currency="EUR", occurred_at=datetime(2025, 3, 1, tzinfo=UTC)))
...     store.activities.get("p-1").amount
True
Decimal('19.90')
"""

from crmkit.adapters._postgres import (
    CORE_MIGRATIONS,
    SCHEMA_VERSION,
    PostgresActivityRepository,
    PostgresContactRepository,
    PostgresCustomerRepository,
    PostgresStore,
)
from crmkit.adapters._postgres_lifecycle import LIFECYCLE_MIGRATIONS, PostgresTransitionHistory
from crmkit.adapters._postgres_loyalty import (
    LOYALTY_MIGRATIONS,
    PostgresCouponRepository,
    PostgresLedgerRepository,
)
from crmkit.adapters._postgres_quality import QUALITY_MIGRATIONS, PostgresMergeJournal

__all__ = [
    "CORE_MIGRATIONS",
    "LIFECYCLE_MIGRATIONS",
    "LOYALTY_MIGRATIONS",
    "QUALITY_MIGRATIONS",
    "SCHEMA_VERSION",
    "PostgresActivityRepository",
    "PostgresContactRepository",
    "PostgresCouponRepository",
    "PostgresCustomerRepository",
    "PostgresLedgerRepository",
    "PostgresMergeJournal",
    "PostgresStore",
    "PostgresTransitionHistory",
]
