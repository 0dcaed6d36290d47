"""Segmentation: rule sets, the positioning presets, RFM, and segment movement.

* :class:`SegmentRules` holds named segments, each a boolean formula over a
  customer's features, in multi-label or exclusive mode; it loads from a
  dict, TOML or JSON, is validated when built, and assigns a whole frame
  (:meth:`~SegmentRules.assign`) or one customer
  (:meth:`~SegmentRules.assign_one`) with the same result. Rules may use
  population statistics (``quantile(total_spend, 0.8)``), computed once by
  :meth:`~SegmentRules.fit` and then frozen.
* Presets: :meth:`SegmentRules.positioning`, :meth:`SegmentRules.recency_view`
  and :meth:`SegmentRules.value_tiers`.
* :class:`RFM` scores recency, frequency and monetary value by quantile bins
  and names the RFM segments.
* :func:`movement` compares two assignments: a from -> to count matrix and
  the customers who moved.
"""

from crmkit.core import NotFittedError
from crmkit.expr import Input
from crmkit.segmentation._compile import SEGMENT_INPUTS
from crmkit.segmentation._explain import Explanation, RuleResult
from crmkit.segmentation._guests import guest_purchases
from crmkit.segmentation._movement import NO_SEGMENT, Movement, movement
from crmkit.segmentation._rfm import RFM, RFM_SEGMENTS, RfmScore
from crmkit.segmentation._rules import SegmentRules
from crmkit.segmentation._segment import Segment
from crmkit.segmentation._stats import STAT_FUNCTIONS, STATISTICS

__all__ = [
    "NO_SEGMENT",
    "RFM",
    "RFM_SEGMENTS",
    "SEGMENT_INPUTS",
    "STATISTICS",
    "STAT_FUNCTIONS",
    "Explanation",
    "Input",
    "Movement",
    "NotFittedError",
    "RfmScore",
    "RuleResult",
    "Segment",
    "SegmentRules",
    "guest_purchases",
    "movement",
]
