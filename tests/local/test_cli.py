"""`bedrock-pipeline local start`: usage errors name the file and field, exit 2, start nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedrock_pipeline.client.cli import main


def _doc(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "run.json"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    ("body", "extra", "message"),
    [
        ("{not json", [], "run.json:1: not JSON"),
        ("[1]", [], "the run document is a JSON object, not list"),
        (json.dumps({"runName": "x"}), [], "run.json: baseModelId: Field required"),
        (
            json.dumps({"runName": "x", "baseModelId": "container/llama3", "trainer": "import"}),
            [],
            "modelDataUri: required when trainer=import",
        ),
        (
            json.dumps({"runName": "x", "baseModelId": "m"}),
            ["--model", "m"],
            "expected MODEL_ID=DIR",
        ),
        (
            json.dumps({"runName": "x", "baseModelId": "m"}),
            ["--model", "m=/nonexistent"],
            "/nonexistent holds no config.json",
        ),
        (json.dumps({"runName": "x", "baseModelId": "m"}), ["--files", "/nonexistent"], "no such"),
    ],
)
def test_usage_errors_exit_2_with_the_place_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, extra: list[str], message: str
) -> None:
    path = _doc(tmp_path, body)
    assert main(["local", "start", str(path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bedrock-pipeline local start: error:")
    assert message in err
    assert "Traceback" not in err


def test_a_missing_document_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "start", "/nonexistent/run.json"]) == 2
    assert "/nonexistent/run.json" in capsys.readouterr().err


def test_an_installed_package_without_the_repository_is_told_to_use_a_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bedrock_pipeline.local import runner

    monkeypatch.setattr(runner, "CHECKOUT", tmp_path)  # site-packages: no stacks/ beside it
    (tmp_path / "team-bucket" / "weights").mkdir(parents=True)
    body = json.dumps(
        {
            "runName": "x",
            "baseModelId": "container/llama3",
            "trainer": "import",
            "modelDataUri": "s3://team-bucket/weights/",
        }
    )
    assert main(["local", "start", str(_doc(tmp_path, body)), "--files", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "local mode runs from a checkout of the repository" in err
    assert "stacks, training_image not found" in err
    assert "Traceback" not in err


def test_an_unknown_stage_is_a_usage_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps(
        {
            "runName": "x",
            "baseModelId": "container/llama3",
            "trainer": "import",
            "modelDataUri": "s3://team-bucket/weights/",
        }
    )
    (tmp_path / "team-bucket" / "weights").mkdir(parents=True)
    files = ["--files", str(tmp_path)]
    assert main(["local", "start", str(_doc(tmp_path, body)), "--stage", "qa", *files]) == 2
    err = capsys.readouterr().err
    assert "no such stage 'qa'" in err
    assert "Traceback" not in err


VISION = {
    "runName": "v",
    "baseModelId": "container/llama3-vision",
    "trainer": "container",
    "trainingDataUri": "s3://local-examples/vision/train/data.jsonl",
    "container": {"baseWeightsUri": "s3://local-examples/weights/vision/"},
}


@pytest.mark.parametrize(
    ("layout", "extra", "message"),
    [
        (
            [],
            [],
            "trainingDataUri s3://local-examples/vision/train/data.jsonl: local mode serves "
            "s3://BUCKET/KEY from --files DIR as DIR/BUCKET/KEY; give --files",
        ),
        (["local-examples/weights/vision/"], ["--files"], "no file "),
        (
            ["local-examples/vision/train/data.jsonl"],
            ["--files"],
            "container.baseWeightsUri s3://local-examples/weights/vision/: no folder ",
        ),
        (
            ["local-examples/vision/train/data.jsonl", "local-examples/weights/vision/"],
            ["--files", "--evaluate"],
            "the evaluation's base model us.meta.llama3-2-11b-instruct-v1:0 needs local weights: "
            "pass --model container/llama3-vision=DIR (they answer for it)",
        ),
        (
            ["local-examples/vision/train/data.jsonl", "local-examples/weights/vision/"],
            ["--files", "--model", "container/llama3-vison=WEIGHTS"],
            "--model container/llama3-vison: the run calls no such model (it calls "
            "container/llama3-vision); did you mean container/llama3-vision?",
        ),
    ],
)
def test_inputs_and_models_the_run_cannot_use_are_usage_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    layout: list[str],
    extra: list[str],
    message: str,
) -> None:
    files = tmp_path / "files"
    for entry in layout:
        path = files / entry
        if entry.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}\n")
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    document = dict(VISION)
    if "--evaluate" in extra:  # an evaluation, and no weights for its base model
        extra = [a for a in extra if a != "--evaluate"]
        document["evaluation"] = {
            "testDataUri": "s3://local-examples/vision/train/data.jsonl",
            "baseModelId": "us.meta.llama3-2-11b-instruct-v1:0",
        }
    args = [a.replace("WEIGHTS", str(weights)) for a in extra]
    if "--files" in args:
        args.insert(args.index("--files") + 1, str(files))
        files.mkdir(exist_ok=True)
    assert main(["local", "start", str(_doc(tmp_path, json.dumps(document))), *args]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_each_model_the_evaluation_calls_needs_weights_here(tmp_path: Path) -> None:
    from bedrock_pipeline.client.commands.local import _missing_weights
    from bedrock_pipeline.run_spec import parse_run_spec

    evaluation = {
        "testDataUri": "s3://local-examples/vision/test/data.jsonl",
        "baseModelId": "us.meta.llama3-2-11b-instruct-v1:0",
        "comparisonModels": [{"name": "nova", "modelId": "amazon.nova-lite-v1:0"}],
    }
    spec = parse_run_spec({**VISION, "evaluation": evaluation})
    base = {"container/llama3-vision": tmp_path}
    assert _missing_weights({}, spec) is not None
    assert _missing_weights(base, spec) == (
        "evaluation.comparisonModels nova (amazon.nova-lite-v1:0) needs local weights: pass "
        "--model amazon.nova-lite-v1:0=DIR"
    )
    assert _missing_weights({**base, "amazon.nova-lite-v1:0": tmp_path}, spec) is None
