"""report.png: grouped bars of F1 / exact match / numeric match, and mean output tokens.

Drawn on ``bedrock_pipeline.png.Canvas`` because the Lambda runtime has no plotting library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from bedrock_pipeline.png import Canvas, Color

WIDTH = 1000
LEGEND_TOP = 410
TEXT: Color = (33, 33, 33)
GRID: Color = (225, 225, 225)
AXIS: Color = (120, 120, 120)
# Candidate first, baseline second: the two bars a reader compares get the strongest colours.
PALETTE: tuple[Color, ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (148, 103, 189),
    (214, 39, 40),
    (140, 86, 75),
)


def nice_step(maximum: float, ticks: int = 5) -> float:
    """A 1/2/5 x 10^k step that splits [0, maximum] into about ``ticks`` intervals."""
    if maximum <= 0:
        return 1.0
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _fmt_tick(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def _panel(
    canvas: Canvas,
    *,
    box: tuple[int, int, int, int],
    title: str,
    groups: Sequence[str],
    values: Sequence[Sequence[float | None]],  # values[group][model]
    y_max: float,
    value_fmt: str,
) -> None:
    x, y, w, h = box
    canvas.text(x, y - 44, title, TEXT, 2)
    step = nice_step(y_max)
    top = step * math.ceil(y_max / step)
    tick = 0.0
    while tick <= top + 1e-9:
        ty = y + h - round(h * tick / top)
        canvas.fill_rect(x, ty, w, 1, GRID)
        label = _fmt_tick(tick)
        canvas.text(x - 8 - canvas.text_width(label, 2), ty - 7, label, AXIS, 2)
        tick += step
    canvas.fill_rect(x, y, 1, h, AXIS)
    canvas.fill_rect(x, y + h, w, 1, AXIS)
    group_w = w // max(1, len(groups))
    models = len(values[0]) if values else 0
    bar_w = max(4, min(64, (group_w - 24) // max(1, models)))
    for g, (name, row) in enumerate(zip(groups, values, strict=True)):
        gx = x + g * group_w + (group_w - bar_w * models) // 2
        for m, value in enumerate(row):
            bx = gx + m * bar_w
            label = "n/a" if value is None else value_fmt.format(value)
            scale = 2 if canvas.text_width(label, 2) <= bar_w - 4 else 1
            if value is not None and canvas.text_width(label, scale) > bar_w - 2:
                label = f"{value:.0f}"  # narrow bars: drop the decimals rather than overlap
            if value is None:
                canvas.text_centered(bx + bar_w // 2, y + h - 10 * scale, label, AXIS, scale)
                continue
            bh = round(h * min(value, top) / top)
            canvas.fill_rect(bx + 1, y + h - bh, bar_w - 2, bh, PALETTE[m % len(PALETTE)])
            ly = y + h - bh - canvas.text_height(scale) - 4
            canvas.text_centered(bx + bar_w // 2, ly, label, TEXT, scale)
        canvas.text_centered(x + g * group_w + group_w // 2, y + h + 10, name, TEXT, 2)


def render_chart(report: Mapping[str, Any]) -> bytes:
    """The PNG bytes of the chart for a report built by ``build_report``."""
    models: Mapping[str, Any] = report["models"]
    names = list(models)
    labels = [n if len(n) <= 28 else n[:27] + "~" for n in names]
    # Legend rows are laid out first so the canvas grows to hold every model name.
    rows: list[list[int]] = [[]]
    used = 0
    for m, label in enumerate(labels):
        need = 24 + Canvas.text_width(label, 2) + 32
        if rows[-1] and used + need > WIDTH - 100:
            rows.append([])
            used = 0
        rows[-1].append(m)
        used += need
    canvas = Canvas(WIDTH, LEGEND_TOP + 26 * len(rows) + 10)
    canvas.text(
        20,
        14,
        f"{report['candidate']} vs {report['baseline']}: {report['records']} test records",
        TEXT,
        2,
    )
    metrics = [("F1", "f1"), ("Exact match", "exactMatch")]
    if report["numericRecords"]:
        metrics.append(("Numeric match", "numericMatch"))
    quality = [
        [None if models[n][key] is None else 100 * models[n][key] for n in names]
        for _, key in metrics
    ]
    _panel(
        canvas,
        box=(70, 100, 520, 250),
        title="Quality (%)",
        groups=[label for label, _ in metrics],
        values=quality,
        y_max=100,
        value_fmt="{:.1f}",
    )
    tokens = [models[n]["outputTokens"]["mean"] for n in names]
    _panel(
        canvas,
        box=(720, 100, 250, 250),
        title="Mean output tokens",
        groups=["per answer"],
        values=[tokens],
        y_max=max([t for t in tokens if t is not None] or [1.0]) * 1.1,
        value_fmt="{:.1f}",
    )
    for r, row in enumerate(rows):
        lx, ly = 70, LEGEND_TOP + 26 * r
        for m in row:
            canvas.fill_rect(lx, ly, 16, 16, PALETTE[m % len(PALETTE)])
            canvas.text(lx + 24, ly, labels[m], TEXT, 2)
            lx += 24 + canvas.text_width(labels[m], 2) + 32
    return canvas.to_png()
