"""Tiers: a table of thresholds on qualifying points or spend over a rolling window.

Upgrade as soon as a threshold is reached; downgrade only at the end of an
evaluation period (after an optional grace period); every change is kept as
tier history.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any, ClassVar

import attrs
import pandas as pd

from crmkit.core import (
    AsOf,
    ConfigReader,
    Definition,
    ValidationError,
    month_index,
    month_start,
    to_instant,
    to_utc,
)
from crmkit.loyalty._tier_frame import assign_tiers

__all__ = ["Tier", "TierChange", "TierTable"]


class _Measure(enum.StrEnum):
    POINTS = "points"
    SPEND = "spend"


@attrs.frozen(kw_only=True)
class Tier:
    """One level: its name and the qualifying total (points or spend) that reaches it."""

    name: str
    threshold: float


@attrs.frozen(kw_only=True)
class TierChange:
    """One entry of a customer's tier history.

    Attributes:
        at: when the change took effect.
        tier: the new tier.
        previous: the tier before (``None`` for the first assignment).
        reason: ``"start"``, ``"upgrade"`` or ``"downgrade"``.
        qualifying: the qualifying total on the window ending at *at*.
    """

    at: datetime
    tier: str
    previous: str | None
    reason: str
    qualifying: float


@attrs.frozen(kw_only=True)
class TierTable(Definition):
    """The tier table and its evaluation rules (load with :meth:`from_dict` / TOML / JSON).

    Attributes:
        tiers: the tiers, lowest threshold first (the first has threshold 0).
        measure: ``"points"`` (qualifying points) or ``"spend"``.
        window_days: the rolling window the qualifying total is summed over.
        evaluation_months: the length of an evaluation period; periods start
            on calendar months divisible by it (12: calendar years, 3: quarters).
        grace_days: days after a period's end before a downgrade takes effect;
            a customer who qualifies again by then keeps the tier.

    >>> table = TierTable.from_dict({"measure": "spend", "window_days": 365,
    ...     "evaluation_months": 12, "grace_days": 30,
    ...     "tiers": [{"name": "member", "threshold": 0}, {"name": "gold", "threshold": 500}]})
    >>> from datetime import UTC, datetime
    >>> history = table.history([(datetime(2024, 3, 1, tzinfo=UTC), 600.0)],
    ...                         until=datetime(2026, 6, 1, tzinfo=UTC))
    >>> for c in history:
    ...     print(c.at.date(), c.tier, c.reason)
    2024-03-01 gold upgrade
    2026-01-31 member downgrade

    Gold was reached on the purchase; at the end of 2024 the window still
    held it, at the end of 2025 it did not, and the downgrade took effect
    after the 30 days of grace.
    """

    definition_name: ClassVar[str] = "tier table"

    tiers: tuple[Tier, ...]
    measure: str = "points"
    window_days: int = 365
    evaluation_months: int = 12
    grace_days: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> TierTable:
        """Build the table from a configuration mapping; every problem at once (ConfigError)."""
        r = ConfigReader(source)
        top = r.section(
            data,
            "tier table",
            allowed=["measure", "window_days", "evaluation_months", "grace_days", "tiers"],
            required=["tiers"],
        )
        measure = top.get("measure", "points")
        if measure not in {m.value for m in _Measure}:
            r.problem("measure", f"expected 'points' or 'spend', got {measure!r}")
        ints: dict[str, int] = {}
        for key, default, low in (
            ("window_days", 365, 1),
            ("evaluation_months", 12, 1),
            ("grace_days", 0, 0),
        ):
            value = top.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                r.problem(key, f"expected a whole number >= {low}, got {value!r}")
                value = default
            ints[key] = value
        if ints["evaluation_months"] not in (1, 2, 3, 4, 6, 12):
            r.problem("evaluation_months", "expected 1, 2, 3, 4, 6 or 12 (periods tile a year)")
        tiers: list[Tier] = []
        specs = top.get("tiers", [])
        if not isinstance(specs, list) or not specs:
            r.problem("tiers", "expected a non-empty list of tiers")
            specs = []
        for i, spec in enumerate(specs):
            where = f"tiers[{i}]"
            fields = r.section(
                spec, where, allowed=["name", "threshold"], required=["name", "threshold"]
            )
            name = r.text(fields, where, "name")
            threshold = r.number(fields, where, "threshold", minimum=0.0)
            if name and threshold is not None:
                tiers.append(Tier(name=name, threshold=threshold))
        if tiers:
            if tiers[0].threshold != 0:
                r.problem("tiers[0].threshold", "the lowest tier must have threshold 0")
            for i in range(1, len(tiers)):
                if tiers[i].threshold <= tiers[i - 1].threshold:
                    r.problem(f"tiers[{i}].threshold", "thresholds must increase down the list")
            names = [t.name for t in tiers]
            if len(set(names)) != len(names):
                r.problem("tiers", "tier names must be unique")
        r.raise_if_problems(what="tier table")
        return cls(tiers=tuple(tiers), measure=str(measure), **ints)

    def to_dict(self) -> dict[str, Any]:
        """The table as a configuration mapping; ``from_dict(table.to_dict()) == table``.

        >>> table = TierTable.from_dict({"tiers": [{"name": "member", "threshold": 0}]})
        >>> table.to_dict()
        {'measure': 'points', 'window_days': 365, 'evaluation_months': 12, 'grace_days': 0, 'tiers': [{'name': 'member', 'threshold': 0.0}]}
        >>> TierTable.from_dict(table.to_dict()) == table
        True
        """
        return {
            "measure": self.measure,
            "window_days": self.window_days,
            "evaluation_months": self.evaluation_months,
            "grace_days": self.grace_days,
            "tiers": [{"name": t.name, "threshold": t.threshold} for t in self.tiers],
        }

    def tier_for(self, qualifying: float) -> str:
        """The highest tier whose threshold *qualifying* reaches.

        >>> TierTable(tiers=(Tier(name="a", threshold=0), Tier(name="b", threshold=10))).tier_for(10)
        'b'
        """
        if (
            isinstance(qualifying, bool)
            or not isinstance(qualifying, int | float)
            or not math.isfinite(qualifying)
        ):
            raise ValidationError(
                "qualifying", expected="a finite number of points or spend", got=qualifying
            )
        found = self.tiers[0].name
        for tier in self.tiers:
            if qualifying >= tier.threshold:
                found = tier.name
        return found

    def assign(
        self,
        events: Any,
        *,
        as_of: AsOf,
        customer: str = "customer_id",
        date: str = "occurred_at",
        amount: str = "points",
        start: pd.Series[Any] | None = None,
    ) -> pd.DataFrame:
        """Every customer's tier as of *as_of*, from a frame of qualifying events (numpy).

        Exactly :meth:`tier_at` of :meth:`history` for each customer, evaluation
        periods and downgrade grace included (property-tested), computed for
        the whole base at once: the columnar path of the job.

        Args:
            events: one row per qualifying event: points earned (and reversed:
                negative), or spend; a pandas, polars or pyarrow frame.
            as_of: the instant the tiers are for (events after it are ignored).
            customer: the customer id column.
            date: the event time column (naive = UTC).
            amount: the qualifying amount column.
            start: when each customer joined (a Series by customer id); the
                first event otherwise.

        Returns:
            A frame indexed by customer (those with events, or a start, at or
            before *as_of*): ``tier`` (ordered categorical, lowest first),
            ``tier_since`` (when the tier was reached, NaT for the lowest tier
            never left) and ``qualifying`` (the window total at *as_of*).

        >>> import pandas as pd
        >>> table = TierTable.from_dict({"measure": "spend", "window_days": 365,
        ...     "evaluation_months": 12, "grace_days": 30,
        ...     "tiers": [{"name": "member", "threshold": 0}, {"name": "gold", "threshold": 500}]})
        >>> spend = pd.DataFrame({"customer_id": ["a", "b"], "amount": [600.0, 80.0],
        ...                       "occurred_at": pd.to_datetime(["2024-03-01", "2024-05-01"])})
        >>> table.assign(spend, as_of="2025-06-01", amount="amount")[["tier", "qualifying"]]
                       tier  qualifying
        customer_id
        a              gold         0.0
        b            member         0.0
        >>> table.assign(spend, as_of="2026-06-01", amount="amount")["tier"].tolist()
        ['member', 'member']
        """
        return assign_tiers(
            self, events, as_of=as_of, customer=customer, date=date, amount=amount, start=start
        )

    def _rank(self, name: str) -> int:
        return [t.name for t in self.tiers].index(name)

    def history(
        self,
        events: Iterable[tuple[datetime, float]],
        *,
        until: AsOf,
        start: AsOf | None = None,
    ) -> list[TierChange]:
        """One customer's tier history up to *until* from their qualifying events.

        Args:
            events: ``(at, qualifying amount)`` pairs: points earned (or spend)
                and when; negative amounts (reversals, refunds) count too.
            until: the last instant considered.
            start: when the customer joined (default: their first event); the
                lowest tier is theirs from then and is not listed as a change.

        Returns:
            The changes in time order.
        """
        until = to_instant(until, field="until")
        ordered = sorted((to_utc("at", at), float(x)) for at, x in events)
        ordered = [(at, x) for at, x in ordered if at <= until]
        if not ordered and start is None:
            return []
        times = [at for at, _ in ordered]
        sums = [0.0, *accumulate(x for _, x in ordered)]
        window = timedelta(days=self.window_days)

        def qualifying(t: datetime) -> float:
            hi = bisect.bisect_right(times, t)
            lo = bisect.bisect_right(times, t - window)
            return sums[hi] - sums[lo]

        begin = to_instant(start, field="start") if start is not None else times[0]
        current = self.tiers[0].name
        changes: list[TierChange] = []
        # Downgrade checks: period ends after the start, plus the grace period.
        checks: list[datetime] = []
        m = month_index(begin) // self.evaluation_months * self.evaluation_months
        grace = timedelta(days=self.grace_days)
        while True:
            m += self.evaluation_months
            end = month_start(m)
            if end + grace > until:
                break
            checks.append(end)
        steps = sorted(
            [(at, 0, None) for at in times] + [(end + grace, 1, end) for end in checks],
            key=lambda s: (s[0], s[1]),
        )
        for at, kind, period_end in steps:
            if kind == 0:
                q = qualifying(at)
                target = self.tier_for(q)
                if self._rank(target) > self._rank(current):
                    changes.append(
                        TierChange(
                            at=at, tier=target, previous=current, reason="upgrade", qualifying=q
                        )
                    )
                    current = target
            else:
                if period_end is None or self._rank(
                    self.tier_for(qualifying(period_end))
                ) >= self._rank(current):
                    continue
                q = qualifying(at)
                target = self.tier_for(q)
                if self._rank(target) < self._rank(current):
                    changes.append(
                        TierChange(
                            at=at, tier=target, previous=current, reason="downgrade", qualifying=q
                        )
                    )
                    current = target
        return changes

    def tier_at(self, history: Sequence[TierChange], when: AsOf) -> str:
        """The tier in effect at *when* according to *history* (the lowest before any change)."""
        when = to_instant(when, field="when")
        tier = self.tiers[0].name
        for change in history:
            if change.at <= when:
                tier = change.tier
        return tier
