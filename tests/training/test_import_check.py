"""Import readiness from the listing and config: accept what Bedrock imports, say why not."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bedrock_pipeline.aws.import_check import check_s3_prefix
from bedrock_pipeline.client.cli import main as cli
from bedrock_pipeline.client.commands.check_import import run
from bedrock_pipeline.import_check import check_directory, check_import
from bedrock_pipeline.registry import IMPORT
from tests.shards import header_of, llama_tensors, shard_bytes

GOOD_FILES = {
    "config.json": 700,
    "generation_config.json": 150,
    "tokenizer.json": 9_000_000,
    "tokenizer_config.json": 50_000,
    "model-00001-of-00002.safetensors": 4_900_000_000,
    "model-00002-of-00002.safetensors": 1_200_000_000,
    "model.safetensors.index.json": 25_000,
}
GOOD_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "max_position_embeddings": 8192,
    "torch_dtype": "bfloat16",
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 64,
}
SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
_ALL = llama_tensors(GOOD_CONFIG)
# Layer 0 and the embedding in the first shard, the rest in the second.
TENSORS = {
    SHARDS[0]: {n: t for n, t in _ALL.items() if "layers.1." not in n and "lm_head" not in n},
    SHARDS[1]: {n: t for n, t in _ALL.items() if "layers.1." in n or "lm_head" in n},
}
GOOD_INDEX = {"weight_map": {n: shard for shard, ts in TENSORS.items() for n in ts}}
HEADERS = {shard: header_of(ts) for shard, ts in TENSORS.items()}


def _headers(files: dict[str, Any]) -> dict[str, Any]:
    return {shard: header for shard, header in HEADERS.items() if shard in files}


def test_a_complete_export_is_ready() -> None:
    result = check_import(GOOD_FILES, GOOD_CONFIG, GOOD_INDEX, HEADERS)
    assert result.ready and not result.reasons and not result.warnings
    assert result.architecture == "LlamaForCausalLM" and result.weights_bytes == 6_100_000_000
    assert result.dtype == "bfloat16" and result.tensors == len(_ALL)
    assert "ready: LlamaForCausalLM, weights 6.1 GB (bfloat16" in result.summary()


@pytest.mark.parametrize(
    ("files", "config", "reason"),
    [
        ({**GOOD_FILES, "config.json": None}, GOOD_CONFIG, "missing required file config.json"),
        (
            {k: v for k, v in GOOD_FILES.items() if k != "tokenizer.json"},
            GOOD_CONFIG,
            "no tokenizer file",
        ),
        (
            {k: v for k, v in GOOD_FILES.items() if not k.endswith(".safetensors")}
            | {"pytorch_model.bin": 10},
            GOOD_CONFIG,
            "pytorch_model.bin must be converted to safetensors",
        ),
        (
            GOOD_FILES | {"model-00002-of-00002.safetensors": IMPORT.max_weights_bytes},
            GOOD_CONFIG,
            "Custom Model Import takes less than 200 GB",
        ),
        (GOOD_FILES, GOOD_CONFIG | {"architectures": ["GPT2LMHeadModel"]}, "need exactly one of"),
        (GOOD_FILES, GOOD_CONFIG | {"architectures": []}, "need exactly one of"),
        (GOOD_FILES, GOOD_CONFIG | {"max_position_embeddings": 1_000_000}, "context length"),
    ],
)
def test_rejections_say_why(files: dict[str, Any], config: dict[str, Any], reason: str) -> None:
    listing = {k: v for k, v in files.items() if v is not None}
    result = check_import(listing, config, GOOD_INDEX, _headers(listing))
    assert not result.ready
    assert any(reason in r for r in result.reasons), result.reasons


def test_missing_shard_and_nested_context() -> None:
    files = {k: v for k, v in GOOD_FILES.items() if "00002" not in k}
    reasons = check_import(files, GOOD_CONFIG, GOOD_INDEX, _headers(files)).reasons
    assert any("names shards that are missing" in r for r in reasons)
    vl = {"architectures": ["Qwen2VLForConditionalGeneration"], "torch_dtype": "bfloat16",
          "text_config": {"max_position_embeddings": 32768}}  # fmt: skip
    result = check_import(GOOD_FILES, vl, GOOD_INDEX, HEADERS)
    assert result.ready and result.context == 32768


def write_dir(root: Path, files: dict[str, int], config: dict[str, Any]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in files:
        (root / name).write_bytes(shard_bytes(TENSORS[name]) if name in TENSORS else b"x")
    (root / "config.json").write_text(json.dumps(config))
    (root / "model.safetensors.index.json").write_text(json.dumps(GOOD_INDEX))
    return root


def test_local_directory_and_cli_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_dir(tmp_path / "good", GOOD_FILES, GOOD_CONFIG)
    assert check_directory(good).ready
    assert cli(["check-import", str(good)]) == 0
    assert capsys.readouterr().out.startswith("ready: LlamaForCausalLM")
    bad = write_dir(tmp_path / "bad", GOOD_FILES, GOOD_CONFIG | {"architectures": ["BertModel"]})
    assert cli(["check-import", str(bad), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ready"] is False and "BertModel" in out["reasons"][0]
    assert cli(["check-import", str(tmp_path / "absent")]) == 2


@mock_aws
def test_s3_prefix_is_checked_from_the_listing_and_headers() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="models")
    for name in GOOD_FILES:
        body = json.dumps(GOOD_CONFIG) if name == "config.json" else b"x"
        if name in TENSORS:
            body = shard_bytes(TENSORS[name])
        if name == "model.safetensors.index.json":
            body = json.dumps(GOOD_INDEX)
        s3.put_object(Bucket="models", Key=f"runs/r1/model/{name}", Body=body)
    s3.put_object(Bucket="models", Key="runs/r1/model/extra/nested.safetensors", Body=b"x")
    result = check_s3_prefix(s3, "s3://models/runs/r1/model")
    assert result.ready, result.reasons
    # sizes come from the listing, nested folders ignored
    assert result.weights_bytes == sum(len(shard_bytes(ts)) for ts in TENSORS.values())
    s3.delete_object(Bucket="models", Key="runs/r1/model/tokenizer_config.json")
    out = io.StringIO()
    args = argparse.Namespace(location="s3://models/runs/r1/model/", output="text")
    assert run(args, out=out, s3=s3) == 1
    assert "missing required file tokenizer_config.json" in out.getvalue()


@pytest.mark.parametrize(("context", "ready"), [(131_072, True), (131_073, False)])
def test_llama_31_context_imports_and_one_more_token_does_not(context: int, ready: bool) -> None:
    """Llama 3.1-3.3 configs declare 131072 positions ("128K") and are importable."""
    config = GOOD_CONFIG | {"max_position_embeddings": context}
    result = check_import(GOOD_FILES, config, GOOD_INDEX, HEADERS)
    assert result.ready is ready
    assert any("context length" in r for r in result.reasons) is not ready
