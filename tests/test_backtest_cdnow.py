"""The presets backtested on CDNOW master: the figures the docs quote (issue 13, item 5).

Split: calibration 1997-01-01..1997-09-30, holdout 1997-10-01..1998-06-30.
Margins are small on purpose: a change that moves a figure should update the docs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crmkit.backtest import Signal, Split, evaluate, reversals, split
from crmkit.lifecycle import ChurnWarning, Lifecycle
from crmkit.scoring import ValueModel
from crmkit.segmentation import RFM

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cdnow"

pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"the CDNOW data is not at {DATA} (shared/ beside the checkout)"
)

ORDER = ["maturity", "growth", "decline", "introduction", "departed"]
MARGIN = 0.002


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    frame = pd.read_csv(
        DATA / "CDNOW_master.txt",
        sep=r"\s+",
        header=0,
        names=["customer_id", "date", "cds", "amount"],
    )
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y%m%d")
    return frame


@pytest.fixture(scope="module")
def s(tx: pd.DataFrame) -> Split:
    return split(tx, calibration_end="1997-09-30", holdout_end="1998-06-30", date="date")


def test_the_split(s: Split) -> None:
    assert len(s.outcome) == 23_570
    assert s.newcomers == 0
    assert int(s.outcome["buys_again"].sum()) == 7_058
    assert int(s.outcome["holdout_purchases"].sum()) == 19_684
    assert s.outcome["holdout_spend"].sum() == pytest.approx(776_961.13)


def test_churn_warning_v2_covers_one_time_buyers_and_ranks_buyers(s: Split) -> None:
    f = s.features()
    old = ChurnWarning(one_time_days=None)
    result = evaluate(
        s, {"v1": Signal(old.flag(f)["at_risk"], risk=True), "v2": ChurnWarning()}
    ).summary
    assert result.loc["v1", "auc"] == pytest.approx(0.420, abs=MARGIN)  # the figure
    assert result.loc["v2", "auc"] >= 0.76
    assert result.loc["v2", "auc"] == pytest.approx(0.768, abs=MARGIN)
    assert result.loc["v2", "auc"] > 0.763  # BG/NBD's expected purchases (tutorial)
    one_time = f["repeat_purchases"] == 0
    assert int(one_time.sum()) == 14_119
    assert ChurnWarning().flag(f)["at_risk"][one_time].all()
    assert not old.flag(f)["at_risk"][one_time].any()


def test_value_model_v2_ranks_holdout_spend_at_least_as_well_as_rfm(s: Split) -> None:
    result = evaluate(
        s,
        {
            "v1": ValueModel.default(version=1).drop("growth_potential", "brand"),
            "v2": ValueModel.default().drop("growth_potential", "brand"),
            "rfm": RFM(allow_fewer_bins=True),
        },
    ).summary
    rho = result["spearman_spend"]
    assert rho["v1"] == pytest.approx(0.416, abs=MARGIN)
    assert rho["rfm"] == pytest.approx(0.453, abs=MARGIN)
    assert rho["v2"] == pytest.approx(0.458, abs=MARGIN)
    assert rho["v2"] >= rho["rfm"]
    scored = ValueModel.default().drop("growth_potential", "brand").score(s.features())
    assert float((scored["value_tenure"] / scored["value"]).median()) == 0.0


def test_five_stage_v2_at_the_calibration_end(s: Split) -> None:
    result = evaluate(
        s,
        {
            "v1": Signal(Lifecycle.five_stage(version=1), order=ORDER),
            "v2": Signal(Lifecycle.five_stage(), order=ORDER),
        },
    )
    auc = result.summary["auc"]
    assert auc["v1"] == pytest.approx(0.723, abs=MARGIN)
    assert auc["v2"] == pytest.approx(0.757, abs=MARGIN)  # short of the 0.76 target: see docs
    rates = result.categories["buy_again_rate"]
    customers = result.categories["customers"]
    assert rates["v1", "departed"] == pytest.approx(0.174, abs=MARGIN)  # the 17%
    assert customers["v1", "departed"] == 16_953
    assert ("v2", "departed") not in customers.index  # nobody is a year silent yet
    assert rates["v2", "decline"] < rates["v2", "growth"] - 0.2
    assert rates["v2", "introduction"] == pytest.approx(0.146, abs=MARGIN)


def test_five_stage_splitting_one_time_buyers_passes_076_only_by_breaking_departed(
    tx: pd.DataFrame, s: Split
) -> None:
    """The docs' reason for stopping at 0.757, on both splits (the lifecycle concept page)."""
    config = Lifecycle.five_stage().to_dict()
    config["lifecycle"]["version"] = "2-small-first-purchase"
    config["transitions"]["small_first_purchase"] = {
        "from": ["introduction"],
        "to": "departed",
        "priority": 3,
        "guard": "purchase_days <= 1 and total_spend < 20 and days_since_last_purchase > 90",
    }
    trial = Lifecycle.from_dict(config)
    half_v1_departed_rate = 0.174 / 2
    second = split(tx, calibration_end="1997-06-30", holdout_end="1998-03-31", date="date")
    figures: dict[str, tuple[float, float, int, float]] = {}
    for name, one_split in (("A", s), ("B", second)):
        result = evaluate(
            one_split,
            {
                "v2": Signal(Lifecycle.five_stage(), order=ORDER),
                "trial": Signal(trial, order=ORDER),
            },
        )
        departed = result.categories.loc[("trial", "departed")]
        figures[name] = (
            result.summary.loc["v2", "auc"],
            result.summary.loc["trial", "auc"],
            int(departed["customers"]),
            float(departed["buy_again_rate"]),
        )
        assert float(departed["buy_again_rate"]) > half_v1_departed_rate
    assert figures["A"][0] < 0.76 <= figures["A"][1]
    assert figures["A"][1:3] == (pytest.approx(0.762, abs=MARGIN), 6_924)
    assert figures["A"][3] == pytest.approx(0.135, abs=MARGIN)
    assert figures["B"][0] == pytest.approx(0.689, abs=MARGIN)
    assert figures["B"][1:3] == (pytest.approx(0.700, abs=MARGIN), 7_507)
    assert figures["B"][3] == pytest.approx(0.178, abs=MARGIN)
    # one-time buyers hardly differ by the spend of their one purchase day
    f = s.features()
    once = f["purchase_days"] <= 1
    bought = s.outcome["buys_again"].reindex(f.index)[once]
    by_spend = bought.groupby(f.loc[once, "total_spend"] < 10).mean()
    assert 0.12 <= by_spend[True] < by_spend[False] < 0.15


