"""Immutable containers for definitions and entities: :class:`FrozenDict` and :func:`freeze`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

__all__ = ["FrozenDict", "freeze"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class FrozenDict(Mapping[_K, _V]):
    """An immutable, hashable mapping (used for free-form profile attributes).

    >>> attrs_ = FrozenDict({"vip": True, "region": "north"})
    >>> attrs_["region"]
    'north'
    >>> attrs_ == {"region": "north", "vip": True}
    True
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[_K, _V] | Iterable[tuple[_K, _V]] = ()) -> None:
        self._data: dict[_K, _V] = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: _K) -> _V:
        return self._data[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


def freeze(value: Any) -> Any:
    """*value* with every mapping, list and set inside it made immutable, all the way down.

    Mappings become :class:`FrozenDict`, lists and tuples tuples, sets
    frozensets; anything else is returned as it is. Definitions pass the
    collections they are built from through it, so nothing they hold can be
    changed afterwards.

    >>> frozen = freeze({"gold": [1.5, 2.0], "tags": {"a"}})
    >>> frozen
    FrozenDict({'gold': (1.5, 2.0), 'tags': frozenset({'a'})})
    >>> frozen["gold"] += (3.0,)
    Traceback (most recent call last):
    ...
    TypeError: 'FrozenDict' object does not support item assignment
    """
    if isinstance(value, FrozenDict):
        return (
            value
            if all(freeze(v) is v for v in value.values())
            else FrozenDict({k: freeze(v) for k, v in value.items()})
        )
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple) and not hasattr(value, "_fields"):
        return tuple(freeze(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    return value
