"""RFM: quantile bins, the tie policy, too few distinct values, segments, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmkit.errors import ConfigError, FrameError, MissingColumnError, ValidationError
from crmkit.segmentation import RFM, RFM_SEGMENTS, RfmScore, Segment, SegmentRules


def feats() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "days_since_last_purchase": [1.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0],
            "purchase_days": [10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
            "total_spend": [100.0, 90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, np.nan],
        },
        index=pd.Index([f"c{i}" for i in range(10)], name="customer_id"),
    )


def test_scores_by_quantiles() -> None:
    rfm = RFM().fit(feats())
    out = rfm.score(feats())
    assert out["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert out["f_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert out["m_score"].tolist()[:9] == [5, 5, 4, 4, 3, 2, 2, 1, 1]
    assert out["m_score"].iloc[9] is pd.NA
    assert str(out["r_score"].dtype) == "Int8"
    assert out["rfm_segment"].tolist()[:3] == ["champions", "champions", "loyal"]
    assert rfm.score_one(feats().iloc[9].to_dict()) == RfmScore(1, 1, None, "lost")


def test_tie_policy() -> None:
    frame = pd.DataFrame(
        {
            "days_since_last_purchase": [1.0, 2.0, 3.0],
            "purchase_days": [1, 2, 3],
            "total_spend": [1.0, 2.0, 3.0],
        }
    )
    low = RFM(bins=2, ties="low").fit(frame)
    high = RFM(bins=2, ties="high").fit(frame)
    assert low.edges == high.edges == {"recency": (2.0,), "frequency": (2.0,), "monetary": (2.0,)}
    # the middle customer sits on the edge
    assert low.score(frame)["m_score"].tolist() == [1, 1, 2]
    assert high.score(frame)["m_score"].tolist() == [1, 2, 2]
    assert (
        low.score_one(
            {"days_since_last_purchase": 2.0, "purchase_days": 2, "total_spend": 2.0}
        ).m_score
        == 1
    )
    assert (
        high.score_one(
            {"days_since_last_purchase": 2.0, "purchase_days": 2, "total_spend": 2.0}
        ).m_score
        == 2
    )


def test_too_few_distinct_values_raise_by_default() -> None:
    frame = feats().assign(purchase_days=[1, 1, 1, 1, 1, 1, 1, 2, 3, 4])
    with pytest.raises(FrameError, match="too few distinct values for 5 quantile bins") as err:
        RFM().fit(frame)
    assert err.value.column == "purchase_days"
    assert "allow_fewer_bins=True" in str(err.value)
    fewer = RFM(allow_fewer_bins=True).fit(frame)
    assert fewer.edges is not None
    assert fewer.edges["frequency"] == (1.0, 2.2)
    assert fewer.score(frame)["f_score"].tolist() == [1, 1, 1, 1, 1, 1, 1, 2, 3, 3]


def test_custom_segment_map_and_columns() -> None:
    frame = feats().rename(columns={"total_spend": "spend"})
    segments = SegmentRules(
        [Segment("best", "m_score >= 4"), Segment("rest", "m_score >= 1")],
        mode="exclusive",
        default="unscored",
    )
    rfm = RFM(monetary="spend", bins=4, segments=segments).fit(frame)
    assert rfm.score(frame)["rfm_segment"].tolist()[8:] == ["rest", "unscored"]
    with pytest.raises(ValidationError, match="exclusive"):
        RFM(segments=SegmentRules([Segment("a", "r_score > 1")]))


def test_default_segment_map_covers_every_score_pair() -> None:
    rules = SegmentRules.from_dict(RFM_SEGMENTS)
    names = set()
    for r in range(1, 6):
        for f in range(1, 6):
            label = rules.assign_one({"r_score": float(r), "f_score": float(f), "m_score": 3.0})
            assert label != "other"
            names.add(label)
    assert len(names) == 11


def test_round_trip() -> None:
    rfm = RFM(bins=4, ties="high").fit(feats())
    assert RFM.from_toml(rfm.to_toml()) == rfm
    assert RFM.from_json(rfm.to_json()) == rfm
    assert RFM.from_dict(RFM().to_dict()) == RFM()


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="bins"):
        RFM(bins=1)
    with pytest.raises(ValidationError, match="ties"):
        RFM(ties="middle")
    with pytest.raises(ValidationError, match="fitted"):
        RFM().score(feats())
    with pytest.raises(ValidationError, match="fitted"):
        RFM().score_one({})
    with pytest.raises(MissingColumnError, match="total_spend"):
        RFM().fit(feats().drop(columns="total_spend"))
    with pytest.raises(FrameError, match="no values"):
        RFM().fit(feats().iloc[:0])
    with pytest.raises(FrameError, match="not numeric"):
        RFM().fit(feats().assign(total_spend="lots"))
    with pytest.raises(FrameError, match="infinite"):
        RFM().fit(feats().assign(total_spend=np.inf))
    fitted = RFM().fit(feats())
    with pytest.raises(ValidationError, match="purchase_days"):
        fitted.score_one({"days_since_last_purchase": 1.0, "total_spend": 1.0})
    with pytest.raises(ValidationError):
        fitted.score_one({"days_since_last_purchase": "x", "purchase_days": 1, "total_spend": 1.0})
    assert len(fitted.score(feats().iloc[:0])) == 0
    with pytest.raises(ConfigError) as err:
        RFM.from_dict({"rfm": {"bins": 3}, "edges": {"recency": [3.0, 1.0], "frequency": [1.0]}})
    wheres = [p.where for p in err.value.problems]
    assert wheres == ["edges.monetary", "edges.recency", "edges.frequency"]
