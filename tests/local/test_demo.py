"""The reduced demo: the container workflow in local mode, base vs fine-tuned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedrock_pipeline.client.cli import main as cli
from bedrock_pipeline.local import demo
from tests.support.assembly import Assembly


@pytest.mark.slow
def test_fine_tuning_makes_answers_better_and_shorter(
    dev_assembly: Assembly, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    code = demo.main(["--quick", "--out", str(out)], templates=dev_assembly.templates)
    run = json.loads((out / "run.json").read_text())
    assert code == 0, (run["error"], run["cause"])
    assert run["status"] == "SUCCEEDED"
    assert run["importChecks"] and all(c.startswith("ready") for c in run["importChecks"].values())
    served = run["servedBy"]
    assert any("imported-model" in m for m in served)
    # The base side is the Bedrock model a deployed run would call, answered by the base weights.
    assert served[demo.EVALUATION_BASE_MODEL_ID].startswith("EMULATED")
    assert f"container/llama3 ({out / 'base-model'})" in served[demo.EVALUATION_BASE_MODEL_ID]
    report = json.loads((out / "report.json").read_text())
    base, custom = report["models"]["base"], report["models"]["custom"]
    assert custom["f1"] > base["f1"]
    assert custom["outputTokens"]["mean"] < base["outputTokens"]["mean"]
    assert base["errors"] == custom["errors"] == 0
    # The stage's decision metric reaches the evaluation step through the synthesized settings.
    assert report["decision"]["metric"] == "answerScore"
    tables = (out / "tables.md").read_text()
    assert (
        f"| Numeric answer score | {base['answerScore']:.1%} | {custom['answerScore']:.1%} |"
        in tables
    )
    # The figures are recomputable from the prediction files: `score` gives the same report.
    predictions = out / "predictions"
    args = ["score", "--test", str(out / "test.jsonl"), "--out", str(tmp_path / "rescored")]
    args += ["--predictions", f"base={predictions / 'base.jsonl'}"]
    args += ["--predictions", f"custom={predictions / 'custom.jsonl'}"]
    assert cli(args) == 0
    again = json.loads((tmp_path / "rescored" / "report.json").read_text())
    for model in ("base", "custom"):
        assert again["models"][model]["f1"] == pytest.approx(report["models"][model]["f1"])
        assert again["models"][model]["outputTokens"] == report["models"][model]["outputTokens"]
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    for state in ("Validate dataset", "Evaluate batches"):
        assert state in entered
    for name in ("report.md", "report.png", "predictions/base.jsonl", "tables.md"):
        assert (out / name).is_file()
