"""The domain layer: entities, activities, value objects, repository Protocols, in-memory repositories.

It imports nothing else of crmkit; every other layer may import it.
"""

from crmkit.domain._activities import (
    Activity,
    ActivityBase,
    Complaint,
    Interaction,
    Purchase,
    Referral,
    Refund,
    SurveyResponse,
    check_refund,
    check_refund_owner,
    check_rewrite,
    refundable_amount,
)
from crmkit.domain._codec import from_record, to_record
from crmkit.domain._entities import Consent, Contact, Customer, Membership
from crmkit.domain._memory import (
    InMemoryActivityRepository,
    InMemoryContactRepository,
    InMemoryCustomerRepository,
    check_activity,
    check_batch_size,
    check_entity,
)
from crmkit.domain._record import Record, personal_fields
from crmkit.domain._repositories import (
    ActivityRepository,
    ContactRepository,
    CustomerRepository,
    RewritableActivityRepository,
)
from crmkit.domain._values import (
    Channel,
    ComplaintStatus,
    CustomerKind,
    Direction,
    FrozenDict,
    ReferralStatus,
    SettlementMethod,
    Severity,
    SurveyScale,
    to_optional_utc,
    to_utc,
)

__all__ = [
    "Activity",
    "ActivityBase",
    "ActivityRepository",
    "Channel",
    "Complaint",
    "ComplaintStatus",
    "Consent",
    "Contact",
    "ContactRepository",
    "Customer",
    "CustomerKind",
    "CustomerRepository",
    "Direction",
    "FrozenDict",
    "InMemoryActivityRepository",
    "InMemoryContactRepository",
    "InMemoryCustomerRepository",
    "Interaction",
    "Membership",
    "Purchase",
    "Record",
    "Referral",
    "ReferralStatus",
    "Refund",
    "RewritableActivityRepository",
    "SettlementMethod",
    "Severity",
    "SurveyResponse",
    "SurveyScale",
    "check_activity",
    "check_batch_size",
    "check_entity",
    "check_refund",
    "check_refund_owner",
    "check_rewrite",
    "from_record",
    "personal_fields",
    "refundable_amount",
    "to_optional_utc",
    "to_record",
    "to_utc",
]
