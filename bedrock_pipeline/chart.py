"""report.png: grouped bars of F1 / exact match / numeric match, and mean output tokens.

Drawn with matplotlib's Agg backend through its object API (``Figure`` + ``FigureCanvasAgg``):
no display, no pyplot global state, so one warm Lambda can render many reports. Candidate first,
baseline second: the two bars a reader compares get the strongest colours. With more than two
models the legend wraps below the panels and the bar labels turn upright, so nothing overlaps.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_IN, DPI = 10.0, 100  # 1000 px wide
MAX_LABEL = 28  # characters of a model name shown in the legend
LEGEND_COLUMNS = 4
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#7f7f7f")


def _configure_matplotlib() -> None:
    # Lambda's home directory is read-only: matplotlib would warn on every cold start and make
    # a temporary cache directory itself; one under /tmp is the same without the warning.
    # Imported lazily, so the CLI's other commands do not pay matplotlib's import time.
    if "MPLCONFIGDIR" not in os.environ and not os.access(Path.home(), os.W_OK):
        os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="matplotlib-")


def title_for(report: Mapping[str, Any]) -> str:
    names = list(report["models"])
    records = f"{report['records']} test records"
    if len(names) == 2:
        return f"{report['candidate']} vs {report['baseline']}: {records}"
    return (
        f"{len(names)} models on {records} "
        f"(candidate {report['candidate']}, baseline {report['baseline']})"
    )


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "~"


def _panel(
    ax: Axes,
    *,
    title: str,
    groups: Sequence[str],
    values: Sequence[Sequence[float | None]],  # values[group][model]
    y_max: float,
    upright_labels: bool,
) -> None:
    models = len(values[0]) if values else 0
    width = 0.8 / max(1, models)
    ax.set_title(title, loc="left", fontsize=12)
    ax.set_ylim(0, y_max)
    ax.set_xticks(range(len(groups)), groups, fontsize=10)
    ax.grid(axis="y", color="#e1e1e1")
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    for m in range(models):
        xs = [g - 0.4 + width * (m + 0.5) for g in range(len(groups))]
        heights = [row[m] or 0.0 for row in values]
        bars = ax.bar(xs, heights, width * 0.92, color=PALETTE[m % len(PALETTE)])
        labels = ["n/a" if row[m] is None else f"{row[m]:.1f}" for row in values]
        ax.bar_label(
            bars,
            labels,
            padding=2,
            fontsize=8 if upright_labels else 9,
            rotation=90 if upright_labels else 0,
        )


def chart_figure(report: Mapping[str, Any]) -> Figure:
    """The chart of a report built by ``build_report`` as a matplotlib ``Figure`` (1000 px
    wide at ``DPI``; taller when the legend needs more rows)."""
    _configure_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models: Mapping[str, Any] = report["models"]
    names = list(models)
    legend_rows = -(-len(names) // LEGEND_COLUMNS)
    fig = Figure(figsize=(WIDTH_IN, 4.6 + 0.3 * legend_rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title_for(report), x=0.01, ha="left", fontsize=13)
    quality_ax, tokens_ax = fig.subplots(1, 2, width_ratios=(3, 1))
    metrics = [("F1", "f1"), ("Exact match", "exactMatch")]
    if report["numericRecords"]:
        metrics.append(("Numeric match", "numericMatch"))
    upright = len(names) > 2
    _panel(
        quality_ax,
        title="Quality (%)",
        groups=[label for label, _ in metrics],
        values=[
            [None if models[n][key] is None else 100 * models[n][key] for n in names]
            for _, key in metrics
        ],
        y_max=118 if upright else 110,  # headroom for the labels above a 100% bar
        upright_labels=upright,
    )
    tokens = [models[n]["outputTokens"]["mean"] for n in names]
    top = max([t for t in tokens if t is not None] or [1.0])
    _panel(
        tokens_ax,
        title="Mean output tokens",
        groups=["per answer"],
        values=[tokens],
        y_max=top * (1.3 if upright else 1.15),
        upright_labels=upright,
    )
    handles = quality_ax.containers[: len(names)]
    fig.legend(
        handles,
        [_label(n) for n in names],
        loc="outside lower left",
        ncols=min(len(names), LEGEND_COLUMNS),
        frameon=False,
        fontsize=10,
    )
    return fig


def figure_png(fig: Figure) -> bytes:
    """PNG bytes of ``fig``, without the software/version metadata (stable bytes per version)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def render_chart(report: Mapping[str, Any]) -> bytes:
    """The PNG bytes of the chart for a report built by ``build_report``."""
    return figure_png(chart_figure(report))
