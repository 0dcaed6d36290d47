"""The churn warning's one-time rule and risk column (issue 13, item 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmkit.errors import ValidationError
from crmkit.lifecycle import ChurnWarning, churn_warning

FEATS = pd.DataFrame(
    {
        "repeat_purchases": [0, 0, 2, None],
        "repeat_span": [0.0, 0.0, 40.0, None],
        "days_since_last_purchase": [150.0, 30.0, 100.0, None],
        "spend_last_3m": [0.0, 20.0, 0.0, None],
        "spend_prev_3m": [0.0, 0.0, 50.0, None],
    },
    index=["old-once", "new-once", "repeat", "unknown"],
)


def test_one_time_buyers_are_flagged_after_one_time_days() -> None:
    out = ChurnWarning().flag(FEATS)
    assert out["at_risk"].tolist() == [True, False, True, False]
    assert out.loc["old-once", "reason"] == "one-time lapsed"
    assert out.loc["repeat", "reason"] == "overdue, spend drop"
    assert ChurnWarning(one_time_days=200).flag(FEATS)["at_risk"].tolist() == [
        False,
        False,
        True,
        False,
    ]


def test_version_1_is_one_time_days_none() -> None:
    out = churn_warning(FEATS, one_time_days=None)
    assert out["at_risk"].tolist() == [False, False, True, False]
    assert list(out["reason"].cat.categories) == ["overdue", "spend drop", "overdue, spend drop"]
    assert "one-time lapsed" not in ChurnWarning(one_time_days=None).rules


def test_risk_is_silence_per_purchase_day_for_everyone() -> None:
    risk = ChurnWarning().flag(FEATS)["risk"]
    assert risk.iloc[:3].tolist() == [150.0, 30.0, 100.0 / 3]
    assert np.isnan(risk.iloc[3])


def test_flag_one_agrees_on_the_new_rule() -> None:
    warning = ChurnWarning()
    frame = warning.flag(FEATS)
    for name, row in FEATS.iterrows():
        values = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        reason = frame.loc[name, "reason"]
        assert warning.flag_one(values) == (
            bool(frame.loc[name, "at_risk"]),
            None if pd.isna(reason) else reason,
        )


def test_one_time_days_is_checked() -> None:
    with pytest.raises(ValidationError, match="one_time_days"):
        ChurnWarning(one_time_days=0)
    with pytest.raises(ValidationError, match="one_time_days"):
        ChurnWarning(one_time_days=True)  # type: ignore[arg-type]
