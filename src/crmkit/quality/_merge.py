"""Lossless merge of duplicate customers: survivor rules, field survivorship, re-pointing, undo.

A merge picks a survivor among duplicate customers, fills the survivor's
fields from the others field by field, re-points what belongs to the others
(contacts, activities, and whatever the host plugs in: points ledgers,
lifecycle histories) to the survivor, and marks the others as merged into it.
Nothing is deleted: the merged customers stay (marked), every activity stays
(re-pointed, with its original customer remembered), and the returned
:class:`MergeRecord` holds what is needed to undo the merge exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from crmkit.core import ConflictError, ValidationError, to_instant, to_utc
from crmkit.domain import (
    Activity,
    ActivityRepository,
    ContactRepository,
    Customer,
    FrozenDict,
    Purchase,
    Referral,
    RepositorySet,
    RewritableActivityRepository,
    check_id,
    from_record,
    to_record,
)

__all__ = [
    "MERGED_INTO",
    "ActivityRePointer",
    "ContactRePointer",
    "MergeRecord",
    "RePointer",
    "default_repointers",
    "merge",
    "undo_merge",
]

#: The attribute that marks a merged customer, holding the survivor's id.
MERGED_INTO = "crmkit_merged_into"

_RULES = ("oldest", "most_complete")
_STRATEGIES = ("fill", "survivor", "oldest", "newest")
_MERGEABLE = (
    "name",
    "kind",
    "company_id",
    "email",
    "phone",
    "spending_budget",
    "share_of_wallet",
    "influence",
    "membership",
)


@runtime_checkable
class RePointer(Protocol):
    """Moves records that belong to merged customers over to the survivor, and back.

    A host (or another crmkit layer) implements one per kind of record that
    names a customer: a points ledger, a lifecycle history. ``repoint``
    returns JSON types describing exactly what it moved; ``undo`` takes them
    back. The merge calls every re-pointer in order and undoes them in
    reverse order.
    """

    @property
    def name(self) -> str:
        """A stable name, the key of this re-pointer's undo information in a :class:`MergeRecord`."""
        ...

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Move what belongs to *from_ids* to *to_id*; return the undo information."""
        ...

    def undo(self, info: Any, *, at: datetime) -> None:
        """Move back what :meth:`repoint` moved, from its undo information."""
        ...


class ContactRePointer:
    """Re-points contacts (``customer_id``) through a :class:`~crmkit.domain.ContactRepository`."""

    name = "contacts"

    def __init__(self, contacts: ContactRepository) -> None:
        self._contacts = contacts

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Move the contacts of *from_ids* to *to_id*; return ``[[contact id, old customer id]]``."""
        moved: list[list[str]] = []
        for cid in from_ids:
            for contact in self._contacts.for_customer(cid):
                self._contacts.update(attrs.evolve(contact, customer_id=to_id))
                moved.append([contact.id, cid])
        return moved

    def undo(self, info: Any, *, at: datetime) -> None:
        """Give each moved contact its old customer back."""
        for contact_id, customer_id in info:
            contact = self._contacts.get(contact_id)
            self._contacts.update(attrs.evolve(contact, customer_id=customer_id))


