"""Stages and sample data as shipped pass the project's own checks; a wrong stage stops
synthesis with one line per problem before anything runs, and a failed synthesis loses nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bedrock_pipeline.model_spec import CustomizationType
from bedrock_pipeline.registry import MODELS, customization_regions, get_model, model_regions
from bedrock_pipeline.sources import LocalFile
from bedrock_pipeline.validation import validate_dataset
from stacks.config import CONFIG_DIR, load_stage, model_region_problems, stage_names
from tests.operator.support import EXAMPLES, ROOT, SAMPLE, environment, run, run_module
from training_image.local_run import HYPERPARAMETERS, MODEL_ID


@pytest.mark.parametrize("stage", stage_names())
def test_shipped_stage_allows_only_models_its_region_customizes(stage: str) -> None:
    config = load_stage(stage)
    assert model_region_problems(config.region, config.allowed_base_models) == []
    for model_id in config.allowed_base_models:
        assert config.region in model_regions(model_id)


def test_every_registry_row_has_regions() -> None:
    for model_id, spec in MODELS.items():
        for customization in spec.customizations:
            assert customization_regions(model_id, customization), (model_id, customization)
    haiku = "anthropic.claude-3-haiku-20240307-v1:0:200k"
    assert customization_regions(haiku, CustomizationType.FINE_TUNING) == {"us-west-2"}
    nova2 = get_model("amazon.nova-2-lite-v1:0:256k")
    assert model_regions(nova2.model_id) == {"us-east-1"}


def test_sample_data_is_valid_for_train_local() -> None:
    report = validate_dataset(
        LocalFile(str(SAMPLE / "train.jsonl")),
        model=get_model(MODEL_ID),
        customization=CustomizationType.FINE_TUNING,
        validation=LocalFile(str(SAMPLE / "validation.jsonl")),
        hyperparameters=HYPERPARAMETERS,
    )
    assert report.valid, [str(i) for i in report.issues("error")]
    assert report.log.count("error") == 0


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("run-*.json")))
def test_example_run_documents_pass_check_run_for_dev(example: str) -> None:
    result = run("check-run", str(EXAMPLES / example), "--stage", "dev")
    assert result.code == 0, result.out + result.err
    assert result.out.rstrip().endswith("VALID")


def _stage(tmp_path: Path, **change: object) -> Path:
    body = json.loads((CONFIG_DIR / "dev.json").read_text()) | {"name": "typo"} | change
    (tmp_path / "typo.json").write_text(json.dumps(body))
    return tmp_path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"allowed_base_models": ["meta.llama3-1-8b-instruct-v1:0:128"]},
         "allowed_base_models[0]: unknown base model 'meta.llama3-1-8b-instruct-v1:0:128' "
         "(did you mean 'meta.llama3-1-8b-instruct-v1:0:128k'?)"),
        ({"region": "eu-west-1"},
         "region: no base model can be customized in 'eu-west-1'"),
        ({"region": "us-east-1"},
         "allowed_base_models[0]: Claude 3 Haiku (anthropic.claude-3-haiku-20240307-v1:0:200k) "
         "is customized only in us-west-2, not in the stage's region us-east-1"),
        ({"regoin": "us-west-2"}, "regoin: unknown field (did you mean 'region'?)"),
        ({"log_retention_days": 42}, "log_retention_days: log_retention_days=42 is not"),
    ],
)  # fmt: skip
def test_wrong_stage_stops_synth_first(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    (tmp_path / "config").mkdir()
    config_dir = _stage(tmp_path / "config", **change)
    out, context = tmp_path / "cdk.out", tmp_path / "cdk.context.json"
    context.write_text("{}")
    result = run_module(
        "tools.synth", "typo", "--config-dir", str(config_dir), "--out", str(out),
        "--context-file", str(context), "--cdk", "/nonexistent/cdk",
    )  # fmt: skip
    assert result.code == 2 and "Traceback" not in result.err
    lines = result.err.splitlines()
    assert all(line.startswith(f"synth: error: {config_dir / 'typo.json'}: ") for line in lines)
    assert any(expected in line for line in lines), result.err
    assert not out.exists() or list(out.iterdir()) == []
    assert context.read_text() == "{}"


def test_cdk_app_with_unknown_stage_is_one_line_no_jsii(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, check=False,
        env=environment(CDK_CONTEXT_JSON=json.dumps({"stage": "prdo"}), CDK_OUTDIR=str(tmp_path)),
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: config/prdo.json: no such stage 'prdo' (did you mean 'prod'?); "
        "available stages: dev, prod"
    ]
    assert list(tmp_path.iterdir()) == []


def test_failed_synth_keeps_other_stages_and_the_context(tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    (out / "prod").mkdir(parents=True)
    (out / "prod" / "bcp-prod-data.template.json").write_text("{}")
    (out / "dev").mkdir()
    (out / "dev" / "bcp-dev-data.template.json").write_text('{"old": true}')
    (out / "security-report.md").write_text("# report")
    context = tmp_path / "cdk.context.json"
    context.write_bytes(b'{"kept": 1}\n')
    fake_cdk = tmp_path / "cdk"
    # A CLI that records a failed lookup in the context file and half-writes its output.
    fake_cdk.write_text(
        "#!/bin/sh\n"
        f"echo '{{\"broken\": true}}' > {context}\n"
        'while [ "$1" != "--output" ]; do shift; done; mkdir -p "$2"; touch "$2/partial"\n'
        "echo 'lookup failed' >&2; exit 1\n"
    )
    fake_cdk.chmod(0o755)
    result = run_module(
        "tools.synth", "dev", "--out", str(out), "--context-file", str(context),
        "--cdk", str(fake_cdk),
    )  # fmt: skip
    assert result.code == 1 and "lookup failed" in result.err
    assert "synth: error: stage 'dev' did not synthesize" in result.err
    assert context.read_bytes() == b'{"kept": 1}\n'
    assert sorted(p.name for p in out.iterdir()) == ["dev", "prod", "security-report.md"]
    assert (out / "dev" / "bcp-dev-data.template.json").read_text() == '{"old": true}'
    assert (out / "prod" / "bcp-prod-data.template.json").exists()


def test_make_help_lists_every_target() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    makefile = (ROOT / "Makefile").read_text()
    phony = next(line for line in makefile.splitlines() if line.startswith(".PHONY:"))
    targets = phony.removeprefix(".PHONY:").split()
    listed = subprocess.run([make, "-s", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    for target in targets:
        assert f"make {target} " in listed, target
    assert "bin/bedrock-pipeline" in listed and "activate" in listed


def test_train_local_refuses_invalid_data_before_training(tmp_path: Path) -> None:
    lines = (SAMPLE / "train.jsonl").read_text().splitlines()
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(lines + lines[:3]) + "\n")  # three duplicates
    out = tmp_path / "run"
    result = run_module(
        "training_image.local_run", "--train", str(train),
        "--validation", str(SAMPLE / "validation.jsonl"), "--out", str(out),
    )  # fmt: skip
    assert result.code == 1
    assert "DUPLICATE_RECORD 3" in result.err and "nothing was trained" in result.err
    assert not out.exists()
