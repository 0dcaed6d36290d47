"""Test configuration: hypothesis profiles.

* ``dev`` (default): random examples, no deadline (the machine is shared, so
  timing deadlines would be flaky).
* ``ci`` (when ``CI`` is set): derandomised, so that a run is reproducible and
  landing does not depend on luck; more examples.
"""

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=100)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=200,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# ---------------------------------------------------------------- one customer at a time


def _one_at_a_time(
    result: Any,
    config: Any,
    activities: Any,
    *,
    as_of: Any,
    profiles: Any = None,
    sample: Any = None,
) -> int:
    """Assert that scoring each customer alone gives the job's row; return how many were checked.

    *result*: the job's :class:`~crmkit.app.JobResult` (of the whole base);
    *sample*: the customers to check (default: all); *config*: the
    configuration the job ran (filled with presets and fitted on the job's
    base here, as the job does); *activities*: ``customer id -> list of
    activities``. The paths an application takes for one customer:
    ``features_one``, ``ValueModel.score_one``, ``SegmentRules.assign_one``,
    ``Lifecycle.replay_one``, ``EarningRules.points`` per purchase and
    ``TierTable.history``.
    """
    from datetime import UTC

    import pandas as pd
    import pytest

    import crmkit as ck
    from crmkit.app import segment_column
    from crmkit.domain import Purchase

    scores, model = result.scores, result.model
    fitted = config.with_presets().fit(scores)
    start, end = result.period
    checked = scores if sample is None else scores.loc[sample]
    for cid, row in checked.iterrows():
        mine = activities[cid]
        values = dict(ck.features_one(mine, as_of=as_of))
        if profiles is not None and cid in profiles.index:
            values.update(profiles.loc[cid].to_dict())
        score = model.score_one(values)
        assert score.value == pytest.approx(row["value"], rel=1e-12), cid
        values["value"] = score.value
        for name, rules in fitted.segments.items():
            label = rules.assign_one(values)
            if isinstance(label, str) or label is None:
                assert label == row[segment_column(name)], (cid, name)
            else:  # a multi-label set: one boolean column per segment
                for segment in rules.segments:
                    column = segment_column(name, segment.name)
                    assert bool(row[column]) == (segment.name in label), (cid, column)
        steps = fitted.lifecycle.replay_one(mine, customer_id=str(cid), as_of=as_of)
        if steps:
            assert steps[-1].stage == row["stage"], cid
        else:
            assert pd.isna(row["stage"]), cid
        if fitted.earning is None:
            continue
        awards = [
            (p.occurred_at, sum(fitted.earning.points(float(p.amount), at=p.occurred_at).values()))
            for p in mine
            if isinstance(p, Purchase) and start <= p.occurred_at < end
        ]
        assert sum(points for _, points in awards) == row["points"], cid
        if fitted.tiers is not None:
            history = fitted.tiers.history(
                [(at.astimezone(UTC), float(points)) for at, points in awards], until=as_of
            )
            assert fitted.tiers.tier_at(history, as_of) == row["tier"], cid
    return len(checked)


@pytest.fixture
def one_at_a_time() -> Any:
    """:func:`_one_at_a_time`: the job's rows equal scoring each customer alone."""
    return _one_at_a_time
