"""Scoring: features from activities, for one customer or a whole frame.

* :func:`features` computes every customer's features from a transaction frame
  (and optional refund, complaint, referral, interaction and survey frames)
  with numpy kernels; :func:`features_one` computes the same mapping for one
  customer from domain entities, in plain Python.
* :func:`activity_frames` / :func:`transactions_frame` turn domain entities
  into those frames, :func:`profile_frame` gives the profile attributes value
  models use, and :func:`roll_up_to_companies` credits staff activity to their
  company customer.
* :class:`ValueModel` scores the composite customer value: configurable,
  weighted formula components (:meth:`ValueModel.default` is the seven
  components of the domain), over a frame (:meth:`ValueModel.score`) or one
  customer (:meth:`ValueModel.score_one`, with :meth:`Score.explain`);
  :func:`score_monthly` gives the value at every month end.
* :class:`FeatureExtension` adds columns computed from the features (the
  forecasts of :class:`crmkit.clv.ClvFeatures`: :data:`MODEL_INPUTS`) on
  every engine: ``features(..., extensions=...)``, ``features_one``, replay.

Every column and convention is described in the Features concept page.
"""

from crmkit.core import AsOf
from crmkit.scoring._columns import FEATURE_COLUMNS, FEATURE_INPUTS, FEATURE_KINDS
from crmkit.scoring._convert import (
    ActivityFrames,
    activity_frames,
    profile_frame,
    roll_up_to_companies,
    transactions_frame,
)
from crmkit.scoring._derive import DERIVED_FEATURES, DerivedFeature
from crmkit.scoring._derive import derive as derive_features
from crmkit.scoring._extension import (
    MODEL_INPUTS,
    FeatureExtension,
    check_extensions,
    extension_columns,
)
from crmkit.scoring._features import TimeUnit, features
from crmkit.scoring._monthly import score_monthly
from crmkit.scoring._one import FeatureValue, features_one
from crmkit.scoring._value import PROFILE_TYPES, VALUE_INPUTS, Component, Score, ValueModel

__all__ = [
    "DERIVED_FEATURES",
    "FEATURE_COLUMNS",
    "FEATURE_INPUTS",
    "FEATURE_KINDS",
    "MODEL_INPUTS",
    "PROFILE_TYPES",
    "VALUE_INPUTS",
    "ActivityFrames",
    "AsOf",
    "Component",
    "DerivedFeature",
    "FeatureExtension",
    "FeatureValue",
    "Score",
    "TimeUnit",
    "ValueModel",
    "activity_frames",
    "check_extensions",
    "derive_features",
    "extension_columns",
    "features",
    "features_one",
    "profile_frame",
    "roll_up_to_companies",
    "score_monthly",
    "transactions_frame",
]
