"""Segment rules: the columnar and scalar paths agree, fitted rules round-trip, movement adds up."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from crmkit.errors import FrameError
from crmkit.segmentation import NO_SEGMENT, RFM, SegmentRules, movement
from crmkit.testing import strategies as cks


@st.composite
def rules_and_frames(draw: st.DrawFn) -> tuple[dict[str, Any], pd.DataFrame]:
    columns = draw(st.lists(cks.formula_names(), min_size=1, max_size=3, unique=True))
    config = draw(cks.segment_rule_configs(columns=columns))
    frame = draw(cks.segment_frames(columns=columns))
    return config, frame


def _row(frame: pd.DataFrame, i: int) -> dict[str, Any]:
    return {str(k): v for k, v in frame.iloc[i].items()}


@given(rules_and_frames())
def test_assign_agrees_with_assign_one_row_by_row(
    case: tuple[dict[str, Any], pd.DataFrame],
) -> None:
    config, frame = case
    fitted = SegmentRules.from_dict(config).fit(frame)
    out = fitted.assign(frame)
    assert list(out.index) == list(frame.index)
    if fitted.mode == "exclusive":
        assert list(out.columns) == ["segment"]
        assert list(out["segment"].cat.categories) == list(fitted.labels)
        for i in range(len(frame)):
            assert fitted.assign_one(_row(frame, i)) == out["segment"].iloc[i]
    else:
        assert list(out.columns) == [*fitted.names, "segments"]
        for i in range(len(frame)):
            one = fitted.assign_one(_row(frame, i))
            assert one == out["segments"].iloc[i]
            assert one == tuple(n for n in fitted.names if out[n].iloc[i])


@given(rules_and_frames())
def test_explain_one_agrees_with_assign_one(case: tuple[dict[str, Any], pd.DataFrame]) -> None:
    config, frame = case
    fitted = SegmentRules.from_dict(config).fit(frame)
    for i in range(min(len(frame), 3)):
        values = _row(frame, i)
        explanation = fitted.explain_one(values)
        one = fitted.assign_one(values)
        assert explanation.segments == (one if isinstance(one, tuple) else (one,))
        assert len(explanation.results) == len(fitted.segments)


@given(rules_and_frames())
def test_fitted_rules_round_trip(case: tuple[dict[str, Any], pd.DataFrame]) -> None:
    config, frame = case
    rules = SegmentRules.from_dict(config)
    assert SegmentRules.from_dict(rules.to_dict()) == rules
    fitted = rules.fit(frame)
    assert fitted.is_fitted
    assert set(fitted.thresholds or {}) == set(fitted.statistics)
    for again in (
        SegmentRules.from_dict(fitted.to_dict()),
        SegmentRules.from_toml(fitted.to_toml()),
        SegmentRules.from_json(fitted.to_json()),
    ):
        assert again == fitted
        assert again.is_fitted
        pd.testing.assert_frame_equal(again.assign(frame), fitted.assign(frame))


@given(rules_and_frames())
def test_thresholds_are_the_statistics_of_the_frame(
    case: tuple[dict[str, Any], pd.DataFrame],
) -> None:
    config, frame = case
    fitted = SegmentRules.from_dict(config).fit(frame)
    for key, value in (fitted.thresholds or {}).items():
        if key.startswith("mean(") and key[5:-1] in frame.columns:
            column = frame[key[5:-1]].dropna()
            expected = float(np.mean(column)) if len(column) else math.nan
            if math.isnan(expected):
                assert value is None
            else:
                assert value == expected


@given(cks.segment_labels())
def test_movement_matrix_adds_up(pair: tuple[pd.Series[Any], pd.Series[Any]]) -> None:
    before, after = pair
    mv = movement(before, after)
    customers = set(before.index) | set(after.index)
    assert int(mv.matrix.to_numpy().sum()) == len(customers)
    assert list(mv.matrix.index) == list(mv.matrix.columns)
    assert mv.matrix.index[-1] == NO_SEGMENT
    assert set(mv.moves.index) == customers
    before_labels = before.reindex(list(mv.moves.index)).fillna(NO_SEGMENT)
    assert (
        mv.matrix.sum(axis=1) == before_labels.value_counts().reindex(mv.matrix.index, fill_value=0)
    ).all()
    off_diagonal = int(mv.matrix.to_numpy().sum() - np.trace(mv.matrix.to_numpy()))
    assert len(mv.moved) == off_diagonal
    for frm in mv.matrix.index:
        for to in mv.matrix.columns:
            assert len(mv.between(frm, to)) == mv.matrix.loc[frm, to]


@st.composite
def rfm_cases(draw: st.DrawFn) -> tuple[dict[str, Any], pd.DataFrame]:
    names = draw(st.lists(cks.formula_names(), min_size=3, max_size=3, unique=True))
    frame = draw(cks.segment_frames(columns=names, max_rows=15))
    options = {
        "recency": names[0],
        "frequency": names[1],
        "monetary": names[2],
        "bins": draw(st.integers(2, 6)),
        "ties": draw(st.sampled_from(["low", "high"])),
        "allow_fewer_bins": draw(st.booleans()),
    }
    return options, frame


@given(rfm_cases())
def test_rfm_score_agrees_with_score_one(case: tuple[dict[str, Any], pd.DataFrame]) -> None:
    options, frame = case
    rfm = RFM(**options)
    try:
        fitted = rfm.fit(frame)
    except FrameError:
        return  # no values, infinities, or too few distinct ones without allow_fewer_bins
    out = fitted.score(frame)
    assert list(out.columns) == ["r_score", "f_score", "m_score", "rfm_segment"]
    for i in range(len(frame)):
        one = fitted.score_one(_row(frame, i))
        for col in ("r_score", "f_score", "m_score"):
            cell = out[col].iloc[i]
            got = getattr(one, col)
            assert (got is None and cell is pd.NA) or got == cell
            assert got is None or 1 <= got <= rfm.bins
        assert one.segment == out["rfm_segment"].iloc[i]
    assert RFM.from_dict(fitted.to_dict()) == fitted
    assert RFM.from_toml(fitted.to_toml()) == fitted
    assert RFM.from_json(fitted.to_json()) == fitted


@given(rfm_cases())
def test_rfm_bins_follow_the_order_of_values(case: tuple[dict[str, Any], pd.DataFrame]) -> None:
    options, frame = case
    rfm = RFM(**options)
    try:
        fitted = rfm.fit(frame)
    except FrameError:
        return
    out = fitted.score(frame)
    monetary = frame[rfm.monetary].to_numpy()
    m = out["m_score"].to_numpy(dtype=float, na_value=np.nan)
    recency = frame[rfm.recency].to_numpy()
    r = out["r_score"].to_numpy(dtype=float, na_value=np.nan)
    for i in range(len(frame)):
        for j in range(len(frame)):
            if monetary[i] < monetary[j]:
                assert m[i] <= m[j]
            if recency[i] < recency[j]:
                assert r[i] >= r[j]  # fewer days since the last purchase scores higher
