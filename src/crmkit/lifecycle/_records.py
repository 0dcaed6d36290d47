"""The transition record and the transition-history repository (Protocol and in memory)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

import attrs

from crmkit.core import (
    AlreadyExistsError,
    AsOf,
    NotFoundError,
    ValidationError,
    check_window,
    to_utc,
)
from crmkit.domain import FrozenDict, Record, check, check_id, check_text, register_record_type

__all__ = [
    "InMemoryTransitionHistory",
    "LifecycleTransition",
    "RewritableTransitionHistory",
    "TransitionHistory",
    "check_transition",
    "check_transition_rewrite",
    "plan_transition_rewrite",
]


def _name(field: str, value: object) -> str:
    return check_text(field, value, max_len=200)


def _inputs(field: str, value: object) -> FrozenDict[str, Any]:
    if not isinstance(value, (dict, FrozenDict)):
        raise ValidationError(field, expected="a mapping of input names to values", got=value)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValidationError(field, expected="input names as str", got=key)
        if isinstance(item, float) and math.isnan(item):
            item = None
        if item is not None and not isinstance(item, (bool, int, float, str)):
            raise ValidationError(
                f"{field}[{key!r}]", expected="a number, bool, str or None", got=item
            )
        out[key] = float(item) if isinstance(item, int) and not isinstance(item, bool) else item
    return FrozenDict(out)


@register_record_type
@attrs.frozen(kw_only=True)
class LifecycleTransition(Record):
    """One transition a customer made: from a stage to another, at a time, and why.

    Its natural key is ``(customer_id, at, transition)``: storing the same
    transition twice stores it once.

    Attributes:
        customer_id: the customer.
        from_stage: the stage before.
        to_stage: the stage after.
        at: when it happened (timezone-aware, stored in UTC).
        transition: the name of the transition of the definition that fired.
        inputs: the values its guard read (name -> number, bool, str or None).
        lifecycle: the definition's name.
        version: the definition's version.

    >>> from datetime import UTC, datetime
    >>> t = LifecycleTransition(customer_id="c-1", from_stage="introduction",
    ...     to_stage="growth", at=datetime(2025, 1, 31, tzinfo=UTC), transition="second_purchase",
    ...     inputs={"purchase_days": 2}, lifecycle="five-stage", version="1")
    >>> t.key
    ('c-1', datetime.datetime(2025, 1, 31, 0, 0, tzinfo=datetime.timezone.utc), 'second_purchase')
    >>> t.inputs["purchase_days"]
    2.0
    """

    type_name: ClassVar[str] = "lifecycle_transition"

    customer_id: str = attrs.field(metadata=check(check_id))
    from_stage: str = attrs.field(metadata=check(_name))
    to_stage: str = attrs.field(metadata=check(_name))
    at: datetime = attrs.field(metadata=check(to_utc))
    transition: str = attrs.field(metadata=check(_name))
    inputs: FrozenDict[str, Any] = attrs.field(factory=FrozenDict, metadata=check(_inputs))
    lifecycle: str = attrs.field(metadata=check(_name))
    version: str = attrs.field(metadata=check(_name))

    def _validate(self) -> None:
        if self.from_stage == self.to_stage:
            raise ValidationError(
                "LifecycleTransition.to_stage",
                expected=f"a stage other than from_stage {self.from_stage!r}",
                got=self.to_stage,
            )

    @property
    def key(self) -> tuple[str, datetime, str]:
        """The natural key: ``(customer_id, at, transition)``."""
        return (self.customer_id, self.at, self.transition)


@runtime_checkable
class TransitionHistory(Protocol):
    """An append-only history of lifecycle transitions, idempotent on the natural key.

    The host stores each customer's current stage on its own entity; this
    history records how the customer got there.
    """

    def append(self, transition: LifecycleTransition) -> bool:
        """Store *transition*; return ``False`` if this very transition was stored already.

        Raises:
            AlreadyExistsError: a different transition has the same
                ``(customer_id, at, transition)``.
        """
        ...

    def append_many(self, transitions: Iterable[LifecycleTransition]) -> int:
        """Store several transitions all-or-nothing; return how many were new.

        Raises:
            AlreadyExistsError: as ``append``; then nothing is stored.
        """
        ...

    def for_customer(
        self,
        customer_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[LifecycleTransition]:
        """A customer's transitions with ``start <= at < end``, ordered by ``at`` then name."""
        ...

    def latest_stages(self) -> dict[str, str]:
        """Each customer's stage after their latest transition (``to_stage``), by customer id."""
        ...


