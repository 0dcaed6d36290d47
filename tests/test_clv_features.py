"""The customer-base models' forecasts as features (issue 13, item 4).

``ClvFeatures`` adds ``p_alive``, ``p_any_purchase``, ``expected_purchases``,
``expected_spend`` and ``clv`` on every engine: ``features`` (a frame),
``features_one`` (one customer), lifecycle replay month by month (and
``replay_one``), Dask, and the job with a ``[clv]`` section. Formulas, segment
rules, lifecycle guards and churn rules read them by name and give the same
answers on every engine.
"""

from __future__ import annotations

import math
import pickle
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit as ck
from crmkit.app import segment_column, synthetic_transactions
from crmkit.clv import BGBB, BGNBD, ClvFeatures, GammaGamma, ParetoNBD
from crmkit.config import Config, score_transactions
from crmkit.domain import Purchase
from crmkit.errors import ConfigError, FrameError, ValidationError
from crmkit.expr import Formula
from crmkit.lifecycle import ChurnWarning, Lifecycle
from crmkit.scoring import (
    MODEL_INPUTS,
    VALUE_INPUTS,
    FeatureExtension,
    activity_frames,
    features,
    features_one,
    score_monthly,
)
from crmkit.segmentation import Segment, SegmentRules
from crmkit.testing import strategies as cks
from crmkit.testing.strategies import clv_feature_extensions, transaction_logs

BG = BGNBD(r=0.2426, alpha=4.4135, a=0.7929, b=2.4258, time_unit="W", as_of="1997-09-30")
GG = GammaGamma(p=6.2488, q=3.7446, v=15.4477)
EXT = ClvFeatures(purchases=BG, spend=GG, horizon=26, discount_rate=0.002)
COLUMNS = ("p_alive", "p_any_purchase", "expected_purchases", "expected_spend", "clv")

ALIVE = Lifecycle.from_dict(
    {
        "lifecycle": {
            "name": "alive",
            "version": "1",
            "states": ["active", "fading", "gone"],
            "initial": "active",
            "final": ["gone"],
        },
        "transitions": {
            "fade": {"from": "active", "to": "fading", "guard": "p_alive < 0.5"},
            "revive": {
                "from": "fading",
                "to": "active",
                "guard": "p_alive >= 0.7 and expected_purchases >= 0.3",
            },
            "leave": {
                "from": "fading",
                "to": "gone",
                "guard": "p_alive < 0.15 and days_since_last_purchase > 150",
                "priority": 0,
            },
        },
    }
)
RULES = SegmentRules(
    [
        Segment("keep", "p_alive >= 0.6 and expected_purchases >= 0.5"),
        Segment("lost", "p_alive < 0.3"),
        Segment("worth", "clv >= 40"),
    ]
)
FORMULA = Formula("clv / 10 + expected_purchases * p_alive", schema=VALUE_INPUTS)
CHURN = ChurnWarning(p_alive_below=0.4)


def _close(frame_value: Any, one_value: Any) -> bool:
    if one_value is None:
        return bool(math.isnan(frame_value))
    return math.isclose(float(frame_value), one_value, rel_tol=1e-9, abs_tol=1e-12)


def _log() -> pd.DataFrame:
    tx = synthetic_transactions(1_500, 120, seed=3, start="2023-01-05", end="2024-06-20")
    tx["amount"] = np.round(tx["amount"] * 4) / 4  # exact sums in any order
    return tx


def _purchases_of(tx: pd.DataFrame) -> dict[str, list[Purchase]]:
    out: dict[str, list[Purchase]] = {}
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


MONTH_ENDS = [
    pd.Period(m, freq="M").end_time.tz_localize("UTC")
    for m in pd.period_range("2023-03", "2024-06", freq="M")
]


# ---------------------------------------------------------------- one customer = the frame


@settings(max_examples=60, deadline=None)
@given(
    history=cks.feature_histories(),
    ext=clv_feature_extensions(),
    time_unit=st.sampled_from(["D", "W"]),
)
def test_features_one_with_the_extension_equals_the_frame_path(
    history: cks.FeatureHistory, ext: ClvFeatures, time_unit: Any
) -> None:
    frames = activity_frames(history.activities)
    active = {a.customer_id for a in history.activities if a.occurred_at <= history.as_of}
    if not active:
        return
    frame = features(
        frames.transactions,
        as_of=history.as_of,
        settlement="settlement",
        refunds=frames.refunds,
        complaints=frames.complaints,
        referrals=frames.referrals,
        interactions=frames.interactions,
        surveys=frames.surveys,
        time_unit=time_unit,
        extensions=[ext],
    )
    assert tuple(frame.columns[-len(ext.columns) :]) == ext.columns
    for customer in active:
        mine = [a for a in history.activities if a.customer_id == customer]
        one = features_one(mine, as_of=history.as_of, time_unit=time_unit, extensions=[ext])
        row = frame.loc[customer]
        for name in ext.columns:
            assert _close(row[name], one[name]), (customer, name, row[name], one[name])
        if one["purchase_count"] == 0:  # other activity only: no forecast
            assert all(one[name] is None for name in ext.columns)
        else:
            assert 0.0 <= one["p_alive"] <= 1.0  # type: ignore[operator]
            if ext.spend is not None and one["clv"] is not None:
                assert one["clv"] >= 0.0  # type: ignore[operator]


