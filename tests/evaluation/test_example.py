"""The example report in docs/evaluation.md is what the code renders from the committed
predictions (the output of `make demo`)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from bedrock_pipeline.client.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-evaluation"
REGENERATE = (
    "regenerate: bedrock-pipeline score --test docs/example-evaluation/test.jsonl "
    "--predictions base=docs/example-evaluation/base.jsonl "
    "--predictions custom=docs/example-evaluation/custom.jsonl "
    "--out docs/example-evaluation --min-f1-gain 0.01"
)


def test_committed_example_report_is_current(tmp_path: Path) -> None:
    code = main([
        "score", "--test", str(EXAMPLE / "test.jsonl"),
        "--predictions", f"base={EXAMPLE / 'base.jsonl'}",
        "--predictions", f"custom={EXAMPLE / 'custom.jsonl'}",
        "--out", str(tmp_path), "--min-f1-gain", "0.01",
    ])  # fmt: skip
    assert code == 0
    for name in ("report.json", "report.md"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), (
            f"{name} is stale; {REGENERATE}"
        )
    # The chart is compared as decoded pixels: text antialiasing may differ by a few levels
    # between FreeType builds, a changed bar or label moves the RMS far above 2.
    fresh, committed = (_pixels(path / "report.png") for path in (tmp_path, EXAMPLE))
    assert fresh.shape == committed.shape, f"report.png is stale; {REGENERATE}"
    rms = float(np.sqrt(np.mean((fresh - committed) ** 2)))
    assert rms < 2.0, f"report.png is stale (RMS {rms:.2f}); {REGENERATE}"


def _pixels(path: Path) -> np.ndarray:
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64)
