"""report.md tables and examples, report.png as decoded pixels, the decision gate."""

from __future__ import annotations

import io
import json

import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from bedrock_pipeline import chart
from bedrock_pipeline.metrics import Prediction
from bedrock_pipeline.promotion import decide
from bedrock_pipeline.report import build_report, render_files, render_markdown

REFS = [["Paris"], ["1,234"], ["the Eiffel Tower"], ["blue"]]
QUESTIONS = ["Capital of France?", "Total?", "Landmark | tall?", "Sky colour?"]


def _report(example_count: int = 5) -> dict:
    predictions = {
        "base": [
            Prediction("It is Paris, France", 6, 200.0),
            Prediction("The total is 1,234 dollars", 8, 250.0),
            Prediction(None, error="ThrottlingException: slow down"),
            Prediction("blue", 4, 150.0),
        ],
        "custom": [
            Prediction("Paris", 2, 90.0),
            Prediction("1234", 2, 80.0),
            Prediction("Eiffel Tower", 3, 85.0),
            Prediction("green|ish\nnew line", 2, 70.0),
        ],
    }
    return build_report(
        REFS,
        predictions,
        candidate="custom",
        baseline="base",
        questions=QUESTIONS,
        example_count=example_count,
    )


def test_report_json_shape_matches_the_cli_contract() -> None:
    report = _report()
    assert list(report["models"]) == ["custom", "base"]  # candidate first
    custom, base = report["models"]["custom"], report["models"]["base"]
    assert custom["f1"] == pytest.approx(0.75) and custom["exactMatch"] == pytest.approx(0.75)
    # base: F1 2/4 on record 1 (paris france vs paris -> P 1/2, R 1), 1/5... computed by hand:
    # "it is paris france" -> 4 tokens, 1 common: 2*(1/4)*1/(1/4+1) = 0.4
    # "total is 1234 dollars" vs "1234" -> 4 tokens, 1 common: 0.4; error -> 0; blue -> 1
    assert base["f1"] == pytest.approx((0.4 + 0.4 + 0 + 1) / 4)
    assert base["numericMatch"] == 1.0 and report["numericRecords"] == 1
    assert set(custom["outputTokens"]) >= {"mean", "median", "std", "min", "max"}
    assert report["comparisons"]["base"]["outputTokenReduction"] == pytest.approx(1 - 2.25 / 6)
    json.dumps(report)  # serialisable as is


def test_examples_show_biggest_wins_and_the_worst_regression() -> None:
    report = _report(example_count=2)
    indexes = [ex["index"] for ex in report["examples"]]
    assert indexes == [2, 3]  # the error record is the biggest win, "blue" -> "green" a loss
    assert report["examples"][0]["answers"]["base"]["error"].startswith("Throttling")


def test_markdown_has_both_tables_and_escapes_cells() -> None:
    report = _report()
    report["decision"] = decide(report, 0.01, max_error_rate=0.5).as_dict()
    md = render_markdown(report)
    # answer score, F1, EM, numeric match; base's "The total is 1,234 dollars" is right by value
    assert "| `custom` | 75.0% | 75.0% | 75.0% | 100.0% | 0 |  |" in md
    assert "| `base` | 60.0% | 45.0% | 25.0% | 100.0% | 1 | +30.0 pts (+66.7%) |" in md
    assert "| `custom` | 2.2 | 2.0 | 0.4 | 2.0 | 3.0 |  |" in md
    assert "| `base` | 6.0 | 6.0 | 1.6 | 4.0 | 8.0 | -62.5% |" in md
    assert "green\\|ish<br>new line" in md
    assert "Landmark \\| tall?" in md
    assert "*error: ThrottlingException: slow down*" in md
    assert "**promoted**" in md
    assert "![F1, exact match and output tokens per model](report.png)" in md


def test_render_files_are_consistent() -> None:
    files = render_files(_report())
    assert set(files) == {"report.json", "report.md", "report.png"}
    assert json.loads(files["report.json"][0])["candidate"] == "custom"
    assert files["report.png"][1] == "image/png"


def test_candidate_must_have_predictions() -> None:
    with pytest.raises(ValueError, match="model 'tuned' has no predictions"):
        build_report(REFS, {"base": []}, candidate="tuned", baseline="base")


# --- decision gate --------------------------------------------------------------------------