@settings(max_examples=40, deadline=None)
@given(history=cks.feature_histories(), ext=clv_feature_extensions())
def test_the_features_time_unit_does_not_change_the_forecasts(
    history: cks.FeatureHistory, ext: ClvFeatures
) -> None:
    """Features in days are converted to the model's unit: the same forecasts.

    Exact for whole days (``days / 7``); an age with a fraction of a day may
    round differently in its last bit from ``features(time_unit="W")``.
    """
    frames = activity_frames(history.activities)
    if not any(
        isinstance(a, Purchase) and a.occurred_at <= history.as_of for a in history.activities
    ):
        return  # features() refuses an as_of before every purchase of the frame it is given
    days, weeks = (
        features(frames.transactions, as_of=history.as_of, time_unit=u, extensions=[ext])
        for u in ("D", "W")
    )
    for name in ext.columns:
        np.testing.assert_allclose(
            days[name].to_numpy(), weeks[name].to_numpy(), rtol=1e-12, atol=0, err_msg=name
        )


def test_the_forecast_is_the_models_prediction_at_the_features_as_of() -> None:
    """At a later as_of the customer's own summary then is used, not the fitting date's."""
    tx = _log()
    for as_of in ("2023-09-30", "2024-06-30"):
        weekly = features(tx, as_of=as_of, date="date", time_unit="W")
        expected = BG.predict(weekly, horizon=26)
        got = features(tx, as_of=as_of, date="date", extensions=[EXT])
        for name in ("p_alive", "p_any_purchase", "expected_purchases"):
            assert np.array_equal(got[name].to_numpy(), expected[name].to_numpy()), name
        spend = ck.clv.clv(weekly, purchases=BG, spend=GG, horizon=26, discount_rate=0.002)
        assert np.array_equal(got["clv"].to_numpy(), spend.to_numpy())
    early, late = (
        features(tx, as_of=a, date="date", extensions=[EXT]) for a in ("2023-09-30", "2024-06-30")
    )
    both = early.index.intersection(late.index)
    assert not np.allclose(early.loc[both, "p_alive"], late.loc[both, "p_alive"])


# ---------------------------------------------------------------- every reader, every engine


def test_formula_segments_and_churn_rules_agree_on_frame_and_one_customer_month_by_month() -> None:
    tx = _log()
    buys = _purchases_of(tx)
    seen_segments: set[str] = set()
    seen_reasons: set[str] = set()
    for end in MONTH_ENDS:
        frame = features(tx, as_of=end, date="date", extensions=[EXT])
        values = FORMULA.evaluate_arrays({k: frame[k] for k in FORMULA.names}, size=len(frame))
        assigned = RULES.assign(frame)
        flagged = CHURN.flag(frame)
        for position, customer in enumerate(frame.index):
            one = features_one(buys[customer], as_of=end, extensions=[EXT])
            for name in COLUMNS:
                assert _close(frame.loc[customer, name], one[name]), (end, customer, name)
            assert math.isclose(float(values[position]), FORMULA.evaluate(one), rel_tol=1e-9)
            labels = RULES.assign_one(one)
            assert labels == assigned.loc[customer, "segments"], (end, customer)
            seen_segments.update(labels)
            at_risk, reason = CHURN.flag_one(one)
            assert at_risk == bool(flagged.loc[customer, "at_risk"]), (end, customer)
            assert reason == (None if not at_risk else str(flagged.loc[customer, "reason"]))
            if reason:
                seen_reasons.update(reason.split(", "))
    assert seen_segments == {"keep", "lost", "worth"}  # every rule holds somewhere
    assert "unlikely alive" in seen_reasons


