"""crmkit.adapters.plots: every figure renders to PNG (the `plot` extra)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("matplotlib")

from crmkit import RFM, Lifecycle, ValueModel, activity_frames
from crmkit.adapters import plots
from crmkit.app import synthetic_base
from crmkit.errors import MissingColumnError, ValidationError

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    base = synthetic_base(seed=3)
    tx = activity_frames(base.activities).transactions
    feats = activity_frames(base.activities).features(as_of=base.as_of)
    scores = ValueModel.default().drop("growth_potential", "brand").score(feats)
    replay = Lifecycle.five_stage().replay(tx, start="2024-01", end="2025-12")
    return {
        "scores": scores,
        "rfm": RFM().fit(feats).score(feats),
        "replay": replay,
        "tiers": pd.Series(["member"] * 5 + ["silver"] * 3 + ["gold"]),
    }


FIGURES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "value_distribution": lambda d: plots.value_distribution(d["scores"]["value"]),
    "segment_sizes": lambda d: plots.segment_sizes(d["rfm"]["rfm_segment"]),
    "rfm_grid": lambda d: plots.rfm_grid(d["rfm"]),
    "rfm_grid_value": lambda d: plots.rfm_grid(d["rfm"].join(d["scores"]["value"]), value="value"),
    "stage_counts": lambda d: plots.stage_counts(d["replay"].counts()),
    "transition_heatmap": lambda d: plots.transition_heatmap(
        d["replay"].matrix(d["replay"].periods[-1])
    ),
    "transition_heatmap_from_history": lambda d: plots.transition_heatmap(d["replay"].transitions),
    "value_components": lambda d: plots.value_components(d["scores"]),
    "tier_distribution": lambda d: plots.tier_distribution(
        d["tiers"], order=["member", "silver", "gold"]
    ),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_figure_renders_to_png(name: str, data: dict[str, Any]) -> None:
    from matplotlib.figure import Figure

    fig = FIGURES[name](data)
    assert isinstance(fig, Figure)
    png = plots.to_png(fig)
    assert png.startswith(PNG)
    assert len(png) > 5_000  # something was drawn, not an empty canvas


def test_plots_do_not_touch_pyplot_or_the_global_backend(data: dict[str, Any]) -> None:
    import matplotlib

    backend = matplotlib.get_backend()
    plots.value_distribution(data["scores"]["value"])
    assert matplotlib.get_backend() == backend
    assert "matplotlib.pyplot" not in sys.modules or _pyplot_had_no_figures()


def _pyplot_had_no_figures() -> bool:
    import matplotlib.pyplot as plt

    return not plt.get_fignums()


def test_a_frame_of_boolean_segment_columns_is_counted_per_column() -> None:
    written = pd.DataFrame({"big": [True, True, False], "old": [False, True, False]})
    ax = plots.segment_sizes(written).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["old", "big"]
    assert [b.get_width() for b in ax.patches] == [1, 2]
    nullable = written.astype("boolean")
    nullable.loc[0, "big"] = pd.NA  # not known: not counted
    ax = plots.segment_sizes(nullable).axes[0]
    assert [b.get_width() for b in ax.patches] == [1, 1]
    with pytest.raises(ValidationError):
        plots.segment_sizes(pd.DataFrame({"big": ["yes", "no"]}))


def _axis_labels(fig: Any) -> tuple[list[str], list[str]]:
    ax = fig.axes[0]
    return (
        [t.get_text() for t in ax.get_yticklabels()],
        [t.get_text() for t in ax.get_xticklabels()],
    )


def test_the_transition_heatmap_shows_every_stage_on_both_axes(data: dict[str, Any]) -> None:
    replay = data["replay"]
    states = list(replay.lifecycle.states)
    # Only the moves out of the first stage: most stages are never left nor entered here.
    moves = replay.transitions[replay.transitions["from_stage"] == states[0]]
    assert set(moves["to_stage"].astype(str)) < set(states)
    for fig in (
        plots.transition_heatmap(moves),  # categorical stages: their categories
        plots.transition_heatmap(moves.astype({"from_stage": str, "to_stage": str}), states=states),
        plots.transition_heatmap(replay.matrix(replay.periods[-1])),
    ):
        rows, cols = _axis_labels(fig)
        assert rows == cols == states
    # Plain text without the states: every stage seen on either axis, the same on both.
    plain = pd.DataFrame({"from_stage": ["a", "a"], "to_stage": ["b", "c"]})
    rows, cols = _axis_labels(plots.transition_heatmap(plain))
    assert rows == cols == ["a", "b", "c"]
    with pytest.raises(ValidationError):
        plots.transition_heatmap(plain, states=["a", "b"])


@pytest.mark.parametrize("value", [None, "value"])
def test_heatmap_labels_are_dark_on_pale_cells_and_white_on_dark_ones(
    data: dict[str, Any], value: str | None
) -> None:
    from matplotlib.colors import to_rgba

    fig = plots.rfm_grid(data["rfm"].join(data["scores"]["value"]), value=value)
    ax = fig.axes[0]
    image = ax.images[0]
    texts = ax.texts
    assert texts
    colours = set()
    for text in texts:
        x, y = text.get_position()
        cell = image.cmap(image.norm(image.get_array()[int(y), int(x)]))
        ink = to_rgba(text.get_color())
        colours.add(text.get_color())
        # At least the WCAG AA contrast for large text between the label and its cell.
        lum = [plots._luminance(c) for c in (cell, ink)]
        assert (max(lum) + 0.05) / (min(lum) + 0.05) >= 3.0, (text.get_text(), cell)
    assert colours == {"black", "white"}


def test_the_value_components_plot_stacks_each_top_customer(data: dict[str, Any]) -> None:
    scores = data["scores"]
    fig = plots.value_components(scores, top=5)
    ax = fig.axes[0]
    top = scores.sort_values("value", ascending=False).head(5)
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(i) for i in top.index[::-1]]
    # The positive parts of each bar add up to the customer's value (no negative parts here).
    widths = np.zeros(5)
    for bar in ax.patches:
        widths[round(bar.get_y() + bar.get_height() / 2)] += bar.get_width()
    assert widths == pytest.approx(top["value"].to_numpy()[::-1])


def test_wrong_inputs_are_clear_errors() -> None:
    with pytest.raises(ValidationError):
        plots.value_distribution([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(MissingColumnError):
        plots.rfm_grid(pd.DataFrame({"r_score": [1]}))


@given(st.tuples(*[st.floats(0.0, 1.0)] * 3))
def test_the_label_colour_is_the_one_of_higher_contrast_with_the_cell(
    rgb: tuple[float, ...],
) -> None:
    def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        la, lb = plots._luminance(a), plots._luminance(b)
        return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)

    cell = (*rgb, 1.0)
    black, white = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    chosen, other = (black, white) if plots.text_colour(cell) == "black" else (white, black)
    assert contrast(cell, chosen) >= contrast(cell, other)
    # At least WCAG AA for normal text on any cell: the worst case is sqrt(21) ~ 4.58:1.
    assert contrast(cell, chosen) >= 4.5