def _gate_report(cand_f1: float, base_f1: float, cand_errors: int = 0) -> dict:
    block = {"records": 100, "errors": 0}
    return {
        "candidate": "custom",
        "baseline": "base",
        "models": {
            "custom": {**block, "f1": cand_f1, "errors": cand_errors},
            "base": {**block, "f1": base_f1},
        },
    }


def test_gate_promotes_at_exactly_the_margin() -> None:
    decision = decide(_gate_report(0.30, 0.28), 0.02, metric="f1")
    assert decision.decision == "promoted"
    assert "F1 30.0% (custom)" in decision.reason
    assert "+2.0 points >= required +2.0" in decision.reason


def test_gate_rejects_below_the_margin() -> None:
    decision = decide(_gate_report(0.912, 0.90), 0.02, metric="f1")
    assert decision.decision == "not-promoted"
    assert decision.f1_gain == pytest.approx(0.012)


def test_gate_refuses_an_unreliable_comparison() -> None:
    decision = decide(_gate_report(0.99, 0.10, cand_errors=6), 0.02)
    assert decision.decision == "not-promoted"
    assert "custom failed on 6 of 100 records" in decision.reason


def test_gate_rejects_a_margin_in_percent() -> None:
    with pytest.raises(ValueError, match="fraction"):
        decide(_gate_report(0.5, 0.4), 2.0)


# --- PNG: decoded with Pillow, measured through the figure's own transforms ----------------


def _decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image.convert("RGB")


def _rgb(color: str) -> tuple[int, int, int]:
    r, g, b = to_rgb(color)
    return (round(255 * r), round(255 * g), round(255 * b))


def test_chart_bar_heights_follow_the_metrics() -> None:
    report = _report()
    fig = chart.chart_figure(report)
    image = _decode(chart.figure_png(fig))
    assert image.size == (1000, round(fig.bbox.height))
    quality = fig.axes[0]
    expected = {"custom": 75.0, "base": 45.0}  # F1 in percent, see the JSON test above
    for m, (name, f1) in enumerate(expected.items()):
        bar = quality.containers[m][0]  # the model's bar in the first group (F1)
        assert bar.get_height() == pytest.approx(f1)
        # Find the bar's top in the decoded image: the pixel column through its middle is the
        # model's colour just below the value and not just above it.
        x_px, top_px = quality.transData.transform((bar.get_x() + bar.get_width() / 2, f1))
        x, top = round(x_px), round(image.height - top_px)
        color = _rgb(chart.PALETTE[m])
        assert image.getpixel((x, top + 3)) == color, name
        assert image.getpixel((x, top - 3)) != color, name
        zero = round(image.height - quality.transData.transform((0, 0))[1])
        assert image.getpixel((x, zero - 3)) == color, name
        assert (zero - top) == pytest.approx(quality.bbox.height * f1 / 110, abs=2)


def _many_models() -> dict:
    names = ["custom", "base", "a-comparison-model-with-a-long-name-v2", "small", "mid"]
    predictions = {
        name: [
            Prediction(ref[0] if i <= k else "no idea", 3 + k, 100.0) for i, ref in enumerate(REFS)
        ]
        for k, name in enumerate(names)
    }
    return build_report(REFS, predictions, candidate="custom", baseline="base")


def test_chart_with_five_models_stays_readable() -> None:
    report = _many_models()
    fig = chart.chart_figure(report)
    _decode(chart.figure_png(fig))  # draws the figure, so the text extents below are final
    assert " vs " not in fig.get_suptitle()
    assert fig.get_suptitle().startswith("5 models on 4 test records")
    (legend,) = fig.legends
    shown = [t.get_text() for t in legend.get_texts()]
    assert shown[:2] == ["custom", "base"] and len(shown) == 5
    assert max(len(t) for t in shown) <= chart.MAX_LABEL
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [legend.get_window_extent(renderer)]
    for ax in fig.axes:
        boxes.append(ax.get_window_extent(renderer))
        labels = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(labels) == len(report["models"]) * len(ax.get_xticks())
        for i, one in enumerate(labels):  # no bar label overlaps another
            assert not any(one.overlaps(other) for other in labels[i + 1 :])
            assert fig.bbox.contains(one.x0, one.y0) and fig.bbox.contains(one.x1, one.y1)
    assert not any(boxes[0].overlaps(ax_box) for ax_box in boxes[1:])  # legend below the panels


def test_chart_of_two_models_names_both() -> None:
    assert chart.title_for(_report()) == "custom vs base: 4 test records"
