"""Numpy kernels: per-row arrays in, per-customer arrays out.

The contract every kernel follows, so that a distributed engine can run them
unchanged on each partition of a frame partitioned by customer:

* ``codes`` are ``intp`` customer codes in ``[0, n]``; code ``n`` marks rows to
  ignore (after ``as_of``), so no row is ever copied to drop it;
* timestamps are ``int64`` ticks since the epoch in UTC, of any size
  (``per_day`` ticks to a day); scalar bounds are given in the same ticks;
* the result is a dict of arrays of length ``n`` (or ``n x k``).

No Python runs per row or per customer: everything is ``np.add.at``,
``np.minimum.at`` / ``np.maximum.at``, ``np.bincount``, and one sort of an
``int64`` key for the distinct purchase days. Summation runs in row order, like a loop
over the rows would, which the scalar path (``features_one``) relies on to
give the same floats.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "category_counts",
    "latest_mean",
    "purchase_kernel",
    "row_counts",
    "weighted_sums",
]

Codes = npt.NDArray[np.intp]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

INT64_MAX: Final = int(np.iinfo(np.int64).max)
INT64_MIN: Final = int(np.iinfo(np.int64).min)
_UNKNOWN_METHOD: Final = 4
_CHUNK: Final = 1 << 20


def row_counts(codes: Codes, n: int) -> Ints:
    """Rows per customer."""
    counts = np.zeros(n + 1, dtype=np.int64)
    np.add.at(counts, codes, 1)
    return counts[:n]


def weighted_sums(codes: Codes, n: int, weights: Floats) -> Floats:
    """Sum of *weights* per customer, added in row order.

    ``np.add.at`` rather than ``np.bincount``: the same sums in the same order,
    without bincount's extra pass over the codes for their range.
    """
    sums = np.zeros(n + 1, dtype=np.float64)
    np.add.at(sums, codes, weights)
    return sums[:n]


def _by_category(
    codes: Codes,
    n: int,
    categories: npt.NDArray[np.int8],
    k: int,
    weights: Floats | None,
    key: Ints | None = None,
) -> npt.NDArray[Any]:
    """``bincount`` over (customer, category), returned as ``k x n`` with contiguous rows.

    The key is customer-major so that one customer's bins are adjacent (far
    fewer cache misses than category-major); the small result is transposed.
    """
    bins = n + 1
    if key is None:
        key = np.empty(len(codes), dtype=np.int64)
    np.multiply(codes, k, out=key)
    key += categories
    counts = np.bincount(key, weights=weights, minlength=bins * k)
    return np.ascontiguousarray(counts[: n * k].reshape(n, k).T)


def category_counts(codes: Codes, n: int, categories: npt.NDArray[np.int8], k: int) -> Ints:
    """Rows per category and customer (``k x n``); categories are ``0 .. k-1``."""
    return _by_category(codes, n, categories, k, None).astype(np.int64, copy=False)


def latest_mean(codes: Codes, n: int, ticks: Ints, values: Floats) -> Floats:
    """Per customer, the mean of *values* at the customer's latest time (NaN if no rows)."""
    latest = np.full(n + 1, INT64_MIN, dtype=np.int64)
    np.maximum.at(latest, codes, ticks)
    at_latest = ticks == latest[codes]
    chosen = codes[at_latest]
    total = np.bincount(chosen, weights=values[at_latest], minlength=n + 1)[:n]
    count = np.bincount(chosen, minlength=n + 1)[:n]
    out = np.full(n, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def _chunks(rows: int) -> list[tuple[int, int]]:
    return [(start, min(start + _CHUNK, rows)) for start in range(0, rows, _CHUNK)]


def _occasions(
    codes: Codes, n: int, ticks: Ints, per_day: int, first: Ints, last: Ints, *, key: Ints
) -> tuple[Ints, Ints]:
    """Distinct purchase days and distinct calendar months per customer.

    One sort of the key ``customer * span + day`` (the ignored customer ``n``
    sorts last); the sorted keys are de-duplicated in place, and the distinct
    (customer, day) pairs, in customer order, are counted a chunk at a time.
    *first* and *last* are the per-customer first and last ticks (``n + 1`` bins);
    *key* is a row-sized ``int64`` buffer to work in.
    """
    days = np.zeros(n + 1, dtype=np.int64)
    months = np.zeros(n + 1, dtype=np.int64)
    rows = len(codes)
    if not rows:
        return days[:n], months[:n]
    low = int(first.min()) // per_day
    span = int(last.max()) // per_day - low + 1
    if (n + 1) * span >= INT64_MAX // 2:  # only for dates far outside 1677-2262
        raise ValueError("purchase dates span too many days for an int64 (customer, day) key")
    for start, stop in _chunks(rows):
        part = key[start:stop]
        np.floor_divide(ticks[start:stop], per_day, out=part)
        part -= low
        part += codes[start:stop] * span
    key.sort()
    # De-duplicate in place: a chunk's distinct keys move to the front (never past
    # unread keys, as a chunk has no more distinct keys than rows).
    distinct = 0
    previous = -1  # keys are >= 0
    for start, stop in _chunks(rows):
        part = key[start:stop]
        new = np.empty(len(part), dtype=bool)
        new[0] = part[0] != previous
        np.not_equal(part[1:], part[:-1], out=new[1:])
        previous = int(part[-1])
        kept = part[new]
        key[distinct : distinct + len(kept)] = kept
        distinct += len(kept)
    occasions = key[: int(np.searchsorted(key[:distinct], n * span))]
    # Each day's calendar month, by table lookup; a month starts where the
    # customer or the month changes (occasions are sorted by customer, then day).
    month_of_day = (
        np.arange(low, low + span).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    )
    previous_customer = -1
    previous_month = INT64_MIN
    for start, stop in _chunks(len(occasions)):
        part = occasions[start:stop]
        customer = part // span
        month = month_of_day[part - customer * span]
        starts = np.empty(len(part), dtype=bool)
        starts[0] = customer[0] != previous_customer or month[0] != previous_month
        np.not_equal(month[1:], month[:-1], out=starts[1:])
        starts[1:] |= customer[1:] != customer[:-1]
        previous_customer, previous_month = int(customer[-1]), int(month[-1])
        np.add.at(days, customer, 1)
        np.add.at(months, customer[starts], 1)  # (bool weights would leave add.at's fast path)
    return days[:n], months[:n]


def purchase_kernel(
    codes: Codes,
    n: int,
    ticks: Ints,
    per_day: int,
    amounts: Floats,
    methods: npt.NDArray[np.int8] | None,
    *,
    last3_start: int,
    prev3_start: int,
) -> dict[str, npt.NDArray[np.generic]]:
    """Per-customer purchase aggregates.

    Args:
        codes: customer code of each purchase; ``n`` = ignore the row.
        n: number of customers.
        ticks: purchase times (UTC ticks).
        per_day: ticks per day.
        amounts: purchase amounts (finite, >= 0).
        methods: settlement method codes 0-3 (``SettlementMethod`` order), 4 =
            unknown; ``None`` if no purchase has a known method.
        last3_start: exclusive start of the last-3-months window (its end is
            ``as_of``: later rows are already ignored).
        prev3_start: exclusive start of the previous-3-months window, which
            ends (inclusive) at *last3_start*.

    Returns:
        ``count``, ``gross``, ``first`` / ``last`` (ticks; meaningless where
        count is 0), ``days`` (distinct UTC purchase days), ``months``
        (distinct calendar months), ``first_day`` / ``last_day`` (days since
        the epoch), ``repeat_spend`` (spend after the first purchase day),
        ``spend_last3``, ``spend_prev3``, ``method_spend`` (``4 x n``, rows in
        ``SettlementMethod`` order).
    """
    bins = n + 1
    rows = len(codes)
    count = row_counts(codes, n)
    gross = weighted_sums(codes, n, amounts)
    first = np.full(bins, INT64_MAX, dtype=np.int64)
    last = np.full(bins, INT64_MIN, dtype=np.int64)
    np.minimum.at(first, codes, ticks)
    np.maximum.at(last, codes, ticks)
    first_day = first // per_day

    # Three row-sized buffers serve every step (memory stays near the input's size).
    scratch = np.empty(rows, dtype=np.float64)
    flag = np.empty(rows, dtype=bool)
    work = np.empty(rows, dtype=np.int64)

    # Spend windows: weights zeroed outside the window, summed in row order.
    np.greater(ticks, last3_start, out=flag)
    np.multiply(amounts, flag, out=scratch)
    spend_last3 = weighted_sums(codes, n, scratch)
    np.greater(ticks, prev3_start, out=flag)
    flag &= ticks <= last3_start
    np.multiply(amounts, flag, out=scratch)
    spend_prev3 = weighted_sums(codes, n, scratch)

    method_spend: Floats = np.zeros((_UNKNOWN_METHOD, n), dtype=np.float64)
    if methods is not None:
        by_method = _by_category(codes, n, methods, _UNKNOWN_METHOD + 1, amounts, work)
        method_spend = by_method[:_UNKNOWN_METHOD].astype(np.float64, copy=False)

    # Repeat spend: what was bought after the customer's first purchase day, i.e.
    # at or after the start of the next day (every purchase is at or after the first).
    np.take((first_day + 1) * per_day, codes, out=work)
    np.greater_equal(ticks, work, out=flag)
    np.multiply(amounts, flag, out=scratch)
    repeat_spend = weighted_sums(codes, n, scratch)

    del scratch, flag
    days, months = _occasions(codes, n, ticks, per_day, first, last, key=work)

    return {
        "count": count,
        "gross": gross,
        "first": first[:n],
        "last": last[:n],
        "days": days,
        "months": months,
        "first_day": first_day[:n],
        "last_day": last[:n] // per_day,
        "repeat_spend": repeat_spend,
        "spend_last3": spend_last3,
        "spend_prev3": spend_prev3,
        "method_spend": method_spend,
    }
