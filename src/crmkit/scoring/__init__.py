"""Scoring: features from activities, for one customer or a whole frame.

* :func:`features` computes every customer's features from a transaction frame
  (and optional refund, complaint, referral, interaction and survey frames)
  with numpy kernels; :func:`features_one` computes the same mapping for one
  customer from domain entities, in plain Python.
* :func:`activity_frames` / :func:`transactions_frame` turn domain entities
  into those frames, :func:`profile_frame` gives the profile attributes value
  models use, and :func:`roll_up_to_companies` credits staff activity to their
  company customer.

Every column and convention is described in the Features concept page.
"""

from crmkit.scoring._columns import FEATURE_COLUMNS
from crmkit.scoring._convert import (
    ActivityFrames,
    activity_frames,
    profile_frame,
    roll_up_to_companies,
    transactions_frame,
)
from crmkit.scoring._features import TimeUnit, features
from crmkit.scoring._one import FeatureValue, features_one
from crmkit.scoring._time import AsOf

__all__ = [
    "FEATURE_COLUMNS",
    "ActivityFrames",
    "AsOf",
    "FeatureValue",
    "TimeUnit",
    "activity_frames",
    "features",
    "features_one",
    "profile_frame",
    "roll_up_to_companies",
    "transactions_frame",
]
