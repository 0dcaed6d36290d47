"""Backtesting: does a score, computed at a past date, rank what customers did next?

Split a transaction log at a calibration end (:func:`split`), compute any
score as of that instant from the calibration log only (a formula, a value
model, a segment rule set, RFM, a lifecycle stage after replay, a churn
warning, or any per-customer Series or callable, such as a CLV forecast), and
measure it against the holdout (:func:`backtest`, :func:`evaluate`): the AUC
for "buys again", rank correlations with holdout purchases and spend, the
share of holdout spend captured by the top decile, and predicted against
actual totals for forecasts. :func:`plot_backtest` draws the result.

The metrics (:func:`auc`, :func:`spearman`, :func:`top_share`) are plain
numpy and read only the order of a score. :func:`reversals` counts how often
a lifecycle replay flips between two stages and back. See the how-to page
"Backtest a score on a holdout".
"""

from crmkit.backtest._backtest import BacktestResult, Signal, backtest, evaluate, score_of
from crmkit.backtest._metrics import auc, spearman, top_share
from crmkit.backtest._plot import plot_backtest
from crmkit.backtest._split import Split, split
from crmkit.backtest._stability import reversals

__all__ = [
    "BacktestResult",
    "Signal",
    "Split",
    "auc",
    "backtest",
    "evaluate",
    "plot_backtest",
    "reversals",
    "score_of",
    "spearman",
    "split",
    "top_share",
]

for _cls in (BacktestResult, Signal, Split):
    _cls.__module__ = "crmkit.backtest"
del _cls
