"""Churn early warning: a documented rule set that flags customers at risk, with the reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import pandas as pd

from crmkit.core import ValidationError, check_frame
from crmkit.expr import Formula
from crmkit.lifecycle._inputs import GUARD_INPUTS, _columns_for, _with_derived

__all__ = ["ChurnWarning", "churn_warning"]

_REASONS = ["overdue", "spend drop", "overdue, spend drop"]


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError(f"ChurnWarning.{attribute.name}", expected="a number > 0", got=value)


def _share(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValidationError(
            f"ChurnWarning.{attribute.name}", expected="a share between 0 and 1", got=value
        )


@attrs.frozen
class ChurnWarning:
    """Churn early-warning rules: overdue against the usual gap, or a fall in recent spend.

    A customer is flagged when either rule holds (a null rule does not):

    * **overdue**: ``repeat_purchases >= min_repeat_purchases and
      days_since_last_purchase > gap_multiple * usual_gap_days``: silent for
      longer than *gap_multiple* times their own usual gap between purchase
      days (``usual_gap_days = repeat_span / repeat_purchases``).
    * **spend drop**: ``spend_prev_3m > 0 and spend_last_3m <= (1 -
      spend_drop) * spend_prev_3m``: spend in the last three months fell by
      at least the share *spend_drop* against the three months before.

    Attributes:
        gap_multiple: *k*, how many usual gaps of silence flag a customer.
        spend_drop: the share by which recent spend must fall (0 < share < 1).
        min_repeat_purchases: the repeat purchases needed before a usual gap
            is trusted.

    >>> import pandas as pd
    >>> feats = pd.DataFrame({"repeat_purchases": [3, 2, 0],
    ...     "repeat_span": [60.0, 60.0, 0.0], "days_since_last_purchase": [50.0, 10.0, 5.0],
    ...     "spend_last_3m": [10.0, 100.0, 40.0], "spend_prev_3m": [80.0, 90.0, 0.0]},
    ...     index=["ann", "bo", "cy"])
    >>> ChurnWarning().flag(feats)
         at_risk               reason  recency_ratio  spend_change
    ann     True  overdue, spend drop       2.500000     -0.875000
    bo     False                  NaN       0.333333      0.111111
    cy     False                  NaN            NaN           NaN
    """

    gap_multiple: float = attrs.field(default=2.0, validator=_positive)
    spend_drop: float = attrs.field(default=0.5, validator=_share)
    min_repeat_purchases: int = attrs.field(default=1, validator=_positive)

    @property
    def rules(self) -> dict[str, Formula]:
        """The two rules as formulas, by reason.

        >>> ChurnWarning(gap_multiple=3).rules["overdue"].text
        'repeat_purchases >= 1 and days_since_last_purchase > 3.0 * usual_gap_days'
        """
        keep = 1.0 - float(self.spend_drop)
        return {
            "overdue": Formula(
                f"repeat_purchases >= {self.min_repeat_purchases} and "
                f"days_since_last_purchase > {float(self.gap_multiple)!r} * usual_gap_days",
                schema=GUARD_INPUTS,
            ),
            "spend drop": Formula(
                f"spend_prev_3m > 0 and spend_last_3m <= {keep!r} * spend_prev_3m",
                schema=GUARD_INPUTS,
            ),
        }

    def flag(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Flag every row of a frame of features.

        Returns:
            A new frame with *frame*'s index: ``at_risk`` (bool), ``reason``
            (categorical: ``overdue``, ``spend drop`` or both; NaN when not at
            risk), and the evidence: ``recency_ratio`` (days since the last
            purchase over the usual gap) and ``spend_change`` (relative change
            of the last three months' spend against the three before).

        Raises:
            MissingColumnError: a feature column the rules read is absent.
        """
        frame = check_frame(frame, "frame", [])
        rules = self.rules
        names = frozenset().union(
            *(f.names for f in rules.values()), {"recency_ratio", "spend_trend"}
        )
        arrays = _columns_for(frame, names)
        n = len(frame)
        hits = [
            np.ma.filled(f.evaluate_arrays({k: arrays[k] for k in f.names}, size=n), False)
            for f in rules.values()
        ]
        code = hits[0].astype(np.int8) + 2 * hits[1].astype(np.int8) - 1
        reason = pd.Categorical.from_codes(code, dtype=pd.CategoricalDtype(_REASONS))
        trend = np.asarray(arrays["spend_trend"], dtype=np.float64)
        return pd.DataFrame(
            {
                "at_risk": code >= 0,
                "reason": reason,
                "recency_ratio": np.asarray(arrays["recency_ratio"], dtype=np.float64),
                "spend_change": trend - 1.0,
            },
            index=frame.index,
        )

    def flag_one(self, features: Mapping[str, Any]) -> tuple[bool, str | None]:
        """Flag one customer: ``(at_risk, reason)``, the same as their row of :meth:`flag`.

        >>> ChurnWarning().flag_one({"repeat_purchases": 2, "repeat_span": 20.0,
        ...     "days_since_last_purchase": 35.0, "spend_last_3m": 50.0, "spend_prev_3m": 60.0})
        (True, 'overdue')
        """
        values = dict(features)
        found = [
            name
            for name, f in self.rules.items()
            if f.evaluate(_with_derived(values, f.names)) is True
        ]
        return (bool(found), ", ".join(found) if found else None)


def churn_warning(
    frame: pd.DataFrame,
    *,
    gap_multiple: float = 2.0,
    spend_drop: float = 0.5,
    min_repeat_purchases: int = 1,
) -> pd.DataFrame:
    """Flag customers at risk of churning, with the reason: ``ChurnWarning(...).flag(frame)``.

    >>> import pandas as pd
    >>> feats = pd.DataFrame({"repeat_purchases": [1], "repeat_span": [30.0],
    ...     "days_since_last_purchase": [100.0], "spend_last_3m": [0.0], "spend_prev_3m": [0.0]})
    >>> churn_warning(feats, gap_multiple=3)[["at_risk", "reason"]]
       at_risk   reason
    0     True  overdue
    """
    return ChurnWarning(gap_multiple, spend_drop, min_repeat_purchases).flag(frame)
