"""Keyed, deterministic pseudonyms (HMAC-SHA256) for identifiers, and personal columns removed."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crmkit.core import MissingColumnError, ValidationError, check_frame
from crmkit.domain import ACTIVITY_TYPES, Contact, Customer, personal_fields

__all__ = ["PERSONAL_COLUMNS", "pseudonym", "pseudonymize"]

#: Column names that hold personal data in crmkit's records: what
#: :func:`pseudonymize` drops unless told otherwise.
PERSONAL_COLUMNS: frozenset[str] = frozenset().union(
    personal_fields(Customer),
    personal_fields(Contact),
    *(personal_fields(cls) for cls in ACTIVITY_TYPES.values()),
)

_MIN_KEY_BYTES = 16


def _key_bytes(key: object) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes) or len(key) < _MIN_KEY_BYTES:
        raise ValidationError(
            "key",
            expected=f"a secret of at least {_MIN_KEY_BYTES} bytes (str or bytes)",
            got="a shorter key" if isinstance(key, bytes) else type(key).__name__,
            hint="generate one with secrets.token_bytes(32) and keep it out of the data",
        )
    return key


def _length(length: object) -> int:
    if isinstance(length, bool) or not isinstance(length, int) or not 8 <= length <= 64:
        raise ValidationError("length", expected="an integer from 8 to 64", got=length)
    return length


def _digest(key: bytes, value: object, length: int) -> str:
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:length]


def pseudonym(value: object, *, key: bytes | str, length: int = 16) -> str:
    """The pseudonym of one identifier: the first *length* hex digits of HMAC-SHA256.

    The same key gives the same pseudonym in every run and every process, so a
    host can pseudonymise one id the way :func:`pseudonymize` did a column.
    Values are read as ``str(value)`` (so ``5`` and ``"5"`` agree).

    Raises:
        ValidationError: a key shorter than 16 bytes, or a bad *length*.

    >>> pseudonym("c-00042", key="a secret of 16+ bytes")
    '87602d7a8c899ea4'
    """
    return _digest(_key_bytes(key), value, _length(length))


def _mask(values: np.ndarray[Any, np.dtype[Any]], column: str) -> list[object]:
    out: list[object] = []
    for v in values:
        if v is None:
            out.append(None)
        elif column == "email" and isinstance(v, str) and "@" in v:
            out.append("***@" + v.rsplit("@", 1)[1])
        elif column == "phone" and isinstance(v, str) and v.startswith("+"):
            out.append(v[:3] + "***")
        else:
            out.append("***")
    return out


def pseudonymize(
    frame: pd.DataFrame,
    *,
    key: bytes | str,
    identifiers: Sequence[str] = ("customer_id",),
    drop: Sequence[str] | None = None,
    mask: Sequence[str] = (),
    length: int = 16,
) -> pd.DataFrame:
    """Return a copy of *frame* safe to share for analysis: ids pseudonymised, personal data gone.

    Each identifier column is replaced by keyed pseudonyms (:func:`pseudonym`):
    deterministic for a key, so joins between frames pseudonymised with the
    same key still work and runs agree, but not reversible without the key
    (and not linkable across keys). Missing values stay missing. Personal
    columns are dropped (by default every column named like a personal field
    of crmkit's records, :data:`PERSONAL_COLUMNS`), or masked: an email keeps
    its domain (``***@example.com``), an international phone number its first
    digits (``+86***``), anything else becomes ``***``.

    Keep the key secret and apart from the data: whoever holds it can
    re-identify by pseudonymising candidate ids. Pseudonymised data is still
    personal data under the GDPR; anonymisation it is not.

    Args:
        frame: any DataFrame.
        key: the secret, at least 16 bytes (``secrets.token_bytes(32)``).
        identifiers: columns to pseudonymise (e.g. ``customer_id``, ``company_id``).
        drop: columns to remove; ``None`` drops those of :data:`PERSONAL_COLUMNS`
            present in the frame, but for identifiers and masked columns.
        mask: personal columns to keep in masked form instead.
        length: hex digits per pseudonym (8-64; 16 means 64 bits).

    Raises:
        MissingColumnError: a named identifier, drop or mask column is not in the frame.
        ValidationError: a short key or a bad *length*.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"customer_id": ["c-1", "c-2", None], "name": ["Ann", "Bo", "Cy"],
    ...                    "email": ["ann@example.com", None, "cy@example.org"],
    ...                    "total_spend": [120.0, 80.5, 0.0]})
    >>> pseudonymize(df, key="a secret of 16+ bytes", mask=["email"])
            customer_id            email  total_spend
    0  cfeed19e68eb22ab  ***@example.com        120.0
    1  eda99babe1565a0e             None         80.5
    2              None  ***@example.org          0.0
    """
    frame = check_frame(frame, "frame", [])
    secret = _key_bytes(key)
    size = _length(length)
    named: dict[str, list[str]] = {}
    for argument, columns in (("identifiers", identifiers), ("mask", mask), ("drop", drop)):
        if columns is None:
            continue
        if isinstance(columns, str) or not all(isinstance(c, Hashable) for c in columns):
            raise ValidationError(argument, expected="a list of column names", got=columns)
        named[argument] = list(columns)
    wanted = [c for cols in named.values() for c in cols]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise MissingColumnError(missing, [str(c) for c in frame.columns])
    masked = set(named["mask"])
    if drop is None:
        keep = masked | set(named["identifiers"])
        dropped = [c for c in frame.columns if c in PERSONAL_COLUMNS and c not in keep]
    else:
        dropped = named["drop"]
    out = frame.drop(columns=dropped)
    for column in named["identifiers"]:
        if column in dropped:
            continue
        values = out[column].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        names = np.empty(len(uniques) + 1, dtype=object)
        names[:-1] = [_digest(secret, u, size) for u in uniques]
        names[-1] = None
        out[column] = pd.Series(names[codes], index=out.index, dtype=object)
    for column in masked:
        values = out[column].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        shown = np.empty(len(uniques) + 1, dtype=object)
        shown[:-1] = _mask(np.asarray(uniques, dtype=object), column)
        shown[-1] = None
        out[column] = pd.Series(shown[codes], index=out.index, dtype=object)
    return out
