"""Probabilistic customer-base models: who is still a customer, how much they will buy, and what they are worth.

* :class:`BGNBD`, :class:`MBGNBD` and :class:`ParetoNBD` model repeat
  purchases in continuous time; :class:`BGBB` models purchases at discrete
  opportunities. :class:`GammaGamma` models spend per purchase, and
  :func:`clv` / :func:`clv_one` combine a purchase model and the spend model
  into a discounted customer lifetime value that is never negative.
* Every model is fitted by maximum likelihood with exact gradients, on the
  repeat-purchase summary that :func:`crmkit.features` computes
  (``time_unit="W"`` or ``"D"``): ``repeat_purchases`` (x), ``repeat_span``
  (t_x), ``age`` (T) and ``repeat_avg_spend``. A fitted model is a frozen
  value with its parameters, a :class:`FitInfo` (log-likelihood, standard
  errors, convergence), the time unit and ``as_of`` it was fitted with, and a
  TOML / JSON / dict round trip; a fit that finds no optimum raises
  :class:`FitError`.
* ``predict(frame, horizon=...)`` gives ``p_alive``, ``p_any_purchase`` and
  ``expected_purchases`` for a whole frame; ``predict_one(mapping, ...)``
  gives the same numbers for one customer in plain Python.
* :class:`ClvFeatures` makes the forecasts features (``p_alive``,
  ``expected_purchases``, ``clv``...): ``crmkit.features(..., extensions=[...])``,
  ``features_one``, lifecycle replay, so formulas, segment rules, guards and
  churn rules read them.
* :func:`simulate` draws a customer base from a model (for checks of fit and
  parameter recovery); :func:`tracking` sets a model's expected repeat
  purchases, period by period, against a transaction log (the holdout
  tracking plot of ``crmkit.adapters.clv_plots``).

>>> import crmkit as ck
>>> from crmkit.clv import BGNBD
>>> m = BGNBD.from_toml('''
... model = "bg_nbd"
... time_unit = "W"
... [params]
... r = 0.2426
... alpha = 4.4135
... a = 0.7929
... b = 2.4258
... ''')
>>> round(m.predict_one({"repeat_purchases": 0, "repeat_span": 0.0, "age": 38.86}, horizon=39)["expected_purchases"], 4)
0.1948
"""

from crmkit.clv._base import FitError, FitInfo
from crmkit.clv._bgbb import BGBB
from crmkit.clv._bgnbd import BGNBD, MBGNBD
from crmkit.clv._features import ClvFeatures
from crmkit.clv._gamma_gamma import GammaGamma, clv, clv_one
from crmkit.clv._pareto import ParetoNBD
from crmkit.clv._simulate import simulate
from crmkit.clv._tracking import tracking

__all__ = [
    "BGBB",
    "BGNBD",
    "MBGNBD",
    "ClvFeatures",
    "FitError",
    "FitInfo",
    "GammaGamma",
    "ParetoNBD",
    "clv",
    "clv_one",
    "simulate",
    "tracking",
]

for _obj in (
    BGBB,
    BGNBD,
    MBGNBD,
    ClvFeatures,
    FitError,
    FitInfo,
    GammaGamma,
    ParetoNBD,
    clv,
    clv_one,
    simulate,
    tracking,
):
    _obj.__module__ = "crmkit.clv"
del _obj
