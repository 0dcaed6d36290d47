"""The one definition loader: value models, rule sets, lifecycles, programmes from dicts, TOML or JSON.

Every definition class derives from :class:`Definition` and implements two
methods, ``from_dict`` and ``to_dict``; the base gives it the rest
(``from_toml``, ``from_json``, ``to_toml``, ``to_json``), so every class reads
and writes the three formats the same way:

* the source is read into a plain dict (:func:`load_source`): a mapping, TOML
  or JSON text, or a path; a key given twice is a problem in every format
  (TOML refuses it; JSON parsers would silently keep the last one);
* the dict is walked with a :class:`ConfigReader`, which collects *every*
  problem (unknown keys with did-you-mean, wrong types, missing keys) with the
  path to the key, and raises one :class:`ConfigError` at the end;
* ``to_dict`` gives a mapping that ``from_dict`` reads back to an equal
  object; TOML is written with ``tomli-w``.

Nothing in a configuration is ever executed.

Reading a file the caller names is the one piece of I/O in the core: the
front door promises ``ValueModel.from_toml("value.toml")``.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import tomli_w

from crmkit.core._errors import ConfigError, Problem, ValidationError, did_you_mean

__all__ = ["ConfigReader", "Definition", "dumps_toml", "load_source"]

Source = Mapping[str, Any] | str | bytes | os.PathLike[str]


def _looks_like_path(text: str, suffixes: tuple[str, ...]) -> bool:
    return "\n" not in text and text.strip().lower().endswith(suffixes)


def load_source(
    source: object, fmt: str, *, what: str = "configuration"
) -> tuple[dict[str, Any], str | None]:
    """Return ``(data, origin)`` for a dict, TOML/JSON text, or a path to a TOML/JSON file.

    Args:
        source: a mapping (used as is), a path (``str`` ending in ``.toml`` /
            ``.json``, or a ``PathLike``), or the text of the document.
        fmt: ``"toml"``, ``"json"`` or ``"dict"``.
        what: what the document defines, for the error message.

    Raises:
        ConfigError: the file cannot be read or does not parse (with line and column).

    >>> load_source('name = "x"', "toml")
    ({'name': 'x'}, None)
    """
    if isinstance(source, Mapping):
        return dict(source), None
    origin: str | None = None
    text: str
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and _looks_like_path(source, (".toml", ".json"))
    ):
        path = Path(source)
        origin = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(
                [Problem(where=origin, message=f"cannot read the file: {err}")], source=origin
            ) from None
    elif isinstance(source, bytes):
        text = source.decode("utf-8", errors="replace")
    elif isinstance(source, str):
        text = source
    else:
        raise ValidationError(
            "source",
            expected=f"a mapping, {fmt.upper()} text, or a path to a .{fmt} file",
            got=type(source).__name__,
        )
    if fmt == "toml":
        try:
            return tomllib.loads(text), origin
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(
                [Problem(where=origin or "TOML", message=f"not valid TOML: {err}")],
                source=origin,
                what=what,
            ) from None
    try:
        data = json.loads(text, object_pairs_hook=_Object)
    except json.JSONDecodeError as err:
        raise ConfigError(
            [
                Problem(
                    where=origin or "JSON",
                    message=f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}",
                )
            ],
            source=origin,
            what=what,
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(where=origin or "JSON", message="the document must be a JSON object")],
            source=origin,
            what=what,
        )
    duplicates = list(_duplicates(data, ""))
    if duplicates:
        raise ConfigError(
            [
                Problem(where=w, message=f"duplicate key {k!r} (also given earlier)")
                for w, k in duplicates
            ],
            source=origin,
        )
    return _plain(data), origin


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the keys it was given more than once."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        seen: set[str] = set()
        self.duplicates: list[str] = []
        for key, _ in pairs:
            if key in seen and key not in self.duplicates:
                self.duplicates.append(key)
            seen.add(key)


def _duplicates(value: Any, prefix: str) -> Iterable[tuple[str, str]]:
    if isinstance(value, _Object):
        for key in value.duplicates:
            yield f"{prefix}{key}", key
        for key, item in value.items():
            yield from _duplicates(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _duplicates(item, f"{prefix}{i}.")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def dumps_toml(data: Mapping[str, Any]) -> str:
    """*data* (nested tables of strings, numbers, bools and lists) as TOML text.

    The text reads back with ``tomllib`` to the same mapping (NaN and
    infinities included). ``None`` has no TOML form: leave such keys out.

    >>> print(dumps_toml({"name": "m", "components": {"spend": {"formula": "total_spend"}}}))
    name = "m"
    <BLANKLINE>
    [components.spend]
    formula = "total_spend"
    <BLANKLINE>
    """
    try:
        return tomli_w.dumps(dict(data))
    except TypeError as err:
        raise ValidationError(
            "data", expected="tables of strings, numbers, bools and lists", got=str(err)
        ) from None


class Definition:
    """The base of every definition class: one way to read and write dicts, TOML and JSON.

    A subclass implements :meth:`from_dict` and :meth:`to_dict`; this class
    derives the others from them. ``cls.from_dict(obj.to_dict()) == obj``
    for every definition (property-tested), and so for TOML and JSON.
    """

    __slots__ = ()

    #: What the definition is called in error messages ("value model", ...).
    definition_name: ClassVar[str] = "configuration"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Self:
        """Build the definition from a configuration mapping (implemented by each class)."""
        raise NotImplementedError  # pragma: no cover

    def to_dict(self) -> dict[str, Any]:
        """The definition as a mapping :meth:`from_dict` reads back (implemented by each class)."""
        raise NotImplementedError  # pragma: no cover

    @classmethod
    def from_toml(cls, source: str | bytes | os.PathLike[str]) -> Self:
        """Build the definition from TOML text or a ``.toml`` file path (see ``from_dict``)."""
        data, origin = load_source(source, "toml", what=cls.definition_name)
        return cls.from_dict(data, source=origin)

    @classmethod
    def from_json(cls, source: str | bytes | os.PathLike[str]) -> Self:
        """Build the definition from JSON text or a ``.json`` file path (see ``from_dict``).

        A key given twice in one object is a :class:`ConfigError` (JSON
        parsers would silently keep the last one).
        """
        data, origin = load_source(source, "json", what=cls.definition_name)
        return cls.from_dict(data, source=origin)

    def to_toml(self) -> str:
        """The definition as TOML text (see ``to_dict``)."""
        return dumps_toml(self.to_dict())

    def to_json(self) -> str:
        """The definition as JSON text (see ``to_dict``)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


