"""RFM: recency, frequency and monetary scores by quantile bins, and the named RFM segments."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Literal

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from crmkit.core import (
    ConfigError,
    ConfigReader,
    Definition,
    FrameError,
    ValidationError,
    check_frame,
    distinct,
)
from crmkit.domain import FrozenDict
from crmkit.segmentation._rules import SegmentRules

__all__ = ["RFM", "RFM_SEGMENTS", "RfmScore"]

Ties = Literal["low", "high"]
_PARTS: Final = ("recency", "frequency", "monetary")
_SCORES: Final = {"recency": "r_score", "frequency": "f_score", "monetary": "m_score"}


def _segment(rule: str, description: str) -> dict[str, str]:
    return {"rule": rule, "description": description}


RFM_SEGMENTS: Final[dict[str, Any]] = {
    "rules": {
        "name": "rfm",
        "mode": "exclusive",
        "default": "other",
        "description": "the RFM segments, from the recency and frequency scores (5 bins)",
    },
    "segments": {
        "champions": _segment("r_score >= 5 and f_score >= 4", "bought recently, buy often"),
        "loyal": _segment("r_score >= 3 and f_score >= 4", "buy often, fairly recently"),
        "cannot_lose": _segment("r_score <= 2 and f_score >= 5", "bought very often, but long ago"),
        "at_risk": _segment("r_score <= 2 and f_score >= 3", "bought often, but long ago"),
        "potential_loyalist": _segment(
            "r_score >= 4 and f_score >= 2", "recent customers with some repeat purchases"
        ),
        "needs_attention": _segment(
            "r_score == 3 and f_score == 3", "average recency and frequency"
        ),
        "about_to_sleep": _segment("r_score == 3", "below average, fading"),
        "promising": _segment("r_score == 4", "fairly recent, bought once"),
        "new": _segment("r_score == 5", "bought once, very recently"),
        "lost": _segment("r_score == 1 and f_score == 1", "bought once, longest ago"),
        "hibernating": _segment("r_score <= 2", "bought rarely, long ago"),
    },
}
"""The default RFM segment map: an exclusive rule set over ``r_score`` and ``f_score``.

