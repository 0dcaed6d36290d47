"""Every public function that takes a frame takes a polars DataFrame or a pyarrow Table too.

The frame boundary (``crmkit.core.check_frame``) converts it once; the answer is
the pandas answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

import crmkit as ck
from crmkit.app import Config, score_transactions
from crmkit.expr import Formula
from crmkit.lifecycle import Lifecycle, churn_warning, replay
from crmkit.loyalty import EarningRules
from crmkit.privacy import pseudonymize
from crmkit.quality import find_duplicates, standardize_frame, validate_customers
from crmkit.scoring import score_monthly
from crmkit.segmentation import RFM, SegmentRules

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")

TX = pd.DataFrame(
    {
        "customer_id": ["ann", "ann", "bo", "ann", "cy", "bo"],
        "occurred_at": pd.to_datetime(
            ["2025-01-05", "2025-02-11", "2025-02-20", "2025-05-30", "2025-06-02", "2025-06-10"]
        ),
        "amount": [120.0, 80.0, 35.5, 260.0, 990.0, 12.0],
    }
)
FEATS = ck.features(TX, as_of="2025-07-01").reset_index()
PEOPLE = pd.DataFrame(
    {
        "customer_id": ["c-1", "c-2", "c-3"],
        "name": ["Ann Lee", "ann lee", "Bo Chan"],
        "email": ["ann@example.com", "ANN@example.com", "bo@example.com"],
        "phone": [None, None, None],
    }
)
MODEL = ck.ValueModel.from_dict(
    {"model": {"name": "m", "version": "1"}, "components": {"spend": {"formula": "total_spend"}}}
)
RULES = SegmentRules.from_dict({"segments": {"big": {"rule": "total_spend >= 200"}}})

CALLS: dict[str, tuple[pd.DataFrame, Callable[[Any], Any]]] = {
    "features": (TX, lambda f: ck.features(f, as_of="2025-07-01")),
    "Formula.evaluate": (FEATS, lambda f: Formula("total_spend * 2").evaluate(f)),
    "ValueModel.score": (FEATS, lambda f: MODEL.score(f)),
    "SegmentRules.assign": (FEATS, lambda f: RULES.assign(f)),
    "RFM.fit/score": (
        FEATS,
        lambda f: RFM.from_dict({"rfm": {"bins": 2}}).fit(f).score(f),
    ),
    "Lifecycle.classify": (FEATS, lambda f: Lifecycle.five_stage().classify(f)),
    "churn_warning": (FEATS, lambda f: churn_warning(f)),
    "replay": (
        TX,
        lambda f: replay(Lifecycle.five_stage(), f, start="2025-01-01", end="2025-06-30").stages,
    ),
    "score_monthly": (
        TX,
        lambda f: score_monthly(f, model=MODEL, start="2025-01-01", end="2025-03-01"),
    ),
    "EarningRules.earn_frame": (
        TX,
        lambda f: EarningRules.from_dict({"base": {"unit": 10.0}}).earn_frame(
            f, start="2025-01-01", end="2025-07-01"
        ),
    ),
    "score_transactions": (
        TX,
        lambda f: (
            score_transactions(
                f,
                Config.from_dict({"loyalty": {"earning": {"base": {"unit": 10.0}}}}),
                as_of="2025-07-01",
            ).scores
        ),
    ),
    "find_duplicates": (PEOPLE, lambda f: find_duplicates(f, phone=None).pairs),
    "validate_customers": (PEOPLE, lambda f: validate_customers(f).valid),
    "standardize_frame": (PEOPLE, lambda f: standardize_frame(f)),
    "pseudonymize": (
        PEOPLE,
        lambda f: pseudonymize(f, key="k" * 32, identifiers=["customer_id"], drop=["email"]),
    ),
}


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Arrow-backed text columns (kept as given) compared as Python objects."""
    return frame.astype(object).where(frame.notna(), None)


def _same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame):
        a, b = _plain(a), _plain(b)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_index_type=False)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_dtype=False, check_index_type=False)
    else:
        assert a == b


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("library", ["polars", "pyarrow"])
def test_every_frame_api_takes_polars_and_pyarrow(name: str, library: str) -> None:
    frame, call = CALLS[name]
    other = pl.from_pandas(frame) if library == "polars" else pa.Table.from_pandas(frame)
    _same(call(frame), call(other))


def test_a_lazy_frame_or_a_list_is_refused_with_a_crmkit_error() -> None:
    with pytest.raises(ck.ValidationError, match="polars DataFrame"):
        MODEL.score(pl.from_pandas(FEATS).lazy())
    with pytest.raises(ck.ValidationError, match="frame"):
        RULES.assign([1, 2, 3])
