"""The example report shown in the README is what the code renders from the committed fixture."""

from __future__ import annotations

from pathlib import Path

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
    for name in ("report.json", "report.md", "report.png"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), (
            f"{name} is stale; {REGENERATE}"
        )