_MISSING = object()


class ConfigReader:
    """Walks a configuration mapping, collecting every problem with its key path.

    >>> r = ConfigReader()
    >>> section = r.section({"name": "m", "wieght": 2}, "model", allowed=["name", "weight"])
    >>> r.text(section, "model", "name")
    'm'
    >>> r.number(section, "model", "weight", default=1.0)
    1.0
    >>> r.raise_if_problems(what="value model")
    Traceback (most recent call last):
    ...
    crmkit.errors.ConfigError: 1 problem in value model:
    - model.wieght: unknown key (did you mean 'weight'?)
    """

    def __init__(self, source: str | None = None) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str, hint: str | None = None) -> None:
        """Record one problem."""
        self.problems.append(Problem(where=where, message=message, hint=hint))

    def extend(self, problems: Iterable[Problem], prefix: str) -> None:
        """Record problems found elsewhere (a formula's), prefixing their location."""
        for p in problems:
            where = prefix if p.where in ("formula", "") else f"{prefix}.{p.where}"
            self.problems.append(
                Problem(
                    where=where,
                    message=p.message,
                    position=p.position,
                    source=p.source,
                    hint=p.hint,
                )
            )

    def raise_if_problems(self, *, what: str) -> None:
        """Raise one ConfigError listing every problem recorded, if any."""
        if self.problems:
            raise ConfigError(self.problems, source=self.source, what=what)

    def section(
        self,
        data: object,
        where: str,
        *,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Return *data* as a dict, recording unknown and missing keys."""
        if not isinstance(data, Mapping):
            self.problem(where, f"expected a table of keys, got {type(data).__name__}")
            return {}
        out = {str(k): v for k, v in data.items()}
        if allowed is not None:
            names = list(allowed)
            for key in out:
                if key not in names:
                    self.problem(f"{where}.{key}", "unknown key", did_you_mean(key, names))
        for key in required:
            if key not in out:
                self.problem(f"{where}.{key}", "missing (required)")
        return out

    def text(
        self, data: Mapping[str, Any], where: str, key: str, *, default: object = _MISSING
    ) -> str:
        """A non-empty string at ``data[key]``."""
        value = data.get(key, default)
        if value is _MISSING:
            return ""  # reported by section(required=...)
        if not isinstance(value, str) or not value.strip():
            self.problem(f"{where}.{key}", f"expected a non-empty string, got {value!r}")
            return ""
        return value.strip()

    def number(
        self,
        data: Mapping[str, Any],
        where: str,
        key: str,
        *,
        default: float | None = None,
        minimum: float | None = None,
    ) -> float | None:
        """A finite number at ``data[key]`` (or *default* when absent)."""
        if key not in data:
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(f"{where}.{key}", f"expected a number, got {value!r}")
            return default
        number = float(value)
        if not math.isfinite(number):
            self.problem(f"{where}.{key}", f"expected a finite number, got {value!r}")
            return default
        if minimum is not None and number < minimum:
            self.problem(f"{where}.{key}", f"expected a number >= {minimum:g}, got {value!r}")
            return default
        return number

    def names(self, data: Mapping[str, Any], where: str, key: str) -> list[str]:
        """A list of non-empty strings at ``data[key]`` (empty when absent)."""
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(f"{where}.{key}", f"expected a list of names, got {value!r}")
            return []
        return list(value)
