"""Segmentation: ten rules (three with population statistics), fitted and assigned on 1M customers.

Reference measured in the same run: the same rules hand-written in numpy
(``np.nanquantile`` / ``np.nanmean`` for the statistics, three-valued logic
left out: nulls simply compare False), which is what a notebook user would
write without crmkit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmarks._util import Section, time_it
from crmkit.segmentation import RFM, SegmentRules, movement

RULES: dict[str, Any] = {
    "rules": {"name": "bench", "mode": "multi"},
    "segments": {
        "big": {
            "rule": "total_spend >= quantile(total_spend, 0.8) and "
            "monthly_frequency >= quantile(monthly_frequency, 0.8)"
        },
        "above_mean": {"rule": "value >= mean(value)"},
        "top_value": {"rule": "value >= quantile(value, 0.9)"},
        "old": {"rule": "tenure_months >= 24 and purchase_days >= 5"},
        "one_timer": {"rule": "purchase_days == 1"},
        "recent": {"rule": "days_since_last_purchase <= 30"},
        "lapsed": {"rule": "days_since_last_purchase > 180"},
        "complainer": {"rule": "complaint_count >= 1"},
        "big_basket": {"rule": "total_spend / purchase_count >= 100"},
        "growing": {"rule": "spend_last_3m > spend_prev_3m * 1.2"},
    },
}


def frame(n: int, seed: int = 7) -> pd.DataFrame:
    """A synthetic feature frame of *n* customers (with some nulls)."""
    rng = np.random.default_rng(seed)
    purchase_days = rng.geometric(0.35, n).astype(np.int64)
    purchase_count = purchase_days + rng.poisson(0.3, n)
    total_spend = np.round(rng.gamma(2.0, 60.0, n) * purchase_count, 2)
    tenure = rng.uniform(0.0, 60.0, n)
    recency = np.where(rng.random(n) < 0.02, np.nan, rng.uniform(0.0, 400.0, n))
    return pd.DataFrame(
        {
            "total_spend": total_spend,
            "purchase_count": purchase_count,
            "purchase_days": purchase_days,
            "monthly_frequency": purchase_count / np.maximum(tenure, 1.0),
            "tenure_months": tenure,
            "days_since_last_purchase": recency,
            "complaint_count": rng.poisson(0.1, n),
            "spend_last_3m": rng.gamma(1.0, 50.0, n),
            "spend_prev_3m": rng.gamma(1.0, 50.0, n),
            "value": np.where(rng.random(n) < 0.01, np.nan, rng.gamma(2.0, 30.0, n)),
        },
        index=pd.RangeIndex(n, name="customer_id"),
    )


def _hand_written(f: pd.DataFrame) -> pd.DataFrame:
    spend = f["total_spend"].to_numpy()
    freq = f["monthly_frequency"].to_numpy()
    value = f["value"].to_numpy()
    days = f["days_since_last_purchase"].to_numpy()
    pdays = f["purchase_days"].to_numpy()
    with np.errstate(all="ignore"):
        out = {
            "big": (spend >= np.nanquantile(spend, 0.8)) & (freq >= np.nanquantile(freq, 0.8)),
            "above_mean": value >= np.nanmean(value),
            "top_value": value >= np.nanquantile(value, 0.9),
            "old": (f["tenure_months"].to_numpy() >= 24) & (pdays >= 5),
            "one_timer": pdays == 1,
            "recent": days <= 30,
            "lapsed": days > 180,
            "complainer": f["complaint_count"].to_numpy() >= 1,
            "big_basket": spend / f["purchase_count"].to_numpy() >= 100,
            "growing": f["spend_last_3m"].to_numpy() > f["spend_prev_3m"].to_numpy() * 1.2,
        }
    return pd.DataFrame(out, index=f.index)


def run(*, quick: bool = False) -> list[Section]:
    n = 20_000 if quick else 1_000_000
    repeat = 2 if quick else 5
    feats = frame(n)
    rules = SegmentRules.from_dict(RULES)

    ours = rules.fit(feats).assign(feats)
    ref = _hand_written(feats)
    for name in ref.columns:  # same answers before timing
        if not np.array_equal(ours[name].to_numpy(), ref[name].to_numpy()):
            msg = f"bench_segments: {name} differs from the hand-written rule"
            raise AssertionError(msg)

    fitted = rules.fit(feats)
    t_all = time_it(lambda: rules.fit(feats).assign(feats), repeat=repeat)
    t_fit = time_it(lambda: rules.fit(feats), repeat=repeat)
    t_held = time_it(lambda: fitted.held(feats), repeat=repeat)
    t_ref = time_it(lambda: _hand_written(feats), repeat=repeat)

    tiers = SegmentRules.value_tiers().fit(feats)
    before = tiers.assign(feats)["segment"]
    shifted = feats.assign(value=feats["value"] * np.random.default_rng(1).uniform(0.7, 1.3, n))
    after = tiers.assign(shifted)["segment"]
    t_move = time_it(lambda: movement(before, after), repeat=repeat)
    rfm = RFM(allow_fewer_bins=True)
    t_rfm = time_it(lambda: rfm.fit(feats).score(feats), repeat=repeat)

    rows = [
        [
            f"10 rules (3 with population statistics, 4 statistics): `fit` + `assign`, {n:,} customers",
            str(t_all),
            str(t_ref),
            f"{t_all.median / t_ref.median:.1f}x",
            "< 1 s" if not quick else "",
        ],
        [
            "of which `fit` (the 4 statistics over the base)",
            str(t_fit),
            "",
            "",
            "",
        ],
        [
            "`held` on fitted rules (the bool matrix, no label tuples)",
            str(t_held),
            str(t_ref),
            f"{t_held.median / t_ref.median:.1f}x",
            "",
        ],
        ["`movement` between two value-tier assignments", str(t_move), "", "", ""],
        ["`RFM().fit(...).score(...)` (scores and the 11 segments)", str(t_rfm), "", "", ""],
    ]
    return [
        Section(
            title="Segmentation",
            header=["operation", "crmkit (median)", "hand-written numpy", "ratio", "target"],
            rows=rows,
            notes=[
                "The reference computes the same ten boolean columns with numpy and "
                "`np.nanquantile`/`np.nanmean`, without null-aware logic and without the "
                "`segments` column of label tuples; the results are checked equal first.",
            ],
        )
    ]
