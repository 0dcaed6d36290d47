"""crmkit: the domain model and scoring engine of a CRM.

The front door: everything a user needs is importable from here.

>>> import crmkit as ck
>>> ck.__version__
'0.1.0'
"""

from typing import TYPE_CHECKING, Any

from crmkit.config import Config, score_transactions
from crmkit.core import (
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    CrmkitError,
    FrameError,
    MissingColumnError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from crmkit.domain import (
    Activity,
    ActivityRepository,
    Channel,
    Complaint,
    ComplaintStatus,
    Consent,
    Contact,
    ContactRepository,
    Customer,
    CustomerKind,
    CustomerRepository,
    Direction,
    InMemoryActivityRepository,
    InMemoryContactRepository,
    InMemoryCustomerRepository,
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
    check_refund,
    from_record,
    to_record,
)
from crmkit.expr import Formula, FormulaError, Table
from crmkit.lifecycle import (
    ChurnWarning,
    InMemoryTransitionHistory,
    Lifecycle,
    LifecycleTransition,
    Replay,
    Transition,
    TransitionHistory,
    churn_warning,
)
from crmkit.loyalty import (
    Catalogue,
    Coupon,
    CouponError,
    EarningRules,
    EntryKind,
    InMemoryCouponRepository,
    InMemoryLedgerRepository,
    InsufficientPointsError,
    Ledger,
    LedgerEntry,
    LedgerRepository,
    ReversalPolicy,
    Reward,
    Rewards,
    TierTable,
)
from crmkit.privacy import erase, export, may_contact, pseudonymize
from crmkit.quality import (
    find_duplicates,
    merge,
    standardize_frame,
    undo_merge,
    validate_customers,
)
from crmkit.scoring import (
    FEATURE_COLUMNS,
    ActivityFrames,
    Component,
    Score,
    ValueModel,
    activity_frames,
    features,
    features_one,
    profile_frame,
    roll_up_to_companies,
    score_monthly,
    transactions_frame,
)
from crmkit.segmentation import (
    RFM,
    NotFittedError,
    Segment,
    SegmentRules,
    movement,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from crmkit.adapters.sqlite import (
        SQLiteCouponRepository,
        SQLiteLedgerRepository,
        SQLiteStore,
        SQLiteTransitionHistory,
    )

_LAZY = frozenset(
    {"SQLiteStore", "SQLiteLedgerRepository", "SQLiteCouponRepository", "SQLiteTransitionHistory"}
)


def __getattr__(name: str) -> Any:
    # Adapters load on first use, so that `import crmkit` stays light.
    if name in _LAZY:
        from crmkit.adapters import sqlite

        return getattr(sqlite, name)
    raise AttributeError(f"module 'crmkit' has no attribute {name!r}")


__all__ = [
    "FEATURE_COLUMNS",
    "RFM",
    "Activity",
    "ActivityFrames",
    "ActivityRepository",
    "AlreadyExistsError",
    "Catalogue",
    "Channel",
    "ChurnWarning",
    "Complaint",
    "ComplaintStatus",
    "Component",
    "Config",
    "ConfigError",
    "ConflictError",
    "Consent",
    "Contact",
    "ContactRepository",
    "Coupon",
    "CouponError",
    "CrmkitError",
    "Customer",
    "CustomerKind",
    "CustomerRepository",
    "Direction",
    "EarningRules",
    "EntryKind",
    "Formula",
    "FormulaError",
    "FrameError",
    "InMemoryActivityRepository",
    "InMemoryContactRepository",
    "InMemoryCouponRepository",
    "InMemoryCustomerRepository",
    "InMemoryLedgerRepository",
    "InMemoryTransitionHistory",
    "InsufficientPointsError",
    "Interaction",
    "Ledger",
    "LedgerEntry",
    "LedgerRepository",
    "Lifecycle",
    "LifecycleTransition",
    "Membership",
    "MissingColumnError",
    "NotFittedError",
    "NotFoundError",
    "Purchase",
    "Referral",
    "ReferralStatus",
    "Refund",
    "Replay",
    "ReversalPolicy",
    "Reward",
    "Rewards",
    "SQLiteCouponRepository",
    "SQLiteLedgerRepository",
    "SQLiteStore",
    "SQLiteTransitionHistory",
    "Score",
    "Segment",
    "SegmentRules",
    "SettlementMethod",
    "Severity",
    "StorageError",
    "SurveyResponse",
    "SurveyScale",
    "Table",
    "TierTable",
    "Transition",
    "TransitionHistory",
    "ValidationError",
    "ValueModel",
    "__version__",
    "activity_frames",
    "check_refund",
    "churn_warning",
    "erase",
    "export",
    "features",
    "features_one",
    "find_duplicates",
    "from_record",
    "may_contact",
    "merge",
    "movement",
    "profile_frame",
    "pseudonymize",
    "roll_up_to_companies",
    "score_monthly",
    "score_transactions",
    "standardize_frame",
    "to_record",
    "transactions_frame",
    "undo_merge",
    "validate_customers",
]
