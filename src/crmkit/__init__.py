"""crmkit: the domain model and scoring engine of a CRM.

The front door: everything a user needs is importable from here.

>>> import crmkit as ck
>>> ck.__version__
'0.1.0'
"""

from typing import TYPE_CHECKING, Any

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
from crmkit.errors import (
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
from crmkit.expr import Formula, FormulaError, Table
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

__version__ = "0.1.0"

if TYPE_CHECKING:
    from crmkit.adapters.sqlite import SQLiteStore


def __getattr__(name: str) -> Any:
    # Adapters load on first use, so that `import crmkit` stays light.
    if name == "SQLiteStore":
        from crmkit.adapters.sqlite import SQLiteStore

        return SQLiteStore
    raise AttributeError(f"module 'crmkit' has no attribute {name!r}")


__all__ = [
    "FEATURE_COLUMNS",
    "Activity",
    "ActivityFrames",
    "ActivityRepository",
    "AlreadyExistsError",
    "Channel",
    "Complaint",
    "ComplaintStatus",
    "Component",
    "ConfigError",
    "ConflictError",
    "Consent",
    "Contact",
    "ContactRepository",
    "CrmkitError",
    "Customer",
    "CustomerKind",
    "CustomerRepository",
    "Direction",
    "Formula",
    "FormulaError",
    "FrameError",
    "InMemoryActivityRepository",
    "InMemoryContactRepository",
    "InMemoryCustomerRepository",
    "Interaction",
    "Membership",
    "MissingColumnError",
    "NotFoundError",
    "Purchase",
    "Referral",
    "ReferralStatus",
    "Refund",
    "SQLiteStore",
    "Score",
    "SettlementMethod",
    "Severity",
    "StorageError",
    "SurveyResponse",
    "SurveyScale",
    "Table",
    "ValidationError",
    "ValueModel",
    "__version__",
    "activity_frames",
    "check_refund",
    "features",
    "features_one",
    "from_record",
    "profile_frame",
    "roll_up_to_companies",
    "score_monthly",
    "to_record",
    "transactions_frame",
]
