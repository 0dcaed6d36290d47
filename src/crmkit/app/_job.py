"""The whole scoring job over the activity frames, driven by one :class:`Config`.

Pure: no I/O (the command line reads and writes the files). Used by
``crmkit score``, by a notebook with the same configuration, and on Dask
(:func:`crmkit.app.score_dask` runs this very function on each customer
partition).

The job has three parts, and the Dask path depends on where each thing is:

1. :func:`base_scores`: per customer only (features of every activity frame,
   profile attributes, value). A customer's row depends on that customer's
   rows and nothing else.
2. :func:`fit_on_base`: everything fitted on the whole base (today: segment rule
   sets with population statistics), from part 1's frame of the whole base,
   giving a fitted :class:`Config`. Rules already fitted are kept.
3. the rest of :func:`score_transactions` (segments, stage, points, tiers):
   per customer again, with the fitted configuration.

A new step that reads the whole base (a model fitted on all customers) must
be fitted in part 2 and carried by the fitted configuration, so that the
Dask path, which runs part 2 once on the whole base and then this job per
partition, gives the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from crmkit.app._config import Config
from crmkit.core import FrameError, ValidationError, check_frame, first_rows, parse_as_of
from crmkit.lifecycle import Lifecycle, TransitionHistory
from crmkit.scoring import TimeUnit, ValueModel, features

if TYPE_CHECKING:
    from crmkit.clv import ClvFeatures

__all__ = ["JobResult", "score_transactions", "segment_column"]

#: The activity frames the job reads besides transactions, in the order
#: :func:`crmkit.features` numbers customers in (after the transactions).
ACTIVITY_FRAMES = ("refunds", "complaints", "referrals", "interactions", "surveys")

_PROFILE_COMPONENTS = ("growth_potential", "brand")


@attrs.frozen(kw_only=True)
class JobResult:
    """What :func:`score_transactions` gives: one row per customer and what was used.

    Attributes:
        scores: one row per customer: features (with a ``[clv]`` section, the
            forecasts ``p_alive``, ``p_any_purchase``, ``expected_purchases`` and,
            with a spend model, ``expected_spend`` and ``clv``), ``value`` and
            ``value_<component>``, per rule set ``segment_<set>`` (an exclusive set:
            the label) or one boolean column ``segment_<set>__<label>`` per segment
            (a multi-label set: :func:`segment_column`), ``stage`` (the customer's
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


def segment_column(rule_set: str, label: str | None = None) -> str:
    """The name of a job output column for a segment rule set.

    An exclusive set writes one text column, ``segment_<set>``: the label.
    A multi-label set writes one boolean column per segment,
    ``segment_<set>__<label>`` (two underscores), in the order the segments
    are declared: one cell holds one fact, in CSV as in Parquet.

    >>> segment_column("value_tiers"), segment_column("positioning", "big")
    ('segment_value_tiers', 'segment_positioning__big')
    """
    return f"segment_{rule_set}" if label is None else f"segment_{rule_set}__{label}"


def _segment_columns(name: str, assigned: pd.DataFrame, mode: str) -> dict[str, pd.Series[Any]]:
    if mode == "exclusive":
        return {segment_column(name): assigned["segment"].astype("string")}
    labels = [c for c in assigned.columns if c != "segments"]
    return {segment_column(name, label): assigned[label].astype(bool) for label in labels}


def _stages(
    lifecycle: Lifecycle,
    transactions: pd.DataFrame,
    feats: pd.DataFrame,
    when: pd.Timestamp,
    customer: str,
    date: str,
    amount: str,
    extensions: tuple[ClvFeatures, ...] = (),
    stored: pd.DataFrame | None = None,
) -> pd.Series[Any]:
    """Each customer's stage as of *when*: a state, replayed month by month from the first purchase.

    The customer steps at every month end before *when* and once more at
    *when* (``Lifecycle.replay(..., as_of=when)``), exactly as stepping one
    customer through ``Lifecycle.step`` month by month would. A customer with
    a *stored* stage (``Lifecycle.stored_stages``) continues from it at the
    first month end after its time (``resume=``). Customers with no purchase
    yet (other activity only) have no stage (``<NA>``).
    """
    first = feats["first_purchase"].min()
    if pd.isna(first):
        return pd.Series(pd.NA, index=feats.index, dtype="string")
    replayed = lifecycle.replay(
        transactions,
        start=first,
        as_of=when,
        customer=customer,
        date=date,
        amount=amount,
        extensions=extensions,
        resume=stored,
    )
    stage = replayed.stages.iloc[:, -1].astype("string")
    return stage.reindex(feats.index)


@attrs.frozen(kw_only=True)
class JobOptions:
    """The validated arguments of one run of the job (what every partition of a Dask run shares)."""

    when: pd.Timestamp
    start: pd.Timestamp
    customer: str
    date: str
    amount: str
    settlement: str | None
    severity: str
    channel: str
    score: str
    scale: str | None
    time_unit: TimeUnit

    def feature_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`crmkit.features` (but the frames)."""
        return {
            "as_of": self.when,
            "customer": self.customer,
            "date": self.date,
            "amount": self.amount,
            "settlement": self.settlement,
            "severity": self.severity,
            "channel": self.channel,
            "score": self.score,
            "scale": self.scale,
            "time_unit": self.time_unit,
        }


def job_options(
    *,
    as_of: Any,
    since: Any,
    customer: str,
    date: str,
    amount: str,
    settlement: str | None,
    severity: str,
    channel: str,
    score: str,
    scale: str | None,
    time_unit: TimeUnit,
) -> JobOptions:
    """The job's arguments checked once (``since`` before ``as_of``; column names are checked by the steps)."""
    when = parse_as_of(as_of, field="as_of")
    start = parse_as_of(since, field="since") if since is not None else when - timedelta(days=365)
    if start >= when:
        raise ValidationError(
            "since",
            expected=f"a time before as_of ({when.date()})",
            got=str(start),
            hint="points are earned in [since, as_of)",
        )
    return JobOptions(
        when=when,
        start=start,
        customer=customer,
        date=date,
        amount=amount,
        settlement=settlement,
        severity=severity,
        channel=channel,
        score=score,
        scale=scale,
        time_unit=time_unit,
    )


def profile_index(profiles: Any, customer: str) -> pd.DataFrame:
    """*profiles* indexed by customer id, one row per customer (checked).

    A frame with a *customer* column is indexed by it; otherwise its index
    holds the ids (as :func:`crmkit.profile_frame` gives them).
    """
    frame = check_frame(profiles, "profiles", [])
    if customer in frame.columns:
        frame = frame.set_index(customer)
    duplicated = frame.index.duplicated()
    if duplicated.any():
        raise FrameError(
            "profiles has more than one row for a customer",
            column=customer,
            rows=first_rows(frame, duplicated),
            expected="one row per customer",
            got=repr(frame.index[int(np.argmax(duplicated))]),
        )
    return frame


def base_scores(
    transactions: pd.DataFrame,
    others: dict[str, Any],
    profiles: pd.DataFrame | None,
    config: Config,
    options: JobOptions,
    say: Callable[[str], None],
) -> tuple[pd.DataFrame, ValueModel]:
    """Part 1 of the job, per customer only: features of every frame, profile attributes, value.

    *config* as given (not filled with presets): without a ``[value]`` section
    the default model drops the components whose profile attributes are absent.
    """
    say("features")
    feats = features(
        transactions, **others, **options.feature_options(), extensions=clv_extensions(config)
    )
    if profiles is not None:
        overlap = sorted(set(profiles.columns) & set(feats.columns))
        if overlap:
            raise FrameError(
                f"profiles has columns the features have too: {', '.join(overlap)}",
                column=overlap[0],
                expected="profile attributes with names of their own",
                got=", ".join(overlap),
            )
        index = feats.index
        feats = feats.join(profiles, how="left")
        # A join may infer another dtype for the ids (object -> str) depending on the
        # data; the scores keep the features' index, so every path gives the same.
        feats.index = index

    say("value")
    model = value_model(config, feats.columns)
    scored = model.score(feats)
    out = feats.join(scored[[c for c in scored.columns if c not in feats.columns]])
    out.index = feats.index
    return out, model


def clv_extensions(config: Config) -> tuple[ClvFeatures, ...]:
    """The ``[clv]`` section's forecasts as feature extensions (none without one).

    The fitted models' forecasts (``p_alive``, ``expected_purchases``, ``clv``...)
    become feature columns, in the features and at every month end of the stage
    replay. A fitted model is part of the configuration, not fitted on the base:
    every Dask partition computes the same columns.
    """
    return (config.clv,) if config.clv is not None else ()


def value_model(config: Config, columns: Iterable[Any]) -> ValueModel:
    """The job's value model: the configuration's, or the default less what *columns* cannot feed.

    Without a ``[value]`` section the default model drops the components
    needing profile attributes absent from *columns* (``growth_potential``,
    ``brand``).
    """
    if config.value is not None:
        return config.value
    model = ValueModel.default()
    have = set(columns)
    missing = [
        c.name
        for c in model.components
        if c.name in _PROFILE_COMPONENTS and not c.formula.names <= have
    ]
    return model.drop(*missing) if missing else model


def needs_fit(config: Config) -> bool:
    """Whether :func:`fit_on_base` would fit anything (a rule set with statistics, unfitted)."""
    return any(r.statistics and r.thresholds is None for r in config.segments.values())


def fit_columns(config: Config) -> list[str]:
    """The columns of the base :func:`fit_on_base` reads."""
    names: set[str] = set()
    for rules in config.segments.values():
        if rules.statistics and rules.thresholds is None:
            names |= rules.statistic_columns
    return sorted(names)


def fit_on_base(config: Config, base: pd.DataFrame) -> Config:
    """Part 2 of the job: *config* with what is fitted on the whole base fitted on *base*.

    Segment rule sets with population statistics are fitted on *base* (the
    job's features and values of every customer, in the pandas job's order
    of customers), unless they carry fitted thresholds already (``Config.fit``,
    saved): those are kept.
    """
    if not needs_fit(config):
        return config
    return attrs.evolve(
        config,
        segments={
            name: rules.fit(base) if rules.statistics and rules.thresholds is None else rules
            for name, rules in config.segments.items()
        },
    )


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
    refunds: pd.DataFrame | None = None,
    complaints: pd.DataFrame | None = None,
    referrals: pd.DataFrame | None = None,
    interactions: pd.DataFrame | None = None,
    surveys: pd.DataFrame | None = None,
    profiles: pd.DataFrame | None = None,
    severity: str = "severity",
    channel: str = "channel",
    score: str = "score",
    scale: str | None = None,
    time_unit: TimeUnit = "D",
    stages: pd.DataFrame | TransitionHistory | None = None,
    step: Callable[[str], None] | None = None,
) -> JobResult:
    """Features, value, segments, stage, period points and tier for every customer.

    Args:
        transactions: one row per purchase: a pandas or polars DataFrame or a
            pyarrow Table (converted once, Arrow buffers kept: see ``crmkit.core.to_pandas``).
        config: the configuration; absent sections use the presets of
            :meth:`Config.with_presets`, and without a ``[value]`` section the
            default model drops the components needing profile attributes the
            frames lack (``growth_potential``, ``brand``).
        as_of: the scoring date (activity at or before it counts).
        since: the start of the points period (default: 365 days before *as_of*);
            points are earned on purchases in ``[since, as_of)``.
        customer: the customer id column (in every frame).
        date: the activity timestamp column (in every frame).
        amount: the amount column of *transactions* and *refunds*.
        settlement: the settlement method column, if any.
        refunds: refunds (*customer*, *date*, *amount*), as
            :func:`crmkit.features` reads them; so are the four frames below
            (a frame not given counts as an empty one). The features, and so
            the value and the segments, count them; the stage reads the
            transactions only (what :meth:`Lifecycle.replay` reads), and so
            do points and tiers.
        complaints: complaints (*customer*, *date*, *severity*).
        referrals: referrals made (*customer* is the referrer).
        interactions: interactions (*customer*, *date*, *channel*).
        surveys: survey responses (*customer*, *date*, *score*, and *scale* if given).
        profiles: profile attributes, one row per customer, indexed by
            customer id (:func:`crmkit.profile_frame`) or with a *customer*
            column; joined onto the features (left join: customers without
            activity are not scored, customers without a profile row get
            nulls), so the value model and the segment rules can read them.
        severity: the severity column of *complaints*.
        channel: the channel column of *interactions*.
        score: the score column of *surveys*.
        scale: the scale column of *surveys*, if any (each score must lie on its scale).
        time_unit: unit of ``repeat_span`` and ``age``: ``"D"`` or ``"W"``.
        stages: the stages the host stored, to continue from instead of
            replaying each customer from the first purchase: a frame with
            ``stage`` and ``at`` columns, one row per customer (indexed by
            customer id or with the *customer* column), or a
            :class:`~crmkit.lifecycle.TransitionHistory` (each customer's
            latest transition of the lifecycle at or before *as_of*); see
            :meth:`Lifecycle.stored_stages <crmkit.lifecycle.Lifecycle.stored_stages>`.
            A stored customer steps from the stored stage at each month end
            after its ``at`` (and at *as_of*); the others replay as without.
            Continuing from the stages a month end gave equals the full
            replay (tested). Store month-end stages: a stage as of a mid-month
            *as_of* is provisional (that month is stepped again at its end).
        step: called with the name of each step as it starts (a progress bar).

    Returns:
        A :class:`JobResult`; its ``scores`` list customers in
        :func:`crmkit.features`' order (first appearance in the
        transactions, then in each further frame).

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

    Other activity and profile attributes count too:

    >>> complaints = pd.DataFrame({"customer_id": ["b", "c"], "severity": ["high", "low"],
    ...                            "occurred_at": ["2025-02-10", "2025-02-11"]})
    >>> profiles = pd.DataFrame({"customer_id": ["a", "b"], "is_member": [True, False]})
    >>> result = score_transactions(tx, config, as_of="2025-03-01",
    ...                             complaints=complaints, profiles=profiles)
    >>> result.scores[["complaint_count", "is_member", "stage", "points"]]
                 complaint_count is_member         stage  points
    customer_id
    a                          0      True        growth      15
    b                          1     False  introduction       2
    c                          1       NaN          <NA>       0

    Continuing from the stages the host stored (``a`` was stored in decline at
    the end of January; ``b`` has no stored stage and replays from its first purchase):

    >>> stored = pd.DataFrame({"customer_id": ["a"], "stage": ["decline"],
    ...     "at": pd.to_datetime(["2025-01-31 23:59:59.999999"], utc=True)})
    >>> result = score_transactions(tx, config, as_of="2025-03-01", stages=stored)
    >>> result.scores["stage"].tolist()
    ['maturity', 'introduction']
    """
    # Once here, not in every step (features, stage, points would each convert an Arrow table).
    transactions = check_frame(transactions, "transactions", [customer, date, amount, settlement])
    options = job_options(
        as_of=as_of,
        since=since,
        customer=customer,
        date=date,
        amount=amount,
        settlement=settlement,
        severity=severity,
        channel=channel,
        score=score,
        scale=scale,
        time_unit=time_unit,
    )
    others = {
        "refunds": refunds,
        "complaints": complaints,
        "referrals": referrals,
        "interactions": interactions,
        "surveys": surveys,
    }
    return run_job(
        transactions,
        {k: v for k, v in others.items() if v is not None},
        None if profiles is None else profile_index(profiles, customer),
        config,
        options,
        stages=stored_stages(config, stages, options),
        step=step,
    )


