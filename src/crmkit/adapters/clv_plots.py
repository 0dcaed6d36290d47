r"""Plots of the customer-base models (``crmkit.clv``) for notebooks and reports (the ``plot`` extra).

Like :mod:`crmkit.adapters.plots`, every function returns a
:class:`matplotlib.figure.Figure` on its own Agg canvas: pyplot is not
imported and no global matplotlib state is touched. Render one with
:func:`crmkit.adapters.plots.to_png`.

>>> import pandas as pd
>>> from crmkit.adapters.plots import to_png
>>> table = pd.DataFrame({"actual": [0.2, 1.1, 2.0], "expected": [0.25, 1.0, 2.2]},
...                      index=pd.Index([0, 1, 2], name="repeat_purchases"))
>>> to_png(actual_vs_expected(table))[:8] == b"\x89PNG\r\n\x1a\n"
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from crmkit.core import CrmkitError, MissingColumnError, ValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["actual_vs_expected", "tracking_plot"]

_ACTUAL = "#3b6ea5"
_EXPECTED = "#d1495b"


def _figure(width: float = 7.0, height: float = 4.0) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is the optional 'plot' extra
        raise CrmkitError(
            "plots need matplotlib, which is not installed", hint="pip install 'crmkit[plot]'"
        ) from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _columns(frame: object, name: str, needed: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(name, expected="a pandas DataFrame", got=type(frame).__name__)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise MissingColumnError(missing, list(frame.columns))
    return frame


def tracking_plot(
    track: pd.DataFrame,
    *,
    calibration_end: Any = None,
    cumulative: bool = False,
    title: str | None = None,
) -> Figure:
    """Repeat purchases per period (or cumulative), actual against expected.

    *track* is what :func:`crmkit.clv.tracking` returns; a dashed line marks
    *calibration_end* (the start of the holdout) when given.

    >>> import pandas as pd
    >>> track = pd.DataFrame({"actual": [1, 3], "expected": [1.2, 2.5],
    ...                       "actual_cumulative": [1, 4], "expected_cumulative": [1.2, 3.7]},
    ...                      index=pd.date_range("1997-01-01", periods=2, freq="7D", tz="UTC"))
    >>> fig = tracking_plot(track, cumulative=True, calibration_end="1997-01-05")
    >>> [line.get_label() for line in fig.axes[0].get_lines()][:2]
    ['actual', 'expected']
    """
    suffix = "_cumulative" if cumulative else ""
    frame = _columns(track, "track", ("actual" + suffix, "expected" + suffix))
    fig = _figure()
    ax = fig.add_subplot()
    x = (
        frame.index.tz_convert(None)
        if isinstance(frame.index, pd.DatetimeIndex) and frame.index.tz
        else frame.index
    )
    ax.plot(x, frame["actual" + suffix].to_numpy(), color=_ACTUAL, label="actual")
    ax.plot(
        x, frame["expected" + suffix].to_numpy(), color=_EXPECTED, linestyle="--", label="expected"
    )
    if calibration_end is not None:
        stamp = pd.Timestamp(calibration_end)
        stamp = stamp.tz_convert(None) if stamp.tzinfo is not None else stamp
        ax.axvline(stamp, color="grey", linestyle=":", linewidth=1)  # type: ignore[arg-type]
        ax.annotate(
            "holdout \u2192",
            (stamp, 0.97),
            xycoords=("data", "axes fraction"),
            ha="left",
            va="top",
            fontsize=8,
            color="grey",
            xytext=(4, 0),
            textcoords="offset points",
        )
    ax.set_ylabel("cumulative repeat purchases" if cumulative else "repeat purchases per period")
    ax.set_title(
        title or ("Cumulative repeat purchases" if cumulative else "Repeat purchases per period")
    )
    ax.legend(loc="upper left" if cumulative else "upper right", frameon=False)
    fig.autofmt_xdate()
    return fig


def actual_vs_expected(
    table: pd.DataFrame,
    *,
    xlabel: str | None = None,
    ylabel: str = "holdout purchases per customer",
    title: str = "Holdout purchases: actual and expected",
) -> Figure:
    """Actual against expected, one point per group (a calibration frequency, a decile).

    *table* has columns ``actual`` and ``expected`` and one row per group,
    in the order to plot.
    """
    frame = _columns(table, "table", ("actual", "expected"))
    fig = _figure()
    ax = fig.add_subplot()
    labels = [str(v) for v in frame.index]
    positions = range(len(labels))
    ax.plot(positions, frame["actual"].to_numpy(), color=_ACTUAL, marker="o", label="actual")
    ax.plot(
        positions,
        frame["expected"].to_numpy(),
        color=_EXPECTED,
        marker="s",
        linestyle="--",
        label="expected",
    )
    ax.set_xticks(list(positions), labels)
    name = frame.index.name
    ax.set_xlabel(xlabel if xlabel is not None else ("" if name is None else str(name)))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper left", frameon=False)
    return fig