def _reversals(lc: Lifecycle, tx: pd.DataFrame) -> int:
    r = lc.replay(tx, start="1997-01", end="1998-06", date="date")
    t = r.transitions.sort_values(["customer_id", "period"], kind="stable")
    t = t.assign(month=[p.ordinal for p in t["period"]])
    after = t.groupby("customer_id")[["from_stage", "to_stage", "month"]].shift(-1)
    pair = ["maturity", "decline"]
    flip = t["from_stage"].isin(pair) & t["to_stage"].isin(pair)
    back = (after["from_stage"] == t["to_stage"]) & (after["to_stage"] == t["from_stage"])
    soon = (after["month"] - t["month"]) <= 2
    return int((flip & back & soon).sum())


def test_five_stage_v2_reversals_fall_by_80_percent(tx: pd.DataFrame) -> None:
    replays = {
        v: Lifecycle.five_stage(version=v).replay(tx, start="1997-01", end="1998-06", date="date")
        for v in (1, 2)
    }
    before = reversals(replays[1], "maturity", "decline")
    after = reversals(replays[2], "maturity", "decline")
    assert before["reversed"] == 1_491  # the figures
    assert before["both_ways"] == 3_159
    assert int(replays[1].stages.eq("maturity").any(axis=1).sum()) == 6_080
    assert after["reversed"] == 258
    assert after["reversed"] <= 0.2 * before["reversed"]
    # an independent count agrees
    assert _reversals(Lifecycle.five_stage(version=1), tx) == before["reversed"]
    assert _reversals(Lifecycle.five_stage(), tx) == after["reversed"]