@runtime_checkable
class RewritableTransitionHistory(TransitionHistory, Protocol):
    """A transition history that can also re-point stored transitions to another customer.

    Transitions are append-only facts; but a merge of duplicate customers
    must move the merged customers' transitions to the survivor, and an undo
    must move them back. ``rewrite`` does exactly that and nothing more: only
    ``customer_id`` may change (see :func:`check_transition_rewrite`), and
    nothing is ever deleted. crmkit's in-memory and SQLite histories implement it.
    """

    def rewrite(self, changes: Iterable[tuple[LifecycleTransition, LifecycleTransition]]) -> int:
        """Replace stored transitions by re-pointed copies, all-or-nothing.

        Each change is a pair ``(stored, new)``: *stored* must be stored as it
        is, and *new* may differ from it in ``customer_id`` only; *new* is then
        stored under its own natural key ``(new.customer_id, at, transition)``
        and *stored* is gone from its old one. A pair whose two sides are equal
        changes nothing. Returns how many stored transitions changed.

        Raises:
            NotFoundError: a *stored* transition is not stored (as it is);
                nothing was written.
            ValidationError: a change other than ``customer_id``; nothing was written.
            AlreadyExistsError: the key of a *new* transition is taken (by a
                transition that stays, or by another *new* one); nothing was written.
        """
        ...


def check_transition_rewrite(stored: LifecycleTransition, new: object) -> LifecycleTransition:
    """Raise :class:`ValidationError` unless *new* may replace the *stored* transition.

    Only ``customer_id`` may change (a merge re-points); stages, time,
    transition name, inputs, lifecycle and version must stay as they are.
    Every :class:`RewritableTransitionHistory` calls this.

    >>> from datetime import UTC, datetime
    >>> t = LifecycleTransition(customer_id="c-1", from_stage="growth", to_stage="decline",
    ...     at=datetime(2025, 3, 31, tzinfo=UTC), transition="slowing",
    ...     lifecycle="five-stage", version="1")
    >>> check_transition_rewrite(t, attrs.evolve(t, customer_id="c-2")).customer_id
    'c-2'
    >>> check_transition_rewrite(t, attrs.evolve(t, to_stage="departed"))
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: LifecycleTransition.to_stage is invalid: expected the stored value (only customer_id may be rewritten), got 'departed'
    """
    t = check_transition(new)
    for f in attrs.fields(LifecycleTransition):
        if f.name == "customer_id":
            continue
        if getattr(stored, f.name) != getattr(t, f.name):
            raise ValidationError(
                f"LifecycleTransition.{f.name}",
                expected="the stored value (only customer_id may be rewritten)",
                got=getattr(t, f.name),
            )
    return t


_Key = tuple[str, datetime, str]


def plan_transition_rewrite(
    changes: Iterable[tuple[LifecycleTransition, LifecycleTransition]],
    lookup: Callable[[_Key], LifecycleTransition | None],
) -> list[tuple[LifecycleTransition, LifecycleTransition]]:
    """Check a :meth:`RewritableTransitionHistory.rewrite` batch; return the pairs that change.

    *lookup* returns the transition stored under a key ``(customer_id, at,
    transition)`` (or ``None``). Raises as ``rewrite`` does, before anything is
    written; a history then deletes the old keys and inserts the new versions.

    >>> from datetime import UTC
    >>> t = LifecycleTransition(customer_id="c-1", from_stage="growth", to_stage="decline",
    ...     at=datetime(2025, 3, 31, tzinfo=UTC), transition="slowing",
    ...     lifecycle="five-stage", version="1")
    >>> moved = attrs.evolve(t, customer_id="c-2")
    >>> stored = {t.key: t}
    >>> plan_transition_rewrite([(t, moved)], stored.get) == [(t, moved)]
    True
    >>> plan_transition_rewrite([(moved, t)], stored.get)
    Traceback (most recent call last):
    ...
    crmkit.errors.NotFoundError: no lifecycle transition with id ('c-2', ...(pass the transition as it is stored)
    """
    staged: dict[_Key, tuple[LifecycleTransition, LifecycleTransition]] = {}
    for change in changes:
        if not isinstance(change, tuple) or len(change) != 2:
            raise ValidationError(
                "changes item", expected="a pair (stored transition, new transition)", got=change
            )
        old = check_transition(change[0])
        new = check_transition_rewrite(old, change[1])
        if lookup(old.key) != old:
            raise NotFoundError(
                "lifecycle transition", old.key, hint="pass the transition as it is stored"
            )
        seen = staged.get(old.key)
        if seen is not None and seen[1] != new:
            raise ValidationError(
                "changes", expected="one new version per stored transition", got=old.key
            )
        if old != new:
            staged[old.key] = (old, new)
    taken: set[_Key] = set()
    for _, new in staged.values():
        if new.key in taken or (new.key not in staged and lookup(new.key) is not None):
            raise AlreadyExistsError(
                "lifecycle transition",
                new.key,
                hint="the customer already has this transition at this time",
            )
        taken.add(new.key)
    return list(staged.values())


