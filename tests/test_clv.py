"""crmkit.clv: both paths agree, the round trip is exact, bad input is refused, fits recover the truth."""

# ruff: noqa: N806 (T, R, Q... are the names of the literature)

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

import crmkit as ck
from crmkit.clv import BGBB, BGNBD, MBGNBD, FitError, GammaGamma, ParetoNBD, clv, clv_one, simulate
from crmkit.clv._special import hyp2f1, hyp2f1_one, series_1bc_one, series_1bc_with_derivatives
from crmkit.errors import ConfigError, FrameError, MissingColumnError, ValidationError
from crmkit.testing.strategies import (
    bgbb_models,
    bgbb_summaries,
    gamma_gamma_models,
    purchase_models,
    spend_summaries,
    summaries,
)

# predict_one (plain Python) and predict (numpy) run the same series and the
# same formulas; they differ only where math and numpy round log/exp differently.
RTOL = 1e-10
ATOL = 1e-13

BG = BGNBD(r=0.2426, alpha=4.4135, a=0.7929, b=2.4258, time_unit="W")
PARETO = ParetoNBD(r=0.5533, alpha=10.5776, s=0.6062, beta=11.6679, time_unit="W")
GG = GammaGamma(p=6.2488, q=3.7446, v=15.4477)


def _frame(rows: list[dict[str, Any]], unit: str | None = "W") -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if unit is not None:
        frame.attrs["crmkit.time_unit"] = unit
    return frame


# ---------------------------------------------------------------- two paths


@given(purchase_models(), st.lists(summaries(), min_size=1, max_size=8), st.floats(0.0, 200.0))
def test_predict_one_equals_predict(model: Any, rows: list[dict[str, Any]], horizon: float) -> None:
    frame = model.predict(_frame(rows), horizon=horizon)
    assert list(frame.columns) == ["p_alive", "p_any_purchase", "expected_purchases"]
    for i, row in enumerate(rows):
        one = model.predict_one(row, horizon=horizon)
        for key, value in one.items():
            assert value == pytest.approx(frame[key].iloc[i], rel=RTOL, abs=ATOL), key
        assert 0.0 <= one["p_any_purchase"] <= one["p_alive"] <= 1.0
        assert one["expected_purchases"] >= 0.0


@given(bgbb_models(), st.lists(bgbb_summaries(), min_size=1, max_size=8), st.integers(0, 30))
def test_bgbb_predict_one_equals_predict(
    model: BGBB, rows: list[dict[str, Any]], horizon: int
) -> None:
    frame = model.predict(pd.DataFrame(rows), horizon=horizon)
    for i, row in enumerate(rows):
        one = model.predict_one(row, horizon=horizon)
        for key, value in one.items():
            assert value == pytest.approx(frame[key].iloc[i], rel=RTOL, abs=ATOL), key
        assert 0.0 <= one["p_any_purchase"] <= one["p_alive"] + 1e-12 <= 1.0 + 1e-12


@given(gamma_gamma_models(), st.lists(spend_summaries(), min_size=1, max_size=6))
def test_expected_spend_one_equals_frame_and_is_positive(
    gg: GammaGamma, rows: list[dict[str, Any]]
) -> None:
    frame = _frame(rows)
    if "repeat_avg_spend" not in frame:
        frame["repeat_avg_spend"] = np.nan
    spend = gg.expected_spend(frame)
    for i, row in enumerate(rows):
        one = gg.expected_spend_one(row)
        assert one > 0
        assert one == pytest.approx(spend.iloc[i], rel=1e-14)


