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

import json
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
    CustomerRepository,
    FrozenDict,
    Purchase,
    Referral,
    Refund,
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
    "InMemoryMergeJournal",
    "MergeJournal",
    "MergeRecord",
    "RePointer",
    "StaffRePointer",
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
    back, and running it again changes nothing more. The merge calls every
    re-pointer in order and undoes them in reverse order.

    A re-pointer that also has ``plan(from_ids, to_id, *, at)`` (read only:
    the undo information, before anything moves) and ``apply(info)`` (make
    the move, idempotently; return the completed undo information) is
    *resumable*: :func:`merge` with a :class:`MergeJournal` records the plan
    before applying it, so a merge killed half-way is completed by running
    it again. crmkit's re-pointers are all resumable; for one that is not,
    the journal records its information only after ``repoint`` returned. A
    re-pointer may also have ``check_undo(info, *, at)``, raising what
    ``undo`` would refuse: :func:`undo_merge` calls it on every re-pointer
    before anything is undone.
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
    """Re-points contacts (``customer_id``) through a :class:`~crmkit.domain.ContactRepository`.

    Resumable: :meth:`plan` lists the contacts, :meth:`apply` moves those not
    moved yet, :meth:`undo` gives back those not given back yet.
    """

    name = "contacts"

    def __init__(self, contacts: ContactRepository) -> None:
        self._contacts = contacts

    def plan(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """``{"to": to_id, "moved": [[contact id, old customer id]]}``, moving nothing yet."""
        moved = [[c.id, cid] for cid in from_ids for c in self._contacts.for_customer(cid)]
        return {"to": to_id, "moved": moved}

    def apply(self, info: Any) -> Any:
        """Move each planned contact still with its old customer to the survivor."""
        for contact_id, customer_id in info["moved"]:
            contact = self._contacts.get(contact_id)
            if contact.customer_id == customer_id:
                self._contacts.update(attrs.evolve(contact, customer_id=info["to"]))
        return info

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Move the contacts of *from_ids* to *to_id* (:meth:`plan`, then :meth:`apply`)."""
        return self.apply(self.plan(from_ids, to_id, at=at))

    def undo(self, info: Any, *, at: datetime) -> None:
        """Give each moved contact its old customer back (those not given back yet)."""
        moved = info["moved"] if isinstance(info, Mapping) else info  # [[id, customer]] before 0.x
        for contact_id, customer_id in moved:
            contact = self._contacts.get(contact_id)
            if contact.customer_id != customer_id:
                self._contacts.update(attrs.evolve(contact, customer_id=customer_id))


class StaffRePointer:
    """Re-points the staff of merged companies: other customers' ``company_id``.

    An individual whose ``company_id`` names a merged customer gets the
    survivor's id; undo gives it the old one back (unless it was changed to
    something else since). Members of the merged group are left to the
    merge itself. Resumable, like :class:`ContactRePointer`.
    """

    name = "staff"

    def __init__(self, customers: CustomerRepository) -> None:
        if not callable(getattr(customers, "staff_of", None)):
            raise ValidationError(
                "customers",
                expected="a CustomerRepository with staff_of() to re-point staff",
                got=type(customers).__name__,
            )
        self._customers = customers

    def plan(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """``{"to": to_id, "moved": [[customer id, old company id]]}``, moving nothing yet."""
        group = {*from_ids, to_id}
        moved = [
            [c.id, fid]
            for fid in from_ids
            for c in self._customers.staff_of(fid)
            if c.id not in group
        ]
        return {"to": to_id, "moved": moved}

    def apply(self, info: Any) -> Any:
        """Point each planned staff member still at its old company to the survivor."""
        for customer_id, company_id in info["moved"]:
            member = self._customers.get(customer_id)
            if member.company_id == company_id:
                self._customers.update(attrs.evolve(member, company_id=info["to"]))
        return info

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Re-point the staff of *from_ids* to *to_id* (:meth:`plan`, then :meth:`apply`)."""
        return self.apply(self.plan(from_ids, to_id, at=at))

    def undo(self, info: Any, *, at: datetime) -> None:
        """Give each re-pointed staff member its old company back (if it still names the survivor)."""
        for customer_id, company_id in info["moved"]:
            member = self._customers.get(customer_id)
            if member.company_id == info["to"]:
                self._customers.update(attrs.evolve(member, company_id=company_id))