def test_replay_month_by_month_reads_the_forecast_of_each_month_end() -> None:
    tx = _log()
    result = ALIVE.replay(tx, start="2023-03", end="2024-06", date="date", extensions=[EXT])
    stages = result.stages
    assert set(result.transitions["transition"]) == {"fade", "revive", "leave"}
    prev: pd.Series[Any] | None = None
    for period, end in zip(result.periods, result.ends, strict=True):
        feats = features(tx, as_of=end, date="date", extensions=[EXT])
        if prev is None:
            current = pd.Series(ALIVE.initial, index=feats.index, dtype=object)
        else:
            before = prev.reindex(feats.index).astype(object)
            current = before.where(before.notna(), ALIVE.initial)
        got = ALIVE.classify(feats, current=current)["stage"].astype(object)
        assert got.equals(stages[period].reindex(feats.index).astype(object)), period
        prev = got
        # the forecast each fired guard read is that month end's, for that customer
        here = (result.transitions["period"] == period).to_numpy()
        moved = result.transitions[here]
        reads = result.transition_inputs[here]
        rows = feats.loc[moved.iloc[:, 0]]
        for name in ("p_alive", "expected_purchases"):
            read = ~reads[name].isna().to_numpy()
            assert np.array_equal(reads[name].to_numpy()[read], rows[name].to_numpy()[read]), (
                period,
                name,
            )


def test_replay_one_with_the_extension_is_the_replayed_stage() -> None:
    tx = _log()
    as_of = pd.Timestamp("2024-05-17 12:00", tz="UTC")
    replayed = ALIVE.replay(tx, start="2023-01", as_of=as_of, date="date", extensions=[EXT])
    last = replayed.stages.iloc[:, -1]
    records = {(r.customer_id, r.at, r.transition): r for r in replayed.records()}
    for cid, buys in _purchases_of(tx).items():
        steps = ALIVE.replay_one(buys, customer_id=cid, as_of=as_of, extensions=[EXT])
        if cid not in last.index:  # first purchase after as_of
            assert steps == []
            continue
        assert steps[-1].stage == last[cid], cid
        for s in steps:
            if s.transition is not None:
                stored = records[(cid, s.transition.at, s.transition.transition)]
                for name, value in s.transition.inputs.items():
                    assert _close(stored.inputs[name], value), (cid, name)


def test_dask_features_and_the_dask_job_with_the_extension_equal_pandas() -> None:
    pytest.importorskip("dask.dataframe")
    import dask

    from crmkit.adapters import dask as ckd
    from crmkit.app import score_dask

    tx = _log()
    expected = features(tx, as_of="2024-04-30", date="date", extensions=[EXT])
    config = Config.from_dict(CONFIG)
    job = score_transactions(tx, config, as_of="2024-04-30", date="date").scores
    with dask.config.set(scheduler="synchronous"):
        out = ckd.features(
            tx, as_of="2024-04-30", date="date", npartitions=3, extensions=[EXT]
        ).compute()
        scored = (
            score_dask(tx, config, as_of="2024-04-30", date="date", npartitions=3)
            .scores.compute()
            .loc[job.index]
        )
    out = out.loc[expected.index]
    for name in COLUMNS:
        assert np.array_equal(out[name].to_numpy(), expected[name].to_numpy()), name
        assert np.array_equal(scored[name].to_numpy(), job[name].to_numpy()), name
    pd.testing.assert_frame_equal(scored, job, check_exact=True)


# ---------------------------------------------------------------- refusals


def test_a_guard_over_a_model_output_needs_the_extension_in_replay() -> None:
    with pytest.raises(ValidationError, match="extensions") as caught:
        ALIVE.replay(_log(), start="2023-03", end="2023-06", date="date")
    assert "p_alive" in str(caught.value.got)


def test_a_rule_reading_a_model_output_refuses_a_frame_without_it() -> None:
    frame = features(_log(), as_of="2024-01-31", date="date")
    with pytest.raises(ck.MissingColumnError) as caught:
        CHURN.flag(frame)
    assert "p_alive" in caught.value.missing


def test_model_outputs_are_known_names_of_every_formula_schema() -> None:
    assert set(MODEL_INPUTS) == set(COLUMNS)
    assert set(MODEL_INPUTS) <= set(ck.lifecycle.GUARD_INPUTS)
    assert set(MODEL_INPUTS) <= set(VALUE_INPUTS)
    assert isinstance(EXT, FeatureExtension)


