"""Feature inputs: activity histories and transaction frames, value frames and value models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

import pandas as pd
from hypothesis import strategies as st

from crmkit.core import shift_months
from crmkit.domain import Activity, SettlementMethod
from crmkit.testing.strategies._activities import activity_logs
from crmkit.testing.strategies._basics import aware_datetimes, ids, timezones
from crmkit.testing.strategies._share import _shared

# ================================================================ transaction frames
# Frames and activity histories for crmkit.scoring (features, features_one).
# Tests draw the column names too (column_names): nothing may assume "id" or "date".


class FeatureHistory(NamedTuple):
    """An ``as_of`` (aware, UTC) and a log of activities around it."""

    as_of: datetime
    activities: list[Activity]


@st.composite
def _edge_instants(draw: st.DrawFn, as_of: datetime) -> list[datetime]:
    """Times on the edges of the features' definitions, in assorted zones."""
    tiny = timedelta(microseconds=1)
    midnight = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    edges = [as_of, as_of - tiny, as_of + tiny, midnight, midnight - tiny]
    edges.append(midnight + timedelta(days=1) - tiny)
    for months in (3, 6):
        # crmkit.core's month arithmetic (day clipped to the month); back to a plain datetime,
        # as the activities are built from datetimes, not Timestamps.
        start = shift_months(pd.Timestamp(as_of), -months).to_pydatetime()
        edges += [start, start - tiny, start + tiny]
    chosen = draw(st.lists(st.sampled_from(edges), max_size=5, unique=True))
    back = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=900))
    chosen += [as_of - d for d in draw(st.lists(back, min_size=1, max_size=4))]
    zones = draw(st.lists(timezones(), min_size=len(chosen), max_size=len(chosen)))
    return [t.astimezone(z) for t, z in zip(chosen, zones, strict=True)]


@_shared
@st.composite
def feature_histories(
    draw: st.DrawFn, *, max_customers: int = 4, max_size: int = 16
) -> FeatureHistory:
    """Activity logs (as :func:`activity_logs`) for comparing ``features`` with ``features_one``.

    Activity times cluster where the definitions have edges: at ``as_of`` and
    a microsecond either side, at the starts of the 3- and 6-month windows,
    at both ends of ``as_of``'s UTC day, and elsewhere in the 900 days
    before; several activities share instants and days. ``as_of`` is
    sometimes midnight UTC (what a date means).
    """
    as_of = draw(
        aware_datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), zones=st.just(UTC)
        )
    )
    if draw(st.booleans()):
        as_of = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    instants = draw(_edge_instants(as_of))
    customer_ids = draw(st.lists(ids(prefix="c-"), min_size=1, max_size=max_customers, unique=True))
    log = draw(activity_logs(customer_ids=customer_ids, instants=instants, max_size=max_size))
    return FeatureHistory(as_of=as_of, activities=log)


_Unit = Literal["s", "ms", "us", "ns"]
_UNITS: dict[_Unit, int] = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}  # microseconds per step


