"""Earning rules as configuration, with a scalar and a columnar engine.

Base points per spend unit, tier multipliers, campaigns, referral bonuses and
monthly value points; scalar (post one purchase) and columnar (a frame).

One definition, two engines: :meth:`EarningRules.points` gives one purchase's
points per rule, :meth:`EarningRules.earn_frame` every customer's points for a
period from a transactions frame; the two agree exactly (hypothesis checks it).
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import attrs
import numpy as np
import pandas as pd

from crmkit.core import (
    TICKS_PER_SECOND,
    AsOf,
    ConfigReader,
    Definition,
    FrozenDict,
    MissingColumnError,
    ValidationError,
    amount_array,
    check_frame,
    date_ticks,
    enum_codes,
    id_codes,
    parse_as_of,
    to_instant,
    to_utc,
)
from crmkit.domain import Purchase, Refund, SettlementMethod
from crmkit.expr import Formula, read_formula
from crmkit.loyalty._entries import (
    MAX_POINTS,
    EntryKind,
    LedgerEntry,
    check_part,
    checked_earn,
    escape_part,
)
from crmkit.loyalty._ledger import Ledger, ReversalPolicy
from crmkit.loyalty._repository import LedgerRepository

__all__ = ["PURCHASE_SCHEMA", "Campaign", "EarningRules", "Rounding"]

#: What a campaign's condition and bonus formulas may read about a purchase.
PURCHASE_SCHEMA: dict[str, str] = {
    "amount": "number",
    "segment": "string",
    "settlement": "string",
    "tier": "string",
}
_MAX_POINTS = float(MAX_POINTS)  # the ledger's bound: float sums of points stay exact integers


class Rounding(enum.StrEnum):
    """How fractional points become whole ones: ``floor`` (default), ``half_up`` or ``ceil``."""

    FLOOR = "floor"
    HALF_UP = "half_up"
    CEIL = "ceil"


def _round_scalar(x: float, how: Rounding) -> int:
    if not x > 0:  # also NaN
        return 0
    x = min(x, _MAX_POINTS)
    if how is Rounding.FLOOR:
        return math.floor(x)
    if how is Rounding.CEIL:
        return math.ceil(x)
    return math.floor(x + 0.5)


def _round_array(x: np.ndarray[Any, Any], how: Rounding) -> np.ndarray[Any, Any]:
    x = np.where(x > 0, np.minimum(x, _MAX_POINTS), 0.0)  # NaN > 0 is False
    if how is Rounding.FLOOR:
        return np.floor(x)
    if how is Rounding.CEIL:
        return np.ceil(x)
    return np.floor(x + 0.5)


@attrs.frozen(kw_only=True)
class Campaign:
    """A bonus for purchases in a date window ``[start, end)`` that meet a condition.

    Attributes:
        name: the rule name is ``campaign:<name>``.
        start: the first instant (a date means midnight UTC).
        end: the first instant after the window.
        condition: a boolean formula over the purchase (``amount``,
            ``segment``, ``settlement``, ``tier``); null counts as false.
        bonus: a number formula: the bonus points (rounded; null or < 0 gives 0).
    """

    name: str
    start: datetime
    end: datetime
    condition: Formula
    bonus: Formula


def _fmt(f: Formula) -> str:
    return f.text


@attrs.frozen(kw_only=True)
class EarningRules(Definition):
    """How purchases, referrals and months earn points (load with :meth:`from_dict` / TOML / JSON).

    Points for one purchase, per rule:

    * ``base``: ``amount / unit * points_per_unit * tier multiplier``, rounded;
    * ``campaign:<name>``: the campaign's bonus formula, rounded, when the
      purchase is in the window and the condition holds;

    plus ``referrer`` / ``referred`` bonuses, once per referred customer, on
    the referred customer's first awarded purchase, and ``monthly_value``
    points equal to a month's composite value (:meth:`award_monthly`).

    >>> rules = EarningRules.from_toml('''
    ... rounding = "floor"
    ... expires_after_days = 365
    ... [base]
    ... unit = 10.0
    ... points_per_unit = 1
    ... [tier_multipliers]
    ... gold = 1.5
    ... [[campaigns]]
    ... name = "spring"
    ... start = 2025-03-01
    ... end = 2025-04-01
    ... condition = "segment == 'vip'"
    ... bonus = "amount / 10"
    ... ''')
    >>> from datetime import UTC, datetime
    >>> rules.points(95.0, at=datetime(2025, 3, 5, tzinfo=UTC), segment="vip", tier="gold")
    {'base': 14, 'campaign:spring': 9}
    """

    definition_name: ClassVar[str] = "earning rules"

    unit: float = 1.0
    points_per_unit: float = 1.0
    rounding: Rounding = Rounding.FLOOR
    tier_multipliers: Mapping[str, float] = attrs.field(
        factory=FrozenDict[str, float], converter=FrozenDict[str, float]
    )
    campaigns: tuple[Campaign, ...] = ()
    referrer_bonus: int = 0
    referred_bonus: int = 0
    expires_after_days: int | None = None
    reversal_policy: ReversalPolicy = ReversalPolicy.REFUSE

    def ledger(self, repository: LedgerRepository) -> Ledger:
        """A :class:`Ledger` over *repository* with the configured ``reversal_policy``.

        >>> from crmkit.loyalty import InMemoryLedgerRepository
        >>> rules = EarningRules.from_dict({"reversal_policy": "allow_negative"})
        >>> rules.ledger(InMemoryLedgerRepository()).reversal_policy.value
        'allow_negative'
        """
        return Ledger(repository, reversal_policy=self.reversal_policy)

    # ------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> EarningRules:
        """Build the rules from a configuration mapping (the TOML layout, as a dict).

        Raises:
            ConfigError: every problem at once, with its key path (and, for
                formulas, the position and a caret).
        """
        r = ConfigReader(source)
        top = r.section(
            data,
            "earning rules",
            allowed=[
                "reversal_policy",
                "rounding",
                "expires_after_days",
                "base",
                "tier_multipliers",
                "campaigns",
                "referral",
            ],
        )
        rounding = Rounding.FLOOR
        if "rounding" in top:
            if top["rounding"] in {m.value for m in Rounding}:
                rounding = Rounding(top["rounding"])
            else:
                r.problem(
                    "rounding", f"expected one of floor, half_up, ceil, got {top['rounding']!r}"
                )
        policy = ReversalPolicy.REFUSE
        if "reversal_policy" in top:
            if top["reversal_policy"] in {m.value for m in ReversalPolicy}:
                policy = ReversalPolicy(top["reversal_policy"])
            else:
                r.problem(
                    "reversal_policy",
                    f"expected 'refuse' or 'allow_negative', got {top['reversal_policy']!r}",
                )
        expires: int | None = None
        if "expires_after_days" in top:
            value = top["expires_after_days"]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                r.problem(
                    "expires_after_days", f"expected a whole number of days > 0, got {value!r}"
                )
            else:
                expires = value
        base = r.section(top.get("base", {}), "base", allowed=["unit", "points_per_unit"])
        unit = r.number(base, "base", "unit", default=1.0)
        if unit is None or unit <= 0:
            if "unit" in base and unit is not None:
                r.problem("base.unit", f"expected a spend unit > 0, got {base['unit']!r}")
            unit = 1.0
        ppu = r.number(base, "base", "points_per_unit", default=1.0, minimum=0.0)
        multipliers: dict[str, float] = {}
        tiers = r.section(top.get("tier_multipliers", {}), "tier_multipliers")
        for name in tiers:
            m = r.number(tiers, "tier_multipliers", name, minimum=0.0)
            if m is not None:
                multipliers[name] = m
        campaigns: list[Campaign] = []
        specs = top.get("campaigns", [])
        if not isinstance(specs, list):
            r.problem("campaigns", f"expected a list of campaigns, got {type(specs).__name__}")
            specs = []
        names: set[str] = set()
        for i, spec in enumerate(specs):
            where = f"campaigns[{i}]"
            fields = r.section(
                spec,
                where,
                allowed=["name", "start", "end", "condition", "bonus"],
                required=["name", "start", "end", "bonus"],
            )
            name = r.text(fields, where, "name")
            if name in names:
                r.problem(f"{where}.name", f"the campaign name {name!r} is used twice")
            names.add(name)
            window: list[datetime | None] = []
            for key in ("start", "end"):
                if key not in fields:
                    window.append(None)
                    continue
                try:
                    value = fields[key]
                    if isinstance(value, date) and not isinstance(value, datetime):
                        value = value.isoformat()
                    window.append(to_instant(value, field=key))
                except ValidationError:
                    r.problem(
                        f"{where}.{key}",
                        f"expected a date or an aware timestamp, got {fields[key]!r}",
                    )
                    window.append(None)
            if window[0] is not None and window[1] is not None and window[1] <= window[0]:
                r.problem(f"{where}.end", "the window must end after it starts")
            formulas: dict[str, Formula | None] = {}
            for key, kind, default in (("condition", "bool", "True"), ("bonus", "number", None)):
                text = fields.get(key, default)
                if text is None:
                    formulas[key] = None
                    continue
                formulas[key] = read_formula(
                    r,
                    text,
                    f"{where}.{key}",
                    schema=PURCHASE_SCHEMA,
                    result=kind,
                    what=f"the {key}",
                )
            cond, bonus = formulas["condition"], formulas["bonus"]
            if name and window[0] and window[1] and cond is not None and bonus is not None:
                campaigns.append(
                    Campaign(name=name, start=window[0], end=window[1], condition=cond, bonus=bonus)
                )
        referral = r.section(top.get("referral", {}), "referral", allowed=["referrer", "referred"])
        bonuses: dict[str, int] = {}
        for key in ("referrer", "referred"):
            value = referral.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                r.problem(f"referral.{key}", f"expected whole points >= 0, got {value!r}")
                value = 0
            bonuses[key] = value
        r.raise_if_problems(what="earning rules")
        return cls(
            unit=unit,
            points_per_unit=ppu if ppu is not None else 1.0,
            rounding=rounding,
            tier_multipliers=multipliers,
            campaigns=tuple(campaigns),
            referrer_bonus=bonuses["referrer"],
            referred_bonus=bonuses["referred"],
            expires_after_days=expires,
            reversal_policy=policy,
        )

    def to_dict(self) -> dict[str, Any]:
        """The rules as a configuration mapping; ``from_dict(rules.to_dict()) == rules``.

        >>> rules = EarningRules.from_dict({"base": {"unit": 10.0}, "referral": {"referrer": 50}})
        >>> rules.to_dict()["base"]
        {'unit': 10.0, 'points_per_unit': 1.0}
        >>> EarningRules.from_dict(rules.to_dict()) == rules
        True
        """
        out: dict[str, Any] = {
            "reversal_policy": self.reversal_policy.value,
            "rounding": self.rounding.value,
        }
        if self.expires_after_days is not None:
            out["expires_after_days"] = self.expires_after_days
        out["base"] = {"unit": self.unit, "points_per_unit": self.points_per_unit}
        if self.tier_multipliers:
            out["tier_multipliers"] = dict(self.tier_multipliers)
        if self.campaigns:
            out["campaigns"] = [
                {
                    "name": c.name,
                    "start": c.start.isoformat(),  # text: JSON has no datetime
                    "end": c.end.isoformat(),
                    "condition": c.condition.text,
                    "bonus": c.bonus.text,
                }
                for c in self.campaigns
            ]
        out["referral"] = {"referrer": self.referrer_bonus, "referred": self.referred_bonus}
        return out

    # ------------------------------------------------------------ scalar

    def points(
        self,
        amount: float,
        *,
        at: AsOf,
        segment: str | None = None,
        settlement: str | None = None,
        tier: str | None = None,
    ) -> dict[str, int]:
        """One purchase's points per rule (rules giving 0 are left out)."""
        return self._points(float(amount), to_instant(at, field="at"), segment, settlement, tier)

    def _points(
        self,
        x: float,
        at: datetime,
        segment: str | None,
        settlement: str | None,
        tier: str | None,
    ) -> dict[str, int]:
        """:meth:`points` of an amount and a plain UTC instant already read."""
        mult = self.tier_multipliers.get(tier, 1.0) if tier is not None else 1.0
        out: dict[str, int] = {}
        base = _round_scalar(x / self.unit * self.points_per_unit * mult, self.rounding)
        if base:
            out["base"] = base
        if not self.campaigns:
            return out
        context = {"amount": x, "segment": segment, "settlement": settlement, "tier": tier}
        for c in self.campaigns:
            if not c.start <= at < c.end or c.condition.evaluate(context) is not True:
                continue
            bonus = c.bonus.evaluate(context)
            got = _round_scalar(float(bonus), self.rounding) if isinstance(bonus, float) else 0
            if got:
                out[f"campaign:{c.name}"] = got
        return out

    @functools.cached_property
    def _expires_after(self) -> timedelta | None:
        return None if self.expires_after_days is None else timedelta(self.expires_after_days)

    def _expiry(self, at: datetime) -> datetime | None:
        delta = self._expires_after
        return None if delta is None else at + delta

    def award(
        self,
        ledger: Ledger,
        purchase: Purchase,
        *,
        segment: str | None = None,
        tier: str | None = None,
        referrer: str | None = None,
    ) -> list[LedgerEntry]:
        """Post a purchase's points (one entry per rule, one posting; repeats change nothing).

        With *referrer*, the referral bonuses are posted too, keyed by the
        referred customer, so they are awarded once: on the first purchase
        awarded with a referrer.
        """
        entries = self._award_entries(purchase, segment=segment, tier=tier, referrer=referrer)
        return ledger.post(entries) if entries else []

    def award_many(
        self,
        ledger: Ledger,
        purchases: Iterable[Purchase],
        *,
        segments: Mapping[str, str] | None = None,
        tiers: Mapping[str, str] | None = None,
        referrers: Mapping[str, str] | None = None,
        chunk_size: int = 10_000,
    ) -> list[LedgerEntry]:
        """Post the points of many purchases in bulk: the ledger :meth:`award` one by one would leave.

        Each purchase gets the entries :meth:`award` would post for it, with
        its customer's segment, tier and referrer looked up in the mappings
        (by customer id; absent means none). They are posted with
        :meth:`Ledger.post_many`: a few statements per *chunk_size* entries
        instead of one transaction per purchase; repeats change nothing.
        A :class:`~crmkit.domain.Purchase`'s earn entries are built from the
        fields its own checks passed, without checking them again (a rule
        name is checked the first time it awards points); referral entries
        are checked as :meth:`award` checks them.

        Returns:
            The stored entries, in the order of the purchases.

        >>> from datetime import UTC, datetime
        >>> from crmkit.domain import Purchase
        >>> from crmkit.loyalty import InMemoryLedgerRepository
        >>> rules = EarningRules.from_dict({"base": {"points_per_unit": 1}})
        >>> t = datetime(2025, 1, 1, tzinfo=UTC)
        >>> bought = [Purchase(id=f"p-{i}", customer_id="c-1", amount=20, currency="EUR",
        ...                    occurred_at=t) for i in range(3)]
        >>> ledger = Ledger(InMemoryLedgerRepository())
        >>> len(rules.award_many(ledger, bought)), ledger.balance("c-1")
        (3, 60)
        """
        segments = segments or {}
        tiers = tiers or {}
        referrers = referrers or {}
        rules: dict[str, str] = {}

        def entries() -> Iterator[LedgerEntry]:
            for purchase in purchases:
                if not isinstance(purchase, Purchase):
                    raise ValidationError(
                        "purchase", expected="a Purchase", got=type(purchase).__name__
                    )
                who = purchase.customer_id
                yield from self._award_entries(
                    purchase,
                    segment=segments.get(who),
                    tier=tiers.get(who),
                    referrer=referrers.get(who),
                    rules=rules,
                )

        return ledger.post_many(entries(), chunk_size=chunk_size)

    def _award_entries(
        self,
        purchase: Purchase,
        *,
        segment: str | None,
        tier: str | None,
        referrer: str | None,
        rules: dict[str, str] | None = None,
    ) -> list[LedgerEntry]:
        """The entries :meth:`award` posts for *purchase*.

        *rules* caches, per rule name checked already, the end of its entries'
        keys (``"|<rule>|"``); :meth:`award_many` shares one across purchases.
        """
        at = purchase.occurred_at
        settlement = None if purchase.settlement is None else str(purchase.settlement)
        points = self._points(float(purchase.amount), at, segment, settlement, tier)
        expires_at = self._expiry(at)
        entries: list[LedgerEntry]
        if type(purchase) is Purchase:
            # A Purchase's fields passed its checks (ids, a plain UTC time, an
            # amount), the points are ints in 1..MAX_POINTS and the expiry is
            # later: only a rule name is new, and it is checked once.
            if rules is None:
                rules = {}
            head = "purchase|" + escape_part(purchase.id)
            entries = []
            for rule, p in points.items():
                tail = rules.get(rule)
                if tail is None:
                    tail = rules[rule] = (
                        "|" + escape_part(check_part("LedgerEntry.rule", rule)) + "|"
                    )
                entries.append(
                    checked_earn(
                        customer_id=purchase.customer_id,
                        points=p,
                        at=at,
                        source_kind="purchase",
                        source_id=purchase.id,
                        rule=rule,
                        expires_at=expires_at,
                        amount=purchase.amount,
                        key=head + tail,
                    )
                )
        else:
            entries = [
                LedgerEntry(
                    customer_id=purchase.customer_id,
                    kind=EntryKind.EARN,
                    points=p,
                    at=at,
                    source_kind="purchase",
                    source_id=purchase.id,
                    rule=rule,
                    expires_at=expires_at,
                    amount=purchase.amount,
                )
                for rule, p in points.items()
            ]
        if referrer is not None:
            for who, rule, p in (
                (referrer, "referrer", self.referrer_bonus),
                (purchase.customer_id, "referred", self.referred_bonus),
            ):
                if p > 0:
                    entries.append(
                        LedgerEntry(
                            customer_id=who,
                            kind=EntryKind.EARN,
                            points=p,
                            at=at,
                            source_kind="referral",
                            source_id=purchase.customer_id,
                            rule=rule,
                            expires_at=expires_at,
                        )
                    )
        return entries

    def refund(self, ledger: Ledger, refund: Refund) -> list[LedgerEntry]:
        """Reverse, in proportion to *refund*, every award of the refunded purchase.

        Each award (one per rule) gets a reverse entry keyed by the refund, so
        posting the same refund again changes nothing; refunds adding up to
        the purchase's amount reverse the awards exactly (see
        :meth:`Ledger.reverse`). Referral bonuses are not reversed.
        """
        awards = [
            e
            for e in ledger.entries(refund.customer_id)
            if e.kind is EntryKind.EARN
            and e.source_kind == "purchase"
            and e.source_id == refund.purchase_id
        ]
        return [
            ledger.reverse(e.key, at=refund.occurred_at, source_id=refund.id, amount=refund.amount)
            for e in awards
        ]

    def award_monthly(
        self, ledger: Ledger, monthly: pd.DataFrame, *, customer: str = "customer_id"
    ) -> list[LedgerEntry]:
        """Post monthly value points: each row's ``value`` (rounded), once per customer and month.

        *monthly* is :func:`crmkit.scoring.score_monthly`'s frame (customer,
        ``month``, ``value``). The entries are dated at the start of the next
        month, keyed ``("month", <customer>, "monthly_value", <month>)``.
        """
        for column in (customer, "month", "value"):
            if column not in monthly.columns:
                raise MissingColumnError([column], [str(c) for c in monthly.columns])
        entries: list[LedgerEntry] = []
        months: dict[object, tuple[str, datetime, datetime | None]] = {}
        for who, month, value in zip(
            monthly[customer], monthly["month"], monthly["value"], strict=True
        ):
            p = _round_scalar(float(value), self.rounding)
            if p <= 0:
                continue
            found = months.get(month)
            if found is None:  # once per month, not per row
                period = pd.Period(month, freq="M")
                at = to_utc("at", (period + 1).start_time.tz_localize("UTC").to_pydatetime())
                found = months[month] = (str(period), at, self._expiry(at))
            label, at, expires = found
            entries.append(
                LedgerEntry(
                    customer_id=str(who),
                    kind=EntryKind.EARN,
                    points=p,
                    at=at,
                    source_kind="month",
                    source_id=str(who),
                    rule="monthly_value",
                    period=label,
                    expires_at=expires,
                )
            )
        return ledger.post(entries) if entries else []

    # ------------------------------------------------------------ columnar

    def earn_frame(
        self,
        transactions: pd.DataFrame,
        *,
        start: Any,
        end: Any,
        customer: str = "customer_id",
        date: str = "occurred_at",
        amount: str = "amount",
        segment: str | None = None,
        settlement: str | None = None,
        tier: str | None = None,
    ) -> pd.DataFrame:
        """Every customer's purchase points for ``[start, end)``, per rule and in total (numpy).

        Equal to :meth:`points` summed over the same purchases one by one
        (:meth:`points_frame` gives them one by one). Naive timestamps are UTC.
        Referral bonuses are not included (they depend on the order purchases
        are awarded in; post them with :meth:`award`).

        Returns:
            A frame indexed by *customer* (customers with purchases in the
            period), with a column per rule that awarded points and ``points``.
        """
        rows = self.points_frame(
            transactions,
            start=start,
            end=end,
            customer=customer,
            date=date,
            amount=amount,
            segment=segment,
            settlement=settlement,
            tier=tier,
        )
        out = rows.drop(columns=[date, "points"]).groupby(customer, sort=True).sum()
        out = out.loc[:, (out != 0).any(axis=0)] if len(out) else out
        result = out.astype("int64")
        result["points"] = result.sum(axis=1).astype("int64")
        return result

    def points_frame(
        self,
        transactions: pd.DataFrame,
        *,
        start: Any,
        end: Any,
        customer: str = "customer_id",
        date: str = "occurred_at",
        amount: str = "amount",
        segment: str | None = None,
        settlement: str | None = None,
        tier: str | None = None,
    ) -> pd.DataFrame:
        """The points of each purchase in ``[start, end)``, one row per purchase (numpy).

        Each row is :meth:`points` of that purchase: the *customer* and *date*
        columns, a column per rule (0 where it gave nothing) and ``points``, in
        the order of the input rows (index kept). These are the qualifying
        events of a points tier table (:meth:`TierTable.assign
        <crmkit.loyalty.TierTable.assign>`).

        >>> import pandas as pd
        >>> rules = EarningRules.from_dict({"base": {"unit": 10.0}})
        >>> tx = pd.DataFrame({"customer_id": ["a", "b"], "amount": [95.0, 12.0],
        ...                    "occurred_at": pd.to_datetime(["2025-03-05", "2025-03-06"])})
        >>> rules.points_frame(tx, start="2025-03-01", end="2025-04-01")
          customer_id occurred_at  base  points
        0           a  2025-03-05     9       9
        1           b  2025-03-06     1       1
        """
        frame = check_frame(
            transactions, "transactions", [customer, date, amount, segment, settlement, tier]
        )
        lo, hi = parse_as_of(start, field="start"), parse_as_of(end, field="end")
        if lo >= hi:
            raise ValidationError(
                "end",
                expected=f"a time after start ({lo})",
                got=end,
                hint="the period is [start, end)",
            )
        # The frame boundary checks every row, as features() does: ids, dates, amounts, methods.
        id_codes(frame, "transactions", customer)
        ticks = date_ticks(frame, "transactions", date)
        x_all = amount_array(frame, "transactions", amount)
        if settlement is not None:
            enum_codes(frame, "transactions", settlement, SettlementMethod, missing_code=4)
        ns_all = ticks.values * (1_000_000_000 // TICKS_PER_SECOND[ticks.unit])
        keep = (ns_all >= lo.value) & (ns_all < hi.value)
        frame = frame.loc[keep]
        ns = ns_all[keep].view("datetime64[ns]")
        x = x_all[keep]
        n = len(frame)

        def text(col: str | None) -> np.ndarray[Any, Any]:
            if col is None:
                return np.full(n, None, dtype=object)
            values = frame[col].astype(object).to_numpy()
            return np.array(
                [
                    None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)
                    for v in values
                ],
                dtype=object,
            )

        tiers = text(tier)
        mult = (
            np.array(
                [1.0 if t is None else self.tier_multipliers.get(t, 1.0) for t in tiers],
                dtype="float64",
            )
            if n
            else np.zeros(0)
        )
        per_rule: dict[str, np.ndarray[Any, Any]] = {}
        with np.errstate(all="ignore"):
            per_rule["base"] = _round_array(
                x / self.unit * self.points_per_unit * mult, self.rounding
            )
        columns = {
            "amount": x,
            "segment": text(segment),
            "settlement": text(settlement),
            "tier": tiers,
        }
        for c in self.campaigns:
            inside = (ns >= pd.Timestamp(c.start).to_datetime64()) & (
                ns < pd.Timestamp(c.end).to_datetime64()
            )
            cond = c.condition.evaluate_arrays(columns, size=n)
            hit = inside & np.ma.filled(cond, False).astype(bool)
            bonus = np.ma.filled(c.bonus.evaluate_arrays(columns, size=n).astype("float64"), np.nan)
            per_rule[f"campaign:{c.name}"] = np.where(hit, _round_array(bonus, self.rounding), 0.0)
        out = pd.DataFrame(
            {
                customer: frame[customer].to_numpy(),
                date: pd.DatetimeIndex(ns).tz_localize(None),
                **{name: values.astype("int64") for name, values in per_rule.items()},
            },
            index=frame.index,
        )
        out["points"] = out[list(per_rule)].sum(axis=1).astype("int64")
        return out
