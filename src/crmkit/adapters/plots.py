r"""Plots of scored customers for notebooks and reports (the optional ``plot`` extra).

Every function takes the frames crmkit gives (scores, segment labels,
:meth:`Replay.counts <crmkit.lifecycle.Replay.counts>`, :meth:`Replay.matrix
<crmkit.lifecycle.Replay.matrix>`, tiers) and returns a :class:`matplotlib.figure.Figure`.
Figures are built directly on the non-interactive Agg canvas: pyplot is not
imported and no global matplotlib state (backend, rcParams, open figures) is
touched, so a notebook shows a returned figure as it is and a server can render
it with :func:`to_png`.

Needs matplotlib: ``pip install 'crmkit[plot]'``.

>>> import pandas as pd
>>> fig = value_distribution(pd.Series([1.0, 2.0, 2.5, 8.0], name="value"))
>>> to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
True
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crmkit.core import CrmkitError, ValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "rfm_grid",
    "segment_sizes",
    "stage_counts",
    "text_colour",
    "tier_distribution",
    "to_png",
    "transition_heatmap",
    "value_components",
    "value_distribution",
]

_COLOUR = "#3b6ea5"


def _figure(width: float = 6.4, height: float = 4.0) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is the optional 'plot' extra
        raise CrmkitError(
            "plots need matplotlib, which is not installed",
            hint="pip install 'crmkit[plot]'",
        ) from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # attach the Agg canvas to this figure only
    return fig


def _series(data: object, name: str) -> pd.Series[Any]:
    if not isinstance(data, pd.Series):
        raise ValidationError(name, expected="a pandas Series", got=type(data).__name__)
    return data


def _frame(data: object, name: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise ValidationError(name, expected="a pandas DataFrame", got=type(data).__name__)
    return data


def to_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes (for a report, a web response or a file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def value_distribution(
    values: pd.Series[Any], *, bins: int = 40, title: str = "Value distribution"
) -> Figure:
    """A histogram of the composite value (or any number column), quartiles marked.

    >>> import pandas as pd
    >>> value_distribution(pd.Series([1.0, 5.0, 9.0])).axes[0].get_xlabel()
    'value'
    """
    s = pd.to_numeric(_series(values, "values"), errors="coerce").dropna()
    fig = _figure()
    ax = fig.add_subplot()
    ax.hist(s.to_numpy(dtype=np.float64), bins=bins, color=_COLOUR, edgecolor="white")
    if len(s):
        for q, style in zip(s.quantile([0.25, 0.5, 0.75]), (":", "--", ":"), strict=True):
            ax.axvline(float(q), color="black", linestyle=style, linewidth=1)
    ax.set_xlabel("value" if values.name is None else str(values.name))
    ax.set_ylabel("customers")
    ax.set_title(title)
    return fig


def value_components(
    scores: pd.DataFrame,
    *,
    top: int = 10,
    names: pd.Series[Any] | None = None,
    title: str = "What makes the top customers' value",
) -> Figure:
    """The top customers by ``value``, each bar split into the components that made it.

    *scores* is the output of :meth:`ValueModel.score <crmkit.ValueModel.score>`
    (``value`` and one ``value_<component>`` column per component: the
    weighted contributions, which add up to ``value``). Positive parts stack
    to the right, negative ones to the left. *names* (a Series by customer
    id) labels the bars with names instead of ids.

    >>> import pandas as pd
    >>> scores = pd.DataFrame({"value": [9.0, 4.0], "value_spend": [6.0, 4.0],
    ...                        "value_tenure": [3.0, 0.0]}, index=["a", "b"])
    >>> ax = value_components(scores).axes[0]
    >>> [t.get_text() for t in ax.get_yticklabels()], ax.get_legend_handles_labels()[1]
    (['b', 'a'], ['spend', 'tenure'])
    """
    frame = _frame(scores, "scores")
    if "value" not in frame.columns:
        from crmkit.core import MissingColumnError

        raise MissingColumnError(["value"], [str(c) for c in frame.columns])
    parts = [
        c
        for c in frame.columns
        if isinstance(c, str)
        and c.startswith("value_")
        and c != "value_model"
        and pd.api.types.is_numeric_dtype(frame[c])
    ]
    best = frame.sort_values("value", ascending=False, kind="stable").head(top)
    labels = [str(names.get(i, i)) if names is not None else str(i) for i in best.index][::-1]
    fig = _figure(8.0, 1.4 + 0.4 * max(len(best), 3))
    ax = fig.add_subplot()
    y = np.arange(len(best))
    right = np.zeros(len(best))
    left = np.zeros(len(best))
    colours = _palette(len(parts))
    for part, colour in zip(parts, colours, strict=True):
        v = best[part].fillna(0.0).to_numpy(dtype=np.float64)[::-1]
        pos, neg = np.where(v > 0, v, 0.0), np.where(v < 0, v, 0.0)
        ax.barh(y, pos, left=right, color=colour, label=part.removeprefix("value_"))
        ax.barh(y, neg, left=left, color=colour)
        right += pos
        left += neg
    ax.set_yticks(y, labels)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("value (the sum of the components)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return fig


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _counts(labels: pd.Series[Any] | pd.DataFrame, order: Sequence[str] | None) -> pd.Series[Any]:
    if isinstance(labels, pd.DataFrame):
        # One boolean column per segment (a multi-label set): customers holding each (NA: not).
        wrong = [str(c) for c in labels.columns if not pd.api.types.is_bool_dtype(labels[c])]
        if wrong:
            raise ValidationError(
                "labels", expected="one boolean column per segment", got=f"columns {wrong}"
            )
        counts = labels.eq(True).sum().astype(np.int64)
    else:
        s = _series(labels, "labels").dropna()
        if len(s) and isinstance(s.iloc[0], tuple):
            s = s.explode().dropna()
        counts = s.astype(str).value_counts()
    if order is not None:
        counts = counts.reindex(list(order), fill_value=0)
    return counts


def segment_sizes(
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    order: Sequence[str] | None = None,
    title: str = "Segment sizes",
) -> Figure:
    """Customers per segment, as horizontal bars, the count written at each bar.

    *labels* is a segment column: one label per customer (exclusive rules),
    a tuple of labels (``segments`` of multi-label rules), or a frame of one
    boolean column per segment (the segment columns of multi-label rules, or
    the ``segment_<set>__<label>`` columns ``crmkit score`` writes).

    >>> import pandas as pd
    >>> fig = segment_sizes(pd.Series([("big",), ("big", "old"), ()]))
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['old', 'big']
    >>> fig = segment_sizes(pd.DataFrame({"big": [True, True], "old": [False, True]}))
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['old', 'big']
    """
    counts = _counts(labels, order)
    fig = _figure(6.4, 1.2 + 0.35 * max(len(counts), 3))
    ax = fig.add_subplot()
    bars = ax.barh(counts.index[::-1], counts.to_numpy()[::-1], color=_COLOUR)
    ax.bar_label(bars, padding=3, fontsize=8)
    ax.set_xlabel("customers")
    ax.set_title(title)
    return fig


def tier_distribution(
    tiers: pd.Series[Any], *, order: Sequence[str] | None = None, title: str = "Members by tier"
) -> Figure:
    """Members per tier, lowest tier first (pass *order*, e.g. the table's tier names).

    >>> import pandas as pd
    >>> fig = tier_distribution(pd.Series(["gold", "member", "member"]), order=["member", "gold"])
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['member', 'gold']
    """
    counts = _counts(tiers, order)
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(counts.index, counts.to_numpy(), color=_COLOUR)
    ax.set_ylabel("members")
    ax.set_title(title)
    return fig


def _luminance(rgba: Sequence[float]) -> float:
    """The relative luminance of an sRGB colour (WCAG 2): 0 black .. 1 white."""
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_colour(rgba: Sequence[float]) -> str:
    """The label colour readable on a cell of colour *rgba*: dark text on pale cells, white on dark.

    Picks whichever of black and white has the higher contrast (WCAG 2) with the cell.

    >>> text_colour((0.97, 0.98, 1.0, 1.0)), text_colour((0.03, 0.19, 0.42, 1.0))
    ('black', 'white')
    """
    lum = _luminance(rgba)
    # Contrast with black is (L + 0.05) / 0.05, with white 1.05 / (L + 0.05): equal at L ~ 0.179.
    return "black" if (lum + 0.05) ** 2 >= 0.05 * 1.05 else "white"


def _heatmap(fig: Figure, table: pd.DataFrame, *, fmt: str, cmap: str) -> None:
    ax = fig.axes[0]
    data = table.to_numpy(dtype=np.float64)
    finite = data[np.isfinite(data)]
    image = ax.imshow(
        data,
        cmap=cmap,
        aspect="auto",
        origin="upper",
        vmin=min(0.0, float(finite.min())) if finite.size else 0.0,
        vmax=float(finite.max()) if finite.size and finite.max() > 0 else 1.0,
    )
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index])
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            v = data[i, j]
            if np.isfinite(v):
                ax.text(
                    j,
                    i,
                    format(v, fmt),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color=text_colour(tuple(image.cmap(image.norm(v)))),
                )
    fig.colorbar(image, ax=ax)


def rfm_grid(
    scores: pd.DataFrame,
    *,
    recency: str = "r_score",
    frequency: str = "f_score",
    value: str | None = None,
    title: str = "RFM grid",
) -> Figure:
    """Customers (or the mean of *value*) in each recency x frequency score cell.

    *scores* is the output of :meth:`RFM.score <crmkit.RFM.score>` (or any
    frame with the two score columns).

    >>> import pandas as pd
    >>> grid = pd.DataFrame({"r_score": [1, 2, 2], "f_score": [1, 1, 2]})
    >>> rfm_grid(grid).axes[0].get_xlabel()
    'frequency score (f_score)'
    """
    frame = _frame(scores, "scores")
    missing = [c for c in (recency, frequency, value) if c is not None and c not in frame]
    if missing:
        from crmkit.core import MissingColumnError

        raise MissingColumnError(missing, [str(c) for c in frame.columns])
    if value is None:
        table = pd.crosstab(frame[recency], frame[frequency])
        fmt = ".0f"
    else:
        table = frame.pivot_table(index=recency, columns=frequency, values=value, aggfunc="mean")
        fmt = ".1f"
    table = table.sort_index(ascending=False)
    fig = _figure(6.4, 5.0)
    ax = fig.add_subplot()
    _heatmap(fig, table, fmt=fmt, cmap="Blues")
    ax.set_xlabel(f"frequency score ({frequency})")
    ax.set_ylabel(f"recency score ({recency})")
    ax.set_title(title if value is None else f"{title}: mean {value}")
    return fig


def stage_counts(counts: pd.DataFrame, *, title: str = "Customers by stage") -> Figure:
    """Customers in each stage at each period end, stacked (``Replay.counts()``).

    >>> import pandas as pd
    >>> counts = pd.DataFrame({"new": [3, 2], "repeat": [0, 2]},
    ...                       index=pd.period_range("2025-01", periods=2, freq="M"))
    >>> len(stage_counts(counts).axes[0].collections)
    2
    """
    frame = _frame(counts, "counts")
    fig = _figure(8.0, 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(frame))
    ax.stackplot(
        x,
        *[frame[c].to_numpy(dtype=np.float64) for c in frame.columns],
        labels=[str(c) for c in frame.columns],
        alpha=0.9,
    )
    # Ticks counted back from the last period, so the latest one is always labelled.
    step = max(1, -(-len(frame) // 8))
    ticks = x[::-1][::step][::-1]
    ax.set_xticks(ticks, [str(frame.index[i]) for i in ticks])
    ax.set_xlim(0, max(len(frame) - 1, 1))
    ax.set_ylabel("customers")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return fig


def transition_heatmap(
    matrix: pd.DataFrame,
    *,
    states: Sequence[str] | None = None,
    title: str = "Stage transitions (from -> to)",
) -> Figure:
    """A from -> to heatmap of customers (``Replay.matrix(period)``, or any from x to counts).

    A frame of transitions with ``from_stage`` and ``to_stage`` columns
    (``Replay.transitions``) is counted first. Both axes show every stage, in
    the same order, so the diagonal is "stayed" and a stage nobody left or
    entered is a row or column of zeros, never dropped: *states* (e.g.
    ``lifecycle.states``), else the categories of a categorical
    ``from_stage`` (what ``Replay.transitions`` gives), else every stage seen
    on either axis.

    >>> import pandas as pd
    >>> moves = pd.DataFrame({"from_stage": ["new", "new"], "to_stage": ["repeat", "new"]})
    >>> ax = transition_heatmap(moves, states=["new", "repeat", "lapsed"]).axes[0]
    >>> [t.get_text() for t in ax.get_yticklabels()] == [t.get_text() for t in ax.get_xticklabels()]
    True
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['new', 'repeat', 'lapsed']
    """
    frame = _frame(matrix, "matrix")
    order: list[str] | None = None if states is None else [str(x) for x in states]
    if {"from_stage", "to_stage"} <= set(frame.columns):
        source = frame["from_stage"]
        if order is None and isinstance(source.dtype, pd.CategoricalDtype):
            order = [str(x) for x in source.dtype.categories]
        frame = pd.crosstab(frame["from_stage"].astype(str), frame["to_stage"].astype(str))
    seen = [str(x) for x in [*frame.index, *frame.columns]]
    if order is None:
        order = list(dict.fromkeys(seen))
    else:
        unknown = sorted(set(seen) - set(order))
        if unknown:
            raise ValidationError(
                "states", expected=f"every stage in the matrix ({', '.join(unknown)})", got=order
            )
    frame = frame.set_axis([str(x) for x in frame.index], axis=0)
    frame = frame.set_axis([str(x) for x in frame.columns], axis=1)
    frame = frame.reindex(index=order, columns=order, fill_value=0)
    side = 2.6 + 0.6 * len(order)
    fig = _figure(side + 1.4, side)
    ax = fig.add_subplot()
    _heatmap(fig, frame, fmt=".0f", cmap="Oranges")
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    ax.set_title(title)
    return fig