@settings(max_examples=40)
@given(
    purchase_models(),
    gamma_gamma_models(),
    st.lists(spend_summaries(), min_size=1, max_size=4),
    st.floats(0.0, 60.0),
    st.floats(0.0, 0.5),
)
def test_clv_is_never_negative_and_both_paths_agree(
    model: Any, gg: GammaGamma, rows: list[dict[str, Any]], horizon: float, rate: float
) -> None:
    frame = _frame(rows)
    if "repeat_avg_spend" not in frame:
        frame["repeat_avg_spend"] = np.nan
    values = clv(frame, purchases=model, spend=gg, horizon=horizon, discount_rate=rate, step=4.0)
    assert (values >= 0).all()
    for i, row in enumerate(rows):
        one = clv_one(row, purchases=model, spend=gg, horizon=horizon, discount_rate=rate, step=4.0)
        assert one >= 0
        assert one == pytest.approx(values.iloc[i], rel=1e-9, abs=1e-12)


def test_clv_at_extreme_parameters_is_not_negative() -> None:
    # lifetimes gives negative CLV when q < 1 (a negative mean spend); here that is refused.
    with pytest.raises(FitError, match=r"q = 0\.5 <= 1"):
        GammaGamma(p=2.0, q=0.5, v=10.0).expected_spend_one({"repeat_purchases": 0})
    extreme = GammaGamma(p=1e-3, q=1.0 + 1e-9, v=1e6)
    row = {"repeat_purchases": 3, "repeat_span": 10.0, "age": 30.0, "repeat_avg_spend": 1e-3}
    assert clv_one(row, purchases=BG, spend=extreme, horizon=52, discount_rate=0.0) > 0
    flat = BGNBD(r=50.0, alpha=0.01, a=1e-3, b=1e3, time_unit="W")
    assert clv_one(row, purchases=flat, spend=GG, horizon=520, discount_rate=0.01) >= 0


def test_expected_purchases_grow_with_the_horizon() -> None:
    row = {"repeat_purchases": 2, "repeat_span": 30.43, "age": 38.86}
    values = [
        BG.predict_one(row, horizon=h)["expected_purchases"] for h in (0, 1, 10, 39, 100, 1000)
    ]
    assert values[0] == 0
    assert values == sorted(values)


# ---------------------------------------------------------------- special functions


@given(st.floats(0.01, 80.0), st.floats(0.01, 80.0), st.floats(0.05, 80.0), st.floats(0.0, 0.97))
def test_series_equals_mpmath_hyp2f1(a: float, b: float, c: float, z: float) -> None:
    # mpmath, not scipy: scipy's hyp2f1 is off by 5e-10 at (1, 36; 18; 0.5), the series is not.
    mp = pytest.importorskip("mpmath")
    want = float(mp.hyp2f1(a, b, c, z))
    assert hyp2f1_one(a, b, c, z) == pytest.approx(want, rel=1e-12)
    assert hyp2f1(np.array([a]), np.array([b]), np.array([c]), np.array([z]))[0] == hyp2f1_one(
        a, b, c, z
    )
    assert series_1bc_one(b, c, z) == pytest.approx(float(mp.hyp2f1(1, b, c, z)), rel=1e-12)


def test_series_derivatives_are_the_derivatives() -> None:
    b, c, z = np.array([0.7, 3.0, 12.0]), np.array([2.5, 1.5, 14.0]), np.array([0.2, 0.6, 0.93])
    _, db, dc, dz = series_1bc_with_derivatives(b, c, z)
    h = 1e-6
    for got, shift in ((db, (h, 0, 0)), (dc, (0, h, 0)), (dz, (0, 0, h))):
        up = series_1bc_with_derivatives(
            b + shift[0], c + shift[1], z + shift[2], derivatives=False
        )[0]
        down = series_1bc_with_derivatives(
            b - shift[0], c - shift[1], z - shift[2], derivatives=False
        )[0]
        assert got == pytest.approx((up - down) / (2 * h), rel=1e-6)


