"""Every customer's tier as of a date, from a frame of qualifying events, in numpy.

The same rules as :meth:`TierTable.history` (upgrade on the event that
reaches a threshold; downgrade only at a period end, after the grace days),
run for all customers at once: each customer's steps (events, and downgrade
checks) are put in time order, and the *k*-th step of every customer is taken
together, so the Python loop runs as many times as the longest history has
steps, never once per customer or per row. The rolling-window sums are each
customer's own running sums, added in the same order as ``history`` adds
them, so the two give the same tier to the last bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import (
    NS_PER_DAY,
    TICKS_PER_SECOND,
    ValidationError,
    check_frame,
    date_ticks,
    distinct,
    id_codes,
    parse_as_of,
    score_array,
)

if TYPE_CHECKING:  # the table imports this module
    from crmkit.loyalty._tiers import TierTable

__all__ = ["assign_tiers"]

Ints = npt.NDArray[np.int64]
_MONTH_1970 = 1970 * 12  # crmkit.core.month_index of January 1970


def _by_position(groups: Ints, starts: Ints) -> tuple[Ints, list[Ints]]:
    """Each row's position within its group (rows sorted by group), and the rows at each position."""
    position = np.arange(len(groups), dtype=np.int64) - starts[groups]
    order = np.argsort(position, kind="stable")
    counts = np.bincount(position) if len(position) else np.zeros(0, dtype=np.int64)
    return position, np.split(order, np.cumsum(counts)[:-1]) if len(counts) else []


