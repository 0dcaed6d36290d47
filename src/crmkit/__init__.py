"""crmkit: the domain model and scoring engine of a CRM.

The front door holds what a notebook user and an application developer reach
for first: the entities, the features, the value model, segments, the
lifecycle, the loyalty programme, the one configuration file and the whole
job, the SQLite store, and the errors one catches. Everything else is public
in the subpackage of its layer (``crmkit.domain``, ``crmkit.scoring``,
``crmkit.segmentation``, ``crmkit.lifecycle``, ``crmkit.loyalty``,
``crmkit.quality``, ``crmkit.privacy``, ``crmkit.core``...), documented there.

>>> import crmkit as ck
>>> ck.__version__
'0.2.0'
>>> sorted(ck.__all__)[:4]
['Complaint', 'Config', 'ConfigError', 'Contact']
"""

from typing import TYPE_CHECKING, Any

from crmkit.config import Config, score_transactions
from crmkit.core import ConfigError, CrmkitError, FrameError, MissingColumnError, ValidationError
from crmkit.domain import (
    Complaint,
    Contact,
    Customer,
    Interaction,
    Purchase,
    Referral,
    Refund,
    SurveyResponse,
)
from crmkit.expr import Formula
from crmkit.lifecycle import Lifecycle, churn_warning
from crmkit.loyalty import EarningRules, Ledger, Rewards, TierTable
from crmkit.scoring import (
    FEATURE_COLUMNS,
    ValueModel,
    activity_frames,
    features,
    features_one,
    profile_frame,
)
from crmkit.segmentation import RFM, Segment, SegmentRules

__version__ = "0.2.0"

if TYPE_CHECKING:
    from crmkit.adapters.sqlite import SQLiteStore


def __getattr__(name: str) -> Any:
    # The store loads on first use, so that `import crmkit` stays light.
    if name == "SQLiteStore":
        from crmkit.adapters.sqlite import SQLiteStore

        return SQLiteStore
    raise AttributeError(f"module 'crmkit' has no attribute {name!r}")


__all__ = [
    "FEATURE_COLUMNS",
    "RFM",
    "Complaint",
    "Config",
    "ConfigError",
    "Contact",
    "CrmkitError",
    "Customer",
    "EarningRules",
    "Formula",
    "FrameError",
    "Interaction",
    "Ledger",
    "Lifecycle",
    "MissingColumnError",
    "Purchase",
    "Referral",
    "Refund",
    "Rewards",
    "SQLiteStore",
    "Segment",
    "SegmentRules",
    "SurveyResponse",
    "TierTable",
    "ValidationError",
    "ValueModel",
    "__version__",
    "activity_frames",
    "churn_warning",
    "features",
    "features_one",
    "profile_frame",
    "score_transactions",
]