def job_lifecycle(config: Config) -> Lifecycle:
    """The lifecycle the job steps: the configuration's, or the five-stage preset."""
    return config.with_presets().lifecycle or Lifecycle.five_stage()


def stored_stages(
    config: Config, stages: pd.DataFrame | TransitionHistory | None, options: JobOptions
) -> pd.DataFrame | None:
    """The host's stored stages checked against the job's lifecycle and *as_of* (``None``: none)."""
    if stages is None:
        return None
    return job_lifecycle(config).stored_stages(
        stages, customer=options.customer, until=options.when
    )


def run_job(
    transactions: pd.DataFrame,
    others: dict[str, Any],
    profiles: pd.DataFrame | None,
    config: Config,
    options: JobOptions,
    *,
    stages: pd.DataFrame | None = None,
    step: Callable[[str], None] | None = None,
) -> JobResult:
    """The job on checked arguments: :func:`score_transactions` and every Dask partition run this.

    *stages* are stored stages as :func:`stored_stages` gives them (or ``None``).
    """
    say = step or (lambda _name: None)
    filled = config.with_presets()
    when, start = options.when, options.start
    customer, date, amount = options.customer, options.date, options.amount
    settlement = options.settlement

    out, model = base_scores(transactions, others, profiles, config, options, say)
    extensions = clv_extensions(config)
    # Rules with statistics are fitted on this base, unless the configuration
    # carries fitted thresholds already (Config.fit, saved; or the Dask path's
    # fit on the whole base): those are kept.
    filled = fit_on_base(filled, out)

    for name, rules in filled.segments.items():
        say(f"segments {name}")
        columns = _segment_columns(name, rules.assign(out), rules.mode)
        taken = [c for c in columns if c in out.columns]
        if taken:
            raise ValidationError(
                f"segments.{name}",
                expected="output columns no other rule set or feature writes",
                got=f"{taken[0]!r}, already taken",
                hint="rename the rule set or the segment",
            )
        for column, values in columns.items():
            out[column] = values

    say("stage")
    lifecycle = filled.lifecycle or Lifecycle.five_stage()
    out["stage"] = _stages(
        lifecycle, transactions, out, when, customer, date, amount, extensions, stages
    )

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
