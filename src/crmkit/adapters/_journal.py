"""What the SQLite and PostgreSQL merge journals share: reading back a stored entry."""

from __future__ import annotations

import json
from typing import Any

from crmkit.core import StorageError

__all__ = ["load_entry"]


def load_entry(value: Any) -> dict[str, Any]:
    """A stored journal entry (JSON text, or what the driver decoded already) as a dict.

    Raises:
        StorageError: the stored value is not a JSON object (the database was
            changed outside crmkit).
    """
    try:
        found = json.loads(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise StorageError(
            "a stored merge journal entry cannot be read",
            got=f"{type(exc).__name__}: {exc}",
            hint="the database was changed outside crmkit",
        ) from exc
    if not isinstance(found, dict):
        raise StorageError(
            "a stored merge journal entry is not an object", got=type(found).__name__
        )
    return found