class ActivityRePointer:
    """Re-points activities through a :class:`~crmkit.domain.RewritableActivityRepository`.

    Every activity keeps its id, time, amounts and type; only ``customer_id``
    changes, and the undo information records the original one. An activity
    that would name the survivor twice after the move (a purchase with the
    survivor as guest, a referral of the survivor) stays where it is and is
    listed as kept apart: nothing is lost, and totals still add up.
    """

    name = "activities"

    def __init__(self, activities: ActivityRepository) -> None:
        if not isinstance(activities, RewritableActivityRepository):
            raise ValidationError(
                "activities",
                expected="a RewritableActivityRepository (with rewrite()) to re-point activities",
                got=type(activities).__name__,
            )
        self._activities = activities

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Move the activities of *from_ids* to *to_id* in one rewrite.

        Returns ``{"moved": [[activity id, old customer id]], "kept_apart": [ids]}``.
        """
        moved: list[Activity] = []
        info: dict[str, list[Any]] = {"moved": [], "kept_apart": []}
        for cid in from_ids:
            for activity in self._activities.for_customer(cid):
                if (isinstance(activity, Purchase) and to_id in activity.guests) or (
                    isinstance(activity, Referral) and activity.referred_id == to_id
                ):
                    info["kept_apart"].append(activity.id)
                    continue
                moved.append(attrs.evolve(activity, customer_id=to_id))
                info["moved"].append([activity.id, cid])
        self._activities.rewrite(moved)
        return info

    def undo(self, info: Any, *, at: datetime) -> None:
        """Give each moved activity its old customer back, in one rewrite."""
        back = [
            attrs.evolve(self._activities.get(aid), customer_id=cid) for aid, cid in info["moved"]
        ]
        self._activities.rewrite(back)


def default_repointers(repositories: RepositorySet) -> list[RePointer]:
    """The re-pointers for contacts and activities of a repository set.

    Records kept outside the repository set are re-pointed by re-pointers the
    host adds: :class:`LedgerRePointer` for a points ledger,
    :class:`TransitionRePointer` for a lifecycle transition history
    (``[*default_repointers(repos), TransitionRePointer(history)]``).
    """
    return [ContactRePointer(repositories.contacts), ActivityRePointer(repositories.activities)]


def _field_names(changes: Mapping[str, Any]) -> str:
    # The values may be personal data: repr shows which fields changed, never how.
    return repr(sorted(changes))


@attrs.frozen(kw_only=True)
class MergeRecord:
    """What :func:`merge` did, with what :func:`undo_merge` needs to take it back.

    It holds the customers as they were (personal data: keep it like the
    customer records, and erase it with them); ``repr`` withholds their
    personal fields.

    Attributes:
        survivor_id: the customer that remains.
        merged_ids: the customers merged into it (kept, marked with
            ``attributes["crmkit_merged_into"]``).
        at: when the merge was made.
        survivor_before: the survivor as it was.
        survivor_after: the survivor as the merge stored it.
        merged_before: the merged customers as they were.
        changes: the survivor's fields the merge changed: name -> (before, after).
        repointed: per re-pointer name, its undo information (JSON types).
    """

    survivor_id: str
    merged_ids: tuple[str, ...]
    at: datetime
    survivor_before: Customer
    survivor_after: Customer
    merged_before: tuple[Customer, ...]
    changes: Mapping[str, tuple[Any, Any]] = attrs.field(repr=_field_names)
    repointed: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON types, to persist it (see :meth:`from_dict`)."""
        return {
            "survivor_id": self.survivor_id,
            "merged_ids": list(self.merged_ids),
            "at": self.at.isoformat(),
            "survivor_before": to_record(self.survivor_before),
            "survivor_after": to_record(self.survivor_after),
            "merged_before": [to_record(c) for c in self.merged_before],
            "changes": sorted(self.changes),
            "repointed": dict(self.repointed),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MergeRecord:
        """Rebuild a record from :meth:`to_dict` (``changes`` comes back from the customers)."""
        before = from_record(data["survivor_before"])
        after = from_record(data["survivor_after"])
        merged = tuple(from_record(c) for c in data["merged_before"])
        if not isinstance(before, Customer) or not isinstance(after, Customer):
            raise ValidationError("survivor", expected="customer records", got=type(before))
        return cls(
            survivor_id=data["survivor_id"],
            merged_ids=tuple(data["merged_ids"]),
            at=to_utc("at", data["at"]),
            survivor_before=before,
            survivor_after=after,
            merged_before=tuple(c for c in merged if isinstance(c, Customer)),
            changes=_changes(before, after),
            repointed=dict(data["repointed"]),
        )


def _completeness(c: Customer) -> int:
    return sum(
        (
            c.email is not None,
            c.phone is not None,
            c.company_id is not None,
            c.spending_budget is not None,
            c.share_of_wallet is not None,
            c.membership is not None,
            c.influence != "none",
            bool(c.consents),
            bool(c.attributes),
        )
    )


def _oldest_key(c: Customer) -> tuple[datetime, str]:
    return (c.created_at, c.id)


def _empty(value: object) -> bool:
    return value is None or (value == "none" and isinstance(value, str))


def _changes(before: Customer, after: Customer) -> dict[str, tuple[Any, Any]]:
    return {
        f.name: (getattr(before, f.name), getattr(after, f.name))
        for f in attrs.fields(Customer)
        if f.name != "version" and getattr(before, f.name) != getattr(after, f.name)
    }


def _merged_customer(
    survivor: Customer, others: list[Customer], fields: Mapping[str, str]
) -> Customer:
    everyone = sorted([survivor, *others], key=_oldest_key)
    ordered = [survivor, *sorted(others, key=_oldest_key)]
    values: dict[str, Any] = {}
    for name in _MERGEABLE:
        how = fields.get(name, "fill")
        if how == "survivor":
            continue
        if how == "fill":
            pool = ordered
        elif how == "oldest":
            pool = everyone
        else:
            pool = list(reversed(everyone))
        found = next((getattr(c, name) for c in pool if not _empty(getattr(c, name))), None)
        if found is not None:
            values[name] = found
    if values.get("company_id") == survivor.id:
        values.pop("company_id")
    if values.get("kind", survivor.kind) == "company":
        values["company_id"] = None
    consents = list(survivor.consents)
    for other in others:
        consents.extend(c for c in other.consents if c not in consents)
    attributes: dict[str, Any] = {}
    for other in reversed(ordered):
        attributes.update(other.attributes)
    attributes.pop(MERGED_INTO, None)
    return attrs.evolve(
        survivor,
        **values,
        created_at=everyone[0].created_at,
        consents=tuple(sorted(consents, key=lambda c: c.at)),
        attributes=FrozenDict(attributes),
    )


def merge(
    customer_ids: Sequence[str],
    repositories: RepositorySet,
    *,
    at: datetime,
    rule: str = "oldest",
    survivor: str | None = None,
    fields: Mapping[str, str] | None = None,
    repointers: Sequence[RePointer] | None = None,
) -> MergeRecord:
    """Merge duplicate customers into one survivor, losing nothing; the record undoes it.

    The survivor is *survivor* if given, else chosen by *rule*: ``"oldest"``
    (earliest ``created_at``, then smallest id) or ``"most_complete"`` (most
    optional fields set, then oldest). Its fields are then settled one by
    one, by the strategy *fields* names for it (default ``"fill"``):

    - ``"fill"``: the survivor's value, or if it has none the first value of
      the others, oldest first;
    - ``"survivor"``: the survivor's value, even if empty;
    - ``"oldest"`` / ``"newest"``: the value of the oldest / newest record that has one.

    ``created_at`` becomes the earliest of all; consent histories are joined
    (so the least permissive answer still applies); attributes are joined, the
    survivor's winning. The merged customers stay in the repository, marked
    with ``attributes["crmkit_merged_into"]``. Then every re-pointer moves what
    belongs to the merged customers: by default contacts and activities
    (:func:`default_repointers`); pass your own list to add a points ledger or
    a lifecycle history (``[*default_repointers(repos), LedgerRePointer(ledger),
    TransitionRePointer(history)]``) or records of the host.

    Not covered: references to a merged id held by *other* customers
    (``company_id`` of a company's staff, ``guests``, ``referred_id``); the
    repositories have no query for them. If a re-pointer fails, those that
    ran are undone and the customers restored before the error is raised.

    Args:
        customer_ids: the duplicates (two or more ids), e.g. one of
            :meth:`Duplicates.groups`.
        repositories: customers, contacts and activities (a rewritable log).
        at: when the merge is made (timezone-aware).
        rule: how to choose the survivor when *survivor* is not given.
        survivor: the id of the survivor, one of *customer_ids*.
        fields: per field, ``"fill"``, ``"survivor"``, ``"oldest"`` or ``"newest"``.
        repointers: what to re-point; ``None`` for :func:`default_repointers`.

    Raises:
        NotFoundError: an id is not stored.
        ValidationError: fewer than two distinct ids, an unknown rule, field
            or strategy, or a survivor not among the ids.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Customer, Purchase
    >>> from crmkit.testing import Repositories
    >>> t = lambda d: datetime(2025, 1, d, tzinfo=UTC)
    >>> repos = Repositories.in_memory()
    >>> repos.customers.add(Customer(id="c-1", name="Ann Lee", created_at=t(1)))
    >>> repos.customers.add(Customer(id="c-2", name="Ann  Lee", created_at=t(5),
    ...                              email="ann@example.com"))
    >>> _ = repos.activities.append(Purchase(id="p-1", customer_id="c-2", occurred_at=t(6),
    ...                                      amount=30, currency="EUR"))
    >>> record = merge(["c-1", "c-2"], repos, at=t(9))
    >>> record.survivor_id, sorted(record.changes)
    ('c-1', ['email'])
    >>> repos.activities.get("p-1").customer_id
    'c-1'
    >>> undo_merge(record, repos, at=t(10))
    >>> repos.activities.get("p-1").customer_id, repos.customers.get("c-1").email
    ('c-2', None)
    """
    when = to_instant(at, field="at")
    if isinstance(customer_ids, str):
        raise ValidationError("customer_ids", expected="a list of customer ids", got=customer_ids)
    ids = list(dict.fromkeys(check_id("customer_ids item", c) for c in customer_ids))
    if len(ids) < 2:
        raise ValidationError("customer_ids", expected="two or more distinct ids", got=ids)
    if rule not in _RULES:
        raise ValidationError("rule", expected=f"one of {_RULES}", got=rule)
    chosen_fields = dict(fields or {})
    for name, how in chosen_fields.items():
        if name not in _MERGEABLE:
            raise ValidationError(
                "fields", expected="fields among " + ", ".join(_MERGEABLE), got=name
            )
        if how not in _STRATEGIES:
            raise ValidationError(f"fields[{name!r}]", expected=f"one of {_STRATEGIES}", got=how)
    customers = [repositories.customers.get(c) for c in ids]
    if survivor is not None:
        if survivor not in ids:
            raise ValidationError("survivor", expected="one of the merged ids", got=survivor)
        kept = customers[ids.index(survivor)]
    elif rule == "oldest":
        kept = min(customers, key=_oldest_key)
    else:
        kept = min(customers, key=lambda c: (-_completeness(c), *_oldest_key(c)))
    others = [c for c in customers if c.id != kept.id]
    movers = list(repointers) if repointers is not None else default_repointers(repositories)

    merged = _merged_customer(kept, others, chosen_fields)
    after = repositories.customers.update(merged)
    marked: list[Customer] = []
    done: list[tuple[RePointer, Any]] = []
    try:
        for other in others:
            mark = FrozenDict({**other.attributes, MERGED_INTO: kept.id})
            marked.append(repositories.customers.update(attrs.evolve(other, attributes=mark)))
        for mover in movers:
            info = mover.repoint([c.id for c in others], kept.id, at=when)
            done.append((mover, info))
    except BaseException:
        for mover, info in reversed(done):
            mover.undo(info, at=when)
        for before, now in zip(others, marked, strict=False):
            repositories.customers.update(attrs.evolve(before, version=now.version))
        repositories.customers.update(attrs.evolve(kept, version=after.version))
        raise
    return MergeRecord(
        survivor_id=kept.id,
        merged_ids=tuple(c.id for c in others),
        at=when,
        survivor_before=kept,
        survivor_after=after,
        merged_before=tuple(others),
        changes=_changes(kept, after),
        repointed={mover.name: info for mover, info in done},
    )


def undo_merge(
    record: MergeRecord,
    repositories: RepositorySet,
    *,
    at: datetime,
    repointers: Sequence[RePointer] | None = None,
) -> None:
    """Take a merge back: re-pointed records return, customers are as they were before it.

    Pass the same re-pointers as to :func:`merge` (``None`` for the default
    ones). Records added to the survivor after the merge stay with it.

    Raises:
        ConflictError: the survivor was changed after the merge (its version
            moved on); nothing was undone. Undo that change first, or merge
            and fix by hand.
        ValidationError: a re-pointer named in the record is not given.
    """
    when = to_instant(at, field="at")
    movers = list(repointers) if repointers is not None else default_repointers(repositories)
    by_name = {m.name: m for m in movers}
    missing = [name for name in record.repointed if name not in by_name]
    if missing:
        raise ValidationError(
            "repointers", expected="re-pointers named " + ", ".join(record.repointed), got=missing
        )
    current = repositories.customers.get(record.survivor_id)
    if current.version != record.survivor_after.version:
        raise ConflictError(
            "customer",
            record.survivor_id,
            expected_version=record.survivor_after.version,
            actual_version=current.version,
        )
    for name in reversed(list(record.repointed)):
        by_name[name].undo(record.repointed[name], at=when)
    for before in record.merged_before:
        now = repositories.customers.get(before.id)
        repositories.customers.update(attrs.evolve(before, version=now.version))
    repositories.customers.update(attrs.evolve(record.survivor_before, version=current.version))
