"""Lifecycle transitions in PostgreSQL: :class:`PostgresTransitionHistory` (the ``"lifecycle"`` part)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from crmkit.adapters._postgres import Cursor, PostgresStore, _Database, _is_text
from crmkit.adapters._postgres import ensure_part as _ensure_part
from crmkit.core import AlreadyExistsError, StorageError, ValidationError, check_window
from crmkit.domain import to_record
from crmkit.lifecycle import (
    LifecycleTransition,
    RewritableTransitionHistory,
    check_transition,
    plan_transition_rewrite,
)

__all__ = ["LIFECYCLE_MIGRATIONS", "PostgresTransitionHistory"]

#: The migrations of the ``"lifecycle"`` part (``{s}``: the quoted schema); append only.
LIFECYCLE_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE {s}.crmkit_lifecycle_transitions (
            customer_id text COLLATE "C" NOT NULL,
            at timestamptz NOT NULL,
            transition text COLLATE "C" NOT NULL,
            to_stage text NOT NULL,
            record json NOT NULL,
            PRIMARY KEY (customer_id, at, transition)
        )""",
    ),
)


def _dump(t: LifecycleTransition) -> str:
    return json.dumps(to_record(t), separators=(",", ":"))


def _load(value: Any) -> LifecycleTransition:
    try:
        fields: dict[str, Any] = dict(json.loads(value) if isinstance(value, str) else value)
        if fields.pop("type", None) != LifecycleTransition.type_name:
            raise ValidationError("record.type", expected="lifecycle_transition", got=fields)
        return LifecycleTransition(**fields)
    except (ValueError, TypeError) as exc:
        raise StorageError(
            "a stored lifecycle transition cannot be read",
            got=f"{type(exc).__name__}: {exc}",
            hint="the database was changed outside crmkit or by a newer version of it",
        ) from exc


_KEY: Final = "customer_id = %s AND at = %s AND transition = %s"


class PostgresTransitionHistory:
    """The lifecycle transitions of a :class:`PostgresStore` (a :class:`~crmkit.lifecycle.RewritableTransitionHistory`).

    Idempotent on the natural key ``(customer_id, at, transition)``: an append
    is ``INSERT ... ON CONFLICT DO NOTHING`` and then a comparison with the
    stored twin, so concurrent appends of one transition store it once.
    """

    def __init__(self, store: PostgresStore) -> None:
        if not isinstance(store, PostgresStore):
            raise ValidationError("store", expected="a PostgresStore", got=type(store).__name__)
        self._db: _Database = store._db
        self._t = f"{self._db.s}.crmkit_lifecycle_transitions"
        _ensure_part(self._db, "lifecycle", LIFECYCLE_MIGRATIONS)

    def _admit(self, cur: Cursor, t: LifecycleTransition) -> bool:
        cur.execute(
            f"INSERT INTO {self._t} (customer_id, at, transition, to_stage, record)"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (t.customer_id, t.at, t.transition, t.to_stage, _dump(t)),
        )
        if cur.rowcount:
            return True
        cur.execute(
            f"SELECT record FROM {self._t} WHERE {_KEY}",  # noqa: S608
            (t.customer_id, t.at, t.transition),
        )
        row = cur.fetchone()
        if row is not None and _load(row[0]) == t:
            return False
        raise AlreadyExistsError(
            "lifecycle transition",
            t.key,
            hint="a different transition is stored under this (customer, at, transition)",
        )

    def append(self, transition: LifecycleTransition) -> bool:
        """Store *transition*; ``False`` if this very transition was stored already.

        Raises:
            AlreadyExistsError: a different transition has the same natural key.
        """
        t = check_transition(transition)
        return self._db.run(lambda cur: self._admit(cur, t))

    def append_many(self, transitions: Iterable[LifecycleTransition]) -> int:
        """Store several transitions in one transaction, all-or-nothing; return how many were new."""
        items = [check_transition(t) for t in transitions]
        return self._db.run(lambda cur: sum(self._admit(cur, t) for t in items))

    def rewrite(self, changes: Iterable[tuple[LifecycleTransition, LifecycleTransition]]) -> int:
        """Re-point stored transitions in one transaction, all-or-nothing; return how many changed.

        See :class:`~crmkit.lifecycle.RewritableTransitionHistory`: only
        ``customer_id`` may change.

        Raises:
            NotFoundError: a stored side is not stored as given; nothing was written.
            ValidationError: a change other than ``customer_id``; nothing was written.
            AlreadyExistsError: a new key is taken; nothing was written.
        """
        items = list(changes)

        def work(cur: Cursor) -> int:
            def lookup(key: tuple[str, datetime, str]) -> LifecycleTransition | None:
                cur.execute(f"SELECT record FROM {self._t} WHERE {_KEY} FOR UPDATE", key)  # noqa: S608
                row = cur.fetchone()
                return None if row is None else _load(row[0])

            plan = plan_transition_rewrite(items, lookup)
            for old, _ in plan:
                cur.execute(
                    f"DELETE FROM {self._t} WHERE {_KEY}",  # noqa: S608
                    (old.customer_id, old.at, old.transition),
                )
            for _, new in plan:
                cur.execute(
                    f"INSERT INTO {self._t} (customer_id, at, transition, to_stage, record)"  # noqa: S608
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (new.customer_id, new.at, new.transition, new.to_stage, _dump(new)),
                )
                if cur.rowcount == 0:
                    raise AlreadyExistsError(
                        "lifecycle transition",
                        new.key,
                        hint="another transition is stored under the new key",
                    )
            return len(plan)

        return self._db.run(work)

    def for_customer(
        self,
        customer_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[LifecycleTransition]:
        """A customer's transitions with ``start <= at < end``, ordered by ``at`` then name."""
        lo, hi = check_window(start, end)
        if not _is_text(customer_id):
            return []
        where = ["customer_id = %s"]
        params: list[object] = [customer_id]
        if lo is not None:
            where.append("at >= %s")
            params.append(lo)
        if hi is not None:
            where.append("at < %s")
            params.append(hi)
        rows = self._db.query(
            f"SELECT record FROM {self._t} WHERE {' AND '.join(where)}"  # noqa: S608
            " ORDER BY at, transition",
            params,
        )
        return [_load(r[0]) for r in rows]

    def latest_stages(self) -> dict[str, str]:
        """Each customer's ``to_stage`` after their latest transition, by customer id."""
        rows = self._db.query(
            f"SELECT DISTINCT ON (customer_id) customer_id, to_stage FROM {self._t}"  # noqa: S608
            " ORDER BY customer_id, at DESC, transition DESC"
        )
        return {str(c): str(stage) for c, stage in rows}


if TYPE_CHECKING:  # mypy --strict proves the history satisfies the Protocol

    def _conforms(history: PostgresTransitionHistory) -> RewritableTransitionHistory:
        return history
