"""Every definition object is deeply immutable: nothing inside can be changed after it is built.

The walk starts at every definition class (presets, documented examples and
generated configurations) and goes through every attrs field, every
``FrozenDict``, tuple and frozenset, and every crmkit object held (Component,
Segment, Transition, Campaign, Tier, Reward, Formula, Table, ...), all the way
down. A mutable container anywhere (dict, list, set, bytearray, a writeable
numpy array, a pandas object) fails the test with its path, e.g.
``EarningRules.tier_multipliers`` (mutating that dict once changed a
purchase's base points from 14 to 950). Setting an attribute of an attrs
object must raise ``attrs.exceptions.FrozenInstanceError``.
"""

from __future__ import annotations

import contextlib
import enum
import re
import types
from collections.abc import Iterator
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit.config import Config
from crmkit.core import ConfigError, CrmkitError, FrozenDict
from crmkit.lifecycle import Lifecycle
from crmkit.loyalty import Catalogue, EarningRules, TierTable
from crmkit.scoring import ValueModel
from crmkit.segmentation import RFM, SegmentRules
from crmkit.testing import strategies as cs

DOCS = Path(__file__).resolve().parent.parent / "docs"

# ================================================================ the walk

_ATOMS = (str, bytes, int, float, complex, bool, type(None), Decimal, datetime, date, timedelta)
_MUTABLE = (
    dict,
    list,
    set,
    bytearray,
    pd.Series,
    pd.DataFrame,
    pd.Index,
    pd.api.extensions.ExtensionArray,
)


def _slots(cls: type) -> Iterator[str]:
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        yield from ([slots] if isinstance(slots, str) else slots)


def _members(obj: object) -> Iterator[tuple[str, Any]]:
    """The attributes of a crmkit object: attrs fields, or its slots and instance dict."""
    cls = type(obj)
    if attrs.has(cls):
        for field in attrs.fields(cls):
            yield field.name, getattr(obj, field.name)
        return
    seen = set()
    for name in _slots(cls):
        if name in ("__dict__", "__weakref__") or name in seen:
            continue
        seen.add(name)
        with contextlib.suppress(AttributeError):
            yield name, getattr(obj, name)
    for name, value in getattr(obj, "__dict__", {}).items():
        if name not in seen:
            yield name, value


def mutable_paths(obj: object, path: str, seen: set[int] | None = None) -> Iterator[str]:
    """The path of every mutable container inside *obj* (not looking inside a mutable one)."""
    seen = set() if seen is None else seen
    if isinstance(obj, (_ATOMS, enum.Enum | tzinfo)):
        return
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        if obj.flags.writeable:
            yield f"{path} (numpy array, writeable)"
        elif obj.dtype == object:
            for i, item in enumerate(obj.flat):
                yield from mutable_paths(item, f"{path}[{i}]", seen)
        return
    if isinstance(obj, _MUTABLE):
        yield f"{path} ({type(obj).__module__}.{type(obj).__qualname__})"
        return
    if isinstance(obj, FrozenDict | types.MappingProxyType):  # a read-only view is fine
        for key, value in obj.items():
            yield from mutable_paths(key, f"{path}[{key!r}] (key)", seen)
            yield from mutable_paths(value, f"{path}[{key!r}]", seen)
        return
    if isinstance(obj, tuple):
        for i, item in enumerate(obj):
            yield from mutable_paths(item, f"{path}[{i}]", seen)
        return
    if isinstance(obj, frozenset):
        for item in obj:
            yield from mutable_paths(item, f"{path}{{{item!r}}}", seen)
        return
    crmkit_object = type(obj).__module__.startswith("crmkit")
    if callable(obj) and not crmkit_object and not isinstance(obj, type):
        return  # compiled formula code (functions, itemgetters): behaviour, not state
    if crmkit_object or attrs.has(type(obj)):
        for name, value in _members(obj):
            yield from mutable_paths(value, f"{path}.{name}", seen)
        return
    yield f"{path} (unknown {type(obj).__module__}.{type(obj).__qualname__}: cannot prove immutable)"


def settable_paths(obj: object, path: str, seen: set[int] | None = None) -> Iterator[str]:
    """The path of every attrs field, anywhere inside *obj*, that accepts an assignment."""
    seen = set() if seen is None else seen
    if isinstance(obj, (_ATOMS, enum.Enum)) or id(obj) in seen:
        return
    seen.add(id(obj))
    children: list[tuple[str, Any]] = []
    if isinstance(obj, FrozenDict):
        children = [(f"{path}[{k!r}]", v) for k, v in obj.items()]
    elif isinstance(obj, tuple | frozenset):
        children = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
    elif attrs.has(type(obj)):
        for field in attrs.fields(type(obj)):
            value = getattr(obj, field.name)
            try:
                setattr(obj, field.name, value)
            except attrs.exceptions.FrozenInstanceError:
                pass
            else:
                yield f"{path}.{field.name}"
            children.append((f"{path}.{field.name}", value))
    for child_path, value in children:
        yield from settable_paths(value, child_path, seen)


# ================================================================ the definitions