def test_bad_extensions_are_refused() -> None:
    tx = _log()
    with pytest.raises(ValidationError) as clash:
        features(tx, as_of="2024-01-31", date="date", extensions=[EXT, EXT])
    assert clash.value.got == repr("p_alive")
    with pytest.raises(ValidationError):
        features(tx, as_of="2024-01-31", date="date", extensions=EXT)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        features_one([], as_of="2024-01-31", extensions=[object()])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="BGBB"):
        ClvFeatures(purchases=BGBB(alpha=1.2, beta=0.75, gamma=0.66, delta=2.8), horizon=5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="q > 1"):
        ClvFeatures(purchases=BG, spend=GammaGamma(p=6.0, q=0.9, v=15.0), horizon=5)
    with pytest.raises(ValidationError, match="horizon"):
        ClvFeatures(purchases=BG, horizon=-1)


def test_an_extension_giving_the_wrong_shape_is_a_frame_error() -> None:
    class Broken:
        columns = ("score",)
        needs = ("total_spend",)

        def frame(self, features: pd.DataFrame, *, time_unit: str) -> pd.DataFrame:
            return pd.DataFrame({"other": features["total_spend"]})

        def one(self, features: Any, *, time_unit: str) -> dict[str, float | None]:
            return {"score": 1.0}

    with pytest.raises(FrameError, match="wrong shape"):
        features(_log(), as_of="2024-01-31", date="date", extensions=[Broken()])


# ---------------------------------------------------------------- configuration and job

CONFIG = {
    "clv": EXT.to_dict(),
    "value": {
        "model": {"name": "forecast", "version": "1"},
        "components": {"clv": {"formula": "clv", "weight": 1.0}},
    },
    "segments": {"alive": RULES.to_dict()},
    "lifecycle": ALIVE.to_dict(),
}


def test_the_clv_section_round_trips_and_reports_problems_under_its_key() -> None:
    config = Config.from_dict(CONFIG)
    assert config.clv == EXT
    assert pickle.loads(pickle.dumps(EXT)) == EXT  # Dask's process workers get a copy
    assert Config.from_toml(config.to_toml()) == config
    assert "CLV features from bg_nbd and gamma_gamma (horizon 26 W)" in config.summary()
    pareto = ParetoNBD(r=0.55, alpha=10.58, s=0.61, beta=11.67, time_unit="W")
    assert (
        ClvFeatures.from_toml(ClvFeatures(purchases=pareto, horizon=4).to_toml()).purchases
        == pareto
    )
    bad = {
        "clv": {
            "horizn": 26,
            "step": 0,
            "purchases": {"model": "bg_bb", "params": {}},
            "spend": {"model": "gamma_gamma", "params": {"p": 1.0, "q": 0.5, "v": 2.0}},
        }
    }
    with pytest.raises(ConfigError) as caught:
        Config.from_dict(bad)
    where = {p.where for p in caught.value.problems}
    assert {
        "clv.horizn",
        "clv.horizon",
        "clv.step",
        "clv.purchases.model",
        "clv.spend.params.q",
    } <= where


def test_the_job_with_a_clv_section_adds_the_forecasts_that_value_segments_and_stage_read() -> None:
    tx = _log()
    as_of = "2024-05-17"
    result = score_transactions(tx, Config.from_dict(CONFIG), as_of=as_of, date="date")
    scores = result.scores
    expected = features(tx, as_of=as_of, date="date", extensions=[EXT])
    for name in COLUMNS:
        assert np.array_equal(scores[name].to_numpy(), expected[name].to_numpy()), name
    assert np.allclose(scores["value"], expected["clv"])
    assigned = RULES.assign(expected)
    for segment in ("keep", "lost", "worth"):
        column = segment_column("alive", segment)
        assert (scores[column] == assigned[segment].astype(bool)).all(), column
    replayed = ALIVE.replay(tx, start="2023-01", as_of=as_of, date="date", extensions=[EXT])
    stages = replayed.stages.iloc[:, -1].astype("string").reindex(scores.index)
    assert (scores["stage"] == stages).all()
    assert set(scores["stage"]) == {"active", "fading", "gone"}


def test_score_monthly_with_the_extension_scores_each_months_forecast() -> None:
    tx = _log()
    model = ck.ValueModel.from_dict(
        {
            "model": {"name": "forecast", "version": "1"},
            "components": {"clv": {"formula": "clv"}, "alive": {"formula": "p_alive"}},
        }
    )
    monthly = score_monthly(
        tx, model=model, start="2024-01", end="2024-04", date="date", extensions=[EXT]
    )
    for month, part in monthly.groupby("month"):
        end = (month + 1).start_time.tz_localize("UTC") - pd.Timedelta(1, unit="ns")
        expected = model.score(features(tx, as_of=end, date="date", extensions=[EXT]))
        got = part.set_index("customer_id")["value"]
        assert np.array_equal(
            got.to_numpy(), expected["value"].loc[got.index].to_numpy(), equal_nan=True
        ), month


