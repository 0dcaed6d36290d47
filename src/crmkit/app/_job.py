"""The whole scoring job over a frame of transactions, driven by one :class:`Config`.

Pure: no I/O (the command line reads and writes the files). Used by
``crmkit score`` and, with the same configuration, by a notebook.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import numpy as np
import pandas as pd

from crmkit.app._config import Config
from crmkit.core import ValidationError, check_frame, parse_as_of
from crmkit.lifecycle import Lifecycle
from crmkit.scoring import ValueModel, features

__all__ = ["JobResult", "score_transactions"]

_PROFILE_COMPONENTS = ("growth_potential", "brand")


@attrs.frozen(kw_only=True)
class JobResult:
    """What :func:`score_transactions` gives: one row per customer and what was used.

    Attributes:
        scores: one row per customer: features, ``value`` and ``value_<component>``,
            one ``segment_<name>`` column per rule set (the label, or the labels
            joined by ``;`` for a multi-label set), ``stage`` (the customer's
            state: replayed month by month up to ``as_of``), and with a
            loyalty section ``points`` (earned in the period) and ``tier``
            (``TierTable.assign`` as of ``as_of``: the tier the table's history
            gives, on the points earned per purchase in the period or on spend).
        model: the value model used (a preset when the configuration has none).
        period: the ``[start, end)`` window points were earned in.
    """

    scores: pd.DataFrame
    model: ValueModel
    period: tuple[pd.Timestamp, pd.Timestamp]


def _labels(assigned: pd.DataFrame, mode: str) -> pd.Series[Any]:
    if mode == "exclusive":
        return assigned["segment"].astype("string")
    return assigned["segments"].map(lambda t: ";".join(t)).astype("string")


def _stages(
    lifecycle: Lifecycle,
    transactions: pd.DataFrame,
    feats: pd.DataFrame,
    when: pd.Timestamp,
    customer: str,
    date: str,
    amount: str,
) -> pd.Series[Any]:
    """Each customer's stage as of *when*: a state, replayed month by month from the first purchase.

    The customer steps at every month end before *when* and once more at
    *when* (``Lifecycle.replay(..., as_of=when)``), exactly as stepping one
    customer through ``Lifecycle.step`` month by month would. Customers with
    no purchase yet (other activity only) have no stage (``<NA>``).
    """
    first = feats["first_purchase"].min()
    if pd.isna(first):
        return pd.Series(pd.NA, index=feats.index, dtype="string")
    replayed = lifecycle.replay(
        transactions, start=first, as_of=when, customer=customer, date=date, amount=amount
    )
    stage = replayed.stages.iloc[:, -1].astype("string")
    return stage.reindex(feats.index)


def score_transactions(
    transactions: pd.DataFrame,
    config: Config,
    *,
    as_of: Any,
    since: Any = None,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    settlement: str | None = None,
    step: Callable[[str], None] | None = None,
) -> JobResult:
    """Features, value, segments, stage and period points for every customer.

    Args:
        transactions: one row per purchase: a pandas or polars DataFrame or a
            pyarrow Table (converted once, Arrow buffers kept: see ``crmkit.core.to_pandas``).
        config: the configuration; absent sections use the presets of
            :meth:`Config.with_presets`, and without a ``[value]`` section the
            default model drops the components needing profile attributes the
            frame lacks (``growth_potential``, ``brand``).
        as_of: the scoring date (activity at or before it counts).
        since: the start of the points period (default: 365 days before *as_of*);
            points are earned on purchases in ``[since, as_of)``.
        customer: the customer id column.
        date: the purchase timestamp column.
        amount: the purchase amount column.
        settlement: the settlement method column, if any.
        step: called with the name of each step as it starts (a progress bar).

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...                    "occurred_at": ["2025-01-05", "2025-02-01", "2025-02-03"],
    ...                    "amount": [100.0, 50.0, 20.0]})
    >>> config = Config.from_dict({"loyalty": {"earning": {"base": {"unit": 10.0}}}})
    >>> result = score_transactions(tx, config, as_of="2025-03-01")
    >>> result.scores[["total_spend", "stage", "points"]]
                 total_spend         stage  points
    customer_id
    a                  150.0        growth      15
    b                   20.0  introduction       2
    """
    say = step or (lambda _name: None)
    filled = config.with_presets()
    when = parse_as_of(as_of, field="as_of")
    start = parse_as_of(since, field="since") if since is not None else when - timedelta(days=365)
    if start >= when:
        raise ValidationError(
            "since",
            expected=f"a time before as_of ({when.date()})",
            got=str(start),
            hint="points are earned in [since, as_of)",
        )

    # Once here, not in every step (features, stage, points would each convert an Arrow table).
    transactions = check_frame(transactions, "transactions", [customer, date, amount, settlement])
    say("features")
    feats = features(
        transactions,
        as_of=when,
        customer=customer,
        date=date,
        amount=amount,
        settlement=settlement,
    )

    say("value")
    model = filled.value or ValueModel.default()
    if config.value is None:
        missing = [
            c.name
            for c in model.components
            if c.name in _PROFILE_COMPONENTS and not c.formula.names <= set(feats.columns)
        ]
        model = model.drop(*missing) if missing else model
    scored = model.score(feats)
    out = feats.join(scored[[c for c in scored.columns if c not in feats.columns]])

    for name, rules in filled.segments.items():
        say(f"segments {name}")
        # Rules with statistics are fitted on this base, unless the configuration
        # carries fitted thresholds already (Config.fit, saved): those are kept.
        fitted = rules.fit(out) if rules.statistics and rules.thresholds is None else rules
        out[f"segment_{name}"] = _labels(fitted.assign(out), rules.mode)

    say("stage")
    lifecycle = filled.lifecycle or Lifecycle.five_stage()
    out["stage"] = _stages(lifecycle, transactions, feats, when, customer, date, amount)

    if filled.earning is not None or filled.tiers is not None:
        say("points")
    rows: pd.DataFrame | None = None
    if filled.earning is not None:
        rows = filled.earning.points_frame(
            transactions,
            start=start,
            end=when,
            customer=customer,
            date=date,
            amount=amount,
            settlement=settlement,
        )
        earned = rows.groupby(customer, sort=False)["points"].sum()
        out["points"] = earned.reindex(out.index).fillna(0).astype(np.int64)
    if filled.tiers is not None:
        # The tier as TierTable.history gives it at as_of (evaluation periods and grace
        # included), for the whole base at once: points earned per purchase, or spend.
        table = filled.tiers
        if table.measure == "points" and rows is not None:
            events, measure = rows, "points"
        else:
            events, measure = transactions, amount
        tiers = table.assign(events, as_of=when, customer=customer, date=date, amount=measure)
        lowest = table.tiers[0].name
        out["tier"] = tiers["tier"].astype("string").reindex(out.index).fillna(lowest)
    return JobResult(scores=out, model=model, period=(start, when))
