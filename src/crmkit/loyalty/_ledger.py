"""The ledger service: earning, redeeming, reversing, adjusting and expiring points.

Pure domain logic over a :class:`~crmkit.loyalty.LedgerRepository`. Each
operation is one :meth:`~crmkit.loyalty.LedgerRepository.post`: the decision
(is the balance enough, which lots to draw from, how many points a partial
refund reverses) is made inside the repository's write transaction, from what
is stored at that moment.
"""

from __future__ import annotations

import enum
import functools
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from crmkit.core import AsOf, InsufficientPointsError, NotFoundError, ValidationError, to_instant
from crmkit.domain import to_enum, to_optional_money
from crmkit.loyalty._entries import (
    MAX_POINTS,
    EntryKind,
    LedgerEntry,
    Lot,
    conflict,
    idempotency_key,
)
from crmkit.loyalty._repository import Build, LedgerRepository, LedgerView

__all__ = ["Ledger", "ReversalPolicy"]


class ReversalPolicy(enum.StrEnum):
    """What a reversal (or a negative adjust) does when it takes more than the balance.

    ``refuse`` (the default) raises :class:`InsufficientPointsError` and posts
    nothing, so a balance is never negative. ``allow_negative`` posts it: the
    points the lots cannot cover are recorded as *uncovered* and the balance
    goes below zero until later earnings lift it; redemptions need a positive
    balance.
    """

    REFUSE = "refuse"
    ALLOW_NEGATIVE = "allow_negative"