def test_replay_computes_only_the_extensions_a_guard_reads() -> None:
    calls: list[int] = []

    class Counted:
        columns = ("p_alive",)
        needs = EXT.needs

        def frame(self, features: pd.DataFrame, *, time_unit: Any) -> pd.DataFrame:
            calls.append(len(features))
            return EXT.frame(features, time_unit=time_unit)[["p_alive"]]

        def one(self, features: Any, *, time_unit: Any) -> dict[str, float | None]:
            return {"p_alive": EXT.one(features, time_unit=time_unit)["p_alive"]}

    tx = _log()
    plain = Lifecycle.five_stage().replay(tx, start="2023-03", end="2023-08", date="date")
    unused = Lifecycle.five_stage().replay(
        tx, start="2023-03", end="2023-08", date="date", extensions=[Counted()]
    )
    assert calls == []
    assert np.array_equal(plain.codes, unused.codes)
    fading = Lifecycle.from_dict(
        {
            "lifecycle": {
                "name": "f",
                "version": "1",
                "states": ["a", "b"],
                "initial": "a",
                "final": ["b"],
            },
            "transitions": {"go": {"from": "a", "to": "b", "guard": "p_alive < 0.5"}},
        }
    )
    fading.replay(tx, start="2023-03", end="2023-08", date="date", extensions=[Counted()])
    assert len(calls) == 6


@settings(max_examples=15, deadline=None)
@given(
    names=cks.column_names("customer", "date", "amount"),
    data=st.data(),
    ext=clv_feature_extensions(),
)
def test_replay_at_each_month_end_is_features_with_the_extension_then(
    names: dict[str, str], data: st.DataObject, ext: ClvFeatures
) -> None:
    tx = data.draw(
        transaction_logs(customer=names["customer"], date=names["date"], amount=names["amount"])
    )
    columns = {k: names[k] for k in ("customer", "date", "amount")}
    result = ALIVE.replay(tx, start="2024-01", end="2024-12", extensions=[ext], **columns)
    prev: pd.Series[Any] | None = None
    for period, end in zip(result.periods, result.ends, strict=True):
        try:
            feats = features(tx, as_of=end, extensions=[ext], **columns)
        except FrameError:  # before all data
            assert result.stages[period].isna().all()
            continue
        before = (
            pd.Series(ALIVE.initial, index=feats.index, dtype=object)
            if prev is None
            else prev.reindex(feats.index).astype(object)
        )
        current = before.where(before.notna(), ALIVE.initial)
        got = ALIVE.classify(feats, current=current)["stage"].astype(object)
        assert got.equals(result.stages[period].reindex(feats.index).astype(object)), period
        prev = got
        here = (result.transitions["period"] == period).to_numpy()
        rows = feats.loc[result.transitions[here].iloc[:, 0]]
        reads = result.transition_inputs[here]
        for name in ("p_alive", "expected_purchases"):
            read = ~reads[name].isna().to_numpy()
            assert np.array_equal(reads[name].to_numpy()[read], rows[name].to_numpy()[read])


def test_a_backtest_reads_the_forecasts_as_features() -> None:
    from crmkit.backtest import Signal, backtest, score_of, split

    tx = _log()
    plain = split(tx, calibration_end="2023-12-31", date="date")
    # (BG/NBD finds no optimum on this synthetic log, whose customers hardly drop out)
    fitted = ClvFeatures(purchases=BG, horizon=26)
    s = split(tx, calibration_end="2023-12-31", date="date", extensions=[fitted])
    expected = features(
        plain.calibration, as_of=s.calibration_end, date="date", extensions=[fitted]
    )
    score = score_of("expected_purchases", s)["score"]
    assert np.array_equal(
        score.to_numpy(), expected["expected_purchases"].loc[score.index].to_numpy()
    )
    stage = score_of(ALIVE, s)["score"]
    replayed = ALIVE.replay(
        plain.calibration,
        start=s.calibration_start,
        end=s.calibration_end,
        date="date",
        extensions=[fitted],
    )
    assert (
        stage.astype(object) == replayed.stages.iloc[:, -1].reindex(stage.index).astype(object)
    ).all()
    result = backtest(
        tx,
        {
            "expected": "expected_purchases",
            "churn": Signal(ChurnWarning(p_alive_below=0.5), risk=True),
        },
        calibration_end="2023-12-31",
        date="date",
        extensions=[fitted],
    )
    assert set(result.summary.index) == {"expected", "churn"}
    with pytest.raises(ck.MissingColumnError):
        score_of("expected_purchases + 0", plain)
