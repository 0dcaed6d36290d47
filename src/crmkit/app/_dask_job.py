"""The one job on Dask: :func:`score_transactions` run on each customer partition.

Needs the ``dask`` extra; dask is imported by :mod:`crmkit.adapters.dask`
when :func:`score_dask` is called, never when :mod:`crmkit.app` is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import pandas as pd

from crmkit.app._config import Config
from crmkit.app._job import (
    ACTIVITY_FRAMES,
    JobOptions,
    base_scores,
    fit_columns,
    fit_on_base,
    job_options,
    needs_fit,
    profile_index,
    run_job,
    stored_stages,
    value_model,
)
from crmkit.core import ValidationError, check_frame
from crmkit.scoring import FEATURE_COLUMNS, TimeUnit, ValueModel

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["DaskJobResult", "score_dask"]

_RANK: Final = "__crmkit_first_frame__"
_FIRST: Final = "__crmkit_first_position__"
# The stored stages travel as one more frame partitioned by customer, under
# names of their own (never the activity frames' date column).
_STAGE: Final = "__crmkit_stored_stage__"
_AT: Final = "__crmkit_stored_at__"


@attrs.frozen(kw_only=True)
class DaskJobResult:
    """What :func:`score_dask` gives: the lazy scores and what was used.

    Attributes:
        scores: a dask DataFrame indexed by customer, with the columns and
            values of :attr:`JobResult.scores <crmkit.app.JobResult.scores>`
            (the pandas job's, exactly; sort both by customer to compare).
            Nothing is computed until you ask (``.compute()``, ``.to_parquet``).
        config: the configuration the partitions ran with: segment rule sets
            with population statistics fitted on the whole base (save it to
            score one customer at a time with the base's thresholds).
        model: the value model used.
        period: the ``[start, end)`` window points were earned in.
    """

    scores: dd.DataFrame
    config: Config
    model: ValueModel
    period: tuple[pd.Timestamp, pd.Timestamp]


def _split(
    parts: dict[str, pd.DataFrame], options: JobOptions
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], pd.DataFrame | None]:
    transactions = parts["transactions"]
    others = {name: parts[name] for name in ACTIVITY_FRAMES if name in parts}
    profiles = parts.get("profiles")
    return (
        transactions,
        others,
        None if profiles is None else profile_index(profiles, options.customer),
    )


def _job_part(parts: dict[str, pd.DataFrame], config: Config, options: JobOptions) -> pd.DataFrame:
    """The whole pandas job on one customer partition (with its customers' stored stages)."""
    transactions, others, profiles = _split(parts, options)
    stages = None
    if "stages" in parts:
        stages = (
            parts["stages"]
            .rename(columns={_STAGE: "stage", _AT: "at"})
            .set_index(options.customer)[["stage", "at"]]
        )
    return run_job(transactions, others, profiles, config, options, stages=stages).scores


def _base_part(parts: dict[str, pd.DataFrame], config: Config, options: JobOptions) -> pd.DataFrame:
    """Part 1 of the job on one partition: the columns the fit reads, and each customer's first row.

    The first row (which frame, the position in it) orders the customers as
    :func:`crmkit.features` orders the whole base: first appearance in the
    transactions, then in each further frame.
    """
    from crmkit.adapters.dask import POSITION

    stripped = {name: part.drop(columns=[POSITION]) for name, part in parts.items()}
    transactions, others, profiles = _split(stripped, options)
    base, _ = base_scores(transactions, others, profiles, config, options, lambda _name: None)
    n = len(base)
    rank = np.full(n, -1, dtype=np.int64)
    first = np.zeros(n, dtype=np.int64)
    order = ["transactions", *[name for name in ACTIVITY_FRAMES if name in parts]]
    for r, name in enumerate(order):
        frame = parts[name]
        firsts = frame.drop_duplicates(options.customer)
        where = base.index.get_indexer(pd.Index(firsts[options.customer]))
        found = where >= 0
        rows = where[found]
        new = rank[rows] < 0
        rank[rows[new]] = r
        first[rows[new]] = firsts[POSITION].to_numpy()[found][new]
    wanted = [c for c in fit_columns(config.with_presets()) if c in base.columns]
    return base[wanted].assign(**{_RANK: rank, _FIRST: first})


def _profiles_frame(profiles: Any, customer: str) -> Any:
    """Profiles with the customer id as a column (the partitioning needs one)."""
    if hasattr(profiles, "npartitions"):  # a dask DataFrame
        if customer in profiles.columns:
            return profiles
        if profiles.index.name == customer:
            return profiles.reset_index()
        raise ValidationError(
            "profiles",
            expected=f"a dask DataFrame with a {customer!r} column or index",
            got=f"columns {list(profiles.columns)}, index {profiles.index.name!r}",
        )
    frame = check_frame(profiles, "profiles", [])  # pandas, polars or pyarrow
    if customer in frame.columns:
        return frame
    return frame.rename_axis(customer).reset_index()


def score_dask(
    transactions: Any,
    config: Config,
    *,
    as_of: Any,
    since: Any = None,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    settlement: str | None = None,
    refunds: Any = None,
    complaints: Any = None,
    referrals: Any = None,
    interactions: Any = None,
    surveys: Any = None,
    profiles: Any = None,
    severity: str = "severity",
    channel: str = "channel",
    score: str = "score",
    scale: str | None = None,
    time_unit: TimeUnit = "D",
    stages: Any = None,
    npartitions: int | None = None,
) -> DaskJobResult:
    """:func:`score_transactions` on Dask: the same job on each customer partition.

    Every frame (the transactions, each other activity frame, the profiles)
    is shuffled by customer so that each customer's rows are in one
    partition, the same partition number in every frame
    (:func:`crmkit.adapters.dask.partition_frames`), and put back in input
    order there. What is fitted on the whole base (segment rule sets with
    population statistics, unless already fitted) is fitted once, on the
    whole base in the pandas job's order of customers: the frames are
    persisted, the job's features and values are computed per partition and
    the columns the statistics read are collected to the client. Then
    :func:`score_transactions` itself runs on each partition with the fitted
    configuration. So every column equals the pandas job's, bit for bit.

    The arguments are :func:`score_transactions`'; every frame may be a dask
    DataFrame (or a pandas/polars frame or pyarrow Table: one partition
    before the shuffle, so pass *npartitions*). *npartitions* is the number
    of partitions after the shuffle (default: the transactions').
    *stages* (stored stages to continue from) is a pandas frame or a
    :class:`~crmkit.lifecycle.TransitionHistory`, read and checked on the
    client, then partitioned by customer with the other frames, so each
    partition continues its own customers from their stored stages.

    Differences from the pandas job: customers come partition by partition
    (sort by customer to compare); *as_of* before all the data gives no rows
    instead of a ``FrameError``; bad values (a negative amount) raise when the
    result is computed, bad arguments and missing columns at once; ids of
    ``object`` dtype come back as ``str`` (pandas 3 infers it when dask
    concatenates the partitions; give ids one text dtype in every frame).

    >>> import dask
    >>> import pandas as pd
    >>> from crmkit.app import score_transactions
    >>> tx = pd.DataFrame({"customer_id": ["a", "b", "a", "c"],
    ...     "occurred_at": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-02-09", "2025-03-01"]),
    ...     "amount": [5.0, 7.0, 1.5, 30.0]})
    >>> complaints = pd.DataFrame({"customer_id": ["c"], "severity": ["high"],
    ...     "occurred_at": pd.to_datetime(["2025-03-02"])})
    >>> config = Config.from_dict({"segments": {"size": {"segments": {
    ...     "big": {"rule": "total_spend >= median(total_spend)"}}}}})
    >>> with dask.config.set(scheduler="synchronous"):
    ...     job = score_dask(tx, config, as_of="2025-03-31", complaints=complaints, npartitions=2)
    ...     out = job.scores.compute()
    >>> out.sort_index()[["total_spend", "complaint_count", "stage"]]
                 total_spend  complaint_count         stage
    customer_id
    a                    6.5                0        growth
    b                    7.0                0  introduction
    c                   30.0                1  introduction
    >>> want = score_transactions(tx, config, as_of="2025-03-31", complaints=complaints).scores
    >>> out.sort_index().equals(want.sort_index())
    True
    >>> dict(job.config.segments["size"].thresholds or {})
    {'median(total_spend)': 7.0}
    """
    from crmkit.adapters import dask as ckd

    if not isinstance(config, Config):
        raise ValidationError("config", expected="a Config", got=type(config).__name__)
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
    given: dict[str, Any] = {
        "transactions": transactions,
        **{name: frame for name, frame in others.items() if frame is not None},
    }
    if profiles is not None:
        given["profiles"] = _profiles_frame(profiles, customer)
    if stages is not None:
        if hasattr(stages, "npartitions"):
            raise ValidationError(
                "stages",
                expected="a pandas frame or a TransitionHistory of stored stages",
                got="a dask DataFrame",
                hint="compute it first (one row per customer: it fits in memory)",
            )
        checked = stored_stages(config, stages, options)
        if checked is not None:
            given["stages"] = pd.DataFrame(
                {
                    customer: checked.index.to_numpy(),
                    _STAGE: checked["stage"].astype(str).to_numpy(dtype=object),
                    _AT: checked["at"].array,
                }
            )
    frames = ckd.partition_frames(given, customer=customer, npartitions=npartitions)
    cut: dict[str, Any] = {"as_of": options.when, "date": date}

    fitted = config
    if needs_fit(config.with_presets()):
        from dask.base import persist

        persisted = persist(*frames.values())  # type: ignore[no-untyped-call]
        frames = dict(zip(frames, persisted, strict=True))
        base = ckd.map_partitions_by_customer(
            _base_part, frames, config, options, positions=True, **cut
        )
        collected = base.compute()  # type: ignore[no-untyped-call]
        collected = collected.sort_values([_RANK, _FIRST], kind="stable")
        fitted = fit_on_base(config, collected.drop(columns=[_RANK, _FIRST]))

    profile_columns = list(frames["profiles"]._meta.columns) if "profiles" in frames else []
    model = value_model(config, [*FEATURE_COLUMNS, *profile_columns])
    scores = ckd.map_partitions_by_customer(_job_part, frames, fitted, options, **cut)
    return DaskJobResult(
        scores=scores, config=fitted, model=model, period=(options.start, options.when)
    )
