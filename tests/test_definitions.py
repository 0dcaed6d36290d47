"""Every definition class reads back what it writes, in every format, and refuses duplicated keys.

For each class derived from :class:`crmkit.core.Definition` (value models,
segment rule sets, RFM, lifecycles, earning rules, tier tables, reward
catalogues, the one-file configuration), on generated definitions and on the
presets and documented examples:

* ``cls.from_dict(x.to_dict()) == x``, and so through TOML and JSON text;
* a key given twice anywhere in a JSON document is a ``ConfigError`` naming
  the key path; in a TOML document a ``ConfigError`` too (never a bare
  ``tomllib`` error).
"""

from __future__ import annotations

import contextlib
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit.clv import ClvFeatures
from crmkit.clv._base import Model
from crmkit.config import Config
from crmkit.core import ConfigError, CrmkitError, Definition
from crmkit.lifecycle import Lifecycle
from crmkit.loyalty import Catalogue, EarningRules, TierTable
from crmkit.scoring import ValueModel
from crmkit.segmentation import RFM, SegmentRules
from crmkit.testing import strategies as cs
from crmkit.testing.strategies import _clv as clv_strategies

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "crmkit"
DOCS = ROOT / "docs"

# ================================================================ generated definitions


@st.composite
def segment_rules(draw: st.DrawFn) -> SegmentRules:
    """Rule sets, sometimes fitted (population statistics frozen as thresholds)."""
    columns = draw(st.lists(cs.formula_names(), min_size=1, max_size=4, unique=True))
    rules = SegmentRules.from_dict(draw(cs.segment_rule_configs(columns=columns)))
    if rules.statistics and draw(st.booleans()):
        frame = draw(cs.segment_frames(columns=columns))
        with contextlib.suppress(CrmkitError):  # nothing to fit on: the unfitted rules stay a case
            rules = rules.fit(frame)
    return rules


@st.composite
def lifecycles(draw: st.DrawFn) -> Lifecycle:
    return Lifecycle.from_dict(draw(cs.lifecycle_configs(draw(cs.formula_schemas()))))


GENERATED: dict[type[Definition], st.SearchStrategy[Any]] = {
    ValueModel: cs.value_model_configs().map(ValueModel.from_dict),
    SegmentRules: segment_rules(),
    RFM: cs.rfm_configs().map(RFM.from_dict),
    Lifecycle: lifecycles(),
    EarningRules: st.booleans().flatmap(
        lambda every: cs.earning_rule_configs(every_key=every).map(EarningRules.from_dict)
    ),
    TierTable: cs.tier_table_configs().map(TierTable.from_dict),
    Catalogue: cs.catalogue_configs().map(Catalogue.from_dict),
    Config: cs.config_file_configs().map(Config.from_dict),
    ClvFeatures: clv_strategies.clv_feature_extensions(),
    # The fitted customer-base models (crmkit.clv), all of them under their base class.
    Model: st.one_of(
        clv_strategies.bgnbd_models(),
        clv_strategies.mbgnbd_models(),
        clv_strategies.pareto_models(),
        clv_strategies.gamma_gamma_models(),
        clv_strategies.bgbb_models(),
    ),
}

# ================================================================ presets and documented examples


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


