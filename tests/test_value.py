import json
import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crmkit as ck
from crmkit.app import synthetic_transactions
from crmkit.errors import ConfigError, MissingColumnError, ValidationError
from crmkit.scoring import ValueModel, score_monthly
from crmkit.testing import strategies as cks


def _same(a: float | None, b: float) -> bool:
    """Scalar result (None = null) equals columnar result (NaN = null), exactly."""
    if a is None:
        return math.isnan(b)
    return not math.isnan(b) and a == b


# ---------------------------------------------------------------- one definition, two engines


@given(cks.value_model_configs(), cks.value_frames())
def test_score_one_equals_score_row_by_row(config, frame) -> None:
    model = ValueModel.from_dict(config)
    scored = model.score(frame)
    assert list(scored.index) == list(frame.index)
    for label, row in frame.iterrows():
        one = model.score_one(row.to_dict())
        assert _same(one.value, scored.at[label, "value"])
        for comp in model.components:
            assert _same(one.contributions[comp.name], scored.at[label, f"value_{comp.name}"])


@given(cks.value_model_configs(), cks.value_frames())
def test_contributions_sum_to_the_value(config, frame) -> None:
    model = ValueModel.from_dict(config)
    scored = model.score(frame)
    parts = scored[[f"value_{c.name}" for c in model.components]]
    finite = np.isfinite(scored["value"])
    np.testing.assert_allclose(
        parts[finite].sum(axis=1), scored.loc[finite, "value"], rtol=1e-9, atol=1e-6
    )
    # The value is null exactly when a contribution is null, or infinities of both signs meet.
    explained = parts.isna().any(axis=1) | (
        (parts == np.inf).any(axis=1) & (parts == -np.inf).any(axis=1)
    )
    assert (scored["value"].isna() == explained).all()


@given(cks.value_model_configs())
def test_config_round_trips_through_dict_json_and_pickle(config) -> None:
    model = ValueModel.from_dict(config)
    assert ValueModel.from_dict(model.to_dict()) == model
    assert ValueModel.from_json(model.to_json()) == model
    assert pickle.loads(pickle.dumps(model)) == model


def test_caps_floors_and_null_as_shape_the_contribution() -> None:
    model = ValueModel.from_dict(
        {
            "model": {"name": "m", "version": "1"},
            "components": {
                "capped": {"formula": "total_spend", "weight": 0.1, "cap": 50},
                "floored": {"formula": "monthly_frequency - 3", "weight": 10, "floor": 0},
                "strict": {"formula": "tenure_months", "null_as": "null"},
            },
        }
    )
    one = model.score_one({"total_spend": 1000.0, "monthly_frequency": 1.0, "tenure_months": 6.0})
    assert one.contributions == {"capped": 50.0, "floored": 0.0, "strict": 6.0}
    assert one.value == 56.0
    missing = model.score_one(
        {"total_spend": 1000.0, "monthly_frequency": 1.0, "tenure_months": None}
    )
    assert missing.value is None
    assert missing.contributions["strict"] is None


# ---------------------------------------------------------------- the default preset


def test_default_model_has_the_seven_components_of_the_domain() -> None:
    model = ValueModel.default()
    assert [c.name for c in model.components] == [
        "consumption",
        "frequency",
        "average",
        "credit",
        "tenure",
        "growth_potential",
        "brand",
    ]
    assert all(c.description for c in model.components)


def test_default_model_on_a_worked_example() -> None:
    values = {
        "total_spend": 12_000.0,
        "monthly_frequency": 1.5,
        "monthly_avg_spend": 500.0,
        "settlement_share_prepaid": 0.5,
        "settlement_share_cash": 0.0,
        "settlement_share_on_time": 0.5,
        "settlement_share_on_account": 0.0,
        "tenure_months": 24.0,
        "days_since_last_purchase": 30.4375,
        "spending_budget": 150_000.0,
        "share_of_wallet": 0.25,
        "influence": "celebrity",
    }
    score = ValueModel.default().score_one(values)
    assert score.contributions == {
        "consumption": 120.0,  # 12,000 x 0.01
        "frequency": 30.0,  # 1.5 a month x 20
        "average": 50.0,  # 500 a month x 0.1
        "credit": 12_000.0 * (0.5 * 0.5 + 0.5 * 0.25) * 0.01,  # 45.0
        "tenure": 46.0,  # (24 months less the month since the last purchase) x 2
        "growth_potential": 30.0,  # budget >= 100k: 40 x (1 - 0.25)
        "brand": 80.0,  # celebrity
    }
    assert score.value == pytest.approx(401.0)
    text = score.explain()
    assert "model crmkit-default, version 2" in text
    assert "capped" not in text
    assert "influence = 'celebrity'" in text
    # Version 1 counted every month since the first purchase.
    old = ValueModel.default(version=1).score_one(values)
    assert old.contributions["tenure"] == 48.0
    assert old.value == pytest.approx(403.0)
    assert "version 1" in old.explain()