def check_transition(value: object) -> LifecycleTransition:
    """Return *value* if it is a LifecycleTransition; raise ValidationError otherwise.

    >>> check_transition("growth")
    Traceback (most recent call last):
    ...
    crmkit.errors.ValidationError: transition is invalid: expected a LifecycleTransition, got 'str'
    """
    if not isinstance(value, LifecycleTransition):
        raise ValidationError(
            "transition", expected="a LifecycleTransition", got=type(value).__name__
        )
    return value


def _order(t: LifecycleTransition) -> tuple[datetime, str]:
    return (t.at, t.transition)


class InMemoryTransitionHistory:
    """A :class:`TransitionHistory` in a dict (thread-safe; for tests and small hosts).

    >>> from datetime import UTC, datetime
    >>> history = InMemoryTransitionHistory()
    >>> t = LifecycleTransition(customer_id="c-1", from_stage="growth", to_stage="decline",
    ...     at=datetime(2025, 3, 31, tzinfo=UTC), transition="slowing",
    ...     lifecycle="five-stage", version="1")
    >>> history.append(t), history.append(t)
    (True, False)
    >>> history.latest_stages()
    {'c-1': 'decline'}
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, datetime, str], LifecycleTransition] = {}
        # the same transitions by customer, so for_customer reads one customer's only
        self._by_customer: dict[str, dict[tuple[str, datetime, str], LifecycleTransition]] = {}
        self._lock = threading.Lock()

    def _put(self, t: LifecycleTransition) -> None:
        self._by_key[t.key] = t
        self._by_customer.setdefault(t.customer_id, {})[t.key] = t

    def _drop(self, t: LifecycleTransition) -> None:
        del self._by_key[t.key]
        mine = self._by_customer[t.customer_id]
        del mine[t.key]
        if not mine:
            del self._by_customer[t.customer_id]

    def _check_new(
        self, t: LifecycleTransition, pending: dict[tuple[str, datetime, str], LifecycleTransition]
    ) -> bool:
        stored = pending.get(t.key) or self._by_key.get(t.key)
        if stored is None:
            return True
        if stored != t:
            raise AlreadyExistsError(
                "lifecycle transition",
                t.key,
                hint="a different transition is stored under this (customer, at, transition)",
            )
        return False

    def append(self, transition: LifecycleTransition) -> bool:
        """Store *transition* (see :meth:`TransitionHistory.append`)."""
        t = check_transition(transition)
        with self._lock:
            if not self._check_new(t, {}):
                return False
            self._put(t)
            return True

    def append_many(self, transitions: Iterable[LifecycleTransition]) -> int:
        """Store several transitions all-or-nothing (see :meth:`TransitionHistory.append_many`)."""
        items = [check_transition(t) for t in transitions]
        with self._lock:
            pending: dict[tuple[str, datetime, str], LifecycleTransition] = {}
            for t in items:
                if self._check_new(t, pending):
                    pending[t.key] = t
            for t in pending.values():
                self._put(t)
            return len(pending)

    def rewrite(self, changes: Iterable[tuple[LifecycleTransition, LifecycleTransition]]) -> int:
        """Re-point stored transitions, all-or-nothing (see :meth:`RewritableTransitionHistory.rewrite`).

        >>> from datetime import UTC, datetime
        >>> history = InMemoryTransitionHistory()
        >>> t = LifecycleTransition(customer_id="c-2", from_stage="growth", to_stage="decline",
        ...     at=datetime(2025, 3, 31, tzinfo=UTC), transition="slowing",
        ...     lifecycle="five-stage", version="1")
        >>> history.append(t)
        True
        >>> history.rewrite([(t, attrs.evolve(t, customer_id="c-1"))])
        1
        >>> history.latest_stages()
        {'c-1': 'decline'}
        """
        items = list(changes)
        with self._lock:
            plan = plan_transition_rewrite(items, self._by_key.get)
            for old, _ in plan:
                self._drop(old)
            for _, new in plan:
                self._put(new)
            return len(plan)

    def for_customer(
        self,
        customer_id: str,
        *,
        start: AsOf | None = None,
        end: AsOf | None = None,
    ) -> list[LifecycleTransition]:
        """A customer's transitions in ``[start, end)`` (see :meth:`TransitionHistory.for_customer`)."""
        lo, hi = check_window(start, end)
        with self._lock:
            found = [
                t
                for t in self._by_customer.get(customer_id, {}).values()
                if (lo is None or t.at >= lo) and (hi is None or t.at < hi)
            ]
        return sorted(found, key=_order)

    def latest_stages(self) -> dict[str, str]:
        """Each customer's latest ``to_stage`` (see :meth:`TransitionHistory.latest_stages`)."""
        latest: dict[str, LifecycleTransition] = {}
        with self._lock:
            for t in self._by_key.values():
                seen = latest.get(t.customer_id)
                if seen is None or _order(t) > _order(seen):
                    latest[t.customer_id] = t
        return {cid: t.to_stage for cid, t in sorted(latest.items())}
