"""The backtest plot: gains curves and AUC bars, on a figure of its own (matplotlib, optional)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from crmkit.backtest._backtest import BacktestResult
from crmkit.core import CrmkitError, ValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_backtest"]

_COLOURS = ("#3b6ea5", "#d9822b", "#4c9a5b", "#b5493c", "#7d5ba6", "#8c6d46", "#c266a8", "#6b6b6b")


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is the optional 'plot' extra
        raise CrmkitError(
            "plots need matplotlib, which is not installed", hint="pip install 'crmkit[plot]'"
        ) from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # attach the Agg canvas to this figure only
    return fig


def plot_backtest(result: BacktestResult, *, title: str = "Backtest on the holdout") -> Figure:
    """Gains curves (share of holdout spend captured by the top customers) and the AUC per score.

    The figure is built on its own Agg canvas (no pyplot, no global state);
    render it with :func:`crmkit.adapters.plots.to_png` or ``fig.savefig``.
    Needs matplotlib (``pip install 'crmkit[plot]'``).

    >>> import pandas as pd
    >>> from crmkit.backtest import backtest
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b", "a", "b"],
    ...     "occurred_at": pd.to_datetime(["2025-01-05", "2025-02-01", "2025-02-03",
    ...                                    "2025-04-02", "2025-04-09"]),
    ...     "amount": [10.0, 20.0, 5.0, 30.0, 8.0]})
    >>> fig = plot_backtest(backtest(tx, {"spend": "total_spend"}, calibration_end="2025-03-01"))
    >>> [ax.get_title() for ax in fig.axes]
    ['Gains: holdout spend', 'AUC: buys again']
    """
    if not isinstance(result, BacktestResult):
        raise ValidationError("result", expected="a BacktestResult", got=type(result).__name__)
    fig = _figure(10.0, 4.2)
    gains_ax, auc_ax = fig.subplots(1, 2, width_ratios=(1.2, 1.0))
    gains = result.gains(100)
    x = np.concatenate([[0.0], gains.index.to_numpy(dtype=np.float64)])
    for i, name in enumerate(gains.columns):
        y = np.concatenate([[0.0], gains[name].to_numpy(dtype=np.float64)])
        gains_ax.plot(x, y, color=_COLOURS[i % len(_COLOURS)], linewidth=1.6, label=str(name))
    gains_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="random")
    gains_ax.axvline(0.1, color="black", linestyle="--", linewidth=0.8)
    gains_ax.set_xlim(0, 1)
    gains_ax.set_ylim(0, 1)
    gains_ax.set_xlabel("share of customers, highest score first")
    gains_ax.set_ylabel("share of holdout spend")
    gains_ax.set_title("Gains: holdout spend")
    gains_ax.legend(loc="lower right", fontsize="small")

    names = [str(n) for n in result.summary.index][::-1]
    values = result.summary["auc"].to_numpy(dtype=np.float64)[::-1]
    count = len(names)
    colours = [_COLOURS[(count - 1 - i) % len(_COLOURS)] for i in range(count)]
    auc_ax.barh(names, np.nan_to_num(values, nan=0.0), color=colours)
    for i, v in enumerate(values):
        if not np.isnan(v):
            auc_ax.text(v + 0.01, i, f"{v:.3f}", va="center", fontsize="small")
    auc_ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    auc_ax.set_xlim(0, 1.1)
    auc_ax.set_xlabel("AUC (0.5 = chance)")
    auc_ax.set_title("AUC: buys again")
    fig.suptitle(title)
    return fig
