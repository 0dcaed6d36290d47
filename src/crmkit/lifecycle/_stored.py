"""The stages a host stored: a frame of current stages and their times, or a transition history.

:func:`read_stored_stages` turns either into one checked frame, indexed by
customer id, with ``stage`` and ``at`` (UTC): what a replay continues from.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import (
    AsOf,
    FrameError,
    MissingColumnError,
    check_frame,
    did_you_mean,
    parse_as_of,
)
from crmkit.lifecycle._records import TransitionHistory

if TYPE_CHECKING:  # the definition imports this module, never the other way round
    from crmkit.lifecycle._definition import Lifecycle

__all__ = ["STORED_COLUMNS", "read_stored_stages", "stored_ns", "to_microseconds"]

#: The columns of a frame of stored stages (besides the customer id).
STORED_COLUMNS: Final = ("stage", "at")

_NS_PER_US: Final = 1_000


def to_microseconds(ns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Nanosecond instants rounded down to the microsecond (what a ``datetime`` holds)."""
    return np.floor_divide(ns, _NS_PER_US)


def _at_column(frame: pd.DataFrame, ids: pd.Index[Any]) -> pd.Series[Any]:
    """The ``at`` column as ``datetime64[ns, UTC]``: every value a timezone-aware time."""
    col = frame["at"]
    if not len(col):
        return pd.Series(pd.DatetimeIndex([], dtype="datetime64[ns, UTC]"), index=col.index)
    dtype = col.dtype
    kind = getattr(dtype, "kind", "O")
    if isinstance(dtype, pd.ArrowDtype) and kind == "M":
        if getattr(dtype.pyarrow_dtype, "tz", None) is None:
            kind = "naive"
        else:
            col = col.astype("datetime64[ns, UTC]")
            dtype = col.dtype
    missing = col.isna().to_numpy(dtype=bool)
    if missing.any():
        raise FrameError(
            "stored stages have missing times",
            column="at",
            rows=list(ids[np.flatnonzero(missing)[:10]]),
            expected="the time each stored stage was reached, in every row",
        )
    if isinstance(dtype, pd.DatetimeTZDtype):
        out: pd.Series[Any] = col.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
        return out
    if kind in ("M", "naive"):
        raise FrameError(
            "stored stages have naive times",
            column="at",
            rows=list(ids[:10]),
            expected="timezone-aware times (a stored stage names an instant)",
            got=f"dtype {dtype}",
            hint="convert the column with .dt.tz_localize('UTC') if it holds UTC",
        )
    values = col.to_numpy(dtype=object)
    bad = np.fromiter(
        (not isinstance(v, datetime) or v.tzinfo is None for v in values),
        dtype=bool,
        count=len(values),
    )
    if bad.any():
        example = values[int(np.argmax(bad))]
        raise FrameError(
            "stored stages have times that are not timezone-aware",
            column="at",
            rows=list(ids[np.flatnonzero(bad)[:10]]),
            expected="timezone-aware datetimes",
            got=f"{type(example).__name__} {example!r}",
            hint="convert the column with pd.to_datetime(..., utc=True)",
        )
    return pd.Series(pd.to_datetime(values, utc=True), index=col.index).astype(
        "datetime64[ns, UTC]"
    )


def _from_history(
    lifecycle: Lifecycle,
    history: TransitionHistory,
    customer: str,
    until: pd.Timestamp | None,
    customers: Iterable[Any] | None,
) -> pd.DataFrame:
    """Each customer's latest transition of *lifecycle* at or before *until*: its to-stage and time."""
    listed = history.latest_stages()
    if customers is None:
        wanted: list[Any] = list(listed)
    else:
        wanted = [c for c in customers if str(c) in listed]
    end = None
    if until is not None:  # for_customer's end is exclusive: one microsecond after until
        end = (until.floor("us") + pd.Timedelta(microseconds=1)).to_pydatetime()
    ids: list[Any] = []
    stages: list[str] = []
    ats: list[datetime] = []
    for cid in wanted:
        mine = [t for t in history.for_customer(str(cid), end=end) if t.lifecycle == lifecycle.name]
        if mine:
            ids.append(cid)
            stages.append(mine[-1].to_stage)
            ats.append(mine[-1].at)
    return pd.DataFrame(
        {"stage": stages, "at": pd.DatetimeIndex(ats, dtype="datetime64[ns, UTC]")},
        index=pd.Index(ids, name=customer, dtype=object),
    )


def read_stored_stages(
    lifecycle: Lifecycle,
    stored: object,
    *,
    customer: str = "customer_id",
    until: AsOf | None = None,
    customers: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """The stages a host stored, checked: see :meth:`Lifecycle.stored_stages`."""
    cut = None if until is None else parse_as_of(until, field="until")
    if isinstance(stored, TransitionHistory):
        frame = _from_history(lifecycle, stored, customer, cut, customers)
    else:
        frame = check_frame(stored, "stages", [])
        if customer in frame.columns:
            frame = frame.set_index(customer)
        absent = [c for c in STORED_COLUMNS if c not in frame.columns]
        if absent:
            raise MissingColumnError(absent, [str(c) for c in frame.columns])
    ids = frame.index
    if ids.name is None:
        ids = ids.rename(customer)
    missing_id = np.asarray(ids.isna(), dtype=bool)
    if missing_id.any():
        raise FrameError(
            "stored stages have missing customer ids",
            column=customer,
            rows=[int(i) for i in np.flatnonzero(missing_id)[:10]],
            expected="a customer id in every row",
        )
    twice = np.asarray(ids.duplicated(), dtype=bool)
    if twice.any():
        raise FrameError(
            "stored stages have more than one row for a customer",
            column=customer,
            rows=list(ids[np.flatnonzero(twice)[:10]]),
            expected="one stored stage per customer",
            got=repr(ids[int(np.argmax(twice))]),
        )
    stage = frame["stage"]
    values = stage.to_numpy(dtype=object)
    codes = pd.Index(list(lifecycle.states), dtype=object).get_indexer(pd.Index(values))
    bad = codes < 0
    if bad.any():
        first = values[int(np.argmax(bad))]
        raise FrameError(
            f"stored stages are not states of lifecycle {lifecycle.name!r}"
            if pd.notna(first)
            else "stored stages are missing",
            column="stage",
            rows=list(ids[np.flatnonzero(bad)[:10]]),
            expected=", ".join(lifecycle.states),
            got=repr(first),
            hint=did_you_mean(first, lifecycle.states)
            if isinstance(first, str)
            else "drop the customers without a stored stage: they replay from the first purchase",
        )
    at = _at_column(frame, ids)
    if cut is not None and len(at):
        at_us = to_microseconds(stored_ns(at))
        late = at_us > to_microseconds(np.array([cut.value], dtype=np.int64))[0]
        if late.any():
            raise FrameError(
                "stored stages were reached after the last step",
                column="at",
                rows=list(ids[np.flatnonzero(late)[:10]]),
                expected=f"times at or before {cut}",
                got=str(at.iloc[int(np.argmax(late))]),
                hint="a stored stage cannot be replayed back in time: give a later as_of",
            )
    return pd.DataFrame(
        {
            "stage": pd.Categorical.from_codes(
                codes, dtype=pd.CategoricalDtype(list(lifecycle.states))
            ),
            "at": at.array,
        },
        index=ids,
    )


def stored_ns(at: pd.Series[Any]) -> npt.NDArray[np.int64]:
    """A ``datetime64[ns, UTC]`` column as int64 nanoseconds since the epoch."""
    return np.asarray(at.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")).view(np.int64)
