"""The one-file configuration (crmkit.config.Config) and `crmkit check-config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit as ck
from crmkit import EarningRules, Lifecycle, SegmentRules, TierTable, ValueModel
from crmkit.app import segment_column
from crmkit.app.cli import EXIT_OK, EXIT_USER, main
from crmkit.config import Config, score_transactions
from crmkit.errors import ConfigError
from crmkit.testing import strategies as cs

GOOD = """
[value.model]
name = "spend"
version = "1"
[value.components.spend]
formula = "total_spend"
weight = 0.01

[segments.size.segments.big]
rule = "total_spend >= 1000"

[segments.recency.rules]
mode = "exclusive"
default = "old"
[segments.recency.segments.recent]
rule = "days_since_last_purchase <= 30"

[lifecycle.lifecycle]
name = "two"
version = "1"
states = ["new", "repeat"]
initial = "new"
final = ["repeat"]
[lifecycle.transitions.again]
from = "new"
to = "repeat"
guard = "purchase_days >= 2"

[loyalty.earning]
rounding = "floor"
[loyalty.earning.base]
unit = 10.0
points_per_unit = 1

[loyalty.tiers]
measure = "spend"
tiers = [{name = "member", threshold = 0}, {name = "gold", threshold = 500}]
"""

BAD = """
[value.model]
name = "spend"
version = "1"
[value.components.spend]
formula = "total_spnd * 2"

[segments.size.segments.big]
rule = "total_spend >= "

[lifecycle.lifecycle]
name = "two"
version = "1"
states = ["new"]
initial = "nwe"

[loyalty.earning]
roundng = "floor"

[loyalty.tiers]
tiers = []

