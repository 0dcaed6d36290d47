"""The scalar path: one customer at a time, as an app scores inside a request.

References measured in the same run: the same arithmetic hand-written as a
plain Python function (what the compiled closures compete with), so the ratio
says what the safety and null handling of the formula language cost.
"""

from __future__ import annotations

import math
from typing import Any

import crmkit as ck
from benchmarks._util import Section, time_per_call

TEN_NODES = "total_spend * 0.01 + monthly_frequency * 20 + min(tenure_months, 60) * 2"

VALUES: dict[str, Any] = {
    "total_spend": 12_000.0,
    "monthly_frequency": 1.5,
    "monthly_avg_spend": 500.0,
    "settlement_share_prepaid": 0.5,
    "settlement_share_cash": 0.0,
    "settlement_share_on_time": 0.5,
    "settlement_share_on_account": 0.0,
    "tenure_months": 24.0,
    "spending_budget": 150_000.0,
    "share_of_wallet": 0.25,
    "influence": "celebrity",
}


def _hand_written_formula(v: dict[str, Any]) -> float:
    return v["total_spend"] * 0.01 + v["monthly_frequency"] * 20 + min(v["tenure_months"], 60) * 2


_RATES = {"prepaid": 0.5, "cash": 0.4, "on_time": 0.25, "on_account": 0.0}
_INFLUENCE = {"none": 0.0, "senior_position": 30.0, "celebrity": 80.0}


def _hand_written_value(v: dict[str, Any]) -> float:
    """The default model as plain Python (no null handling, no explanation)."""
    spend = v["total_spend"]
    credit = spend * sum(v[f"settlement_share_{m}"] * r for m, r in _RATES.items())
    budget = v["spending_budget"]
    tier = 40 if budget >= 100_000 else 20 if budget >= 20_000 else 10 if budget >= 5_000 else 0
    return (
        spend * 0.01
        + v["monthly_frequency"] * 20
        + v["monthly_avg_spend"] * 0.1
        + credit * 0.01
        + min(v["tenure_months"] * 2, 120)
        + tier * (1 - v["share_of_wallet"])
        + _INFLUENCE.get(v["influence"], 0.0)
    )


def _nodes(formula: ck.Formula) -> int:
    from crmkit.expr import walk

    return sum(1 for _ in walk(formula.tree))


def run(*, quick: bool = False) -> list[Section]:
    number = 2_000 if quick else 50_000
    formula = ck.Formula(TEN_NODES)
    model = ck.ValueModel.default()
    assert formula.evaluate(VALUES) == _hand_written_formula(VALUES)
    assert math.isclose(model.score_one(VALUES).value or 0.0, _hand_written_value(VALUES))

    f_time = time_per_call(lambda: formula.evaluate(VALUES), number=number)
    f_ref = time_per_call(lambda: _hand_written_formula(VALUES), number=number)
    s_time = time_per_call(lambda: model.score_one(VALUES), number=number // 5)
    s_ref = time_per_call(lambda: _hand_written_value(VALUES), number=number)
    section = Section(
        title="Scalar path (one customer)",
        header=["operation", "crmkit (median)", "hand-written Python", "ratio", "target"],
        rows=[
            [
                f"`Formula.evaluate` on a dict, {_nodes(formula)}-node formula",
                str(f_time),
                str(f_ref),
                f"{f_time.median / f_ref.median:.1f}x",
                "< 5 µs",
            ],
            [
                "`ValueModel.default().score_one` (7 components, with Score and inputs)",
                str(s_time),
                str(s_ref),
                f"{s_time.median / s_ref.median:.1f}x",
                "< 20 µs",
            ],
        ],
        notes=[f"Formula: `{TEN_NODES}`. Medians of 7 loops of {number:,} calls."],
    )
    return [section]
