"""Hypothesis strategies for the customer-base models of :mod:`crmkit.clv`.

Kept in a module of their own while the strategies module is being split; a
later change folds them into :mod:`crmkit.testing.strategies`.

>>> from hypothesis import given
>>> from crmkit.testing.strategies._clv import bgnbd_models, summaries
>>> @given(bgnbd_models(), summaries())
... def test_p_alive_is_a_probability(model, row):
...     assert 0 <= model.predict_one(row, horizon=10)["p_alive"] <= 1
>>> test_p_alive_is_a_probability()
"""

# ruff: noqa: N806 (T, R, Q... are the names of the literature)

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from crmkit.clv import BGBB, BGNBD, MBGNBD, ClvFeatures, GammaGamma, ParetoNBD

__all__ = [
    "bgbb_models",
    "bgbb_summaries",
    "bgnbd_models",
    "clv_feature_extensions",
    "gamma_gamma_models",
    "mbgnbd_models",
    "pareto_models",
    "purchase_models",
    "spend_summaries",
    "summaries",
]


def _positive(low: float = 0.05, high: float = 20.0) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def bgnbd_models(time_unit: str = "W") -> st.SearchStrategy[BGNBD]:
    """BG/NBD models over a wide range of parameters.

    ``a`` is kept away from 1 (a removable pole of E[Y]) and ``a + b`` away
    from 1 (where the new-customer series has ``c = 0``: a known limitation).
    """
    a = st.one_of(_positive(0.05, 0.95), _positive(1.05, 20.0))
    return st.builds(
        BGNBD,
        r=_positive(),
        alpha=_positive(0.1, 50.0),
        a=a,
        b=_positive(),
        time_unit=st.just(time_unit),
    ).filter(lambda m: abs(m.a + m.b - 1.0) > 1e-3)


def mbgnbd_models(time_unit: str = "W") -> st.SearchStrategy[MBGNBD]:
    """MBG/NBD models (``a`` kept away from 1)."""
    a = st.one_of(_positive(0.05, 0.95), _positive(1.05, 20.0))
    return st.builds(
        MBGNBD,
        r=_positive(),
        alpha=_positive(0.1, 50.0),
        a=a,
        b=_positive(),
        time_unit=st.just(time_unit),
    )


def pareto_models(time_unit: str = "W") -> st.SearchStrategy[ParetoNBD]:
    """Pareto/NBD models with rate scales within a factor of 50 of each other."""
    return st.builds(
        ParetoNBD,
        r=_positive(),
        alpha=_positive(0.5, 50.0),
        s=_positive(0.05, 5.0),
        beta=_positive(0.5, 50.0),
        time_unit=st.just(time_unit),
    )


def purchase_models(time_unit: str = "W") -> st.SearchStrategy[BGNBD | ParetoNBD]:
    """Any continuous-time purchase model."""
    return st.one_of(bgnbd_models(time_unit), mbgnbd_models(time_unit), pareto_models(time_unit))


def gamma_gamma_models() -> st.SearchStrategy[GammaGamma]:
    """Gamma-Gamma models, including extreme ones (``q`` barely above 1, huge ``v``)."""
    return st.builds(
        GammaGamma,
        p=_positive(0.01, 100.0),
        q=st.floats(1.0001, 100.0),
        v=st.floats(1e-3, 1e6),
    )


def bgbb_models() -> st.SearchStrategy[BGBB]:
    """BG/BB models."""
    return st.builds(
        BGBB, alpha=_positive(), beta=_positive(), gamma=_positive(), delta=_positive()
    )


@st.composite
def summaries(
    draw: st.DrawFn,
    *,
    max_age: float = 104.0,
    max_purchases: int = 60,
    repeat_purchases: str = "repeat_purchases",
    repeat_span: str = "repeat_span",
    age: str = "age",
) -> dict[str, Any]:
    """One customer's repeat-purchase summary: whole ``x >= 0``, ``0 <= t_x <= T`` (``t_x = 0`` when ``x = 0``)."""
    T = draw(st.floats(0.0, max_age))
    x = draw(st.integers(0, max_purchases))
    t_x = 0.0 if x == 0 else draw(st.floats(0.0, T))
    return {repeat_purchases: x, repeat_span: t_x, age: T}


@st.composite
def spend_summaries(draw: st.DrawFn) -> dict[str, Any]:
    """A summary with a mean repeat spend (NaN-free: 0 purchases give no spend key)."""
    row = draw(summaries())
    if row["repeat_purchases"] > 0:
        row["repeat_avg_spend"] = draw(st.floats(0.01, 1e5))
    return row


@st.composite
def bgbb_summaries(draw: st.DrawFn, *, max_opportunities: int = 20) -> dict[str, Any]:
    """One BG/BB summary: whole ``0 <= x <= t_x <= n`` with ``t_x = 0`` when ``x = 0``."""
    n = draw(st.integers(0, max_opportunities))
    t_x = draw(st.integers(0, n))
    x = 0 if t_x == 0 else draw(st.integers(1, t_x))
    return {"repeat_purchases": x, "repeat_span": t_x, "opportunities": n}


@st.composite
def clv_feature_extensions(draw: st.DrawFn, *, spend: bool | None = None) -> ClvFeatures:
    """:class:`~crmkit.clv.ClvFeatures` of any purchase model (in days or weeks), with or without spend.

    *spend* ``True`` / ``False`` forces the Gamma-Gamma model in or out;
    ``None`` draws it. Horizons include 0 and ones not a whole number of steps.
    """
    unit = draw(st.sampled_from(["D", "W"]))
    purchases = draw(purchase_models(unit))
    with_spend = draw(st.booleans()) if spend is None else spend
    gg = draw(gamma_gamma_models()) if with_spend else None
    horizon = draw(st.sampled_from([0.0, 1.0, 13.0, 52.0]) | st.floats(0.0, 60.0))
    return ClvFeatures(
        purchases=purchases,
        spend=gg,
        horizon=horizon,
        discount_rate=draw(st.sampled_from([0.0, 0.001, 0.02])),
        step=draw(st.sampled_from([1.0, 4.0, 7.5])),
    )
