"""report.md tables and examples, report.png pixels, the bitmap font, the decision gate."""

from __future__ import annotations

import json

import pytest

from bedrock_pipeline import bitmap_font, chart
from bedrock_pipeline.metrics import Prediction
from bedrock_pipeline.png import Canvas
from bedrock_pipeline.promotion import decide
from bedrock_pipeline.report import build_report, render_files, render_markdown
from tests.evaluation.pngread import pixel, read_png

REFS = [["Paris"], ["1,234"], ["the Eiffel Tower"], ["blue"]]
QUESTIONS = ["Capital of France?", "Total?", "Landmark | tall?", "Sky colour?"]


def _report(**kw: object) -> dict:
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
        REFS, predictions, candidate="custom", baseline="base", questions=QUESTIONS, **kw
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


# --- PNG ------------------------------------------------------------------------------------


def test_font_covers_printable_ascii_with_full_glyphs() -> None:
    for code in range(32, 127):
        rows = bitmap_font.GLYPHS[chr(code)]
        assert len(rows) == bitmap_font.HEIGHT and all(len(r) == bitmap_font.WIDTH for r in rows)
    assert bitmap_font.glyph("\u00e9") == bitmap_font.GLYPHS["?"]


def test_canvas_encodes_a_valid_png() -> None:
    canvas = Canvas(7, 3)
    canvas.fill_rect(2, 1, 3, 1, (10, 20, 30))
    canvas.fill_rect(-5, -5, 2, 2, (1, 1, 1))  # fully clipped: no effect, no error
    width, height, rows = read_png(canvas.to_png())
    assert (width, height) == (7, 3)
    assert pixel(rows, 2, 1) == (10, 20, 30) and pixel(rows, 4, 1) == (10, 20, 30)
    assert pixel(rows, 1, 1) == (255, 255, 255) and pixel(rows, 0, 0) == (255, 255, 255)


def _bar_height(rows: list[bytes], color: tuple[int, int, int], baseline_y: int) -> int:
    """Height of the first bar of ``color`` standing on the axis row above ``baseline_y``."""
    y = baseline_y - 1
    xs = [x for x in range(len(rows[0]) // 3) if pixel(rows, x, y) == color]
    assert xs, f"no bar of colour {color}"
    x = xs[0] + 2
    height = 0
    while pixel(rows, x, y - height) == color:
        height += 1
    return height


def test_chart_bar_heights_follow_the_metrics() -> None:
    report = _report()
    width, height, rows = read_png(chart.render_chart(report))
    assert width == chart.WIDTH and height > chart.LEGEND_TOP
    axis_y = 100 + 250  # the quality panel's box: y 100, height 250
    custom = _bar_height(rows, chart.PALETTE[0], axis_y)
    base = _bar_height(rows, chart.PALETTE[1], axis_y)
    assert custom == pytest.approx(250 * 0.75, abs=1)  # F1 75% of a 0-100 axis
    assert base == pytest.approx(250 * 0.45, abs=1)


def test_chart_png_opens_in_pillow_when_available() -> None:
    image_module = pytest.importorskip("PIL.Image")
    import io

    image = image_module.open(io.BytesIO(chart.render_chart(_report())))
    image.load()
    assert image.mode == "RGB" and image.size[0] == chart.WIDTH
