"""How steady a lifecycle is: flips between two stages, and how many reverse soon after."""

from __future__ import annotations

import pandas as pd

from crmkit.core import ValidationError
from crmkit.lifecycle import Replay

__all__ = ["reversals"]


def reversals(replay: Replay, a: str, b: str, *, within: int = 2) -> dict[str, int]:
    """Count the flips between stages *a* and *b* in a replay, and those reversed soon after.

    A **flip** is a transition from *a* to *b* or from *b* to *a*. It is
    **reversed** when the customer's next transition is the opposite flip, at
    most *within* periods later. Many quick reversals say the thresholds
    between the two stages sit on the noise: leaving a stage should need more
    than coming back to it (hysteresis).

    Returns:
        ``customers`` (who reached *a* or *b*), ``flips``, ``both_ways``
        (customers who flipped in both directions) and ``reversed`` (flips
        reversed within *within* periods).

    >>> import pandas as pd
    >>> from crmkit.lifecycle import Lifecycle
    >>> tx = pd.DataFrame({"customer_id": ["a"] * 3, "amount": [10.0, 5.0, 7.0],
    ...     "occurred_at": pd.to_datetime(["2025-01-03", "2025-01-20", "2025-09-10"])})
    >>> r = Lifecycle.five_stage(version=1).replay(tx, start="2025-01", end="2025-10")
    >>> reversals(r, "growth", "decline")
    {'customers': 1, 'flips': 1, 'both_ways': 0, 'reversed': 0}
    """
    if not isinstance(replay, Replay):
        raise ValidationError("replay", expected="a Replay", got=type(replay).__name__)
    states = replay.lifecycle.states
    for field, name in (("a", a), ("b", b)):
        if name not in states:
            raise ValidationError(field, expected=f"a stage of {replay.lifecycle.name}", got=name)
    if a == b:
        raise ValidationError("b", expected=f"a stage other than {a!r}", got=b)
    if isinstance(within, bool) or not isinstance(within, int) or within < 1:
        raise ValidationError("within", expected="a number of periods >= 1", got=within)
    codes = replay.codes
    pair = [states.index(a), states.index(b)]
    customers = int(pd.DataFrame(codes).isin(pair).any(axis=1).sum())
    t = replay.transitions
    who = t.columns[0]
    t = t.sort_values([who, "period"], kind="stable")
    t = t.assign(_tick=pd.PeriodIndex(t["period"]).asi8)
    after = t.groupby(who, sort=False, observed=True)[["from_stage", "to_stage", "_tick"]].shift(-1)
    flip = (t["from_stage"].isin([a, b]) & t["to_stage"].isin([a, b])).to_numpy()
    back = (
        (after["from_stage"] == t["to_stage"]) & (after["to_stage"] == t["from_stage"])
    ).to_numpy()
    soon = ((after["_tick"] - t["_tick"]) <= within).to_numpy()
    directions = t.loc[flip].groupby(who, sort=False, observed=True)["from_stage"].nunique()
    return {
        "customers": customers,
        "flips": int(flip.sum()),
        "both_ways": int((directions == 2).sum()),
        "reversed": int((flip & back & soon).sum()),
    }
