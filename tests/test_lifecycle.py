"""Lifecycle definitions, stepping, classifying and replaying."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit as ck
from crmkit.app import synthetic_transactions
from crmkit.errors import ConfigError, FrameError, MissingColumnError, ValidationError
from crmkit.lifecycle import ChurnWarning, Lifecycle, replay
from crmkit.lifecycle._replay import REPLAY_INPUTS
from crmkit.testing import strategies as cks

AT = datetime(2025, 1, 31, tzinfo=UTC)


def _wheres(err: ConfigError) -> list[str]:
    return [p.where for p in err.problems]


# ---------------------------------------------------------------- definitions


def test_every_problem_of_a_definition_is_reported_at_once() -> None:
    config = {
        "lifecycle": {
            "name": "broken",
            "version": "1",
            "states": ["a", "b", "c", "island", "stuck"],
            "initial": "a",
            "final": ["c"],
        },
        "transitions": {
            "ab": {"from": "a", "to": "b", "guard": "purchase_days >= 2", "priority": 1},
            "ab2": {"from": "a", "to": "stuck", "guard": "purchase_days >= 3", "priority": 1},
            "bc": {"from": ["b", "zz"], "to": "c", "guard": "purchase_cnt > 1"},
            "island_out": {"from": "island", "to": "a", "guard": "age > 1"},
            "back": {"from": "c", "to": "a", "guard": "age > 1", "priority": 4},
            "num": {"from": "b", "to": "a", "guard": "age + 1", "priority": 2},
        },
    }
    with pytest.raises(ConfigError) as info:
        Lifecycle.from_dict(config)
    wheres = _wheres(info.value)
    text = str(info.value)
    assert "transitions.bc.guard" in wheres  # the formula, with its position
    assert any(p.position == 0 for p in info.value.problems if p.where == "transitions.bc.guard")
    assert "transitions.bc.from[1]" in wheres
    assert "unknown state 'zz'" in text
    assert "transitions.ab2.priority" in wheres
    assert "priority 1" in text
    assert "transitions.back.from[0]" in wheres
    assert "final state" in text
    assert "transitions.num.guard" in wheres
    assert "True or False" in text
    assert "lifecycle.states[3]" in wheres
    assert "'island' cannot be reached" in text
    assert "lifecycle.states[4]" in wheres
    assert "'stuck' is not final" in text


def test_unknown_keys_and_bad_types_are_named_by_path() -> None:
    with pytest.raises(ConfigError) as info:
        Lifecycle.from_dict(
            {
                "lifecycle": {"name": "x", "version": "1", "states": ["a"], "initial": "b"},
                "transitions": {"t": {"form": "a", "to": "a", "guard": "age > 1", "priority": "1"}},
            }
        )
    text = str(info.value)
    assert "transitions.t.form: unknown key (did you mean 'from'?)" in text
    assert "transitions.t.from: missing (required)" in text
    assert "transitions.t.priority: expected an integer" in text
    assert "lifecycle.initial: unknown state 'b'" in text


def test_presets_round_trip_through_dict_toml_and_json(tmp_path: Any) -> None:
    for lc in (Lifecycle.five_stage(), Lifecycle.b2b_funnel()):
        assert Lifecycle.from_dict(lc.to_dict()) == lc
        assert Lifecycle.from_json(lc.to_json()) == lc
        path = tmp_path / f"{lc.name}.json"
        path.write_text(lc.to_json(), encoding="utf-8")
        assert Lifecycle.from_json(str(path)) == lc


def test_a_definition_loads_from_a_toml_file(tmp_path: Any) -> None:
    path = tmp_path / "lc.toml"
    path.write_text(
        '[lifecycle]\nname = "t"\nversion = 2\nstates = ["a", "b"]\ninitial = "a"\n'
        'final = ["b"]\n[transitions.go]\nfrom = "a"\nto = "b"\nguard = "purchase_count > 0"\n',
        encoding="utf-8",
    )
    lc = Lifecycle.from_toml(str(path))
    assert (lc.version, lc.finals, lc.transitions[0].priority) == ("2", frozenset({"b"}), 1)


def test_mermaid_lists_every_edge() -> None:
    lc = Lifecycle.five_stage()
    text = lc.to_mermaid()
    assert text.splitlines()[0] == "stateDiagram-v2"
    edges = sum(len(t.sources) for t in lc.transitions)
    assert text.count(" --> ") == edges + 1  # plus the initial arrow


# ---------------------------------------------------------------- stepping


TINY = Lifecycle.from_dict(
    {
        "lifecycle": {"name": "tiny", "version": "1", "states": ["a", "b", "c"], "initial": "a"},
        "inputs": {"x": "number"},
        "transitions": {
            "to_b": {"from": "a", "to": "b", "guard": "x > 1", "priority": 2},
            "to_c": {"from": "a", "to": "c", "guard": "x > 5", "priority": 1},
            "back": {"from": ["b", "c"], "to": "a", "guard": "x < 0"},
        },
    }
)


def test_the_lowest_priority_number_whose_guard_holds_fires() -> None:
    assert TINY.step("a", {"x": 9.0}, at=AT).stage == "c"
    assert TINY.step("a", {"x": 3.0}, at=AT).stage == "b"
    step = TINY.step("a", {"x": 0.0}, at=AT)
    assert step.stage == "a"
    assert step.transition is None


def test_a_null_guard_is_false_and_the_stage_stays() -> None:
    assert TINY.step("a", {"x": None}, at=AT).stage == "a"
    assert TINY.step("b", {"x": math.nan}, at=AT).stage == "b"


def test_the_record_says_what_fired_when_and_on_what() -> None:
    step = TINY.step("b", {"x": -1, "y": 4}, at="2025-01-31T08:00+08:00", customer_id="ann")
    t = step.transition
    assert t is not None
    assert (t.customer_id, t.from_stage, t.to_stage, t.transition) == ("ann", "b", "a", "back")
    assert t.at == AT
    assert dict(t.inputs) == {"x": -1.0}
    assert (t.lifecycle, t.version) == ("tiny", "1")


def test_derived_inputs_are_computed_and_recorded() -> None:
    lc = Lifecycle.five_stage()
    feats = {
        "purchase_days": 3,
        "days_since_last_purchase": 400.0,
        "repeat_span": 60.0,
        "repeat_purchases": 2,
        "tenure_months": 3.0,
        "spend_last_3m": 0.0,
        "spend_prev_3m": 10.0,
    }
    step = lc.step("growth", feats, at=AT, customer_id="c")
    assert step.stage == "departed"
    assert step.transition is not None
    assert step.transition.inputs["usual_gap_days"] == 30.0


def test_bad_stage_and_time_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="did you mean 'growth'"):
        Lifecycle.five_stage().step("grwoth", {}, at=AT)
    with pytest.raises(ValidationError, match="at is invalid"):
        TINY.step("a", {"x": 1.0}, at="01/01/2025")  # ISO 8601 only
    # A naive `at` follows the as_of rule (taken as UTC), like a date or ISO text.
    naive = TINY.step("a", {"x": 1.0}, at=datetime(2025, 1, 1))
    assert naive == TINY.step("a", {"x": 1.0}, at="2025-01-01")
    with pytest.raises(ValidationError, match="'x'"):
        TINY.step("a", {"y": 1.0}, at=AT)


def test_the_b2b_funnel_steps_on_declared_inputs() -> None:
    lc = Lifecycle.b2b_funnel()
    values = {"fit_score": 70.0, "days_inactive": 3.0}
    assert lc.step("lead", values, at=AT).stage == "qualified"
    assert lc.step("lead", {**values, "days_inactive": 120.0}, at=AT).stage == "lost"
    assert lc.step("lost", {}, at=AT).stage == "lost"  # final: nothing leaves it


# ---------------------------------------------------------------- classify == step


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_classify_is_exactly_the_step_of_every_row(data: st.DataObject) -> None:
    schema = data.draw(cks.formula_schemas(min_size=1, max_size=3))
    config = data.draw(cks.lifecycle_configs(schema))
    lc = Lifecycle.from_dict(config)
    frame, rows = data.draw(cks.formula_frames(schema, max_rows=10))
    current = data.draw(
        st.lists(st.sampled_from(lc.states), min_size=len(rows), max_size=len(rows))
    )
    out = lc.classify(frame, current=current)
    assert list(out.index) == list(frame.index)
    for row, stage, got, fired in zip(rows, current, out["stage"], out["transition"], strict=True):
        expected, name = lc.next_stage(stage, row)
        assert got == expected
        assert (None if pd.isna(fired) else fired) == name
        assert lc.step(stage, row, at=AT).stage == expected


def test_classify_reads_a_column_or_starts_everyone_at_the_initial_state() -> None:
    frame = pd.DataFrame({"x": [9.0, 3.0, None], "now": ["a", "b", "b"]}, index=[5, 6, 7])
    assert list(TINY.classify(frame)["stage"]) == ["c", "b", "a"]
    assert list(TINY.classify(frame, current="now")["stage"]) == ["c", "b", "b"]


def test_classify_names_bad_stages_and_missing_columns() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=["p", "q"])
    with pytest.raises(FrameError) as info:
        TINY.classify(frame, current=["a", "zz"])
    assert info.value.rows == ("q",)
    with pytest.raises(MissingColumnError):
        TINY.classify(pd.DataFrame({"y": [1.0]}))
    with pytest.raises(FrameError, match="wrong length"):
        TINY.classify(frame, current=["a"])


# ---------------------------------------------------------------- replay


#: A definition whose guards read every input replay computes.
EVERYTHING = Lifecycle.from_dict(
    {
        "lifecycle": {
            "name": "everything",
            "version": "1",
            "states": ["s0", "s1", "s2", "s3"],
            "initial": "s0",
        },
        "transitions": {
            "a": {
                "from": "s0",
                "to": "s1",
                "guard": "purchase_days >= 2 and repeat_avg_spend > 20 and active_months >= 2",
                "priority": 1,
            },
            "b": {
                "from": ["s0", "s1"],
                "to": "s2",
                "guard": "spend_last_3m > spend_prev_3m and monthly_frequency > 0.5"
                " and total_spend - refund_total > 60",
                "priority": 2,
            },
            "c": {
                "from": ["s1", "s2"],
                "to": "s3",
                "guard": "days_since_last_purchase > 2 * usual_gap_days or tenure_months > 9"
                " and repeat_span < age and monthly_avg_spend < 40",
                "priority": 1,
            },
            "d": {
                "from": ["s3", "s2"],
                "to": "s0",
                "guard": "purchase_count > 12 and recency_ratio < 1 and spend_trend > 1"
                " or repeat_purchases > 15",
                "priority": 3,
            },
        },
    }
)


def _reference(lc: Lifecycle, tx: pd.DataFrame, result: Any, **columns: str) -> None:
    """Step every period from scratch: features(as_of=period end) + classify."""
    stages = result.stages
    prev: pd.Series[Any] | None = None
    for period, end in zip(result.periods, result.ends, strict=True):
        try:
            feats = ck.features(tx, as_of=end, **columns)
        except FrameError:  # as_of before all data
            assert stages[period].isna().all()
            continue
        if prev is None:
            current = pd.Series(lc.initial, index=feats.index, dtype=object)
        else:
            before = prev.reindex(feats.index).astype(object)
            current = before.where(before.notna(), lc.initial)
        got = lc.classify(feats, current=current)["stage"].astype(object)
        expected = stages[period].reindex(feats.index).astype(object)
        assert got.equals(expected), period
        assert stages[period].notna().sum() == len(feats)
        prev = got
        # the values each fired guard read are the features (derived ones included)
        here = (result.transitions["period"] == period).to_numpy()
        moved = result.transitions[here]
        reads = result.transition_inputs[here]
        rows = feats.loc[moved.iloc[:, 0]]
        for name in reads.columns:
            if name in rows.columns:
                fired_read = ~reads[name].isna().to_numpy()
                assert np.allclose(
                    reads[name].to_numpy()[fired_read],
                    rows[name].to_numpy(dtype=float)[fired_read],
                    rtol=1e-12,
                    atol=1e-9,
                ), (period, name)


@pytest.mark.parametrize(
    "lc",
    [Lifecycle.five_stage(), Lifecycle.five_stage(version=1), EVERYTHING],
    ids=lambda x: f"{x.name}-{x.version}",
)
def test_replay_equals_stepping_on_features_as_of_every_period_end(lc: Lifecycle) -> None:
    tx = synthetic_transactions(6_000, 400, seed=11, start="2023-03-10", end="2024-11-20")
    tx["amount"] = np.round(tx["amount"] * 4) / 4  # exact sums in any order
    result = replay(lc, tx, start="2023-02", end="2024-12", date="date")
    _reference(lc, tx, result, date="date")
    assert set(result.transitions["transition"].unique()) <= {t.name for t in lc.transitions}


def test_replay_by_week_equals_stepping_too() -> None:
    tx = synthetic_transactions(800, 60, seed=2, start="2024-01-01", end="2024-04-30")
    tx["amount"] = np.round(tx["amount"])
    result = replay(EVERYTHING, tx, start="2024-01-01", end="2024-05-05", freq="W", date="date")
    _reference(EVERYTHING, tx, result, date="date")


@st.composite
def _logs(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 30))
    days = draw(st.lists(st.integers(0, 500), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "who": draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=n, max_size=n)),
            "when": pd.to_datetime("2024-01-01") + pd.to_timedelta(days, unit="D"),
            "paid": draw(
                st.lists(st.integers(0, 400).map(lambda x: x / 4), min_size=n, max_size=n)
            ),
        }
    )


@settings(max_examples=60, deadline=None)
@given(_logs(), st.data())
def test_replay_is_deterministic_and_only_uses_defined_transitions(
    tx: pd.DataFrame, data: st.DataObject
) -> None:
    lc = data.draw(st.sampled_from([Lifecycle.five_stage(), EVERYTHING]))
    kwargs: dict[str, Any] = {"customer": "who", "date": "when", "amount": "paid"}
    first = replay(lc, tx, start="2024-01", end="2025-06", **kwargs)
    again = replay(
        lc, tx.sample(frac=1.0, random_state=1), start="2024-01", end="2025-06", **kwargs
    )
    assert first.stages.sort_index().equals(again.stages.sort_index())
    allowed = {(s, t.target, t.name) for t in lc.transitions for s in t.sources}
    moves = first.transitions
    seen = set(zip(moves["from_stage"], moves["to_stage"], moves["transition"], strict=True))
    assert seen <= allowed
    # each recorded transition matches the stages before and after it
    if len(moves):
        stages = first.stages
        for row in moves.itertuples(index=False):
            assert stages.loc[row.who, row.period] == row.to_stage
    counts = first.counts()
    assert (counts.sum(axis=1).to_numpy() == first.stages.notna().sum().to_numpy()).all()
    for period in first.periods:
        assert first.matrix(period).to_numpy().sum() == counts.loc[period].sum()


def test_replay_rejects_guards_it_cannot_compute_and_bad_arguments() -> None:
    tx = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": pd.to_datetime(["2024-01-05"]), "amount": [1.0]}
    )
    with pytest.raises(ValidationError, match="fit_score"):
        replay(Lifecycle.b2b_funnel(), tx, start="2024-01", end="2024-02")
    with pytest.raises(ValidationError, match="freq"):
        replay(Lifecycle.five_stage(), tx, start="2024-01", end="2024-02", freq="month")
    with pytest.raises(ValidationError, match="end"):
        replay(Lifecycle.five_stage(), tx, start="2024-03", end="2024-02")
    with pytest.raises(MissingColumnError):
        replay(Lifecycle.five_stage(), tx, start="2024-01", end="2024-02", amount="total")
    with pytest.raises(FrameError, match="negative"):
        replay(Lifecycle.five_stage(), tx.assign(amount=[-1.0]), start="2024-01", end="2024-02")
    with pytest.raises(ValidationError, match="period"):
        replay(Lifecycle.five_stage(), tx, start="2024-01", end="2024-02").matrix("2023-01")


def test_replay_records_go_into_a_history() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "occurred_at": pd.to_datetime(["2024-01-05", "2024-02-07", "2024-01-09"]),
            "amount": [1.0, 2.0, 3.0],
        }
    )
    result = Lifecycle.five_stage().replay(tx, start="2024-01", end="2024-12")
    history = ck.lifecycle.InMemoryTransitionHistory()
    records = result.records()
    assert history.append_many(records) == len(result.transitions)
    assert dict(records[0].inputs) == {"purchase_days": 2.0}
    assert history.latest_stages() == {
        c: s for c, s in result.stages.iloc[:, -1].items() if c in history.latest_stages()
    }


# ---------------------------------------------------------------- churn warning


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_churn_flags_match_one_customer_at_a_time(data: st.DataObject) -> None:
    schema = dict.fromkeys(
        [
            "repeat_purchases",
            "repeat_span",
            "days_since_last_purchase",
            "spend_last_3m",
            "spend_prev_3m",
        ],
        "number",
    )
    frame, rows = data.draw(cks.formula_frames(schema))  # type: ignore[arg-type]
    warning = ChurnWarning(
        gap_multiple=data.draw(st.floats(0.5, 5)), spend_drop=data.draw(st.floats(0.1, 0.9))
    )
    out = warning.flag(frame)
    for row, at_risk, reason in zip(rows, out["at_risk"], out["reason"], strict=True):
        assert warning.flag_one(row) == (at_risk, None if pd.isna(reason) else reason)


def test_churn_warning_checks_its_settings() -> None:
    with pytest.raises(ValidationError, match="spend_drop"):
        ChurnWarning(spend_drop=1.5)
    with pytest.raises(ValidationError, match="gap_multiple"):
        ChurnWarning(gap_multiple=0)


def test_json_of_a_definition_is_plain_data() -> None:
    data = json.loads(Lifecycle.five_stage().to_json())
    assert data["lifecycle"]["initial"] == "introduction"
    assert set(data["transitions"]) == {t.name for t in Lifecycle.five_stage().transitions}
    assert set(REPLAY_INPUTS) <= set(ck.lifecycle.GUARD_INPUTS)


def test_the_diagrams_in_the_concept_page_are_the_presets() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "concepts" / "lifecycle.md").read_text("utf-8")
    for lc in (Lifecycle.five_stage(), Lifecycle.b2b_funnel()):
        assert f"```mermaid\n{lc.to_mermaid()}\n```" in page


@pytest.mark.parametrize("as_of", ["2024-06-17 13:00", "2024-06-01", "2024-06-30 23:59:59"])
def test_replay_cut_at_as_of_equals_stepping_every_month_end_then_as_of(as_of: str) -> None:
    tx = synthetic_transactions(3_000, 250, seed=4, start="2023-05-03", end="2024-09-20")
    tx["amount"] = np.round(tx["amount"] * 4) / 4
    lc = Lifecycle.five_stage()
    result = lc.replay(tx, start="2023-05", as_of=as_of, date="date")
    assert result.ends[-1] == pd.Timestamp(as_of, tz="UTC")
    assert result.periods[-1] == pd.Period("2024-06", freq="M")
    _reference(lc, tx, result, date="date")  # the last step is on features as_of it
    with pytest.raises(ValidationError, match="as_of"):
        lc.replay(tx, start="2023-05", end="2024-07", as_of=as_of, date="date")


def _purchases_of(tx: pd.DataFrame) -> dict[str, list[Any]]:
    from decimal import Decimal

    from crmkit.domain import Purchase

    out: dict[str, list[Any]] = {}
    for i, row in enumerate(tx.itertuples(index=False)):
        out.setdefault(str(row.customer_id), []).append(
            Purchase(
                id=f"p{i}",
                customer_id=str(row.customer_id),
                amount=Decimal(str(row.amount)),
                currency="EUR",
                occurred_at=pd.Timestamp(row.date).tz_localize("UTC").to_pydatetime(),
            )
        )
    return out


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), day=st.integers(0, 300))
def test_replay_one_is_the_replayed_stage_of_the_customer(seed: int, day: int) -> None:
    tx = synthetic_transactions(300, 25, seed=seed, start="2024-01-01", end="2025-03-31")
    tx["amount"] = np.round(tx["amount"] * 4) / 4
    as_of = pd.Timestamp("2024-03-01 12:00", tz="UTC") + pd.Timedelta(days=day)
    lc = Lifecycle.five_stage()
    stages = lc.replay(tx, start="2024-01", as_of=as_of, date="date").stages.iloc[:, -1]
    for cid, buys in _purchases_of(tx).items():
        steps = lc.replay_one(buys, customer_id=cid, as_of=as_of)
        if cid not in stages.index:
            assert steps == []
            continue
        assert steps[-1].stage == stages[cid], cid
        # Continuing from the stage of a stored month end gives the same stage.
        if len(steps) >= 3:
            month_end = pd.Timestamp(as_of).tz_convert(None).to_period("M") - 1
            stored = steps[-2].stage
            again = lc.replay_one(
                buys,
                customer_id=cid,
                as_of=as_of,
                stage=stored,
                since=month_end.end_time.tz_localize("UTC"),
            )
            assert [s.stage for s in again] == [steps[-1].stage]