@pytest.mark.parametrize(
    "model",
    [
        BG,
        MBGNBD(r=0.525, alpha=6.183, a=0.891, b=1.614, time_unit="W"),
        PARETO,
        ParetoNBD(r=2.0, alpha=40.0, s=0.3, beta=2.0, time_unit="W"),
        ParetoNBD(r=0.3, alpha=1.0, s=3.0, beta=30.0, time_unit="W"),
    ],
)
def test_gradients_are_exact(model: Any) -> None:
    from crmkit.clv._data import Summary

    base = simulate(model, np.linspace(1, 78, 400), seed=5)
    x, t_x, T = (base[c].to_numpy(float) for c in ("repeat_purchases", "repeat_span", "age"))
    data = Summary(x, t_x, T, np.ones(len(x)))
    theta = np.log(list(model.params.values()))
    _, grad = type(model)._negative_ll(theta, data)
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6
        up = -type(model)._pattern_ll(theta + step, data).sum()
        down = -type(model)._pattern_ll(theta - step, data).sum()
        assert grad[i] == pytest.approx((up - down) / 2e-6, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(
    "model", [PARETO, ParetoNBD(r=2.0, alpha=3.0, s=1.7, beta=40.0, time_unit="W")]
)
def test_pareto_predictions_match_numerical_integration(model: ParetoNBD) -> None:
    r, alpha, s, beta = model.r, model.alpha, model.s, model.beta
    x, t_x, T, t = 3.0, 12.0, 30.0, 20.0
    one = model.predict_one({"repeat_purchases": x, "repeat_span": t_x, "age": T}, horizon=t)
    a_, b_ = alpha + T, beta + T
    # P(purchase in (T, T+t] | alive) = integral_0^t E[lambda e^-(lambda+mu) u] du, posterior given alive.
    anyp = integrate.quad(
        lambda u: (r + x) / a_ * (a_ / (a_ + u)) ** (r + x + 1) * (b_ / (b_ + u)) ** s,
        0,
        t,
        epsrel=1e-13,
    )[0]
    assert one["p_any_purchase"] == pytest.approx(one["p_alive"] * anyp, rel=1e-9)
    expected = integrate.quad(lambda u: (r + x) / a_ * (b_ / (b_ + u)) ** s, 0, t, epsrel=1e-13)[0]
    assert one["expected_purchases"] == pytest.approx(one["p_alive"] * expected, rel=1e-9)


@pytest.mark.parametrize(
    ("model", "t"),
    [
        (BG, 39.0),
        (MBGNBD(r=0.525, alpha=6.183, a=0.891, b=1.614, time_unit="W"), 78.0),
        (PARETO, 52.0),
    ],
)
def test_expected_purchases_of_a_new_customer_match_a_simulation(model: Any, t: float) -> None:
    base = simulate(model, np.full(200_000, t), seed=11)
    x = base["repeat_purchases"]
    spread = float(x.std()) / math.sqrt(len(x))
    assert abs(float(x.mean()) - float(model.expected_purchases_new(t))) < 4 * spread


# ---------------------------------------------------------------- fitting


@pytest.mark.parametrize(
    "model",
    [
        BGNBD(r=0.25, alpha=4.4, a=0.8, b=2.4, time_unit="W"),
        MBGNBD(r=0.5, alpha=6.0, a=0.9, b=1.6, time_unit="W"),
        ParetoNBD(r=0.55, alpha=10.6, s=0.6, beta=11.7, time_unit="W"),
    ],
    ids=["bg_nbd", "mbg_nbd", "pareto_nbd"],
)
def test_parameters_are_recovered_within_the_sampling_spread(model: Any) -> None:
    ages = np.random.default_rng(1).uniform(26.0, 39.0, 20_000)
    base = simulate(model, ages, seed=2, resolution=1 / 7)
    fitted = type(model).fit(base)
    assert fitted.fit_info is not None
    assert fitted.fit_info.gradient_norm < 1e-7
    for name, truth in model.params.items():
        se = fitted.standard_errors[name]
        assert 0 < se < truth
        assert abs(fitted.params[name] - truth) < 3 * se, name


def test_fit_is_deterministic_and_pattern_grouping_changes_nothing() -> None:
    base = simulate(
        PARETO, np.random.default_rng(3).uniform(20, 39, 3000), seed=4, resolution=1 / 7
    )
    one = ParetoNBD.fit(base)
    assert ParetoNBD.fit(base) == one
    grouped = base.groupby(list(base.columns)).size().rename("n").reset_index()
    grouped.attrs = base.attrs
    again = ParetoNBD.fit(grouped, weights="n")
    for name, value in one.params.items():
        assert again.params[name] == pytest.approx(value, rel=1e-7)


def test_a_model_the_data_cannot_identify_is_a_fit_error() -> None:
    # Everyone bought at a steady rate until the very end: nobody ever dropped out.
    frame = _frame([{"repeat_purchases": 5, "repeat_span": 10.0, "age": 10.0}] * 50)
    with pytest.raises(FitError, match="bg_nbd fit failed") as err:
        BGNBD.fit(frame)
    assert isinstance(err.value, ck.errors.CrmkitError)


def test_no_repeat_purchases_is_a_frame_error() -> None:
    frame = _frame([{"repeat_purchases": 0, "repeat_span": 0.0, "age": 10.0}] * 5)
    with pytest.raises(FrameError, match="no customer has a repeat purchase"):
        BGNBD.fit(frame)


# ---------------------------------------------------------------- time unit and input checks


def test_features_record_time_unit_and_as_of() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "occurred_at": pd.to_datetime(["2025-01-01", "2025-01-15", "2025-01-03"]),
            "amount": [1.0, 2.0, 3.0],
        }
    )
    f = ck.features(tx, as_of="2025-02-01", time_unit="W")
    assert f.attrs == {"crmkit.time_unit": "W", "crmkit.as_of": "2025-02-01T00:00:00+00:00"}
    assert ck.features(tx, as_of="2025-02-01").attrs["crmkit.time_unit"] == "D"