def _presets() -> list[tuple[str, Definition]]:
    found: list[tuple[str, Definition]] = [
        ("ValueModel.default()", ValueModel.default()),
        ("ValueModel.default(version=1)", ValueModel.default(version=1)),
        ("Lifecycle.five_stage()", Lifecycle.five_stage()),
        ("Lifecycle.five_stage(version=1)", Lifecycle.five_stage(version=1)),
        ("Lifecycle.b2b_funnel()", Lifecycle.b2b_funnel()),
        ("SegmentRules.positioning()", SegmentRules.positioning()),
        ("SegmentRules.recency_view()", SegmentRules.recency_view()),
        ("SegmentRules.value_tiers()", SegmentRules.value_tiers()),
        ("RFM()", RFM()),
        ("Config.from_toml(docs/assets/crm.toml)", Config.from_toml(DOCS / "assets" / "crm.toml")),
        ("Config().with_presets()", Config().with_presets()),
    ]
    classes: dict[str, type[Definition]] = {
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


def test_every_definition_class_is_covered() -> None:
    """A new Definition subclass must join GENERATED (and so these tests)."""
    declared = set()
    for path in SRC.rglob("*.py"):
        declared |= set(re.findall(r"^class (\w+)\(Definition\):", path.read_text(), re.M))
    assert declared == {cls.__name__ for cls in GENERATED}
    assert {type(x) for _, x in PRESETS} >= {EarningRules, TierTable, Catalogue}


# ================================================================ round trips


def _round_trips(x: Definition, fmt: str) -> None:
    cls = type(x)  # the concrete class (a clv model reads back as its own kind)
    if fmt == "dict":
        data = x.to_dict()
        assert cls.from_dict(data) == x
        assert cls.from_dict(data).to_dict() == data, "to_dict is stable"
    elif fmt == "toml":
        assert cls.from_toml(x.to_toml()) == x
    else:
        assert cls.from_json(x.to_json()) == x


FORMATS = ("dict", "toml", "json")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cls", list(GENERATED), ids=lambda c: c.__name__)
def test_generated_definitions_round_trip(cls: type[Definition], fmt: str) -> None:
    strategy = GENERATED[cls]

    @given(strategy)
    def check(x: Definition) -> None:
        _round_trips(x, fmt)

    check()


_CAMPAIGN = {"name": "spring", "start": "2025-03-01", "end": "2025-04-01", "bonus": "10"}


# to_dict() writes campaign windows as ISO 8601 text (JSON has no datetime; it once raised).
@pytest.mark.parametrize(
    "x",
    [
        EarningRules.from_dict({"campaigns": [_CAMPAIGN]}),
        Config.from_dict({"loyalty": {"earning": {"campaigns": [_CAMPAIGN]}}}),
    ],
    ids=["EarningRules", "Config"],
)
def test_definitions_with_campaigns_round_trip_through_json(x: Definition) -> None:
    _round_trips(x, "json")


def _preset_cases() -> Iterator[Any]:
    for name, x in PRESETS:
        for fmt in FORMATS:
            yield pytest.param(x, fmt, id=f"{name}-{fmt}")


@pytest.mark.parametrize(("x", "fmt"), list(_preset_cases()))
def test_presets_and_documented_examples_round_trip(x: Definition, fmt: str) -> None:
    _round_trips(x, fmt)


# ================================================================ duplicated keys


def _objects(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every non-empty JSON object in *value* with the key path ``from_json`` reports it by."""
    if isinstance(value, dict):
        if value:
            yield path, value
        for key, item in value.items():
            yield from _objects(item, f"{path}{key}.")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _objects(item, f"{path}{i}.")


def _iso(value: Any) -> str:
    return str(value.isoformat())  # campaign windows (EarningRules.to_dict gives datetimes)


def _json_with_duplicate(value: Any, target: dict[str, Any], key: str) -> str:
    """*value* as JSON text, with *key* of the object *target* written twice."""
    if isinstance(value, dict):
        pairs = [
            f"{json.dumps(k)}: {_json_with_duplicate(v, target, key)}" for k, v in value.items()
        ]
        if value is target:
            pairs.append(f"{json.dumps(key)}: {_json_with_duplicate(value[key], target, key)}")
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_with_duplicate(v, target, key) for v in value) + "]"
    return json.dumps(value, default=_iso)


def _from_json_refuses_duplicates(x: Definition, data: st.DataObject) -> None:
    cls = type(x)
    doc = x.to_dict()
    where, target = data.draw(st.sampled_from(list(_objects(doc))), label="object")
    key = data.draw(st.sampled_from(list(target)), label="key")
    text = _json_with_duplicate(doc, target, key)
    with pytest.raises(ConfigError) as caught:
        cls.from_json(text)
    assert f"{where}{key}" in [p.where for p in caught.value.problems], str(caught.value)
    assert "duplicate key" in str(caught.value)


def _one_line_pairs(lines: list[str]) -> list[int]:
    """The indices of the lines that are a whole ``key = value`` pair."""
    pairs = []
    for i, line in enumerate(lines):
        if " = " not in line or line.startswith("["):
            continue
        try:
            tomllib.loads(line)
        except tomllib.TOMLDecodeError:
            continue  # part of a value spread over several lines
        pairs.append(i)
    return pairs


def _toml_with_duplicate(text: str, data: st.DataObject) -> str:
    """*text* with one of its one-line ``key = value`` pairs written twice (same table)."""
    lines = text.splitlines()
    i = data.draw(st.sampled_from(_one_line_pairs(lines)), label="line")
    return "\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]]) + "\n"


def _from_toml_refuses_duplicates(x: Definition, data: st.DataObject) -> None:
    text = _toml_with_duplicate(x.to_toml(), data)
    with pytest.raises(ConfigError) as caught:
        type(x).from_toml(text)
    assert not isinstance(caught.value, tomllib.TOMLDecodeError)
    assert caught.value.__cause__ is None or isinstance(caught.value.__cause__, CrmkitError)
    assert "not valid TOML" in str(caught.value)
    assert "line" in str(caught.value)


DuplicateCheck = Callable[[Definition, st.DataObject], None]
DUPLICATES: dict[str, DuplicateCheck] = {
    "json": _from_json_refuses_duplicates,
    "toml": _from_toml_refuses_duplicates,
}


@pytest.mark.parametrize("fmt", list(DUPLICATES))
@pytest.mark.parametrize("cls", list(GENERATED), ids=lambda c: c.__name__)
def test_a_duplicated_key_is_refused(cls: type[Definition], fmt: str) -> None:
    @given(GENERATED[cls].filter(lambda x: bool(x.to_dict())), st.data())
    def check(x: Definition, data: st.DataObject) -> None:
        DUPLICATES[fmt](x, data)

    check()


@pytest.mark.parametrize(("name", "x"), PRESETS, ids=[n for n, _ in PRESETS])
def test_every_duplicated_key_of_the_presets_is_refused(name: str, x: Definition) -> None:
    """Exhaustively: each key of each object in JSON, each one-line pair in TOML, given twice."""
    cls = type(x)
    doc = x.to_dict()
    for where, target in _objects(doc):
        for key in target:
            with pytest.raises(ConfigError) as caught:
                cls.from_json(_json_with_duplicate(doc, target, key))
            assert f"{where}{key}" in [p.where for p in caught.value.problems]
    lines = x.to_toml().splitlines()
    for i in _one_line_pairs(lines):
        with pytest.raises(ConfigError, match="not valid TOML"):
            cls.from_toml("\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]]))


def test_a_duplicated_key_names_its_path() -> None:
    text = '{"model": {"name": "m", "version": "1", "name": "n"}, "components": {}}'
    with pytest.raises(ConfigError) as caught:
        ValueModel.from_json(text)
    assert [p.where for p in caught.value.problems] == ["model.name"]
    with pytest.raises(ConfigError) as caught:
        TierTable.from_toml('measure = "points"\nmeasure = "spend"\ntiers = []\n')
    assert "line 2" in str(caught.value)