def test_default_model_version_2_gives_no_tenure_for_silence() -> None:
    tenure = ValueModel.default().drop(
        "consumption", "frequency", "average", "credit", "growth_potential", "brand"
    )
    once_long_ago = {"tenure_months": 9.0, "days_since_last_purchase": 9 * 30.4375}
    assert tenure.score_one(once_long_ago).contributions["tenure"] == 0.0
    old = ValueModel.default(version=1)
    assert (
        old.drop(*[c.name for c in old.components if c.name != "tenure"])
        .score_one(once_long_ago)
        .contributions["tenure"]
        == 18.0
    )
    with pytest.raises(ValidationError, match="version"):
        ValueModel.default(version=3)


def test_default_model_without_profile_attributes_names_them_and_suggests_drop() -> None:
    feats = pd.DataFrame({"total_spend": [1.0]})
    with pytest.raises(MissingColumnError) as exc:
        ValueModel.default().score(feats)
    assert "spending_budget" in exc.value.missing
    assert "drop(" in str(exc.value)
    assert "profile_frame" in str(exc.value)


def test_output_carries_model_name_and_version() -> None:
    model = ValueModel.default().drop("growth_potential", "brand")
    feats = pd.DataFrame({n: [1.0] for n in model.names}, index=pd.Index(["a"]))
    out = model.score(feats)
    assert out["value_model"].tolist() == ["crmkit-default/2-drop-brand-growth_potential"]
    assert out.index.tolist() == ["a"]


def test_scoring_an_empty_frame_gives_an_empty_result() -> None:
    model = ValueModel.default()
    empty = pd.DataFrame({n: pd.Series([], dtype="float64") for n in model.names})
    empty["influence"] = pd.Series([], dtype=object)
    out = model.score(empty)
    assert out.empty
    assert "value_consumption" in out.columns


def test_scores_the_synthetic_base_end_to_end() -> None:
    from crmkit.app import synthetic_base

    base = synthetic_base(seed=3, individuals=30, companies=2)
    frames = ck.activity_frames(base.activities)
    feats = ck.features(
        frames.transactions, as_of=base.as_of, settlement="settlement", refunds=frames.refunds
    ).join(ck.profile_frame(base.customers), how="left")
    scored = ValueModel.default().score(feats)
    assert scored["value"].notna().all()
    assert (scored["value"] > 0).all()
    # The scalar path from entities gives the same value for each customer.
    model = ValueModel.default()
    for cid in list(scored.index)[:5]:
        acts = [a for a in base.activities if a.customer_id == cid]
        customer = next(c for c in base.customers if c.id == cid)
        values = {
            **ck.features_one(acts, as_of=base.as_of),
            **ck.profile_frame([customer]).iloc[0].to_dict(),
        }
        assert model.score_one(values).value == pytest.approx(scored.at[cid, "value"], rel=1e-12)


# ---------------------------------------------------------------- validation: all problems at once


def test_every_problem_is_reported_at_once_with_its_key_and_position() -> None:
    bad = {
        "model": {"name": "m"},
        "components": {
            "spend": {"formula": "total_spnd * 2", "weight": "heavy"},
            "flag": {"formula": "total_spend > 3"},
            "range": {"formula": "tenure_months", "floor": 10, "cap": 5},
            "typo": {"formula": "1", "wieght": 2},
        },
        "extra": 1,
    }
    with pytest.raises(ConfigError) as exc:
        ValueModel.from_dict(bad)
    where = [p.where for p in exc.value.problems]
    assert "value model.extra" in where
    assert "model.version" in where
    assert "components.spend.formula" in where
    assert "components.spend.weight" in where
    assert "components.flag.formula" in where
    assert "components.range" in where
    assert "components.typo.wieght" in where
    typo = next(p for p in exc.value.problems if p.where == "components.spend.formula")
    assert typo.position == 0
    assert "did you mean 'total_spend'" in (typo.hint or typo.message)
    text = str(exc.value)
    assert "^" in text  # the caret under the formula
    assert "did you mean 'weight'" in text
    assert isinstance(exc.value, ValueError)


def test_unknown_tables_and_bad_table_entries_are_reported() -> None:
    with pytest.raises(ConfigError) as exc:
        ValueModel.from_dict(
            {
                "model": {"name": "m", "version": "1"},
                "tables": {"rate": {"entries": {"a": "x", "b": 1.0}}},
                "components": {"c": {"formula": "ratez[kind]"}},
            }
        )
    where = " ".join(p.where for p in exc.value.problems)
    assert "tables.rate" in where
    assert "components.c.formula" in where


