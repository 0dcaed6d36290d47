"""Reading configurations (value models, rule sets, lifecycles, programmes) from dicts, TOML or JSON.

Every loader follows the same pattern: read the source into a plain dict
(:func:`load_source`), then walk it with a :class:`ConfigReader`, which
collects *every* problem (unknown keys with did-you-mean, wrong types,
missing keys) with the path to the key, and raises one :class:`ConfigError`
at the end. Nothing in a configuration is ever executed.

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
from typing import Any

from crmkit.domain._errors import ConfigError, Problem, ValidationError, did_you_mean

__all__ = ["ConfigReader", "load_source"]

Source = Mapping[str, Any] | str | bytes | os.PathLike[str]


def _looks_like_path(text: str, suffixes: tuple[str, ...]) -> bool:
    return "\n" not in text and text.strip().lower().endswith(suffixes)


def load_source(source: object, fmt: str) -> tuple[dict[str, Any], str | None]:
    """Return ``(data, origin)`` for a dict, TOML/JSON text, or a path to a TOML/JSON file.

    Args:
        source: a mapping (used as is), a path (``str`` ending in ``.toml`` /
            ``.json``, or a ``PathLike``), or the text of the document.
        fmt: ``"toml"``, ``"json"`` or ``"dict"``.

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
                [Problem(where=origin or "TOML", message=f"not valid TOML: {err}")], source=origin
            ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            [
                Problem(
                    where=origin or "JSON",
                    message=f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}",
                )
            ],
            source=origin,
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(where=origin or "JSON", message="the document must be a JSON object")],
            source=origin,
        )
    return data, origin


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