def test_predict_refuses_a_frame_in_another_time_unit() -> None:
    frame = _frame([{"repeat_purchases": 1, "repeat_span": 3.0, "age": 10.0}], unit="D")
    with pytest.raises(FrameError, match="the frame is in days but the model is in weeks") as err:
        BG.predict(frame, horizon=5)
    assert err.value.expected == "a frame with time_unit='W'"
    with pytest.raises(FrameError, match="does not say its time unit"):
        BG.predict(
            _frame([{"repeat_purchases": 1, "repeat_span": 3.0, "age": 10.0}], unit=None), horizon=5
        )
    with pytest.raises(FrameError, match="not the one asked for"):
        BG.predict(frame, horizon=5, time_unit="W")
    plain = _frame([{"repeat_purchases": 1, "repeat_span": 3.0, "age": 10.0}], unit=None)
    assert len(BG.predict(plain, horizon=5, time_unit="W")) == 1


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (
            {"repeat_purchases": -1, "repeat_span": 0.0, "age": 3.0},
            "repeat_purchases",
            "out of range",
        ),
        (
            {"repeat_purchases": 1.5, "repeat_span": 1.0, "age": 3.0},
            "repeat_purchases",
            "out of range",
        ),
        (
            {"repeat_purchases": 1, "repeat_span": 4.0, "age": 3.0},
            "repeat_span",
            "larger than 'age'",
        ),
        (
            {"repeat_purchases": 1, "repeat_span": np.nan, "age": 3.0},
            "repeat_span",
            "missing values",
        ),
        ({"repeat_purchases": 1, "repeat_span": 1.0, "age": np.inf}, "age", "out of range"),
        ({"repeat_purchases": 0, "repeat_span": 1.0, "age": 3.0}, "repeat_span", "> 0 where"),
    ],
)
def test_bad_rows_are_named(row: dict[str, Any], column: str, message: str) -> None:
    good = {"repeat_purchases": 1, "repeat_span": 1.0, "age": 3.0}
    frame = _frame([good, good, row])
    frame.index = ["c1", "c2", "c3"]
    for call in (lambda: BG.predict(frame, horizon=1), lambda: BGNBD.fit(frame)):
        with pytest.raises(FrameError, match=message) as err:
            call()
        assert err.value.column == column
        assert err.value.rows == ("c3",)


