"""crmkit.backtest: the metrics, the split, scoring each kind of source, errors, the plot."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit.backtest import Signal, auc, backtest, evaluate, score_of, spearman, split, top_share
from crmkit.errors import FrameError, MissingColumnError, ValidationError
from crmkit.expr import Formula
from crmkit.lifecycle import ChurnWarning, Lifecycle
from crmkit.scoring import ValueModel
from crmkit.segmentation import RFM, Segment, SegmentRules
from crmkit.testing.strategies import score_outcomes, transaction_logs

# ---------------------------------------------------------------- metrics


@given(score_outcomes())
def test_auc_of_the_outcome_itself_is_1_and_of_its_negation_0(data: tuple) -> None:
    _, buys, spend = data
    assert auc(buys.astype(float), buys) == 1.0
    assert auc(-buys.astype(float), buys) == 0.0
    assert auc(spend, buys) == 1.0  # spend > 0 exactly for buyers


@given(score_outcomes())
def test_auc_of_a_negated_score_is_one_minus_the_auc(data: tuple) -> None:
    score, buys, _ = data
    assert auc(-score, buys) == pytest.approx(1.0 - auc(score, buys), abs=1e-12)


@given(score_outcomes())
def test_auc_equals_the_pairwise_definition(data: tuple) -> None:
    score, buys, _ = data
    pos, neg = score[buys], score[~buys]
    diff = pos[:, None] - neg[None, :]
    expected = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    assert auc(score, buys) == pytest.approx(expected, abs=1e-12)


@given(score_outcomes(), st.sampled_from(["cube", "exp", "shift"]))
def test_every_metric_is_invariant_to_increasing_transforms(data: tuple, how: str) -> None:
    score, buys, spend = data
    scaled = score / 1e6  # in [-1, 1], so the transforms stay exact in order
    other = {"cube": scaled**3, "exp": np.exp(scaled), "shift": 3.0 * scaled + 7.0}[how]
    if len(np.unique(scaled)) != len(np.unique(other)):
        return  # a transform that merged two values in floating point is not strictly increasing
    assert np.array_equal(np.argsort(scaled, kind="stable"), np.argsort(other, kind="stable"))
    assert auc(other, buys) == auc(scaled, buys)
    assert spearman(other, spend) == pytest.approx(spearman(scaled, spend), abs=1e-12, nan_ok=True)
    assert top_share(other, spend) == pytest.approx(top_share(scaled, spend), abs=1e-12)


@given(score_outcomes(), st.floats(0.01, 1.0))
def test_top_share_is_a_share_and_grows_with_the_cut(data: tuple, share: float) -> None:
    score, _, spend = data
    got = top_share(score, spend, share)
    assert 0.0 <= got <= 1.0 + 1e-12
    assert top_share(score, spend, 1.0) == pytest.approx(1.0)
    assert top_share(score, spend, min(1.0, share + 0.1)) >= got - 1e-12
    # the best possible order captures at least as much
    assert top_share(spend, spend, share) >= got - 1e-12


@given(score_outcomes())
def test_spearman_is_in_range_and_1_with_itself(data: tuple) -> None:
    score, _, spend = data
    rho = spearman(score, spend)
    assert np.isnan(rho) or -1.0 <= rho <= 1.0
    if len(np.unique(spend)) > 1:
        assert spearman(spend, spend) == pytest.approx(1.0)


def test_metrics_leave_out_nan_pairs_and_refuse_bad_input() -> None:
    assert auc([np.nan, 1.0, 2.0], [1, 0, 1]) == 1.0
    assert np.isnan(auc([1.0, 2.0], [1, 1]))
    assert np.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert np.isnan(top_share([1.0, 2.0], [0.0, 0.0]))
    with pytest.raises(ValidationError, match="outcome"):
        auc([1.0, 2.0], [0, 2])
    with pytest.raises(ValidationError, match="as many"):
        spearman([1.0, 2.0], [1.0])
    with pytest.raises(ValidationError, match="share"):
        top_share([1.0], [1.0], share=0.0)


# ---------------------------------------------------------------- split


def _tx() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cid": ["a", "a", "b", "b", "c", "a", "c", "c", "d"],
            "when": pd.to_datetime(
                [
                    "2025-01-03",
                    "2025-02-20",
                    "2025-01-10",
                    "2025-01-12",
                    "2025-02-25",
                    "2025-04-01",
                    "2025-04-11",
                    "2025-04-11",
                    "2025-05-02",
                ]
            ),
            "spent": [10.0, 12.0, 30.0, 5.0, 8.0, 15.0, 9.0, 11.0, 4.0],
        }
    )


COLS = {"customer": "cid", "date": "when", "amount": "spent"}


def test_split_counts_holdout_purchase_days_and_spend_of_the_base_only() -> None:
    s = split(_tx(), calibration_end="2025-02-28", holdout_end="2025-06-30", **COLS)
    assert list(s.outcome.index) == ["a", "b", "c"]
    assert s.outcome.index.name == "cid"
    assert s.outcome["holdout_purchases"].tolist() == [1, 0, 1]  # c's two purchases: one day
    assert s.outcome["holdout_spend"].tolist() == [15.0, 0.0, 20.0]
    assert s.outcome["buys_again"].tolist() == [True, False, True]
    assert s.newcomers == 1  # d
    assert len(s.calibration) == 5
    assert len(s.holdout) == 3
    assert s.holdout_days == 122.0
    assert s.features()["purchase_count"].tolist() == [2, 2, 1]
    assert "age" in s.features("W").columns


def test_split_takes_aware_and_text_timestamps() -> None:
    tx = _tx()
    aware = tx.assign(when=tx["when"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"))
    text = tx.assign(when=tx["when"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    base = split(tx, calibration_end="2025-02-28", **COLS).outcome
    for other in (aware, text):
        pd.testing.assert_frame_equal(
            split(other, calibration_end="2025-02-28", **COLS).outcome, base
        )


def test_a_purchase_at_the_calibration_end_is_in_the_calibration() -> None:
    s = split(_tx(), calibration_end="2025-02-25", **COLS)
    assert "c" in s.outcome.index


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"calibration_end": "2024-12-01"}, FrameError, "no purchase in the calibration"),
        ({"calibration_end": "2025-06-01"}, FrameError, "no purchase in the holdout"),
        (
            {"calibration_end": "2025-03-01", "holdout_end": "2025-02-01"},
            ValidationError,
            "holdout_end",
        ),
        ({"calibration_end": "not a date"}, ValidationError, "calibration_end"),
        (
            {"calibration_end": "2025-03-01", "calibration_start": "2025-04-01"},
            ValidationError,
            "calibration_start",
        ),
    ],
)
def test_split_refuses_periods_outside_the_data(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match) as info:
        split(_tx(), **kwargs, **COLS)
    if error is FrameError:
        assert info.value.column == "when"


def test_split_names_bad_columns_and_rows() -> None:
    tx = _tx()
    with pytest.raises(MissingColumnError, match="'when'"):
        split(tx, calibration_end="2025-03-01")
    bad = tx.assign(spent=[1.0, -2.0, 3.0, 4.0, 5.0, 6.0, np.nan, 8.0, 9.0])
    with pytest.raises(FrameError) as info:
        split(bad, calibration_end="2025-03-01", **COLS)
    assert info.value.column == "spent"
    assert info.value.rows == (1, 6)
    ints = tx.assign(when=[20250103] * len(tx))
    with pytest.raises(FrameError, match="does not hold dates"):
        split(ints, calibration_end="2025-03-01", **COLS)
    text = tx.assign(when=["2025-01-03"] * 8 + ["yesterday"])
    with pytest.raises(FrameError) as info:
        split(text, calibration_end="2025-03-01", **COLS)
    assert info.value.rows == (8,)


@given(
    transaction_logs(customer="who", date="t", amount="x"),
    st.sampled_from(["2024-05-01", "2024-07-01", "2024-08-15"]),
)
def test_split_partitions_the_log_of_the_base(tx: pd.DataFrame, end: str) -> None:
    s = split(
        tx, calibration_end=end, holdout_end="2024-12-31", customer="who", date="t", amount="x"
    )
    cut = pd.Timestamp(end)
    assert (s.calibration["t"] <= cut).all()
    assert (s.holdout["t"] > cut).all()
    assert set(s.outcome.index) == set(s.calibration["who"])
    spent = s.holdout.groupby("who")["x"].sum().reindex(s.outcome.index, fill_value=0.0)
    assert np.allclose(s.outcome["holdout_spend"], spent)
    assert (s.outcome["buys_again"] == (s.outcome["holdout_purchases"] > 0)).all()


# ---------------------------------------------------------------- sources


@pytest.fixture(scope="module")
def s():  # type: ignore[no-untyped-def]
    return split(_tx(), calibration_end="2025-02-28", holdout_end="2025-06-30", **COLS)


def test_every_kind_of_source_gives_one_score_per_base_customer(s) -> None:  # type: ignore[no-untyped-def]
    rules = SegmentRules(
        [Segment("repeat", "purchase_days >= 2", priority=1), Segment("big", "total_spend >= 20")],
        mode="exclusive",
        default="other",
    )
    sources = {
        "text": "total_spend",
        "formula": Formula("purchase_days >= 2"),
        "value": ValueModel.default().drop("growth_potential", "brand"),
        "rfm": RFM(bins=2, allow_fewer_bins=True),
        "rules": rules,
        "stage": Lifecycle.five_stage(),
        "churn": ChurnWarning(),
        "series": pd.Series({"a": 1.0, "c": 3.0}),
        "callable": lambda sp: sp.features()["total_spend"] * 2,
    }
    for source in sources.values():
        frame = score_of(source, s)
        assert list(frame.index) == ["a", "b", "c"]
    assert score_of(rules, s)["score"].tolist() == ["repeat", "repeat", "other"]
    assert score_of(Lifecycle.five_stage(), s)["score"].tolist() == [
        "growth",
        "growth",
        "introduction",
    ]
    assert score_of(Lifecycle.five_stage(version=1), s)["score"].tolist() == [
        "growth",
        "decline",
        "introduction",
    ]
    assert score_of(pd.Series({"a": 1.0, "c": 3.0}), s)["score"].isna().tolist() == [
        False,
        True,
        False,
    ]
    multi = SegmentRules(
        [Segment("repeat", "purchase_days >= 2"), Segment("big", "total_spend >= 20")]
    )
    assert list(score_of(multi, s).columns) == ["repeat", "big"]
    result = evaluate(s, {**sources, "multi": multi})
    assert "multi[big]" in result.summary.index
    assert result.summary.loc["series", "coverage"] == pytest.approx(2 / 3)
    assert result.summary.loc["stage", "kind"] == "category"
    assert set(result.categories.loc["stage"].index) == {"growth", "introduction"}


def test_nullable_scores_count_as_unscored_where_null(s) -> None:  # type: ignore[no-untyped-def]
    flags = pd.Series([True, False, pd.NA], index=["a", "b", "c"], dtype="boolean")
    row = evaluate(s, {"flag": flags}).summary.loc["flag"]
    assert row["customers"] == 2
    assert row["coverage"] == pytest.approx(2 / 3)
    assert row["auc"] == 1.0  # a buys again, b does not; c is unscored


def test_a_risk_score_is_turned_round(s) -> None:  # type: ignore[no-untyped-def]
    result = evaluate(
        s,
        {
            "recency": Signal("days_since_last_purchase", risk=True),
            "raw": "days_since_last_purchase",
        },
    )
    assert result.summary.loc["recency", "auc"] == pytest.approx(
        1 - result.summary.loc["raw", "auc"]
    )
    assert result.summary.loc["recency", "ordering"] == "risk: reversed"


def test_categories_are_ranked_by_the_declared_order_or_the_holdout_rate(s) -> None:  # type: ignore[no-untyped-def]
    stages = Lifecycle.five_stage(version=1)
    best = evaluate(s, {"stage": stages})
    worst = evaluate(s, {"stage": Signal(stages, order=["introduction", "decline", "growth"])})
    assert best.summary.loc["stage", "ordering"] == "holdout rate (in-sample)"
    assert worst.summary.loc["stage", "ordering"] == "declared order"
    assert best.summary.loc["stage", "auc"] >= worst.summary.loc["stage", "auc"]
    with pytest.raises(ValidationError, match="introduction"):
        evaluate(s, {"stage": Signal(stages, order=["growth"])})


def test_a_forecast_is_compared_with_the_actual_total(s) -> None:  # type: ignore[no-untyped-def]
    guess = pd.Series({"a": 1.5, "b": 0.5, "c": 1.0})
    row = evaluate(s, {"guess": Signal(guess, predicts="purchases")}).summary.loc["guess"]
    assert row["predicted_total"] == 3.0
    assert row["actual_total"] == 2.0
    spend = evaluate(s, {"guess": Signal(guess * 10, predicts="spend")}).summary.loc["guess"]
    assert spend["actual_total"] == 35.0


def test_bad_scores_are_refused_by_name(s) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FrameError, match="shares no customer"):
        score_of(pd.Series({"zed": 1.0}), s)
    with pytest.raises(FrameError) as info:
        score_of(pd.Series([1.0, 2.0], index=["a", "a"]), s)
    assert info.value.rows == ("a",)
    with pytest.raises(ValidationError, match="callable"):
        score_of(lambda sp: 3, s)
    with pytest.raises(ValidationError, match="source"):
        score_of(3.5, s)
    with pytest.raises(ValidationError, match="signals"):
        evaluate(s, {})
    with pytest.raises(ValidationError, match="predicts"):
        Signal("x", predicts="value")  # type: ignore[arg-type]
    with pytest.raises(MissingColumnError, match="nope"):
        evaluate(s, {"x": "nope + 1"})


def test_backtest_is_split_then_evaluate() -> None:
    one = backtest(_tx(), {"spend": "total_spend"}, calibration_end="2025-02-28", **COLS)
    two = evaluate(split(_tx(), calibration_end="2025-02-28", **COLS), {"spend": "total_spend"})
    pd.testing.assert_frame_equal(one.summary, two.summary)
    gains = one.gains(10)
    assert gains.index[-1] == 1.0
    assert gains["spend"].iloc[-1] == pytest.approx(1.0)


def test_reversals_count_quick_flips_back_and_check_arguments() -> None:
    from crmkit.backtest import reversals

    tx = pd.DataFrame(
        {
            "customer_id": ["a"] * 5,
            "amount": [10.0] * 5,
            "occurred_at": pd.to_datetime(
                ["2024-01-05", "2024-02-05", "2024-03-05", "2024-04-05", "2024-09-20"]
            ),
        }
    )
    r = Lifecycle.five_stage(version=1).replay(tx, start="2024-01", end="2024-12")
    out = reversals(r, "maturity", "decline")
    assert set(out) == {"customers", "flips", "both_ways", "reversed"}
    assert out["reversed"] <= out["flips"]
    stages = r.stages.loc["a"].tolist()
    changes = [(x, y) for x, y in itertools.pairwise(stages) if x != y]
    assert out["flips"] == sum({x, y} == {"maturity", "decline"} for x, y in changes)
    with pytest.raises(ValidationError, match="stage"):
        reversals(r, "maturity", "nope")
    with pytest.raises(ValidationError, match="within"):
        reversals(r, "maturity", "decline", within=0)
    with pytest.raises(ValidationError, match="Replay"):
        reversals("r", "maturity", "decline")  # type: ignore[arg-type]


def test_the_backtest_module_imports_first_and_leaves_matplotlib_alone() -> None:
    code = "import sys, crmkit.backtest; assert 'matplotlib' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_plot_renders(s) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    from crmkit.adapters.plots import to_png
    from crmkit.backtest import plot_backtest

    fig = plot_backtest(evaluate(s, {"spend": "total_spend", "stage": Lifecycle.five_stage()}))
    assert to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValidationError):
        plot_backtest("no")  # type: ignore[arg-type]
