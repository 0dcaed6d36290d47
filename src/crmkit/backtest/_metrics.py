"""Rank metrics over numpy arrays: AUC (Mann-Whitney), Spearman correlation, top-share of a total.

All three read only the order of the score (ties get their average rank, or
a fractional share at a cut), so any strictly increasing transform of a score
gives the same figures. Plain numpy, exact, no scipy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from crmkit.core import ValidationError

__all__ = ["auc", "spearman", "top_share"]

Floats = npt.NDArray[np.float64]


def _floats(values: Any, field: str) -> Floats:
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(field, expected="numbers", got=type(values).__name__) from None
    if out.ndim != 1:
        raise ValidationError(field, expected="a one-dimensional array", got=f"shape {out.shape}")
    return out


def _pair(score: Any, other: Any, names: tuple[str, str]) -> tuple[Floats, Floats]:
    s = _floats(score, names[0])
    o = _floats(other, names[1])
    if len(s) != len(o):
        raise ValidationError(
            names[1], expected=f"{len(s)} values (as many as {names[0]})", got=len(o)
        )
    keep = ~(np.isnan(s) | np.isnan(o))
    return s[keep], o[keep]


def average_ranks(values: Floats) -> Floats:
    """1-based ranks of *values*, ties sharing their average rank (no NaN allowed)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts).astype(np.float64)
    mid = ends - (counts - 1) / 2.0
    return np.asarray(mid[np.ravel(inverse)], dtype=np.float64)


def auc(score: Any, outcome: Any) -> float:
    """The area under the ROC curve of *score* for a binary *outcome* (Mann-Whitney U).

    The probability that a random positive scores above a random negative,
    ties counting one half. Pairs where either value is NaN are left out;
    NaN when there is no positive or no negative.

    >>> auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    >>> auc([1, 1, 2], [1, 0, 1])
    0.75
    """
    s, y = _pair(score, outcome, ("score", "outcome"))
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValidationError("outcome", expected="0/1 or bool values", got=sorted(set(y))[:5])
    positive = y == 1.0
    n1 = int(positive.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = average_ranks(s)
    u = float(ranks[positive].sum()) - n1 * (n1 + 1) / 2.0
    return u / (n1 * n0)


def spearman(score: Any, other: Any) -> float:
    """Spearman's rank correlation (Pearson's on average ranks); NaN if either side is constant.

    >>> spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 25.0, 100.0])
    1.0
    >>> round(spearman([1, 2, 3, 4], [0, 0, 1, 0]), 4)
    0.2582
    """
    s, o = _pair(score, other, ("score", "other"))
    if len(s) < 2:
        return float("nan")
    rs = average_ranks(s)
    ro = average_ranks(o)
    rs -= rs.mean()
    ro -= ro.mean()
    den = float(np.sqrt((rs * rs).sum() * (ro * ro).sum()))
    if den == 0.0:
        return float("nan")
    return max(-1.0, min(1.0, float((rs * ro).sum()) / den))


def top_share(score: Any, amount: Any, share: float = 0.1) -> float:
    """The part of the total of *amount* held by the *share* of rows that score highest.

    Rows tied at the cut count in proportion (the expected share over random
    tie-breaking), so a constant score captures exactly *share* of the total.
    NaN when the total is 0.

    >>> top_share([5, 4, 3, 2, 1, 0, 0, 0, 0, 0], [50, 1, 1, 1, 1, 1, 1, 1, 1, 2])
    0.8333333333333334
    >>> top_share([1, 1, 1, 1], [1.0, 2.0, 3.0, 4.0], share=0.5)
    0.5
    """
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise ValidationError("share", expected="a number in (0, 1]", got=share)
    s, a = _pair(score, amount, ("score", "amount"))
    total = float(a.sum())
    if len(s) == 0 or total == 0.0:
        return float("nan")
    values, inverse, counts = np.unique(-s, return_inverse=True, return_counts=True)
    sums = np.bincount(np.ravel(inverse), weights=a, minlength=len(values))
    before = np.cumsum(counts) - counts
    k = share * len(s)
    frac = np.clip((k - before) / counts, 0.0, 1.0)
    return float((frac * sums).sum()) / total