def test_missing_components_is_a_problem() -> None:
    with pytest.raises(ConfigError, match="components"):
        ValueModel.from_dict({"model": {"name": "m", "version": "1"}})


def test_declared_inputs_extend_the_known_names() -> None:
    model = ValueModel.from_dict(
        {
            "model": {"name": "m", "version": "1"},
            "inputs": {"store_visits": "number"},
            "components": {"visits": {"formula": "store_visits", "weight": 3}},
        }
    )
    assert model.score_one({"store_visits": 2.0}).value == 6.0


def test_toml_from_text_and_file_and_json(tmp_path: Path) -> None:
    text = """
[model]
name = "t"
version = "3"

[tables.points.entries]
gold = 10
silver = 5

[components.tier]
formula = "points[member_tier]"
null_as = 0
"""
    from_text = ValueModel.from_toml(text)
    path = tmp_path / "value.toml"
    path.write_text(text)
    assert ValueModel.from_toml(path) == from_text
    assert ValueModel.from_toml(str(path)) == from_text
    assert ValueModel.from_json(json.dumps(from_text.to_dict())) == from_text
    assert from_text.score_one({"member_tier": "gold"}).value == 10.0
    assert from_text.score_one({"member_tier": None}).value == 0.0


def test_unparseable_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[model\nname = 1")
    with pytest.raises(ConfigError) as exc:
        ValueModel.from_toml(path)
    assert str(path) in str(exc.value)
    with pytest.raises(ConfigError, match="cannot read"):
        ValueModel.from_toml(tmp_path / "missing.toml")


def test_bad_arguments_raise_crmkit_errors() -> None:
    model = ValueModel.default()
    with pytest.raises(ValidationError):
        model.score([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        model.score_one(5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="did you mean 'brand'"):
        model.drop("brnd")


# ---------------------------------------------------------------- monthly values


def test_score_monthly_equals_scoring_each_month_end() -> None:
    tx = synthetic_transactions(400, 40, seed=5, start="2024-01-01", end="2024-06-30")
    model = ValueModel.default().drop("growth_potential", "brand")
    monthly = score_monthly(
        tx, model=model, start="2024-01-01", end="2024-06-30", date="date", settlement="settlement"
    )
    assert list(monthly["month"].astype(str).unique()) == [f"2024-0{m}" for m in range(1, 7)]
    march = monthly[monthly["month"] == pd.Period("2024-03", freq="M")].set_index("customer_id")
    expected = model.score(
        ck.features(
            tx,
            as_of=pd.Timestamp("2024-04-01", tz="UTC") - pd.Timedelta(1, "ns"),
            date="date",
            settlement="settlement",
        )
    )
    pd.testing.assert_series_equal(
        march["value"].sort_index(), expected["value"].sort_index(), check_names=False
    )
    # Values never drop out: a customer seen in March is there in every later month.
    seen_march = set(march.index)
    later = monthly[monthly["month"] > pd.Period("2024-03", freq="M")]
    for _, group in later.groupby("month"):
        assert seen_march <= set(group["customer_id"])


def test_score_monthly_skips_months_before_any_activity_and_checks_arguments() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a"],
            "occurred_at": pd.to_datetime(["2025-03-15"]),
            "amount": [10.0],
        }
    )
    model = ValueModel.from_dict(
        {"model": {"name": "m", "version": "1"}, "components": {"s": {"formula": "total_spend"}}}
    )
    out = score_monthly(tx, model=model, start="2025-01-01", end="2025-04-30")
    assert out["month"].astype(str).tolist() == ["2025-03", "2025-04"]
    with pytest.raises(ValidationError):
        score_monthly(tx, model=model, start="2025-05-01", end="2025-01-01")
    with pytest.raises(ValidationError):
        score_monthly(tx, model="m", start="2025-01-01", end="2025-02-01")  # type: ignore[arg-type]


@given(st.integers(0, 3))
def test_score_monthly_on_an_empty_frame_is_empty(n_months: int) -> None:
    tx = pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype=object),
            "occurred_at": pd.Series([], dtype="datetime64[ns]"),
            "amount": pd.Series([], dtype="float64"),
        }
    )
    model = ValueModel.from_dict(
        {"model": {"name": "m", "version": "1"}, "components": {"s": {"formula": "total_spend"}}}
    )
    out = score_monthly(tx, model=model, start="2025-01-01", end=f"2025-0{n_months + 1}-01")
    assert out.empty
    assert list(out.columns) == ["customer_id", "month", "value", "value_s", "value_model"]