def test_missing_and_non_numeric_columns() -> None:
    frame = _frame([{"repeat_purchases": 1, "repeat_span": 1.0, "agee": 3.0}])
    with pytest.raises(MissingColumnError, match="did you mean 'agee'"):
        BG.predict(frame, horizon=1)
    text = _frame([{"repeat_purchases": "1", "repeat_span": 1.0, "age": 3.0}])
    with pytest.raises(FrameError, match="not numeric"):
        BG.predict(text, horizon=1)


def test_bad_arguments_to_predict_one() -> None:
    with pytest.raises(ValidationError, match="horizon"):
        BG.predict_one({"repeat_purchases": 1, "repeat_span": 1.0, "age": 3.0}, horizon=-1)
    with pytest.raises(ValidationError, match="age"):
        BG.predict_one({"repeat_purchases": 1, "repeat_span": 1.0}, horizon=1)
    with pytest.raises(ValidationError, match="repeat_span"):
        BG.predict_one({"repeat_purchases": 1, "repeat_span": 5.0, "age": 3.0}, horizon=1)
    with pytest.raises(ValidationError, match="whole number"):
        BG.predict_one({"repeat_purchases": 1.5, "repeat_span": 1.0, "age": 3.0}, horizon=1)
    with pytest.raises(ValidationError, match="r"):
        BGNBD(r=-1.0, alpha=1.0, a=1.0, b=1.0, time_unit="W")
    with pytest.raises(ValidationError, match="time_unit"):
        BGNBD(r=1.0, alpha=1.0, a=1.0, b=1.0, time_unit="M")


# ---------------------------------------------------------------- round trip


def _models() -> st.SearchStrategy[Any]:
    return st.one_of(
        purchase_models("D"), purchase_models("W"), gamma_gamma_models(), bgbb_models()
    )


@given(_models(), st.none() | st.just("1997-09-30T00:00:00+00:00"))
def test_toml_json_and_dict_round_trips_are_exact(model: Any, as_of: str | None) -> None:
    import attrs

    model = attrs.evolve(model, as_of=as_of)
    cls = type(model)
    assert cls.from_toml(model.to_toml()) == model
    assert cls.from_json(model.to_json()) == model
    assert cls.from_dict(model.to_dict()) == model


def test_a_fitted_model_round_trips_with_its_fit_record(tmp_path: Any) -> None:
    base = simulate(BG, np.full(2000, 39.0), seed=1, resolution=1 / 7)
    fitted = BGNBD.fit(base)
    path = tmp_path / "bg.toml"
    path.write_text(fitted.to_toml())
    assert BGNBD.from_toml(path) == fitted
    assert BGNBD.from_toml(path).fit_info == fitted.fit_info
    assert "[fit.standard_errors]" in fitted.to_toml()


def test_from_dict_reports_every_problem() -> None:
    with pytest.raises(ConfigError) as err:
        BGNBD.from_dict(
            {
                "model": "pareto_nbd",
                "time_unit": "M",
                "params": {"r": -1, "alpha": 1, "z": 2},
                "x": 1,
            }
        )
    text = str(err.value)
    for part in (
        "x: unknown key",
        "model: expected 'bg_nbd'",
        "time_unit",
        "params.r",
        "params.z",
        "params.a: missing",
    ):
        assert part in text
    with pytest.raises(ConfigError, match="not valid TOML"):
        BGNBD.from_toml("model = ")


def test_import_crmkit_does_not_import_scipy_or_clv() -> None:
    import subprocess
    import sys

    code = "import sys, crmkit; print([m for m in ('scipy', 'crmkit.clv') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