def _doc_toml_examples(name: str) -> Iterator[str]:
    """The TOML text of every ``Name.from_toml('''...''')`` example in the docs."""
    pattern = re.compile(rf"^>>> .*\b{name}\.from_toml\('''\s*$")
    for page in sorted(DOCS.rglob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if not pattern.match(line):
                continue
            body: list[str] = []
            for cont in lines[i + 1 :]:
                text = cont[4:] if cont.startswith("... ") else cont[3:]
                if text.startswith("''')"):
                    break
                body.append(text)
            yield "\n".join(body)


def _presets() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = [
        ("ValueModel.default()", ValueModel.default()),
        ("ValueModel.default(version=1)", ValueModel.default(version=1)),
        ("Lifecycle.five_stage()", Lifecycle.five_stage()),
        ("Lifecycle.five_stage(version=1)", Lifecycle.five_stage(version=1)),
        ("Lifecycle.b2b_funnel()", Lifecycle.b2b_funnel()),
        ("SegmentRules.positioning()", SegmentRules.positioning()),
        ("SegmentRules.recency_view()", SegmentRules.recency_view()),
        ("SegmentRules.value_tiers()", SegmentRules.value_tiers()),
        (
            "SegmentRules.value_tiers().fit(...)",
            SegmentRules.value_tiers().fit(pd.DataFrame({"value": [1.0, 2.0, 5.0, 9.0]})),
        ),
        ("RFM()", RFM()),
        (
            "RFM(bins=2).fit(...)",
            RFM(bins=2).fit(
                pd.DataFrame(
                    {
                        "days_since_last_purchase": [1.0, 3.0],
                        "purchase_days": [1, 2],
                        "total_spend": [10.0, 30.0],
                    }
                )
            ),
        ),
        ("Config(docs/assets/crm.toml)", Config.from_toml(DOCS / "assets" / "crm.toml")),
        ("Config().with_presets()", Config().with_presets()),
    ]
    classes = {
        "EarningRules": EarningRules,
        "TierTable": TierTable,
        "Catalogue": Catalogue,
        "Config": Config,
        "ValueModel": ValueModel,
        "SegmentRules": SegmentRules,
        "Lifecycle": Lifecycle,
    }
    for name, cls in classes.items():
        for i, text in enumerate(_doc_toml_examples(name)):
            with contextlib.suppress(ConfigError):  # an example of an error message
                found.append((f"{name} docs example {i}", cls.from_toml(text)))
    return found


PRESETS = _presets()


@st.composite
def _segment_rules(draw: st.DrawFn) -> SegmentRules:
    columns = draw(st.lists(cs.formula_names(), min_size=1, max_size=3, unique=True))
    rules = SegmentRules.from_dict(draw(cs.segment_rule_configs(columns=columns)))
    if rules.statistics:
        frame = draw(cs.segment_frames(columns=columns))
        with contextlib.suppress(CrmkitError):
            rules = rules.fit(frame)
    return rules


GENERATED: dict[str, st.SearchStrategy[Any]] = {
    "ValueModel": cs.value_model_configs().map(ValueModel.from_dict),
    "SegmentRules": _segment_rules(),
    "RFM": cs.rfm_configs().map(RFM.from_dict),
    "Lifecycle": cs.formula_schemas().flatmap(cs.lifecycle_configs).map(Lifecycle.from_dict),
    "EarningRules": cs.earning_rule_configs(every_key=True).map(EarningRules.from_dict),
    "TierTable": cs.tier_table_configs().map(TierTable.from_dict),
    "Catalogue": cs.catalogue_configs().map(Catalogue.from_dict),
    "Config": cs.config_file_configs().map(Config.from_dict),
}


def _report(found: list[str], what: str) -> str:
    return f"{len(found)} {what}:\n" + "\n".join(f"  {p}" for p in found)


# ================================================================ the tests


def test_the_walk_finds_a_planted_mutable_container() -> None:
    @attrs.frozen
    class Held:
        rates: Any

    assert list(mutable_paths(Held(FrozenDict({"a": (1, [2])})), "Held")) == [
        "Held.rates['a'][1] (builtins.list)"
    ]
    assert list(mutable_paths(Held(np.zeros(2)), "Held")) == ["Held.rates (numpy array, writeable)"]
    assert list(mutable_paths(Held(np.zeros(2)).rates.setflags(write=False) or (), "x")) == []


@pytest.mark.parametrize(("name", "x"), PRESETS, ids=[n for n, _ in PRESETS])
def test_presets_hold_no_mutable_container(name: str, x: Any) -> None:
    found = list(mutable_paths(x, type(x).__name__))
    assert not found, _report(found, f"mutable containers inside {name}")


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_definitions_hold_no_mutable_container(name: str) -> None:
    @given(GENERATED[name])
    def check(x: Any) -> None:
        found = list(mutable_paths(x, type(x).__name__))
        assert not found, _report(found, "mutable containers")

    check()


@pytest.mark.parametrize(("name", "x"), PRESETS, ids=[n for n, _ in PRESETS])
def test_no_attribute_of_a_preset_can_be_set(name: str, x: Any) -> None:
    found = list(settable_paths(x, type(x).__name__))
    assert not found, _report(found, f"settable attributes inside {name}")


@pytest.mark.parametrize("name", list(GENERATED))
def test_no_attribute_of_a_generated_definition_can_be_set(name: str) -> None:
    @given(GENERATED[name])
    def check(x: Any) -> None:
        found = list(settable_paths(x, type(x).__name__))
        assert not found, _report(found, "settable attributes")

    check()
