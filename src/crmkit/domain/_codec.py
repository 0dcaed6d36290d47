"""Records to plain JSON-able dicts and back, under stable type names.

Storage adapters and exports use this one codec, so a record written by one
version of crmkit is read by the next: the ``"type"`` key is the record's
``type_name`` (``"purchase"``), never a Python import path.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from crmkit.core import ValidationError
from crmkit.domain._activities import ACTIVITY_TYPES
from crmkit.domain._entities import Consent, Contact, Customer, Membership
from crmkit.domain._record import Record
from crmkit.domain._values import FrozenDict

__all__ = ["RECORD_TYPES", "from_record", "register_record_type", "to_record"]

RECORD_TYPES: dict[str, type[Record]] = {
    Customer.type_name: Customer,
    Contact.type_name: Contact,
    Consent.type_name: Consent,
    Membership.type_name: Membership,
    **ACTIVITY_TYPES,
}


def register_record_type(cls: type[Record]) -> type[Record]:
    """Let :func:`from_record` read records of *cls* (a layer above the domain's own types).

    crmkit's loyalty ledger entries (``"loyalty_entry"``) and lifecycle
    transitions (``"lifecycle_transition"``) register themselves when their
    package is imported (``import crmkit`` imports both). A type name belongs
    to one class: registering another class under a taken name is refused.

    >>> register_record_type(Customer) is Customer
    True
    """
    name = cls.type_name
    if not name or RECORD_TYPES.get(name, cls) is not cls:
        raise ValidationError(
            "type_name", expected="a type name no other record type uses", got=name
        )
    RECORD_TYPES[name] = cls
    return cls


_PLAIN: frozenset[type] = frozenset({type(None), bool, int, float, str})
_NAMES: dict[type, tuple[str, ...]] = {}


def _same(value: Any) -> Any:
    return value


def _enum(value: Any) -> Any:
    return value.value


def _mapping(value: Any) -> Any:
    return {k: _plain(v) for k, v in value.items()}


def _set(value: Any) -> Any:
    return sorted(_plain(v) for v in value) if value else []


def _sequence(value: Any) -> Any:
    return [_plain(v) for v in value]


def _isoformat(value: Any) -> Any:
    return value.isoformat()


# How each kind of field value becomes JSON, in order of precedence (a str enum stays itself).
_KINDS: tuple[tuple[type | tuple[type, ...], Callable[[Any], Any]], ...] = (
    ((bool, int, float, str), _same),
    (enum.Enum, _enum),
    (Decimal, str),
    (datetime, _isoformat),
    (Record, lambda value: _fields(value)),
    (FrozenDict, _mapping),
    (frozenset, _set),
    (tuple, _sequence),
)
_ENCODERS: dict[type, Callable[[Any], Any]] = {type(None): _same}


def _plain(value: object) -> Any:
    kind = type(value)
    encode = _ENCODERS.get(kind)
    if encode is None:
        for base, found in _KINDS:
            if issubclass(kind, base):
                encode = _ENCODERS[kind] = found
                break
        else:
            raise TypeError(f"cannot encode {kind.__name__}")  # a bug in crmkit, not user input
    return encode(value)


def _fields(record: Record, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """*record*'s fields as JSON types, added to *out* (a new dict by default)."""
    cls = type(record)
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in attrs.fields(cls))
    # The hot path of bulk writes: plain values (most fields) skip the dispatch.
    plain, simple = _plain, _PLAIN
    if out is None:
        out = {}
    for name in names:
        value = getattr(record, name)
        out[name] = value if type(value) in simple else plain(value)
    return out


def to_record(record: Record) -> dict[str, Any]:
    """Return *record* as a dict of JSON types, with its stable ``"type"`` name.

    >>> from datetime import UTC, datetime
    >>> from crmkit.domain import Purchase
    >>> to_record(Purchase(id="p-1", customer_id="c-1", amount="12.50", currency="EUR",
    ...                    occurred_at=datetime(2025, 1, 2, tzinfo=UTC)))
    {'type': 'purchase', 'id': 'p-1', 'customer_id': 'c-1', 'occurred_at': '2025-01-02T00:00:00+00:00', 'amount': '12.50', 'currency': 'EUR', 'settlement': None, 'guests': []}
    """
    return _fields(record, {"type": type(record).type_name})


def from_record(data: Mapping[str, Any]) -> Record:
    """Rebuild a record from :func:`to_record`'s output (validating it again).

    Any registered type (:func:`register_record_type`) is read; unknown or
    missing fields are a :class:`~crmkit.core.ValidationError`.

    >>> from crmkit.domain import Purchase
    >>> from datetime import UTC, datetime
    >>> p = Purchase(id="p-1", customer_id="c-1", amount=3, currency="EUR",
    ...              occurred_at=datetime(2025, 1, 2, tzinfo=UTC))
    >>> from_record(to_record(p)) == p
    True
    """
    fields = dict(data)
    type_name = fields.pop("type", None)
    cls = RECORD_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise ValidationError(
            "record.type",
            expected="one of " + ", ".join(sorted(RECORD_TYPES)),
            got=type_name,
        )
    names = {f.name for f in attrs.fields(cls)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ValidationError(
            f"{cls.__name__} record",
            expected="only the fields " + ", ".join(sorted(names)),
            got=unknown,
        )
    missing = [
        f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING and f.name not in fields
    ]
    if missing:
        raise ValidationError(
            f"{cls.__name__} record",
            expected="every required field (" + ", ".join(missing) + " are missing)",
            got=sorted(fields),
        )
    return cls(**fields)