def assign_tiers(
    table: TierTable,
    events: Any,
    *,
    as_of: Any,
    customer: str,
    date: str,
    amount: str,
    start: pd.Series[Any] | None,
) -> pd.DataFrame:
    """See :meth:`TierTable.assign`."""
    frame = check_frame(events, "events", [customer, date, amount])
    until = int(parse_as_of(as_of).value)
    codes, ids = id_codes(frame, "events", customer)
    ticks = date_ticks(frame, "events", date)
    t_all = ticks.values * (1_000_000_000 // TICKS_PER_SECOND[ticks.unit])
    x_all = score_array(frame, "events", amount)
    keep = t_all <= until
    n = len(ids)

    begin_given = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    if start is not None:
        if not isinstance(start, pd.Series):
            raise ValidationError("start", expected="a Series of join times by customer", got=start)
        joined = pd.to_datetime(start.reindex(ids), utc=True)
        known = joined.notna().to_numpy()
        begin_given[known] = joined[known].dt.as_unit("ns").astype("int64").to_numpy()

    # Events up to as_of, sorted by customer, then time (the order history adds them in).
    order = np.lexsort((t_all[keep], codes[keep]))
    c = codes[keep][order].astype(np.int64)
    t = t_all[keep][order]
    x = x_all[keep][order]
    has_events = np.bincount(c, minlength=n) > 0
    present = has_events | (begin_given != np.iinfo(np.int64).min)
    first_event = np.full(n, until, dtype=np.int64)
    ev_starts = np.searchsorted(c, np.arange(n))
    first_event[has_events] = t[ev_starts[has_events]]
    begin = np.where(begin_given != np.iinfo(np.int64).min, begin_given, first_event)

    # Each customer's running sums: prefix[start_c + k] is the sum of its first k events,
    # added one event at a time (k-th events of all customers together).
    e_pos, e_rows = _by_position(c, ev_starts)
    running = np.zeros(n)
    prefix_start = ev_starts + np.arange(n)  # one leading zero per customer
    prefix = np.zeros(len(c) + n)
    for rows in e_rows:
        running[c[rows]] = running[c[rows]] + x[rows]
        prefix[prefix_start[c[rows]] + e_pos[rows] + 1] = running[c[rows]]

    def window_sum(cust: Ints, at: Ints) -> npt.NDArray[np.float64]:
        """Each customer's qualifying total in (at - window, at] (bisect_right on both ends)."""
        lo_t = at - table.window_days * NS_PER_DAY
        # Rank every time among the event times of its own customer by one searchsorted on
        # (customer, time) pairs made comparable as one integer key per distinct time.
        times = distinct(np.concatenate([t, at, lo_t]))
        key = c * len(times) + np.searchsorted(times, t)
        hi = np.searchsorted(key, cust * len(times) + np.searchsorted(times, at), side="right")
        lo = np.searchsorted(key, cust * len(times) + np.searchsorted(times, lo_t), side="right")
        base = prefix_start[cust] - ev_starts[cust]
        out: npt.NDArray[np.float64] = prefix[base + hi] - prefix[base + lo]
        return out

    thresholds = np.array([tier.threshold for tier in table.tiers], dtype=np.float64)

    def rank(q: npt.NDArray[np.float64]) -> Ints:
        return np.clip(np.searchsorted(thresholds, q, side="right") - 1, 0, None).astype(np.int64)

    # Downgrade checks: the period ends after each customer's start, plus the grace days,
    # up to as_of.
    every = table.evaluation_months
    grace = table.grace_days * NS_PER_DAY
    # Months counted from year 0, as month_index counts them (periods start on months
    # divisible by `every` in that count).
    month0 = (
        begin[present].astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
        + _MONTH_1970
    )
    first_end = (month0 // every) * every + every
    last_end_ns = until - grace
    last_month = (
        np.datetime64(last_end_ns, "ns").astype("datetime64[M]").astype(np.int64) + _MONTH_1970
    )
    counts = np.maximum((last_month - first_end) // every + 1, 0)
    check_c = np.repeat(np.flatnonzero(present), counts)
    k = np.arange(len(check_c)) - np.repeat(np.cumsum(counts) - counts, counts)
    end_month = np.repeat(first_end, counts) + k * every
    period_end = (
        (end_month - _MONTH_1970).astype("datetime64[M]").astype("datetime64[ns]").astype(np.int64)
    )
    within = period_end + grace <= until
    check_c, period_end = check_c[within], period_end[within]
    check_at = period_end + grace

    # All steps in time order per customer; events before checks at the same instant.
    step_c = np.concatenate([c, check_c])
    step_at = np.concatenate([t, check_at])
    step_kind = np.concatenate([np.zeros(len(c), np.int8), np.ones(len(check_c), np.int8)])
    step_end = np.concatenate([np.zeros(len(c), np.int64), period_end])
    s_order = np.lexsort((step_kind, step_at, step_c))
    step_c, step_at = step_c[s_order], step_at[s_order]
    step_kind, step_end = step_kind[s_order], step_end[s_order]
    q_at = window_sum(step_c, step_at)
    target = rank(q_at)
    is_check = step_kind == 1
    q_end = np.zeros(len(step_c))
    if is_check.any():
        q_end[is_check] = window_sum(step_c[is_check], step_end[is_check])
    at_end = rank(q_end)

    current = np.zeros(n, dtype=np.int64)
    since = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    s_starts = np.searchsorted(step_c, np.arange(n))
    _, s_rows = _by_position(step_c, s_starts)
    for rows in s_rows:
        who = step_c[rows]
        now = current[who]
        up = ~is_check[rows] & (target[rows] > now)
        down = is_check[rows] & (at_end[rows] < now) & (target[rows] < now)
        moved = up | down
        now = np.where(moved, target[rows], now)
        current[who] = now
        since[who[moved]] = step_at[rows][moved]

    qualifying = window_sum(np.arange(n, dtype=np.int64), np.full(n, until, dtype=np.int64))
    names = pd.CategoricalDtype([tier.name for tier in table.tiers], ordered=True)
    kept = np.flatnonzero(present)
    return pd.DataFrame(
        {
            "tier": pd.Categorical.from_codes(current[kept], dtype=names),
            # INT64_MIN is NaT: never changed (the lowest tier since joining)
            "tier_since": pd.DatetimeIndex(since[kept].view("datetime64[ns]")).tz_localize("UTC"),
            "qualifying": qualifying[kept],
        },
        index=ids[kept].rename(customer),
    )
