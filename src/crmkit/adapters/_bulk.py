"""What a bulk ``append_many`` stores: the outcome of appending one by one, decided in memory.

Shared by crmkit's SQLite and PostgreSQL activity logs: the store looks up,
set-wise, what it holds of the batch (stored twins, the purchases its refunds
name and their earlier refunds), and :func:`plan_append` walks the batch in
order exactly as ``append`` would, raising at the first activity ``append``
would refuse. The store then writes the returned activities in one go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from crmkit.core import AlreadyExistsError
from crmkit.domain import Activity, Purchase, Refund, check_refund

__all__ = ["plan_append"]


def _same_or_raise(stored: Activity, activity: Activity) -> None:
    if stored != activity:
        raise AlreadyExistsError(
            "activity",
            activity.id,
            hint="activity ids are idempotency keys; a different activity needs a new id",
        )


def plan_append(
    items: Iterable[Activity],
    stored: Mapping[str, Any],
    purchases: Mapping[str, Activity | None],
    earlier: Mapping[str, list[Refund]],
    load: Callable[[Any], Activity],
) -> list[Activity]:
    """The activities of *items* that are new, in order; raises as ``append`` one by one would.

    Args:
        items: the batch (already checked to be activities).
        stored: the stored form of every stored activity whose id is in the batch.
        purchases: for every ``purchase_id`` of the batch's refunds that is
            stored, the stored activity (``None`` if it is not a purchase).
        earlier: the stored refunds of those purchases.
        load: rebuilds an activity from its stored form.
    """
    loaded: dict[str, Activity] = {}
    staged: dict[str, Activity] = {}
    refunds: dict[str, list[Refund]] = {}
    for activity in items:
        twin = staged.get(activity.id)
        if twin is None and activity.id in stored:
            twin = loaded.get(activity.id)
            if twin is None:
                twin = loaded[activity.id] = load(stored[activity.id])
        if twin is not None:
            _same_or_raise(twin, activity)
            continue
        if isinstance(activity, Refund):
            pid = activity.purchase_id
            purchase = staged.get(pid, purchases.get(pid))
            so_far = refunds.get(pid)
            if so_far is None:
                so_far = refunds[pid] = list(earlier.get(pid, ()))
            check_refund(purchase if isinstance(purchase, Purchase) else None, so_far, activity)
            so_far.append(activity)
        staged[activity.id] = activity
    return list(staged.values())
