"""crmkit.adapters.plots: every figure renders to PNG (the `plot` extra)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

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


def test_labels_joined_by_semicolons_are_counted_each() -> None:
    fig = plots.segment_sizes(pd.Series(["big;old", "big", ""]))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] == "big"


def test_wrong_inputs_are_clear_errors() -> None:
    with pytest.raises(ValidationError):
        plots.value_distribution([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(MissingColumnError):
        plots.rfm_grid(pd.DataFrame({"r_score": [1]}))