def _refs(a: Activity) -> list[Any]:
    """What a re-point changes of an activity: ``[id, customer_id, guests or None, referred_id or None]``."""
    return [
        a.id,
        a.customer_id,
        sorted(a.guests) if isinstance(a, Purchase) else None,
        a.referred_id if isinstance(a, Referral) else None,
    ]


def _with_refs(a: Activity, refs: Sequence[Any]) -> Activity:
    changes: dict[str, Any] = {"customer_id": refs[1]}
    if len(refs) > 2 and isinstance(a, Purchase) and refs[2] is not None:
        changes["guests"] = frozenset(refs[2])
    if len(refs) > 3 and isinstance(a, Referral) and refs[3] is not None:
        changes["referred_id"] = refs[3]
    return attrs.evolve(a, **changes)


class ActivityRePointer:
    """Re-points activities through a :class:`~crmkit.domain.RewritableActivityRepository`.

    In one rewrite (all or nothing), the activities of the merged customers
    move to the survivor, and the references other activities hold to them
    (the merged customers as guests of a purchase, as the referred customer
    of a referral: :meth:`~crmkit.domain.ActivityRepository.naming`) are
    re-pointed to the survivor. Every activity keeps its id, time, amounts
    and type; the undo information records its customer and references as
    they were.

    An activity that would name one customer twice after the move (a
    purchase whose payer would be its own guest or that would list one guest
    twice, a referral of oneself) is left exactly as it is and listed as
    kept apart, and so are the refunds of such a purchase: a refund always
    stays with its purchase. No merge creates a self-guest purchase or a
    self-referral; nothing is lost, and totals still add up.
    """

    name = "activities"

    def __init__(self, activities: ActivityRepository) -> None:
        if not isinstance(activities, RewritableActivityRepository):
            raise ValidationError(
                "activities",
                expected=(
                    "a RewritableActivityRepository (with rewrite() and naming())"
                    " to re-point activities"
                ),
                got=type(activities).__name__,
            )
        self._activities = activities

    def plan(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """What :meth:`apply` will rewrite, moving nothing yet.

        ``{"to": to_id, "moved": [[id, customer id, guests, referred id]],
        "after": [[id, customer id, guests, referred id]], "kept_apart": [ids]}``:
        each changed activity as it was and as it will be (``guests`` is
        ``None`` for a non-purchase, ``referred id`` for a non-referral).
        """
        merged = set(from_ids)

        def to(cid: str) -> str:
            return to_id if cid in merged else cid

        found: dict[str, Activity] = {}
        for cid in from_ids:
            for a in (*self._activities.for_customer(cid), *self._activities.naming(cid)):
                found[a.id] = a
        info: dict[str, Any] = {"to": to_id, "moved": [], "after": [], "kept_apart": []}
        apart: set[str] = set()
        changed: list[tuple[Activity, Activity]] = []
        refunds: list[Refund] = []
        for a in sorted(found.values(), key=lambda x: (x.occurred_at, x.id)):
            if isinstance(a, Refund):
                refunds.append(a)
                continue
            payer = to(a.customer_id)
            new: Activity
            if isinstance(a, Purchase):
                guests = [to(g) for g in a.guests]
                if payer in guests or len(set(guests)) < len(guests):
                    apart.add(a.id)
                    continue
                new = attrs.evolve(a, customer_id=payer, guests=frozenset(guests))
            elif isinstance(a, Referral):
                referred = to(a.referred_id)
                if referred == payer:
                    apart.add(a.id)
                    continue
                new = attrs.evolve(a, customer_id=payer, referred_id=referred)
            else:
                new = attrs.evolve(a, customer_id=payer)
            if new != a:
                changed.append((a, new))
        for r in refunds:
            if r.purchase_id in apart:
                apart.add(r.id)
            elif r.customer_id in merged:
                changed.append((r, attrs.evolve(r, customer_id=to_id)))
        for before, after in changed:
            info["moved"].append(_refs(before))
            info["after"].append(_refs(after))
        info["kept_apart"] = sorted(apart)
        return info

    def apply(self, info: Any) -> Any:
        """Rewrite the planned activities to their new references, in one rewrite (idempotent)."""
        self._activities.rewrite(
            _with_refs(self._activities.get(refs[0]), refs) for refs in info["after"]
        )
        return info

    def repoint(self, from_ids: Sequence[str], to_id: str, *, at: datetime) -> Any:
        """Move the activities of *from_ids* and the references to them (:meth:`plan`, :meth:`apply`)."""
        return self.apply(self.plan(from_ids, to_id, at=at))

    def undo(self, info: Any, *, at: datetime) -> None:
        """Give each changed activity its old customer and references back, in one rewrite."""
        self._activities.rewrite(
            _with_refs(self._activities.get(refs[0]), refs) for refs in info["moved"]
        )


def default_repointers(repositories: RepositorySet) -> list[RePointer]:
    """The re-pointers of a repository set: contacts, staff of merged companies, activities.

    Records kept outside the repository set are re-pointed by re-pointers the
    host adds: :class:`LedgerRePointer` for a points ledger,
    :class:`TransitionRePointer` for a lifecycle transition history
    (``[*default_repointers(repos), TransitionRePointer(history)]``).
    """
    return [
        ContactRePointer(repositories.contacts),
        StaffRePointer(repositories.customers),
        ActivityRePointer(repositories.activities),
    ]


@runtime_checkable
class MergeJournal(Protocol):
    """Where :func:`merge` records a merge before making it, so a retry completes it.

    A merge writes its entry here first (``{"record": ...}``: the customers
    as they were, each re-pointer's plan), updates it as the steps are done,
    and marks it ``"done": true`` when the merge is complete. A process
    killed during a merge leaves its entry not done: run the same
    :func:`merge` again (same ids and ``at``) and it carries on from the
    plan; a done entry makes the call return the record and change nothing.
    The entries hold personal data (the customers as they were): remove
    them (:meth:`remove`, key :func:`merge_key`) once the records are kept
    elsewhere.
    :class:`InMemoryMergeJournal`,
    :class:`crmkit.adapters.sqlite.SQLiteMergeJournal` and
    :class:`crmkit.adapters.postgres.PostgresMergeJournal` are journals
    (:class:`crmkit.testing.MergeJournalContract` checks one).
    """

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under *key*, or ``None``."""
        ...

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        """Store *entry* (JSON types) under *key*, replacing what was there, durably."""
        ...

    def remove(self, key: str) -> None:
        """Remove the entry under *key* (nothing if there is none)."""
        ...

    def pending(self) -> list[dict[str, Any]]:
        """Every stored entry, done or not, ordered by key."""
        ...


class InMemoryMergeJournal:
    """A :class:`MergeJournal` in a dict (for tests and in-memory repositories).

    >>> journal = InMemoryMergeJournal()
    >>> journal.put("k", {"record": {}})
    >>> journal.get("k"), len(journal.pending())
    ({'record': {}}, 1)
    >>> journal.remove("k"); journal.pending()
    []
    """

    def __init__(self) -> None:
        self._entries: dict[str, str] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under *key*, or ``None``."""
        text = self._entries.get(key)
        return None if text is None else dict(json.loads(text))

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        """Store a copy of *entry* under *key*."""
        self._entries[key] = json.dumps(entry)

    def remove(self, key: str) -> None:
        """Remove the entry under *key*."""
        self._entries.pop(key, None)

    def pending(self) -> list[dict[str, Any]]:
        """Every stored entry, ordered by key."""
        return [json.loads(self._entries[k]) for k in sorted(self._entries)]


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
    group = {survivor.id, *(o.id for o in others)}
    if values.get("company_id") in group:
        values.pop("company_id")
    if values.get("company_id", survivor.company_id) in group:
        values["company_id"] = None  # a company merged into its own staff member
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
    journal: MergeJournal | None = None,
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

    References other customers hold to a merged customer are re-pointed too:
    the ``company_id`` of a merged company's staff (:class:`StaffRePointer`),
    the merged customers as guests of others' purchases and as the referred
    customer of referrals (:class:`ActivityRePointer`). An activity that would
    then name one customer twice is kept apart, unchanged, with its refunds.

    Without a *journal*, if a re-pointer raises, those that ran are undone
    and the customers restored before the error is raised; a process killed
    during the merge leaves it half done. With a *journal*, the merge is
    recorded before anything changes, and each step is made so that running
    it again completes it: an error, or a process killed during the merge,
    leaves the journal entry (:meth:`MergeJournal.pending`), and the same
    call (same ids and *at*) completes the merge and returns the same
    record. The entry is then marked ``"done"`` and kept, so running the call
    again returns the record and changes nothing; remove it
    (``journal.remove(merge_key(ids, at))``) once the record is kept
    elsewhere, as it holds personal data. crmkit's
    re-pointers are resumable; a host's re-pointer without ``plan`` /
    ``apply`` is recorded only once it has returned.

    Args:
        customer_ids: the duplicates (two or more ids), e.g. one of
            :meth:`Duplicates.groups`.
        repositories: customers, contacts and activities (a rewritable log).
        at: when the merge is made (timezone-aware).
        rule: how to choose the survivor when *survivor* is not given.
        survivor: the id of the survivor, one of *customer_ids*.
        fields: per field, ``"fill"``, ``"survivor"``, ``"oldest"`` or ``"newest"``.
        repointers: what to re-point; ``None`` for :func:`default_repointers`.
        journal: where to record the merge while it is made (:class:`MergeJournal`).

    Raises:
        NotFoundError: an id is not stored.
        ValidationError: fewer than two distinct ids, an unknown rule, field
            or strategy, or a survivor not among the ids.
        ConflictError: a customer of the group was changed by someone else
            while a journaled merge was interrupted.

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
    movers = list(repointers) if repointers is not None else default_repointers(repositories)
    key = merge_key(ids, when)
    stored = None if journal is None else journal.get(key)
    if stored is not None:
        record = MergeRecord.from_dict(stored["record"])
        if stored.get("done"):
            return record
    else:
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
        merged = _merged_customer(kept, others, chosen_fields)
        after = attrs.evolve(merged, version=kept.version + 1)
        record = MergeRecord(
            survivor_id=kept.id,
            merged_ids=tuple(c.id for c in others),
            at=when,
            survivor_before=kept,
            survivor_after=after,
            merged_before=tuple(others),
            changes=_changes(kept, after),
            repointed={},
        )
        if journal is not None:
            journal.put(key, {"record": record.to_dict()})
    repointed = dict(record.repointed)

    def save() -> None:
        if journal is not None:
            journal.put(key, {"record": attrs.evolve(record, repointed=repointed).to_dict()})

    from_ids = list(record.merged_ids)
    try:
        _set_customer(repositories, record.survivor_before, record.survivor_after)
        for other in record.merged_before:
            mark = FrozenDict({**other.attributes, MERGED_INTO: record.survivor_id})
            marked = attrs.evolve(other, attributes=mark, version=other.version + 1)
            _set_customer(repositories, other, marked)
        for mover in movers:
            plan = getattr(mover, "plan", None)
            apply = getattr(mover, "apply", None)
            if plan is not None and apply is not None:
                if mover.name not in repointed:
                    repointed[mover.name] = plan(from_ids, record.survivor_id, at=when)
                    save()
                repointed[mover.name] = apply(repointed[mover.name])
            elif mover.name not in repointed:
                repointed[mover.name] = mover.repoint(from_ids, record.survivor_id, at=when)
            save()
    except BaseException:
        if journal is None:  # no record to resume from: take back what it did
            by_name = {m.name: m for m in movers}
            for name in reversed(list(repointed)):
                by_name[name].undo(repointed[name], at=when)
            for before in record.merged_before:
                _restore_customer(repositories, before, record.survivor_id)
            _restore_customer(repositories, record.survivor_before, None, record.survivor_after)
        raise
    done = attrs.evolve(record, repointed=repointed)
    if journal is not None:
        journal.put(key, {"record": done.to_dict(), "done": True})
    return done


def merge_key(customer_ids: Sequence[str], at: datetime) -> str:
    """The key of a merge in a :class:`MergeJournal`: its ids, in the order given, and its time.

    >>> from datetime import UTC, datetime
    >>> merge_key(["c-1", "c-2"], datetime(2025, 1, 9, tzinfo=UTC))
    'merge:["c-1", "c-2"]@2025-01-09T00:00:00+00:00'
    """
    when = to_instant(at, field="at")
    return f"merge:{json.dumps(list(customer_ids))}@{when.isoformat()}"


def _same(a: Customer, b: Customer) -> bool:
    return attrs.evolve(a, version=0) == attrs.evolve(b, version=0)


def _set_customer(repositories: RepositorySet, before: Customer, after: Customer) -> None:
    """Store *after* over *before*, unless it is stored already (a retry)."""
    now = repositories.customers.get(before.id)
    if now.version == after.version and _same(now, after):
        return
    if now.version != before.version:
        raise ConflictError(
            "customer", before.id, expected_version=before.version, actual_version=now.version
        )
    repositories.customers.update(attrs.evolve(after, version=before.version))


def _restore_customer(
    repositories: RepositorySet,
    before: Customer,
    merged_into: str | None,
    after: Customer | None = None,
) -> None:
    """Put *before*'s fields back if the merge changed the stored customer (idempotent)."""
    now = repositories.customers.get(before.id)
    if _same(now, before):
        return
    if merged_into is not None and now.attributes.get(MERGED_INTO) != merged_into:
        return
    if after is not None and not _same(now, after):
        return
    repositories.customers.update(attrs.evolve(before, version=now.version))


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

    First every re-pointer that can refuse is asked (``check_undo``): a
    points ledger refuses when the survivor spent transferred points
    (:class:`LedgerRePointer`), and then nothing is undone. Then the
    re-pointers are undone in reverse order, the merged customers restored,
    and the survivor restored last. Every step changes only what is not
    undone yet, so if one fails (or the process is killed) running
    ``undo_merge`` again completes it; once complete, running it again
    changes nothing.

    Raises:
        ConflictError: the survivor was changed after the merge (its fields
            differ from what the merge stored; a change taken back since, such
            as a later merge's re-pointing undone first, does not count);
            nothing was undone. Undo that change first, or fix by hand.
        ValidationError: a re-pointer named in the record is not given, or
            one refuses (``check_undo``); nothing was undone.
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
    if current.version > record.survivor_after.version and _same(current, record.survivor_before):
        return  # undone already: the survivor is restored last
    if not _same(current, record.survivor_after):
        raise ConflictError(
            "customer",
            record.survivor_id,
            expected_version=record.survivor_after.version,
            actual_version=current.version,
        )
    for name in record.repointed:
        check = getattr(by_name[name], "check_undo", None)
        if check is not None:
            check(record.repointed[name], at=when)
    for name in reversed(list(record.repointed)):
        by_name[name].undo(record.repointed[name], at=when)
    for before in record.merged_before:
        _restore_customer(repositories, before, record.survivor_id)
    repositories.customers.update(attrs.evolve(record.survivor_before, version=current.version))
