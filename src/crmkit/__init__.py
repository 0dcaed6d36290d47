"""crmkit: the domain model and scoring engine of a CRM.

The front door: everything a user needs is importable from here.

>>> import crmkit as ck
>>> ck.__version__
'0.1.0'
"""

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

__version__ = "0.1.0"

__all__ = [
    "Activity",
    "ActivityRepository",
    "AlreadyExistsError",
    "Channel",
    "Complaint",
    "ComplaintStatus",
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
    "SettlementMethod",
    "Severity",
    "StorageError",
    "SurveyResponse",
    "SurveyScale",
    "ValidationError",
    "__version__",
    "from_record",
    "to_record",
]