Tried in order of declaration; customers with a null score, and score pairs
the map does not cover (with fewer than 5 bins), are ``"other"``.
"""


@attrs.frozen
class RfmScore:
    """One customer's RFM scores and segment (``None`` where the input is null).

    Attributes:
        r_score: the recency score (5 = bought most recently, with 5 bins).
        f_score: the frequency score (5 = buys most often).
        m_score: the monetary score (5 = spends most).
        segment: the RFM segment.
    """

    r_score: int | None
    f_score: int | None
    m_score: int | None
    segment: str


@attrs.frozen(init=False)
class RFM(Definition):
    """RFM scoring: quantile bins of recency, frequency and monetary value, and named segments.

    ``fit(frame)`` computes the bin edges (quantiles of each column over the
    customers, nulls skipped, linear interpolation) and returns an RFM with
    the edges frozen, so :meth:`score_one` for one customer uses exactly the
    edges :meth:`score` used. A score is the bin a value falls in, 1 to
    ``bins``; recency is reversed (the fewest days since the last purchase
    score highest). The segments come from an exclusive
    :class:`~crmkit.segmentation.SegmentRules` over ``r_score``, ``f_score``
    and ``m_score`` (:data:`RFM_SEGMENTS` by default; pass your own).

    Args:
        recency: the recency column (days since the last purchase; lower is better).
        frequency: the frequency column (purchase days by default: purchases
            on one day count once).
        monetary: the monetary column.
        bins: the number of quantile bins (scores 1 to *bins*).
        ties: where a value equal to a bin edge goes: ``"low"`` (the lower
            bin; bins are closed on the right, as ``pandas.qcut``) or ``"high"``.
        allow_fewer_bins: when a column has too few distinct values for
            *bins* bins (two edges coincide), merge the empty bins instead
            of raising; scores then run from 1 to the number of bins left.
        segments: the segment map (exclusive, without population statistics).
        edges: fitted edges per part (``recency``, ``frequency``, ``monetary``).

    >>> import pandas as pd
    >>> feats = pd.DataFrame({
    ...     "days_since_last_purchase": [5.0, 40.0, 200.0, 10.0, 90.0],
    ...     "purchase_days": [8, 3, 1, 2, 5],
    ...     "total_spend": [900.0, 300.0, 20.0, 150.0, 60.0],
    ... }, index=pd.Index(list("abcde"), name="customer_id"))
    >>> rfm = RFM().fit(feats)
    >>> rfm.edges["monetary"]
    (52.0, 114.0, 210.0, 420.0000000000001)
    >>> rfm.score(feats)
                 r_score  f_score  m_score         rfm_segment
    customer_id
    a                  5        5        5           champions
    b                  3        3        4     needs_attention
    c                  1        1        1                lost
    d                  4        2        3  potential_loyalist
    e                  2        4        2             at_risk
    """

    definition_name: ClassVar[str] = "RFM"

    recency: str
    frequency: str
    monetary: str
    bins: int
    ties: str
    allow_fewer_bins: bool
    segments: SegmentRules
    edges: FrozenDict[str, tuple[float, ...]] | None

    def __init__(
        self,
        *,
        recency: str = "days_since_last_purchase",
        frequency: str = "purchase_days",
        monetary: str = "total_spend",
        bins: int = 5,
        ties: Ties | str = "low",
        allow_fewer_bins: bool = False,
        segments: SegmentRules | None = None,
        edges: Mapping[str, Any] | None = None,
    ) -> None:
        for field, value in (
            ("recency", recency),
            ("frequency", frequency),
            ("monetary", monetary),
        ):
            if not isinstance(value, str) or not value:
                raise ValidationError(field, expected="a column name", got=value)
        if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= 100:
            raise ValidationError("bins", expected="a whole number of bins from 2 to 100", got=bins)
        if ties not in ("low", "high"):
            raise ValidationError(
                "ties",
                expected="'low' (a value on an edge goes to the lower bin) or 'high'",
                got=ties,
            )
        if not isinstance(allow_fewer_bins, bool):
            raise ValidationError(
                "allow_fewer_bins", expected="True or False", got=allow_fewer_bins
            )
        seg = SegmentRules.from_dict(RFM_SEGMENTS) if segments is None else segments
        if not isinstance(seg, SegmentRules):
            raise ValidationError("segments", expected="a SegmentRules", got=type(seg).__name__)
        if seg.mode != "exclusive" or seg.statistics:
            raise ValidationError(
                "segments",
                expected="exclusive rules without population statistics",
                got=f"mode {seg.mode!r}"
                + (f", statistics {seg.statistics}" if seg.statistics else ""),
            )
        frozen: FrozenDict[str, tuple[float, ...]] | None = None
        if edges is not None:
            problems = _edge_problems(edges, bins, allow_fewer_bins)
            if problems:
                raise ConfigError(problems, what="RFM edges")
            frozen = FrozenDict({p: tuple(float(x) for x in edges[p]) for p in _PARTS})
        self.__attrs_init__(
            recency=recency,
            frequency=frequency,
            monetary=monetary,
            bins=bins,
            ties=ties,
            allow_fewer_bins=allow_fewer_bins,
            segments=seg,
            edges=frozen,
        )

    # ------------------------------------------------------------ fitting

    def _column(self, part: str) -> str:
        return str(getattr(self, part))

    def _values(self, frame: pd.DataFrame, part: str) -> npt.NDArray[np.float64]:
        name = self._column(part)
        column: Any = frame[name]
        if isinstance(column, pd.DataFrame):
            raise FrameError(f"column {name!r} appears more than once", column=name)
        try:
            numbers = pd.Series(pd.to_numeric(column, errors="raise"))
            return numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise FrameError(
                f"column {name!r} is not numeric",
                column=name,
                expected="numbers",
                got=str(column.dtype),
            ) from None

    def _check_frame(self, frame: object) -> pd.DataFrame:
        return check_frame(frame, "frame", [self._column(p) for p in _PARTS])

    def fit(self, frame: pd.DataFrame) -> RFM:
        """Compute the bin edges on *frame* (nulls skipped) and return an RFM with them frozen.

        Raises:
            MissingColumnError: a column is absent.
            FrameError: a column is not numeric, has no values, or has too
                few distinct values for the bins (unless ``allow_fewer_bins``).

        >>> import pandas as pd
        >>> RFM(bins=2).fit(pd.DataFrame({"days_since_last_purchase": [1.0, 3.0],
        ...     "purchase_days": [1, 2], "total_spend": [10.0, 30.0]})).edges
        FrozenDict({'recency': (2.0,), 'frequency': (1.5,), 'monetary': (20.0,)})
        """
        frame = self._check_frame(frame)
        edges: dict[str, tuple[float, ...]] = {}
        probs = np.arange(1, self.bins) / self.bins
        for part in _PARTS:
            values = self._values(frame, part)
            present = values[~np.isnan(values)]
            name = self._column(part)
            if present.size == 0:
                raise FrameError(
                    f"cannot fit RFM bins: column {name!r} has no values",
                    column=name,
                    expected="at least one non-null value",
                    got=f"{len(values)} rows, all null" if len(values) else "an empty frame",
                )
            if not np.isfinite(present).all():
                rows = frame.index[np.isinf(values)]
                raise FrameError(
                    f"cannot fit RFM bins: column {name!r} has infinite values",
                    column=name,
                    rows=list(rows[:10]),
                    expected="finite numbers (or nulls)",
                )
            cut = np.quantile(present, probs)
            if np.any(np.diff(cut) <= 0) or cut.size == 0:
                if not self.allow_fewer_bins:
                    distinct_values = distinct(present).size
                    raise FrameError(
                        f"column {name!r} has too few distinct values for {self.bins} quantile bins",
                        column=name,
                        expected=f"{self.bins - 1} distinct bin edges",
                        got=f"edges {[float(x) for x in cut]} ({distinct_values} distinct values)",
                        hint="pass allow_fewer_bins=True to merge the empty bins, or use fewer bins",
                    )
                cut = distinct(cut)
            edges[part] = tuple(float(x) for x in cut)
        return attrs.evolve(self, edges=FrozenDict(edges))

    @property
    def is_fitted(self) -> bool:
        """Whether the bin edges are fitted."""
        return self.edges is not None

    def _edges(self) -> FrozenDict[str, tuple[float, ...]]:
        if self.edges is None:
            raise ValidationError(
                "rfm",
                expected="a fitted RFM",
                got="no bin edges",
                hint="call rfm = rfm.fit(frame) on the whole customer base first",
            )
        return self.edges

    # ------------------------------------------------------------ scoring

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score every row: ``r_score``, ``f_score``, ``m_score`` (nullable ``Int8``) and ``rfm_segment``.

        A null input gives a null score; the segment map then gives its
        default. Returns a new frame with the same index.

        Raises:
            ValidationError: the RFM is not fitted.
            MissingColumnError: a column is absent.
            FrameError: a column is not numeric.
        """
        edges = self._edges()
        frame = self._check_frame(frame)
        side: Literal["left", "right"] = "left" if self.ties == "low" else "right"
        scores: dict[str, Any] = {}
        floats: dict[str, npt.NDArray[np.float64]] = {}
        for part in _PARTS:
            values = self._values(frame, part)
            cut = np.asarray(edges[part], dtype=np.float64)
            null = np.isnan(values)
            idx = np.searchsorted(cut, values, side=side)
            score = (cut.size + 1 - idx) if part == "recency" else idx + 1
            floats[_SCORES[part]] = np.where(null, np.nan, score.astype(np.float64))
            scores[_SCORES[part]] = pd.arrays.IntegerArray(
                np.where(null, 0, score).astype(np.int8), null
            )
        out = pd.DataFrame(scores, index=frame.index)
        segs = self.segments.assign(pd.DataFrame(floats, index=frame.index))
        out["rfm_segment"] = segs["segment"]
        return out

    def score_one(self, values: Mapping[str, Any]) -> RfmScore:
        """Score one customer from a mapping; gives what :meth:`score` gives for the same row.

        >>> import pandas as pd
        >>> feats = pd.DataFrame({"days_since_last_purchase": [1.0, 9.0, 30.0, 60.0, 99.0],
        ...     "purchase_days": [9, 5, 3, 2, 1], "total_spend": [9.0, 7.0, 5.0, 3.0, 1.0]})
        >>> rfm = RFM().fit(feats)
        >>> rfm.score_one({"days_since_last_purchase": 2.0, "purchase_days": 6, "total_spend": 8.0})
        RfmScore(r_score=5, f_score=5, m_score=5, segment='champions')
        """
        edges = self._edges()
        if not isinstance(values, Mapping | pd.Series):
            raise ValidationError(
                "values", expected="a mapping of names to values", got=type(values).__name__
            )
        find = bisect.bisect_left if self.ties == "low" else bisect.bisect_right
        result: dict[str, int | None] = {}
        for part in _PARTS:
            name = self._column(part)
            if name not in values:
                raise ValidationError(
                    "values", expected=f"a value for {name!r}", got=sorted(map(str, values.keys()))
                )
            raw = values[name]
            x = _number(raw, name)
            if x is None:
                result[_SCORES[part]] = None
                continue
            cut = edges[part]
            idx = find(cut, x)
            result[_SCORES[part]] = (len(cut) + 1 - idx) if part == "recency" else idx + 1
        env = {k: (None if v is None else float(v)) for k, v in result.items()}
        segment = self.segments.assign_one(env)
        return RfmScore(
            r_score=result["r_score"],
            f_score=result["f_score"],
            m_score=result["m_score"],
            segment=str(segment),
        )

    # ------------------------------------------------------------ configuration

    def to_dict(self) -> dict[str, Any]:
        """The RFM as a configuration mapping, fitted edges included; ``from_dict`` reads it back."""
        out: dict[str, Any] = {
            "rfm": {
                "recency": self.recency,
                "frequency": self.frequency,
                "monetary": self.monetary,
                "bins": self.bins,
                "ties": self.ties,
                "allow_fewer_bins": self.allow_fewer_bins,
            }
        }
        if self.edges is not None:
            out["edges"] = {p: list(self.edges[p]) for p in _PARTS}
        out["segments"] = self.segments.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> RFM:
        """Build an RFM from a configuration mapping (the layout of :meth:`to_dict`).

        Raises:
            ConfigError: every problem, with its key path.

        >>> RFM.from_dict({"rfm": {"bins": 1, "ties": "middle"}})
        Traceback (most recent call last):
        ...
        crmkit.errors.ConfigError: 2 problems in RFM:
        - rfm.bins: expected a whole number from 2 to 100, got 1
        - rfm.ties: expected 'low' or 'high', got 'middle'
        """
        r = ConfigReader(source)
        top = r.section(data, "RFM", allowed=["rfm", "edges", "segments"])
        head = r.section(
            top.get("rfm", {}),
            "rfm",
            allowed=["recency", "frequency", "monetary", "bins", "ties", "allow_fewer_bins"],
        )
        kwargs: dict[str, Any] = {}
        for part in _PARTS:
            if part in head:
                kwargs[part] = r.text(head, "rfm", part)
        bins = head.get("bins", 5)
        if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= 100:
            r.problem("rfm.bins", f"expected a whole number from 2 to 100, got {bins!r}")
            bins = 5
        ties = head.get("ties", "low")
        if ties not in ("low", "high"):
            r.problem("rfm.ties", f"expected 'low' or 'high', got {ties!r}")
            ties = "low"
        fewer = head.get("allow_fewer_bins", False)
        if not isinstance(fewer, bool):
            r.problem("rfm.allow_fewer_bins", f"expected true or false, got {fewer!r}")
            fewer = False
        segments: SegmentRules | None = None
        if "segments" in top:
            try:
                segments = SegmentRules.from_dict(r.section(top["segments"], "segments"))
            except ConfigError as err:
                r.extend(err.problems, "segments")
            else:
                if segments.mode != "exclusive" or segments.statistics:
                    r.problem("segments", "expected exclusive rules without population statistics")
        edges: dict[str, Any] | None = None
        if "edges" in top:
            edges = r.section(top["edges"], "edges", allowed=list(_PARTS), required=list(_PARTS))
            r.problems.extend(_edge_problems(edges, bins, fewer, check_missing=False))
        r.raise_if_problems(what="RFM")
        return cls(
            bins=bins,
            ties=ties,
            allow_fewer_bins=fewer,
            segments=segments,
            edges=edges,
            **{k: v for k, v in kwargs.items() if v},
        )


