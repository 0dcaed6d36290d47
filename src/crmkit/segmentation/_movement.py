"""Segment movement: how customers moved between two exclusive assignments (say, two months)."""

from __future__ import annotations

from typing import Any, Final

import attrs
import numpy as np
import pandas as pd

from crmkit.core import FrameError, ValidationError

__all__ = ["NO_SEGMENT", "Movement", "movement"]

NO_SEGMENT: Final = "(none)"
"""The pseudo-label of a customer absent from one side (or with a null label there)."""


@attrs.frozen
class Movement:
    """The movement of customers between two assignments.

    Attributes:
        matrix: counts of customers, rows = segment before (``from``),
            columns = segment after (``to``); every label of either side
            appears as a row and a column. It sums to the number of customers.
        moves: one row per customer of either side, with ``from`` and ``to``.
    """

    matrix: pd.DataFrame
    moves: pd.DataFrame

    @property
    def moved(self) -> pd.DataFrame:
        """The customers whose segment changed (``from`` != ``to``), for campaign lists."""
        m = self.moves
        moved: pd.DataFrame = m[m["from"].cat.codes.to_numpy() != m["to"].cat.codes.to_numpy()]
        return moved

    def between(self, before: str, after: str) -> pd.Index:
        """The customers who were in *before* and are now in *after*.

        >>> import pandas as pd
        >>> mv = movement(pd.Series({"a": "new", "b": "new"}), pd.Series({"a": "active"}))
        >>> list(mv.between("new", "active")), list(mv.between("new", NO_SEGMENT))
        (['a'], ['b'])
        """
        m = self.moves
        mask = (m["from"].to_numpy(dtype=object) == before) & (
            m["to"].to_numpy(dtype=object) == after
        )
        found: pd.Index = m.index[mask]
        return found


def _labels(series: pd.Series[Any]) -> list[str]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [str(c) for c in series.dtype.categories]
    return []


def _check(series: object, name: str) -> pd.Series[Any]:
    if isinstance(series, pd.DataFrame):
        raise ValidationError(
            name,
            expected="a Series of labels indexed by customer",
            got="a DataFrame",
            hint="pass one column, e.g. rules.assign(frame)['segment']",
        )
    if not isinstance(series, pd.Series):
        raise ValidationError(
            name,
            expected="a Series of labels indexed by customer",
            got=type(series).__name__,
        )
    if not series.index.is_unique:
        dupes = series.index[series.index.duplicated()].unique()
        raise FrameError(
            f"{name} has customers more than once",
            rows=list(dupes[:10]),
            expected="one label per customer",
            hint="assign each customer to one segment (exclusive mode)",
        )
    return series


def movement(
    before: pd.Series[Any], after: pd.Series[Any], *, absent: str = NO_SEGMENT
) -> Movement:
    """Compare two exclusive assignments, e.g. last month's and this month's segments.

    Customers present on one side only (and null labels) move from or to
    the pseudo-label *absent* (``"(none)"`` by default). Labels keep the
    order of the categories of a categorical input (as :meth:`SegmentRules.assign
    <crmkit.segmentation.SegmentRules.assign>` gives them), then the other
    labels sorted, then *absent*.

    Args:
        before: labels indexed by customer, from the earlier assignment.
        after: labels indexed by customer, from the later assignment.
        absent: the pseudo-label of a customer missing from one side.

    Returns:
        A :class:`Movement` with the count matrix and each customer's move.

    Raises:
        ValidationError: an argument is not a Series.
        FrameError: a customer appears twice on one side.

    >>> import pandas as pd
    >>> q1 = pd.Series({"ann": "active", "bo": "active", "cy": "lapsed"})
    >>> q2 = pd.Series({"ann": "active", "bo": "lapsed", "di": "new"})
    >>> mv = movement(q1, q2)
    >>> mv.matrix
    to      active  lapsed  new  (none)
    from
    active       1       1    0       0
    lapsed       0       0    0       1
    new          0       0    0       0
    (none)       0       0    1       0
    >>> mv.moved
        from      to
    bo  active  lapsed
    cy  lapsed  (none)
    di  (none)     new
    """
    before = _check(before, "before")
    after = _check(after, "after")
    if not isinstance(absent, str):
        raise ValidationError("absent", expected="a str pseudo-label", got=absent)
    if before.index.equals(after.index):
        index = before.index
        a_side, b_side = before, after
    else:
        index = before.index.append(after.index[~after.index.isin(before.index)])
        a_side, b_side = before.reindex(index), after.reindex(index)
    # Factorize each side (nulls get -1), then map the few distinct labels:
    # no per-row Python.
    codes_a, uniques_a = pd.factorize(a_side)
    codes_b, uniques_b = pd.factorize(b_side)
    names_a = [str(u) for u in uniques_a]
    names_b = [str(u) for u in uniques_b]

    ordered: list[str] = []
    for lab in [*_labels(before), *_labels(after)]:
        if lab not in ordered and lab != absent:
            ordered.append(lab)
    others = sorted((set(names_a) | set(names_b)) - set(ordered) - {absent})
    labels = [*ordered, *others, absent]
    position = {lab: i for i, lab in enumerate(labels)}
    map_a = np.array([position[x] for x in names_a] + [position[absent]], dtype=np.int64)
    map_b = np.array([position[x] for x in names_b] + [position[absent]], dtype=np.int64)
    codes_a = map_a[codes_a]  # -1 (null or absent) picks the last entry: absent
    codes_b = map_b[codes_b]
    k = len(labels)
    counts = np.bincount(codes_a * k + codes_b, minlength=k * k).reshape(k, k)
    matrix = pd.DataFrame(
        counts,
        index=pd.Index(labels, name="from"),
        columns=pd.Index(labels, name="to"),
    )
    dtype = pd.CategoricalDtype(labels)
    moves = pd.DataFrame(
        {
            "from": pd.Categorical.from_codes(codes_a, dtype=dtype),
            "to": pd.Categorical.from_codes(codes_b, dtype=dtype),
        },
        index=index,
    )
    return Movement(matrix=matrix, moves=moves)