@_shared
@st.composite
def transaction_frames(
    draw: st.DrawFn,
    *,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    settlement: str | None = "settlement",
    min_rows: int = 0,
    max_rows: int = 30,
) -> pd.DataFrame:
    """Transaction frames as hosts hand them to ``features``, in every accepted representation.

    Customer ids are text, integers or categorical; dates are naive
    ``datetime64`` (UTC) at a resolution of s, ms, us or ns, aware in a
    non-UTC zone, or ISO 8601 text (all naive or all with offsets); amounts
    are float or integer; settlement methods are ``SettlementMethod`` values
    with some missing. Row labels are arbitrary integers, not 0..n-1.
    """
    rows = draw(st.integers(min_rows, max_rows))
    id_kind = draw(st.sampled_from(["text", "int", "category"]))
    pool_size = draw(st.integers(1, 5))
    if id_kind == "int":
        pool: list[Any] = draw(
            st.lists(
                st.integers(-(10**9), 10**9), min_size=pool_size, max_size=pool_size, unique=True
            )
        )
    else:
        pool = draw(st.lists(ids(), min_size=pool_size, max_size=pool_size, unique=True))
    who = draw(st.lists(st.sampled_from(pool), min_size=rows, max_size=rows))
    unit = draw(st.sampled_from(list(_UNITS)))
    step = _UNITS[unit]
    walls = draw(
        st.lists(
            st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)),
            min_size=rows,
            max_size=rows,
        )
    )
    walls = [w.replace(microsecond=w.microsecond // step * step) for w in walls]
    stamps = pd.Series(pd.DatetimeIndex(walls).as_unit(unit))
    form = draw(st.sampled_from(["naive", "aware", "text", "zoned text"]))
    zone = draw(timezones())
    dates: pd.Series[Any]
    if form == "naive":
        dates = stamps
    elif form == "aware":
        dates = stamps.dt.tz_localize(UTC).dt.tz_convert(zone)
    elif form == "text":
        dates = pd.Series(
            [w.isoformat(sep=draw(st.sampled_from("T "))) for w in walls], dtype=object
        )
    else:
        dates = pd.Series(
            [w.replace(tzinfo=UTC).astimezone(zone).isoformat() for w in walls], dtype=object
        )
    paid = draw(st.lists(st.integers(0, 10**6), min_size=rows, max_size=rows))
    columns: dict[str, Any] = {
        customer: pd.Series(who, dtype="category" if id_kind == "category" else None),
        date: dates.reset_index(drop=True),
        amount: pd.Series(paid, dtype="int64")
        if draw(st.booleans())
        else pd.Series([p / 100 for p in paid], dtype="float64"),
    }
    if settlement is not None:
        methods = st.none() | st.sampled_from([m.value for m in SettlementMethod])
        columns[settlement] = pd.Series(
            draw(st.lists(methods, min_size=rows, max_size=rows)), dtype=object
        )
    labels = draw(st.lists(st.integers(-(10**6), 10**6), min_size=rows, max_size=rows, unique=True))
    frame = pd.DataFrame(columns)
    frame.index = pd.Index(labels, dtype="int64")
    return frame


# ================================================================ value models
# Frames of features and profile attributes, and value-model configurations over
# them, for crmkit.scoring.ValueModel (score vs score_one, round-trips).

_VALUE_INPUTS = (
    "total_spend",
    "monthly_frequency",
    "monthly_avg_spend",
    "tenure_months",
    "settlement_share_prepaid",
    "spending_budget",
    "share_of_wallet",
)
_INFLUENCE_LABELS = ("none", "senior_position", "celebrity", "unknown-label")


def _feature_numbers() -> st.SearchStrategy[float]:
    edges = st.sampled_from([0.0, -0.0, 1.0, -1.0, float("nan"), float("inf"), float("-inf")])
    return edges | st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-1000, 1000).map(float)


@st.composite
def value_frames(draw: st.DrawFn, *, max_rows: int = 12) -> pd.DataFrame:
    """A frame with every column value models in these strategies read.

    Numbers include NaN (null), zeros, infinities and negatives; ``influence``
    includes nulls and labels no table knows. The index is unique strings.
    """
    rows = draw(st.integers(0, max_rows))
    columns: dict[str, Any] = {
        name: pd.Series(
            draw(st.lists(_feature_numbers(), min_size=rows, max_size=rows)), dtype="float64"
        )
        for name in _VALUE_INPUTS
    }
    columns["influence"] = pd.Series(
        draw(
            st.lists(st.none() | st.sampled_from(_INFLUENCE_LABELS), min_size=rows, max_size=rows)
        ),
        dtype=object,
    )
    frame = pd.DataFrame(columns)
    frame.index = pd.Index([f"c{i}" for i in range(rows)], name="customer_id")
    return frame


_COMPONENT_FORMULAS = (
    "total_spend",
    "monthly_frequency * 2 + monthly_avg_spend",
    "tenure_months if tenure_months > 0 else 0",
    "coalesce(settlement_share_prepaid, 0) * rate['prepaid'] * total_spend",
    "points[influence]",
    "(40 if spending_budget >= 100000 else 10) * (1 - coalesce(share_of_wallet, 0.5))",
    "max(total_spend, monthly_avg_spend) / tenure_months",
    "log1p(abs(total_spend))",
)


@st.composite
def value_model_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid value-model configuration (the dict/TOML layout) over :func:`value_frames`."""
    finite = st.floats(-100, 100, allow_nan=False) | st.integers(-5, 5).map(float)
    picked = draw(
        st.lists(st.sampled_from(_COMPONENT_FORMULAS), min_size=1, max_size=5, unique=True)
    )
    components: dict[str, Any] = {}
    for i, formula in enumerate(picked):
        spec: dict[str, Any] = {"formula": formula, "weight": draw(finite)}
        floor = draw(st.none() | finite)
        cap = draw(st.none() | finite)
        if floor is not None and cap is not None and floor > cap:
            floor, cap = cap, floor
        if floor is not None:
            spec["floor"] = floor
        if cap is not None:
            spec["cap"] = cap
        spec["null_as"] = draw(st.sampled_from(["null", 0.0, 1.5]))
        components[f"c{i}"] = spec
    return {
        "model": {"name": draw(st.sampled_from(["m", "loyalty value"])), "version": "1"},
        "tables": {
            "rate": {"entries": {"prepaid": 0.5, "cash": 0.25}},
            "points": {
                "entries": {"none": 0.0, "senior_position": 30.0, "celebrity": 80.0},
                "default": draw(st.sampled_from([0.0, None])),
            },
        },
        "components": components,
    }
