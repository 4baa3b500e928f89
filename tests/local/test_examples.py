"""`local start` on the example run documents (examples/local/, docs/local.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline.local.examples import BUCKET, EXAMPLES, build_files
from bedrock_pipeline.local.runner import LocalRun, run_locally
from tests.support.assembly import Assembly

EVALUATION_BASE = "us.meta.llama3-2-1b-instruct-v1:0"  # examples/local/container.json, import.json
VISION_BASE = "us.meta.llama3-2-11b-instruct-v1:0"  # examples/local/vision.json


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("local-files")
    return root, build_files(root)


def _succeeded(
    name: str,
    assembly: Assembly,
    files: tuple[Path, Path],
    out: Path,
    model: str,
    weights: Path | None = None,
) -> tuple[LocalRun, dict[str, Any]]:
    """Run the example with ``--model model=weights`` (the tiny base Llama by default), which
    must succeed: (the run, its summary)."""
    document = json.loads((EXAMPLES / f"{name}.json").read_text())
    root, base = files
    result = run_locally(
        document,
        templates=assembly.templates,
        out=out,
        files=root,
        weights={model: weights or base},
    )
    summary = result.summary
    assert result.status == "SUCCEEDED", (summary["error"], summary["cause"])
    return result, summary


@pytest.mark.slow
def test_container_example_trains_imports_and_evaluates(
    dev_assembly: Assembly, files: tuple[Path, Path], tmp_path: Path
) -> None:
    result, summary = _succeeded("container", dev_assembly, files, tmp_path, "container/llama3")
    # The gate decides; one epoch on the example's few records need not promote.
    assert result.outcome in {"SUCCEEDED", "NOT_PROMOTED"}
    (check,) = summary["importChecks"].values()
    assert check.startswith("ready: LlamaForCausalLM")  # the container's own export
    report = json.loads((tmp_path / "artifacts" / "evaluation" / "report.json").read_text())
    assert set(report["models"]) == {"base", "custom"}
    _base_answered_by_the_base_weights(summary, files)
    assert report["models"]["custom"]["outputTokens"]["count"] == report["records"]


@pytest.mark.slow
def test_import_example_checks_registers_and_evaluates_the_weights(
    dev_assembly: Assembly, files: tuple[Path, Path], tmp_path: Path
) -> None:
    _, summary = _succeeded("import", dev_assembly, files, tmp_path, "container/llama3")
    (check,) = summary["importChecks"].values()
    assert check.startswith("ready: LlamaForCausalLM")
    arn = summary["output"]["outputs"]["importedModelArn"]
    assert "local weights" in summary["servedBy"][arn]
    report = json.loads((tmp_path / "artifacts" / "evaluation" / "report.json").read_text())
    tokens = report["models"]["custom"]["outputTokens"]
    assert tokens["count"] == report["records"] and tokens["max"] <= 32  # maxTokens
    assert (tmp_path / "notifications.jsonl").read_text().strip()
    _base_answered_by_the_base_weights(summary, files)


def _base_answered_by_the_base_weights(summary: dict[str, Any], files: tuple[Path, Path]) -> None:
    # The document names the Bedrock model a deployed run compares against; local mode has no
    # weights of it and answers with the tiny base checkpoint, and says so.
    served = summary["servedBy"][EVALUATION_BASE]
    assert served.startswith("EMULATED") and f"container/llama3 ({files[1]})" in served
    assert any(EVALUATION_BASE in note for note in summary["emulated"])


@pytest.mark.slow
def test_vision_example_trains_on_the_images_its_manifest_lists(
    dev_assembly: Assembly, files: tuple[Path, Path], tmp_path: Path
) -> None:
    vision = files[0] / BUCKET / "weights" / "vision"
    _, summary = _succeeded(
        "vision", dev_assembly, files, tmp_path, "container/llama3-vision", vision
    )
    # The validate step listed the images; the emulated SageMaker downloaded exactly those
    # into the images channel, and the container trained and exported Mllama from them.
    manifest = json.loads((tmp_path / "artifacts" / "images.manifest").read_text())
    bucket = files[0] / BUCKET
    named = {
        block["image"]["source"]["s3Location"]["uri"]
        for split in ("train", "validation")
        for line in (bucket / "vision" / split / "data.jsonl").read_text().splitlines()
        for block in json.loads(line)["messages"][0]["content"]
        if "image" in block
    }
    assert manifest[0] == {"prefix": f"s3://{BUCKET}/"}
    assert {f"s3://{BUCKET}/{key}" for key in manifest[1:]} == named and len(named) == 32
    (check,) = summary["importChecks"].values()
    assert check.startswith("ready: MllamaForConditionalGeneration")
    # The evaluation sent each test record's image to the imported model and to the base
    # vision weights standing in for the Bedrock base model; both answered every record.
    report = json.loads((tmp_path / "artifacts" / "evaluation" / "report.json").read_text())
    test_set = (bucket / "vision" / "test" / "data.jsonl").read_text().splitlines()
    assert report["records"] == len(test_set) == 4
    for model in ("base", "custom"):
        assert report["models"][model]["errors"] == 0
        tokens = report["models"][model]["outputTokens"]
        assert tokens["count"] == report["records"] and 1 <= tokens["min"] <= tokens["max"] <= 4
    served = summary["servedBy"][VISION_BASE]
    assert served.startswith("EMULATED") and f"container/llama3-vision ({vision})" in served


@pytest.mark.slow
def test_bedrock_example_is_status_only_and_says_so(
    dev_assembly: Assembly, files: tuple[Path, Path], tmp_path: Path
) -> None:
    haiku = "anthropic.claude-3-haiku-20240307-v1:0:200k"
    result, summary = _succeeded("bedrock", dev_assembly, files, tmp_path, haiku)
    # The same weights answer for base and custom: no gain, the gate keeps the model back.
    assert result.outcome == "NOT_PROMOTED"
    assert any("EMULATED job status only" in note for note in summary["emulated"])
    (stand_in,) = [by for model, by in summary["servedBy"].items() if "provisioned-model" in model]
    assert stand_in.startswith("EMULATED")
    assert (tmp_path / "artifacts" / "evaluation" / "report.md").is_file()


def test_every_example_is_a_valid_run_document() -> None:
    from bedrock_pipeline.run_spec import RunSpec

    names = sorted(p.stem for p in EXAMPLES.glob("*.json"))
    assert names == ["bedrock", "container", "import", "vision"]
    for name in names:
        RunSpec.model_validate(json.loads((EXAMPLES / f"{name}.json").read_text()))
