"""Segment rules: worked examples, presets, fitting, and every kind of bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmkit.domain import Purchase
from crmkit.errors import ConfigError, FrameError, MissingColumnError, ValidationError
from crmkit.segmentation import (
    NotFittedError,
    Segment,
    SegmentRules,
    guest_purchases,
    movement,
)


def feats() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "total_spend": [1200.0, 80.0, 300.0, 20.0, np.nan],
            "purchase_count": [12, 1, 2, 1, 0],
            "purchase_days": [10, 1, 2, 1, 0],
            "monthly_frequency": [0.5, 1.0, 0.2, 0.1, 0.0],
            "tenure_months": [30.0, 0.5, 6.0, 14.0, np.nan],
            "days_since_last_purchase": [10.0, 15.0, 120.0, 400.0, np.nan],
            "complaint_count": [0, 1, 0, 2, 0],
            "complaints_high": [0, 0, 0, 1, 0],
            "complaints_critical": [0, 0, 0, 0, 0],
            "value": [90.0, 10.0, 30.0, 5.0, np.nan],
        },
        index=pd.Index(["ann", "bo", "cy", "di", "ed"], name="customer_id"),
    )


# ---------------------------------------------------------------- assigning


def test_multi_label_assignment() -> None:
    rules = SegmentRules(
        [
            Segment("big", "total_spend >= quantile(total_spend, 0.5)"),
            Segment("complainer", "complaint_count >= 1"),
        ]
    ).fit(feats())
    assert dict(rules.thresholds or {}) == {"quantile(total_spend, 0.5)": 190.0}
    out = rules.assign(feats())
    assert out["big"].tolist() == [True, False, True, False, False]
    assert out["complainer"].tolist() == [False, True, False, True, False]
    assert out["segments"].tolist() == [("big",), ("complainer",), ("big",), ("complainer",), ()]
    assert out["big"].dtype == bool


def test_exclusive_assignment_by_priority_with_default_and_null() -> None:
    rules = SegmentRules(
        [
            Segment("active", "days_since_last_purchase <= 90"),
            Segment("vip", "value >= 50", priority=10),
        ],
        mode="exclusive",
        default="other",
    )
    out = rules.assign(feats())
    assert out["segment"].tolist() == ["vip", "active", "other", "other", "other"]
    assert list(out["segment"].cat.categories) == ["vip", "active", "other"]
    assert rules.labels == ("vip", "active", "other")
    # null does not match, on both paths
    assert rules.assign_one({"days_since_last_purchase": None, "value": None}) == "other"


def test_population_statistics_are_frozen_by_fit() -> None:
    rules = SegmentRules([Segment("above", "value >= mean(value)")])
    fitted = rules.fit(feats())
    assert fitted.thresholds == {"mean(value)": 33.75}  # the null is skipped
    assert fitted.rule("above").text == "value >= 33.75"
    # the app scores one customer with the notebook's thresholds
    again = SegmentRules.from_toml(fitted.to_toml())
    assert again.assign_one({"value": 40.0}) == ("above",)
    assert again.assign_one({"value": 30.0}) == ()


def test_all_statistics() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, np.nan]})
    rules = SegmentRules(
        [
            Segment("a", "x >= median(x)"),
            Segment("b", "x > mean(x) + std(x)"),
            Segment("c", "x == min_of(x) or x == max_of(x)"),
            Segment("d", "x <= quantile(x * 10, 0.25) / 10"),
        ],
        inputs={"x": "number"},
    ).fit(frame)
    assert rules.thresholds == {
        "median(x)": 2.5,
        "mean(x)": 2.5,
        "std(x)": pytest.approx(1.118033988749895),
        "min_of(x)": 1.0,
        "max_of(x)": 4.0,
        "quantile(x * 10, 0.25)": 17.5,
    }
    out = rules.assign(frame)
    assert out["segments"].tolist() == [("c", "d"), (), ("a",), ("a", "b", "c"), ()]


def test_unfitted_statistics_raise_a_clear_error() -> None:
    rules = SegmentRules([Segment("top", "value >= quantile(value, 0.9)")])
    assert not rules.is_fitted
    with pytest.raises(NotFittedError, match=r"quantile\(value, 0.9\)") as err:
        rules.assign(feats())
    assert "rules.fit(frame)" in str(err.value)
    with pytest.raises(NotFittedError):
        rules.assign_one({"value": 1.0})
    with pytest.raises(NotFittedError):
        rules.explain_one({"value": 1.0})


def test_rules_without_statistics_need_no_fit() -> None:
    rules = SegmentRules([Segment("a", "value > 1")])
    assert rules.is_fitted
    assert rules.fit(feats()) == rules


def test_empty_frames_give_empty_results() -> None:
    empty = feats().iloc[:0]
    multi = SegmentRules.positioning().drop("member").fit(empty)
    assert all(v is None for v in (multi.thresholds or {}).values())
    out = multi.assign(empty)
    assert len(out) == 0
    assert list(out.columns) == [*multi.names, "segments"]
    # a null threshold is saved and read back
    assert SegmentRules.from_toml(multi.to_toml()) == multi
    assert SegmentRules.from_json(multi.to_json()) == multi
    tiers = SegmentRules.value_tiers().fit(empty).assign(empty)
    assert len(tiers) == 0
    assert list(tiers["segment"].cat.categories) == ["high", "medium", "low"]
    # a null threshold never matches
    assert multi.assign_one(feats().iloc[1].to_dict()) == ("complaint",)


def test_explain_one() -> None:
    rules = SegmentRules(
        [
            Segment("big", "total_spend >= quantile(total_spend, 0.5)"),
            Segment("c", "complaint_count >= 1"),
        ]
    ).fit(feats())
    explanation = rules.explain_one({"total_spend": 500.0, "complaint_count": None})
    assert explanation.segments == ("big",)
    assert [(r.segment, r.held) for r in explanation.results] == [("big", True), ("c", None)]
    assert explanation.results[0].fitted == "total_spend >= 190"
    assert dict(explanation.results[0].inputs) == {"total_spend": 500.0}
    text = str(explanation)
    assert "null c: complaint_count >= 1" in text
    assert "as written: total_spend >= quantile(total_spend, 0.5)" in text


# ---------------------------------------------------------------- presets


def test_positioning_preset() -> None:
    frame = feats()
    frame["is_member"] = [True, False, None, False, True]
    frame["guest_purchases"] = [0.0, 0.0, 0.0, 3.0, 1.0]
    rules = SegmentRules.positioning().fit(frame)
    out = rules.assign(frame)
    assert out["segments"].tolist() == [
        ("old", "member"),  # a long tenure, but not frequent enough to be big
        ("complaint",),  # one purchase, below the 0.8 quantile of spend per purchase
        ("potential",),  # member is null: not a member
        ("potential", "complaint", "complaint_severe"),
        ("potential", "member"),
    ]


def test_positioning_guest_purchases_defaults_to_zero() -> None:
    rules = SegmentRules.positioning().drop("member").fit(feats())
    assert "guest_purchases" not in feats().columns
    out = rules.assign(feats())
    assert out.loc["ed", "segments"] == ()
    assert rules.assign_one(feats().loc["ed"].to_dict()) == ()
    assert rules.assign_one({**feats().loc["ed"].to_dict(), "guest_purchases": 2.0}) == (
        "potential",
    )


def test_positioning_thresholds_can_change() -> None:
    rules = SegmentRules.positioning(top=0.9, old_tenure_months=36)
    assert "quantile(total_spend, 0.9)" in rules.statistics
    assert "tenure_months >= 36" in rules.rule("old").text


def test_member_needs_profile_columns() -> None:
    with pytest.raises(MissingColumnError) as err:
        SegmentRules.positioning().fit(feats()).assign(feats())
    assert "profile_frame" in str(err.value)
    assert "rules.drop('member')" in str(err.value)


def test_recency_view() -> None:
    out = SegmentRules.recency_view().assign(feats())
    assert out["segment"].tolist() == ["active", "new", "lapsed", "churned", "no_purchase"]
    custom = SegmentRules.recency_view(new_days=10, active_days=200)
    assert custom.assign(feats())["segment"].tolist() == [
        "active",
        "active",
        "active",
        "churned",
        "no_purchase",
    ]


def test_value_tiers() -> None:
    tiers = SegmentRules.value_tiers().fit(feats())
    assert tiers.assign(feats())["segment"].tolist() == ["high", "low", "medium", "low", "low"]
    assert SegmentRules.value_tiers(column="total_spend").statistics == (
        "quantile(total_spend, 0.8)",
        "quantile(total_spend, 0.5)",
    )


def test_guest_purchases_helper() -> None:
    when = datetime(2025, 5, 1, tzinfo=UTC)
    purchases = [
        Purchase(id="p1", customer_id="a", occurred_at=when, amount=10, currency="EUR", guests={"b", "c"}),
        Purchase(id="p2", customer_id="a", occurred_at=when, amount=10, currency="EUR", guests={"b"}),
        Purchase(
            id="p3", customer_id="a", occurred_at=datetime(2025, 7, 1, tzinfo=UTC), amount=10,
            currency="EUR", guests={"c"},
        ),
    ]  # fmt: skip
    counts = guest_purchases(purchases, as_of="2025-06-01")
    assert counts.to_dict() == {"b": 2.0, "c": 1.0}
    assert guest_purchases([], as_of="2025-06-01").empty
    with pytest.raises(ValidationError):
        guest_purchases("p1", as_of="2025-06-01")


# ---------------------------------------------------------------- bad input


def _problems(err: pytest.ExceptionInfo[ConfigError]) -> list[tuple[str, str]]:
    return [(p.where, p.message) for p in err.value.problems]


def test_unknown_feature_names_suggest_the_right_one() -> None:
    with pytest.raises(ConfigError) as err:
        SegmentRules.from_dict(
            {"segments": {"big": {"rule": "total_spnd > 1"}, "ok": {"rule": "value > 1"}}}
        )
    (problem,) = err.value.problems
    assert problem.where == "segments.big.rule"
    assert problem.position == 0
    assert problem.hint is not None
    assert "total_spend" in problem.hint


def test_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        SegmentRules.from_dict(
            {
                "rules": {"mode": "exclusive", "colour": "red"},
                "segments": [
                    {"name": "a", "rule": "total_spend + 1"},
                    {"name": "a", "rule": "value > 1"},
                    {"name": "segments", "rule": "value > 1"},
                    {"name": "c", "rule": "value > mean(2)"},
                    {"name": "d", "rule": "value > quantile(value, 1.5)"},
                    {"name": "e", "rule": "value > mean(value - mean(value))"},
                    {"name": "f", "rule": 3},
                    {"name": "g", "rule": "value > 1", "priority": "high"},
                    {"rule": "value > 1"},
                ],
                "inputs": {"x": "decimal"},
            }
        )
    got = _problems(err)
    wheres = [w for w, _ in got]
    assert "rules.colour" in wheres
    assert "rules.default" in wheres
    assert ("segments[0] ('a').rule", "a rule must give a bool, this gives a number") in got
    assert any(w == "segments[1] ('a')" and "duplicate" in m for w, m in got)
    assert any(w == "segments[2] ('segments')" and "output column" in m for w, m in got)
    assert any(w == "segments[3] ('c').rule" and "needs a column" in m for w, m in got)
    assert any(w == "segments[4] ('d').rule" and "between 0 and 1" in m for w, m in got)
    assert any(w == "segments[5] ('e').rule" and "another population" in m for w, m in got)
    assert "segments[6].rule" in wheres
    assert "segments[7].priority" in wheres
    assert "segments[8].name" in wheres
    assert "inputs.x" in wheres
    positions = {p.where: p.position for p in err.value.problems}
    assert positions["segments[3] ('c').rule"] == 8


def test_duplicate_names_from_python() -> None:
    with pytest.raises(ConfigError, match="duplicate segment name 'a'"):
        SegmentRules([Segment("a", "value > 1"), Segment("a", "value > 2")])


def test_default_only_in_exclusive_mode() -> None:
    with pytest.raises(ConfigError, match="exclusive mode only"):
        SegmentRules([Segment("a", "value > 1")], default="other")
    with pytest.raises(ConfigError, match="also the default"):
        SegmentRules([Segment("a", "value > 1")], mode="exclusive", default="a")
    with pytest.raises(ConfigError, match="'multi' or 'exclusive'"):
        SegmentRules([Segment("a", "value > 1")], mode="both")


def test_no_segments() -> None:
    with pytest.raises(ConfigError, match="at least one segment"):
        SegmentRules([])
    with pytest.raises(ConfigError, match="segments: missing"):
        SegmentRules.from_dict({"rules": {"name": "x"}})


def test_thresholds_problems() -> None:
    fitted = SegmentRules([Segment("a", "value > mean(value)")]).fit(feats()).to_dict()
    fitted["thresholds"]["mean(valu)"] = 1.0
    fitted["thresholds"]["mean(value)"] = "high"
    with pytest.raises(ConfigError) as err:
        SegmentRules.from_dict(fitted)
    got = _problems(err)
    assert ("thresholds.mean(valu)", "no rule uses this population statistic") in got
    assert any(w == "thresholds.mean(value)" for w, _ in got)
    with pytest.raises(ConfigError, match="missing the fitted value of mean"):
        SegmentRules.from_dict({**fitted, "thresholds": {}})


def test_bad_sources() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        SegmentRules.from_toml("[segments.a\nrule = 1")
    with pytest.raises(ConfigError, match="not valid JSON"):
        SegmentRules.from_json("{")
    assert SegmentRules.from_json(json.dumps({"segments": {"a": {"rule": "value > 1"}}})).names == (
        "a",
    )


def test_bad_frames_and_values() -> None:
    rules = SegmentRules([Segment("a", "total_spend > 1")])
    with pytest.raises(ValidationError):
        rules.assign({"total_spend": [1.0]})  # type: ignore[arg-type]
    with pytest.raises(MissingColumnError, match="total_spend"):
        rules.assign(pd.DataFrame({"total_spnd": [1.0]}))
    with pytest.raises(FrameError):
        rules.assign(pd.DataFrame({"total_spend": ["a lot"]}))
    with pytest.raises(ValidationError, match="total_spend"):
        rules.assign_one({"value": 1.0})
    with pytest.raises(ValidationError):
        rules.assign_one([1.0])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="names of segments"):
        rules.drop("b")
    with pytest.raises(ValidationError):
        rules.rule("b")


def test_many_segments_in_multi_mode() -> None:
    segments = [Segment(f"s{i}", f"value >= {i}") for i in range(70)]
    out = SegmentRules(segments).assign(pd.DataFrame({"value": [0.0, 69.0, np.nan, 3.0]}))
    assert out["segments"].tolist()[0] == ("s0",)
    assert len(out["segments"].tolist()[1]) == 70
    assert out["segments"].tolist()[2] == ()
    assert out["segments"].tolist()[3] == ("s0", "s1", "s2", "s3")


# ---------------------------------------------------------------- movement


def test_movement_between_two_quarters() -> None:
    tiers = SegmentRules.value_tiers()
    q1 = feats()
    q2 = feats().assign(value=[10.0, 95.0, 30.0, 5.0, 1.0]).drop(index="di")
    fitted = tiers.fit(q1)
    mv = movement(fitted.assign(q1)["segment"], fitted.assign(q2)["segment"])
    assert list(mv.matrix.index) == ["high", "medium", "low", "(none)"]
    assert int(mv.matrix.to_numpy().sum()) == 5
    assert mv.matrix.loc["high", "low"] == 1
    assert mv.matrix.loc["low", "high"] == 1
    assert mv.matrix.loc["low", "(none)"] == 1
    assert sorted(mv.moved.index) == ["ann", "bo", "di"]
    assert list(mv.between("low", "high")) == ["bo"]


def test_movement_bad_input() -> None:
    s = pd.Series({"a": "x"})
    with pytest.raises(ValidationError, match="assign"):
        movement(pd.DataFrame({"segment": ["x"]}), s)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        movement(["x"], s)  # type: ignore[arg-type]
    with pytest.raises(FrameError, match="more than once"):
        movement(pd.Series(["x", "y"], index=["a", "a"]), s)
    empty = movement(pd.Series([], dtype=object), pd.Series([], dtype=object))
    assert empty.matrix.shape == (1, 1)
    assert empty.moved.empty


def test_json_duplicate_segment_names(tmp_path: Path) -> None:
    text = '{"segments": {"a": {"rule": "value > 1"}, "b": {"rule": "value > 1"}, "a": {"rule": "value > 2"}}}'
    with pytest.raises(ConfigError, match=r"segments\.a: duplicate key 'a'"):
        SegmentRules.from_json(text)
    path = tmp_path / "rules.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key"):
        SegmentRules.from_json(path)
    with pytest.raises(ConfigError, match="duplicate key"):
        SegmentRules.from_json(str(path))
    assert SegmentRules.from_json(
        text.replace('"a": {"rule": "value > 2"}', '"c": {"rule": "value > 2"}')
    ).names == (
        "a",
        "b",
        "c",
    )


def test_a_label_separator_in_a_segment_name_is_refused() -> None:
    from crmkit.errors import ConfigError
    from crmkit.segmentation import SegmentRules

    with pytest.raises(ConfigError, match="may not contain ';'") as caught:
        SegmentRules.from_dict(
            {
                "rules": {"mode": "exclusive", "default": "a;b"},
                "segments": {"vip;gold": {"rule": "total_spend > 1"}},
            }
        )
    assert [p.where for p in caught.value.problems] == ["rules.default", "segments.vip;gold"]