def _positive(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_POINTS:
        raise ValidationError(
            field, expected=f"a whole number of points > 0 and <= {MAX_POINTS}", got=value
        )
    return value


def _repeat(existing: LedgerEntry, customer_id: str, kind: EntryKind, points: int) -> LedgerEntry:
    """The stored entry of a repeated key, if the repeat asks for the same thing."""
    if (
        existing.customer_id != customer_id
        or existing.kind is not kind
        or existing.points != points
    ):
        raise conflict(existing, customer_id, points, kind=kind)
    return existing


def _live(lot: Lot, at: datetime) -> bool:
    return lot.expires_at is None or lot.expires_at > at


def _expiries(view: LedgerView, *, customer_id: str, at: datetime) -> list[LedgerEntry]:
    """Expire entries for the customer's lots that have lapsed at *at* and still hold points."""
    return [expiry_entry(lot) for lot in view.lots(customer_id) if not _live(lot, at)]


def expiry_entry(lot: Lot) -> LedgerEntry:
    """The expire entry that takes what is left of a lapsed *lot* (one per lot: idempotent)."""
    if lot.expires_at is None:
        raise ValidationError("lot", expected="a lot with an expiry date", got=lot.key)
    return LedgerEntry(
        customer_id=lot.customer_id,
        kind=EntryKind.EXPIRE,
        points=-lot.remaining,
        at=lot.expires_at,
        source_kind="lot",
        source_id=lot.key,
        rule="expiry",
        draws=((lot.key, lot.remaining),),
    )


def _allocate(lots: Iterable[Lot], points: int) -> tuple[tuple[str, int], ...]:
    """Draw *points* from *lots* in the order given; fewer if the lots hold fewer."""
    draws: list[tuple[str, int]] = []
    left = points
    for lot in lots:
        if left <= 0:
            break
        take = min(lot.remaining, left)
        if take > 0:
            draws.append((lot.key, take))
            left -= take
    return tuple(draws)


class Ledger:
    """The points ledger: one award per source event, refunds reverse, oldest points go first.

    Args:
        repository: where entries, lots and balances are stored.
        reversal_policy: what a reversal larger than the balance does
            (:class:`ReversalPolicy`; ``"refuse"`` by default).

    >>> from datetime import UTC, datetime, timedelta
    >>> from crmkit.loyalty import InMemoryLedgerRepository
    >>> ledger = Ledger(InMemoryLedgerRepository())
    >>> jan = datetime(2025, 1, 1, tzinfo=UTC)
    >>> a = ledger.earn("c-1", 100, at=jan, source_kind="purchase", source_id="p-1",
    ...                 expires_at=jan + timedelta(days=365), amount="50.00")
    >>> ledger.earn("c-1", 100, at=jan, source_kind="purchase", source_id="p-1",
    ...             amount="50.00") == a   # a retry: the stored entry
    True
    >>> r = ledger.redeem("c-1", 30, at=jan, source_kind="reward", source_id="r-1")
    >>> r.draws
    (('purchase|p-1||', 30),)
    >>> ledger.reverse(a.key, at=jan, source_id="refund-1", amount="25.00").points
    -50
    >>> ledger.balance("c-1")
    20
    """

    def __init__(
        self,
        repository: LedgerRepository,
        *,
        reversal_policy: ReversalPolicy | str = ReversalPolicy.REFUSE,
    ) -> None:
        self.repository = repository
        self.reversal_policy = to_enum("reversal_policy", ReversalPolicy, reversal_policy)

    # ------------------------------------------------------------ reads

    def balance(self, customer_id: str) -> int:
        """The customer's balance (the sum of their entries; read from a cache, O(1))."""
        return self.repository.balance(customer_id)

    def lots(self, customer_id: str) -> list[Lot]:
        """The customer's lots with points left, soonest expiry first."""
        return self.repository.lots(customer_id)

    def entries(self, customer_id: str) -> list[LedgerEntry]:
        """Every entry of the customer, in posting order."""
        return self.repository.entries(customer_id)

    # ------------------------------------------------------------ writes

    def post(self, entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
        """Post ready-made entries (earns, typically from earning rules) all or nothing.

        Entries whose key is stored already come back as the stored ones.
        Taking entries must carry their draws; use :meth:`redeem`,
        :meth:`reverse` and :meth:`adjust` to have them computed.
        """
        batch = list(entries)
        return self.repository.post(lambda _view: batch)

    def post_many(
        self, entries: Iterable[LedgerEntry], *, chunk_size: int = 10_000
    ) -> list[LedgerEntry]:
        """Post many ready-made entries (bulk awards) in postings of *chunk_size* entries.

        The outcome is that of posting them one by one with :meth:`post`: each
        entry whose key is stored already (or earlier in *entries*) comes back
        as the stored one and changes nothing; balances and lots move as if the
        entries came one after the other. Each chunk is one all-or-nothing
        posting, so a failure leaves the chunks before it stored: post again
        (idempotent) to finish. A repository stores a chunk with a few
        statements (SQLite ``executemany``, PostgreSQL ``COPY``), not one
        transaction per entry.

        Returns:
            The stored entries, one per given entry.

        >>> from datetime import UTC, datetime
        >>> from crmkit.loyalty import InMemoryLedgerRepository
        >>> ledger = Ledger(InMemoryLedgerRepository())
        >>> t = datetime(2025, 1, 1, tzinfo=UTC)
        >>> awards = [LedgerEntry(customer_id=f"c-{i % 3}", kind="earn", points=10, at=t,
        ...                       source_kind="purchase", source_id=f"p-{i}") for i in range(7)]
        >>> len(ledger.post_many(awards + awards[:2], chunk_size=4)), ledger.balance("c-0")
        (9, 30)
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValidationError("chunk_size", expected="an integer >= 1", got=chunk_size)
        posted: list[LedgerEntry] = []
        chunk: list[LedgerEntry] = []
        for entry in entries:
            chunk.append(entry)
            if len(chunk) == chunk_size:
                posted.extend(self.post(chunk))
                chunk = []
        if chunk:
            posted.extend(self.post(chunk))
        return posted

    def earn(
        self,
        customer_id: str,
        points: int,
        *,
        at: AsOf,
        source_kind: str,
        source_id: str,
        rule: str = "",
        period: str = "",
        expires_at: datetime | None = None,
        amount: Decimal | str | int | None = None,
    ) -> LedgerEntry:
        """Award *points* (> 0) for a source event, once: a repeated key returns the stored entry.

        The repeat must be the same award (customer, points, amount): a key
        stored for another customer or another number of points raises
        :class:`~crmkit.core.ConflictError`. *points* and the balance after
        it are at most :data:`~crmkit.loyalty.MAX_POINTS`, and *expires_at*
        must come after *at* (:class:`~crmkit.core.ValidationError`).

        Args:
            customer_id: who earns.
            points: how many (> 0).
            at: when (aware).
            source_kind: what kind of event (``"purchase"``, ``"referral"``, ``"month"``).
            source_id: which event.
            rule: the earning rule that awarded them.
            period: the period the award is for (``"2025-03"`` for monthly awards).
            expires_at: when the lot lapses (``None``: never).
            amount: the money amount of the source, for proportional reversals.
        """
        entry = LedgerEntry(
            customer_id=customer_id,
            kind=EntryKind.EARN,
            points=_positive("points", points),
            at=to_instant(at, field="at"),
            source_kind=source_kind,
            source_id=source_id,
            rule=rule,
            period=period,
            expires_at=expires_at,
            amount=to_optional_money("amount", amount),
        )
        return self.repository.post(lambda _view: [entry])[0]

    def redeem(
        self,
        customer_id: str,
        points: int,
        *,
        at: AsOf,
        source_kind: str,
        source_id: str,
        rule: str = "",
        period: str = "",
    ) -> LedgerEntry:
        """Spend *points* from the lots that expire soonest (ties: posted first).

        Lots that have lapsed at *at* are expired first, in the same posting.
        A repeated key returns the stored entry and spends nothing.

        Raises:
            InsufficientPointsError: the balance (after expiring) is smaller
                than *points*; nothing is posted.
            ConflictError: the key is stored for another customer or another
                number of points.
        """
        build = self.redeem_build(
            customer_id,
            points,
            at=at,
            source_kind=source_kind,
            source_id=source_id,
            rule=rule,
            period=period,
        )
        return self.repository.post(build)[-1]

    def redeem_build(
        self,
        customer_id: str,
        points: int,
        *,
        at: AsOf,
        source_kind: str,
        source_id: str,
        rule: str = "",
        period: str = "",
    ) -> Build:
        """The build function of :meth:`redeem`, for a repository that posts it with more work.

        :class:`~crmkit.loyalty.Rewards` hands it to a coupon repository that
        posts the debit and stores the coupon in one transaction. The last
        entry it returns is the redemption (the stored one on a repeat).

        Raises:
            ValidationError: *points* is not a whole number in ``1..MAX_POINTS``.
        """
        points = _positive("points", points)
        at = to_instant(at, field="at")
        key = idempotency_key(source_kind, source_id, rule, period)

        def build(view: LedgerView) -> list[LedgerEntry]:
            existing = view.find(key)
            if existing is not None:
                return [_repeat(existing, customer_id, EntryKind.REDEEM, -points)]
            expired = _expiries(view, customer_id=customer_id, at=at)
            available = view.balance(customer_id) + sum(e.points for e in expired)
            if points > available:
                raise InsufficientPointsError(customer_id, points, max(available, 0))
            live = [lot for lot in view.lots(customer_id) if _live(lot, at)]
            return [
                *expired,
                LedgerEntry(
                    customer_id=customer_id,
                    kind=EntryKind.REDEEM,
                    points=-points,
                    at=at,
                    source_kind=source_kind,
                    source_id=source_id,
                    rule=rule,
                    period=period,
                    draws=_allocate(live, points),
                ),
            ]

        return build

    def reverse(
        self,
        award_key: str,
        *,
        at: AsOf,
        source_id: str,
        source_kind: str = "refund",
        amount: Decimal | str | int | None = None,
    ) -> LedgerEntry:
        """Reverse an award, wholly or in proportion to a refund; nothing is deleted.

        With *amount*, the reversal is proportional: after refunds totalling
        ``R`` of an award of ``P`` points for a purchase of amount ``A``,
        ``floor(P * R / A)`` points are reversed in all (so each refund
        reverses that minus what earlier refunds reversed, and refunds adding up
        to ``A`` reverse exactly ``P``). Without *amount*, whatever is not yet
        reversed is. Points of the award that expired are never reversed (the
        expiry took them already): the total is capped at ``P`` minus them.
        The points come from the award's own lot first, then from
        the customer's other lots, soonest expiry first; beyond the balance the
        :class:`ReversalPolicy` decides.

        Raises:
            NotFoundError: no award has this key.
            ValidationError: the award is not an earn, it has no amount for a
                proportional reversal, or the refunds exceed its amount.
            InsufficientPointsError: the policy is ``refuse`` and the balance
                is smaller than the points to reverse; nothing is posted.
        """
        at = to_instant(at, field="at")
        refund = to_optional_money("amount", amount)
        key = idempotency_key(source_kind, source_id, "reverse", award_key)

        def build(view: LedgerView) -> list[LedgerEntry]:
            existing = view.find(key)
            if existing is not None:
                if existing.kind is not EntryKind.REVERSE or existing.amount != refund:
                    raise conflict(
                        existing,
                        existing.customer_id,
                        existing.points,
                        kind=EntryKind.REVERSE,
                        amount=refund,
                    )
                return [existing]
            award = view.find(award_key)
            if award is None:
                raise NotFoundError("award", award_key)
            if award.kind is not EntryKind.EARN:
                raise ValidationError(
                    "award_key", expected="the key of an earn entry", got=award.kind.value
                )
            earlier = view.reversals_of(award_key)
            already = -sum(e.points for e in earlier)
            if refund is None:
                target = award.points
            else:
                if award.amount is None or any(e.amount is None for e in earlier):
                    raise ValidationError(
                        "amount",
                        expected="None: the award has no amount or was reversed in full",
                        got=refund,
                    )
                refunded = sum((e.amount or Decimal(0) for e in earlier), Decimal(0)) + refund
                if refunded > award.amount:
                    raise ValidationError(
                        "amount",
                        expected=f"refunds totalling at most {award.amount}",
                        got=refunded,
                    )
                target = (
                    award.points
                    if award.amount == 0
                    else int((award.points * refunded) // award.amount)
                )
            # Points of the award that expired were taken once already: never reverse them.
            expired = _expiries(view, customer_id=award.customer_id, at=at)
            stored = view.find(idempotency_key("lot", award_key, "expiry", ""))
            lapsed = sum(
                p
                for e in (*expired, *([] if stored is None else [stored]))
                for lot_key, p in e.draws
                if lot_key == award_key
            )
            points = max(min(target, award.points - lapsed) - already, 0)
            expired, draws = self._take(
                view, award.customer_id, points, at, first=award_key, expired=expired
            )
            return [
                *expired,
                LedgerEntry(
                    customer_id=award.customer_id,
                    kind=EntryKind.REVERSE,
                    points=-points,
                    at=at,
                    source_kind=source_kind,
                    source_id=source_id,
                    rule="reverse",
                    period=award_key,
                    refers_to=award_key,
                    amount=refund,
                    draws=draws,
                ),
            ]

        return self.repository.post(build)[-1]

    def adjust(
        self,
        customer_id: str,
        points: int,
        *,
        at: AsOf,
        source_kind: str,
        source_id: str,
        rule: str = "",
        expires_at: datetime | None = None,
    ) -> LedgerEntry:
        """A correction by staff: adds points (a lot) or takes them (under the reversal policy)."""
        if (
            isinstance(points, bool)
            or not isinstance(points, int)
            or points == 0
            or abs(points) > MAX_POINTS
        ):
            raise ValidationError(
                "points",
                expected=f"a whole number of points != 0 within +-{MAX_POINTS}",
                got=points,
            )
        at = to_instant(at, field="at")
        key = idempotency_key(source_kind, source_id, rule, "")

        def build(view: LedgerView) -> list[LedgerEntry]:
            existing = view.find(key)
            if existing is not None:
                return [_repeat(existing, customer_id, EntryKind.ADJUST, points)]
            expired: list[LedgerEntry] = []
            draws: tuple[tuple[str, int], ...] = ()
            if points < 0:
                expired, draws = self._take(view, customer_id, -points, at, first=None)
            return [
                *expired,
                LedgerEntry(
                    customer_id=customer_id,
                    kind=EntryKind.ADJUST,
                    points=points,
                    at=at,
                    source_kind=source_kind,
                    source_id=source_id,
                    rule=rule,
                    expires_at=expires_at,
                    draws=draws,
                ),
            ]

        return self.repository.post(build)[-1]

    def _take(
        self,
        view: LedgerView,
        customer_id: str,
        points: int,
        at: datetime,
        *,
        first: str | None,
        expired: list[LedgerEntry] | None = None,
    ) -> tuple[list[LedgerEntry], tuple[tuple[str, int], ...]]:
        if expired is None:
            expired = _expiries(view, customer_id=customer_id, at=at)
        available = view.balance(customer_id) + sum(e.points for e in expired)
        if points > available and self.reversal_policy is ReversalPolicy.REFUSE:
            raise InsufficientPointsError(customer_id, points, max(available, 0))
        live = [lot for lot in view.lots(customer_id) if _live(lot, at)]
        live.sort(key=lambda lot: lot.key != first)  # stable: the award's own lot first
        return expired, _allocate(live, points)

    def expire(self, *, as_of: AsOf, customer_id: str | None = None) -> list[LedgerEntry]:
        """Post expire entries for what is left of every lot lapsed at *as_of*.

        One expire entry per lot (keyed by the lot), so running it again, or
        after a redemption already expired a lot, posts nothing new. Each
        customer's expiries are one posting.

        Returns:
            The expire entries posted now.
        """
        as_of = to_instant(as_of, field="as_of")
        by_customer: dict[str, int] = defaultdict(int)
        for lot in self.repository.lapsed_lots(as_of):
            if customer_id is None or lot.customer_id == customer_id:
                by_customer[lot.customer_id] += 1
        posted: list[LedgerEntry] = []
        for customer in by_customer:
            build = functools.partial(_expiries, customer_id=customer, at=as_of)
            # A lot with points left has no expire entry yet: everything returned is new.
            posted.extend(self.repository.post(build))
        return posted