[extra]
x = 1
"""


def test_every_section_loads_and_each_also_loads_alone() -> None:
    config = Config.from_toml(GOOD)
    assert isinstance(config.value, ValueModel)
    assert set(config.segments) == {"size", "recency"}
    assert isinstance(config.lifecycle, Lifecycle)
    assert isinstance(config.earning, EarningRules)
    assert isinstance(config.tiers, TierTable)
    data = config.to_dict()
    assert ValueModel.from_dict(data["value"]) == config.value
    assert SegmentRules.from_dict(data["segments"]["size"]) == config.segments["size"]
    assert Lifecycle.from_dict(data["lifecycle"]) == config.lifecycle
    assert EarningRules.from_dict(data["loyalty"]["earning"]) == config.earning
    assert TierTable.from_dict(data["loyalty"]["tiers"]) == config.tiers


def test_every_problem_of_every_section_at_once_under_its_key(tmp_path: Path) -> None:
    path = tmp_path / "crm.toml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as exc:
        Config.load(path)
    err = exc.value
    assert err.source == str(path)
    wheres = [p.where for p in err.problems]
    assert "extra" in wheres
    assert "value.components.spend.formula" in wheres
    assert "segments.size.segments.big.rule" in wheres
    assert any(w.startswith("lifecycle.lifecycle.") for w in wheres)
    assert "loyalty.earning.roundng" in wheres
    assert "loyalty.tiers.tiers" in wheres
    formula = next(p for p in err.problems if p.where == "value.components.spend.formula")
    assert formula.position == 0
    assert str(path) in str(err)


def test_absent_sections_fall_back_to_presets_only_when_asked() -> None:
    empty = Config.from_dict({})
    assert empty.value is None
    assert empty.lifecycle is None
    assert not empty.segments
    filled = empty.with_presets()
    assert filled.value == ValueModel.default()
    assert filled.lifecycle == Lifecycle.five_stage()


def test_json_and_toml_give_the_same_configuration(tmp_path: Path) -> None:
    import json

    config = Config.from_toml(GOOD)
    path = tmp_path / "crm.json"
    path.write_text(json.dumps(config.to_dict()))
    assert Config.load(path) == config


_COLUMNS = ["total_spend", "purchase_days"]


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data["value"] = draw(cs.value_model_configs())
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=2))
        data["segments"] = {
            n: draw(cs.segment_rule_configs(columns=_COLUMNS, max_segments=3)) for n in names
        }
    if draw(st.booleans()):
        data["lifecycle"] = draw(cs.lifecycle_configs({"x": "number"}, max_states=3))
    loyalty: dict[str, Any] = {}
    if draw(st.booleans()):
        loyalty["earning"] = {
            "base": {"unit": draw(st.floats(0.5, 100)), "points_per_unit": draw(st.floats(0, 5))},
            "referral": {"referrer": draw(st.integers(0, 500))},
        }
    if draw(st.booleans()):
        steps = draw(st.lists(st.floats(1, 1e6), min_size=0, max_size=3, unique=True))
        loyalty["tiers"] = {
            "tiers": [
                {"name": f"t{i}", "threshold": t} for i, t in enumerate([0.0, *sorted(steps)])
            ]
        }
    if loyalty:
        data["loyalty"] = loyalty
    return data


@settings(max_examples=40, deadline=None)
@given(configs())
def test_a_configuration_round_trips(data: dict[str, Any]) -> None:
    config = Config.from_dict(data)
    again = Config.from_dict(config.to_dict())
    assert again == config
    assert again.to_dict() == config.to_dict()


# ---------------------------------------------------------------- check-config


def test_check_config_ok_prints_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "crm.toml"
    path.write_text(GOOD)
    assert main(["check-config", str(path)]) == EXIT_OK
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"{path}: OK")


def test_check_config_reports_every_problem_with_file_key_and_caret(tmp_path: Path, capsys) -> None:
    path = tmp_path / "crm.toml"
    path.write_text(BAD)
    assert main(["check-config", str(path)]) == EXIT_USER
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err
    assert f"{path}: value.components.spend.formula, column 1: unknown name 'total_spnd'" in err
    assert "    total_spnd * 2\n    ^" in err
    assert f"{path}: loyalty.earning.roundng: unknown key" in err
    assert f"{path}: extra: unknown key" in err


def test_check_config_on_a_missing_file_or_bad_toml_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["check-config", str(tmp_path / "nope.toml")]) == EXIT_USER
    bad = tmp_path / "bad.toml"
    bad.write_text("[value\n")
    assert main(["check-config", str(bad)]) == EXIT_USER
    err = capsys.readouterr().err
    assert "cannot read the file" in err
    assert "not valid TOML" in err
    assert "Traceback" not in err


def test_an_unknown_key_in_a_section_is_reported_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        Config.from_toml(BAD)
    assert [p.where for p in exc.value.problems].count("loyalty.earning.roundng") == 1
    assert not any("earning rules" in p.where for p in exc.value.problems)


def test_the_frame_job_and_one_customer_at_a_time_agree() -> None:
    """The notebook path (score_transactions) equals the app path (features_one + *_one)."""
    import pandas as pd

    from crmkit import Purchase, activity_frames, features_one
    from crmkit.app import synthetic_base
    from crmkit.domain import InMemoryActivityRepository

    base = synthetic_base(seed=11)
    purchases = [a for a in base.activities if isinstance(a, Purchase)]
    tx = activity_frames(purchases).transactions
    config = Config.load(Path(__file__).parents[1] / "docs" / "assets" / "crm.toml")
    # And a multi-label set: one boolean column per segment in the job's output.
    data = config.to_dict()
    data["segments"]["habits"] = {
        "segments": {
            "frequent": {"rule": "purchase_days >= quantile(purchase_days, 0.5)"},
            "big": {"rule": "total_spend >= 5000"},
        }
    }
    config = Config.from_dict(data)
    result = score_transactions(tx, config, as_of=base.as_of)
    fitted = config.fit(result.scores)
    repo = InMemoryActivityRepository()
    repo.append_many(purchases)
    start, end = result.period
    assert fitted.value is not None
    assert fitted.lifecycle is not None
    assert fitted.earning is not None
    assert fitted.tiers is not None
    for cid, row in result.scores.iterrows():
        mine = repo.for_customer(str(cid))
        feats = features_one(mine, as_of=base.as_of)
        score = fitted.value.score_one(feats)
        assert score.value == pytest.approx(row["value"], rel=1e-12)
        values = {**feats, "value": score.value}
        for name, rules in fitted.segments.items():
            label = rules.assign_one(values)
            if isinstance(label, str):
                assert label == row[segment_column(name)]
            else:
                held = [s.name for s in rules.segments if row[segment_column(name, s.name)]]
                assert tuple(held) == label
        steps = fitted.lifecycle.replay_one(mine, customer_id=str(cid), as_of=base.as_of)
        assert steps[-1].stage == row["stage"]
        # points, one purchase at a time, and the tier from the table's history
        awards = [
            (p.occurred_at, sum(fitted.earning.points(float(p.amount), at=p.occurred_at).values()))
            for p in mine
            if start <= p.occurred_at < end
        ]
        assert sum(points for _, points in awards) == row["points"]
        history = fitted.tiers.history(
            [(at, float(points)) for at, points in awards], until=base.as_of
        )
        if fitted.tiers.measure == "points":
            assert fitted.tiers.tier_at(history, base.as_of) == row["tier"]
    assert isinstance(result.scores, pd.DataFrame)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), day=st.integers(0, 400), hour=st.integers(0, 23))
def test_the_jobs_stage_is_stepping_each_customer_month_by_month(
    seed: int, day: int, hour: int
) -> None:
    from crmkit.app import synthetic_transactions

    tx = synthetic_transactions(400, 30, seed=seed, start="2024-01-01", end="2025-03-31")
    as_of = pd.Timestamp("2024-02-01", tz="UTC") + pd.Timedelta(days=day, hours=hour)
    result = score_transactions(tx, Config(), as_of=as_of, date="date")
    lc = Lifecycle.five_stage()
    for customer_id, rows in tx.groupby("customer_id"):
        stage: str | None = None
        first = rows["date"].min().tz_localize("UTC")
        if first > as_of:
            continue
        month = first.tz_localize(None).to_period("M")
        while True:
            end = min(month.end_time.tz_localize("UTC"), as_of)
            feats = ck.features(rows, as_of=end, date="date")
            if len(feats):
                stage = lc.step(stage or lc.initial, feats.iloc[0], at=end).stage
            if end >= as_of:
                break
            month += 1
        assert result.scores.loc[customer_id, "stage"] == stage, customer_id


def test_the_jobs_tier_is_the_tier_tables_history_of_each_customer() -> None:
    from datetime import UTC

    from crmkit.app import synthetic_transactions

    tx = synthetic_transactions(3_000, 200, seed=8, start="2023-01-01", end="2025-03-31")
    config = Config.from_dict(
        {
            "loyalty": {
                "earning": {"base": {"unit": 10.0}},
                "tiers": {
                    "measure": "points",
                    "window_days": 180,
                    "evaluation_months": 3,
                    "grace_days": 20,
                    "tiers": [
                        {"name": "member", "threshold": 0},
                        {"name": "silver", "threshold": 100},
                        {"name": "gold", "threshold": 400},
                    ],
                },
            }
        }
    )
    as_of = pd.Timestamp("2025-02-10", tz="UTC")
    since = as_of - pd.Timedelta(days=700)
    scores = score_transactions(tx, config, as_of=as_of, since=since, date="date").scores
    table, rules = config.tiers, config.earning
    assert table is not None
    assert rules is not None
    rows = rules.points_frame(tx, start=since, end=as_of, date="date")
    for cid, mine in rows.groupby("customer_id"):
        events = [
            (t.to_pydatetime().replace(tzinfo=UTC), float(p))
            for t, p in zip(mine["date"], mine["points"], strict=True)
        ]
        expected = table.tier_at(table.history(events, until=as_of), as_of)
        assert scores.loc[cid, "tier"] == expected, cid
    assert scores["tier"].nunique() > 1  # the check means something