def _number(value: Any, name: str) -> float | None:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(name, expected="a number or None", got=value)
    x = float(value)
    return None if math.isnan(x) else x


def _edge_problems(
    edges: Mapping[str, Any], bins: int, allow_fewer_bins: bool, *, check_missing: bool = True
) -> list[Any]:
    from crmkit.core import Problem

    problems: list[Problem] = []
    for part in _PARTS:
        where = f"edges.{part}"
        if part not in edges:
            if check_missing:
                problems.append(Problem(where=where, message="missing (required)"))
            continue
        cut = edges[part]
        if not isinstance(cut, list | tuple) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in cut
        ):
            problems.append(
                Problem(where=where, message=f"expected a list of numbers, got {cut!r}")
            )
            continue
        if not cut or any(not b > a for a, b in itertools.pairwise(cut)):
            problems.append(
                Problem(
                    where=where,
                    message=f"expected at least one strictly increasing edge, got {list(cut)}",
                )
            )
        elif len(cut) > bins - 1 or (len(cut) < bins - 1 and not allow_fewer_bins):
            problems.append(
                Problem(
                    where=where,
                    message=f"expected {bins - 1} edges for {bins} bins, got {len(cut)}",
                    hint="set allow_fewer_bins for fewer" if len(cut) < bins - 1 else None,
                )
            )
    return problems
