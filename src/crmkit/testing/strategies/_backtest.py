"""Hypothesis strategies for backtests: scores with binary outcomes, and transaction logs.

Re-exported by :mod:`crmkit.testing.strategies`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

__all__ = ["score_outcomes", "transaction_logs"]


@st.composite
def score_outcomes(
    draw: st.DrawFn, *, min_size: int = 2, max_size: int = 60
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``(score, buys, spend)`` arrays of one length, with at least one buyer and one non-buyer.

    Scores repeat often (ties are the hard case); spend is positive exactly
    where ``buys`` is true.
    """
    n = draw(st.integers(min_size, max_size))
    pool = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=8))
    score = np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)), dtype=float)
    buys = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    yes = draw(st.integers(0, n - 1))
    no = draw(st.integers(0, n - 2))
    buys[yes] = True
    buys[no if no < yes else no + 1] = False
    amounts = draw(st.lists(st.floats(0.5, 1e4), min_size=n, max_size=n))
    spend = np.where(buys, np.array(amounts, dtype=float), 0.0)
    return score, buys, spend


@st.composite
def transaction_logs(
    draw: st.DrawFn,
    *,
    customer: str = "customer_id",
    date: str = "occurred_at",
    amount: str = "amount",
    max_customers: int = 12,
) -> pd.DataFrame:
    """A small purchase log over 2024 with purchases on both sides of 2024-07-01.

    Column names are the caller's (draw them too, so no test relies on the
    defaults).
    """
    n = draw(st.integers(2, max_customers))
    rows: list[tuple[str, pd.Timestamp, float]] = []
    start = pd.Timestamp("2024-01-01")
    for i in range(n):
        k = draw(st.integers(1, 6))
        days = draw(st.lists(st.integers(0, 365), min_size=k, max_size=k))
        spends = draw(st.lists(st.floats(0.0, 500.0), min_size=k, max_size=k))
        rows.extend(
            (f"c{i}", start + pd.Timedelta(days=d), round(a, 2))
            for d, a in zip(days, spends, strict=True)
        )
    rows.append(("c0", pd.Timestamp("2024-03-01"), 10.0))
    rows.append(("c1", pd.Timestamp("2024-09-01"), 20.0))
    frame = pd.DataFrame(rows, columns=[customer, date, amount])
    return frame.sample(frac=1.0, random_state=draw(st.integers(0, 2**16))).reset_index(drop=True)
