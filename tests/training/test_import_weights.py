"""Import readiness read from the weights: real exports pass, each kind of broken export fails.

The exports are the container's own (LoRA applied, merged, sharded, bf16) on the tiny Llama,
Mistral and Qwen2 checkpoints; the faults are made from them the way users' tools make them.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
import torch
from botocore.exceptions import ClientError
from moto import mock_aws
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

from bedrock_pipeline.aws.import_check import check_s3_prefix
from bedrock_pipeline.client.cli import main as cli
from bedrock_pipeline.client.commands.check_import import run
from bedrock_pipeline.import_check import check_directory, human_bytes
from bedrock_pipeline.registry import IMPORT_RULES, WEIGHT_DTYPES
from training_image.trainer.export import export
from training_image.trainer.lora import apply_lora

ARCHS = ("llama", "mistral", "qwen2")


@pytest.fixture(scope="module")
def exports(
    base_models: dict[str, Path],
    tokenizer: Any,
    tmp_path_factory: pytest.TempPathFactory,
    world_of_one: None,
) -> dict[str, Path]:
    """What `make train-local` writes to OUT/model, per architecture (sharded: 3+ files)."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for arch in ARCHS:
        lm = AutoModelForCausalLM.from_pretrained(base_models[arch], torch_dtype=torch.float32)
        apply_lora(lm, ("all-linear",), rank=4, alpha=8.0, dropout=0.0)
        export(lm, tokenizer, root / arch, base_models[arch], shard_bytes=60_000)
        out[arch] = root / arch
    return out


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def reasons_of(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli(["check-import", str(path)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("arch", ARCHS)
def test_real_exports_are_ready(
    exports: dict[str, Path], arch: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = check_directory(exports[arch])
    assert result.ready, result.reasons
    assert result.dtype == "bfloat16" and not result.warnings
    assert len([p for p in exports[arch].iterdir() if p.suffix == ".safetensors"]) > 2
    code, out = reasons_of(exports[arch], capsys)
    assert code == 0 and out.startswith(f"ready: {result.architecture}, weights ")
    assert " kB (bfloat16, " in out  # human units: these models are a few hundred kB


def peft_state(merged: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What PEFT's save_pretrained writes before merge_and_unload: base_layer + lora_A/B."""
    out = {}
    for name, tensor in merged.items():
        if name.endswith("q_proj.weight"):
            stem = name.removesuffix(".weight")
            out[f"{stem}.base_layer.weight"] = tensor
            out[f"{stem}.lora_A.default.weight"] = torch.zeros(
                4, tensor.shape[1], dtype=tensor.dtype
            )
            out[f"{stem}.lora_B.default.weight"] = torch.zeros(
                tensor.shape[0], 4, dtype=tensor.dtype
            )
        else:
            out[name] = tensor
    return out


def one_shard(src: Path, dst: Path, change: Any = None) -> Path:
    """The export re-saved as a single model.safetensors, tensors passed through ``change``."""
    copy(src, dst)
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(dst.glob("model-*.safetensors")):
        tensors |= load_file(str(shard))
        shard.unlink()
    (dst / "model.safetensors.index.json").unlink()
    save_file(change(tensors) if change else tensors, str(dst / "model.safetensors"))
    return dst


def test_unmerged_adapter_keys_are_named_with_the_fix(
    exports: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = one_shard(exports["llama"], tmp_path / "peft", peft_state)
    code, out = reasons_of(bad, capsys)
    assert code == 1
    assert "unmerged LoRA adapter tensors" in out and "q_proj.base_layer.weight" in out
    assert "merge the adapter into the base weights" in out


def test_adapter_only_output_is_not_weights(
    exports: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    save_file({"base_model.model.q_proj.lora_A.weight": torch.zeros(4, 8)},
              str(folder / "adapter_model.safetensors"))  # fmt: skip
    shutil.copy2(exports["llama"] / "tokenizer.json", folder)
    code, out = reasons_of(folder, capsys)
    assert code == 1 and "adapter-only output" in out and "merge_and_unload" in out
    assert "config.json" not in out.split("\n", 1)[1].replace("adapter_config.json", "")
    shutil.copy2(exports["llama"] / "config.json", folder)  # a config does not make it a model
    shutil.copy2(exports["llama"] / "tokenizer_config.json", folder)
    code, out = reasons_of(folder, capsys)
    assert code == 1 and "adapter-only output" in out


def test_sagemaker_tarball_is_named_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "model.tar.gz").write_bytes(b"\x1f\x8b" + bytes(2_000_000))
    code, out = reasons_of(tmp_path, capsys)
    assert code == 1
    lines = out.strip().splitlines()
    assert len(lines) == 2, out  # the one reason, not four generic ones
    assert "model.tar.gz is an archive (2 MB)" in lines[1] and "CompressionType=NONE" in lines[1]


def test_truncated_shard(
    exports: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = copy(exports["mistral"], tmp_path / "cut")
    shard = sorted(bad.glob("model-*.safetensors"))[-1]
    shard.write_bytes(shard.read_bytes()[:-100])
    code, out = reasons_of(bad, capsys)
    assert code == 1 and f"{shard.name}: tensor data ends at byte" in out and "truncated" in out
    shard.write_bytes(shard.read_bytes()[:5])
    assert "too short for a safetensors header" in reasons_of(bad, capsys)[1]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"intermediate_size": 96}, "shapes disagree with config.json"),
        ({"num_key_value_heads": 4}, "k_proj.weight [32, 64] (config.json implies [64, 64])"),
        ({"vocab_size": 7}, "model.embed_tokens.weight"),
        ({"num_hidden_layers": 3},
         "2 layers under model.layers.N. (indices 0-1); config.json says num_hidden_layers = 3"),
        ({"torch_dtype": "float16"},
         "weights are stored as bfloat16 but config.json says torch_dtype 'float16'"),
        ({"tie_word_embeddings": False}, "no lm_head.weight and tie_word_embeddings is false"),
    ],
)  # fmt: skip
def test_config_that_disagrees_with_the_weights(
    exports: dict[str, Path],
    tmp_path: Path,
    change: dict[str, Any],
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arch = "qwen2" if "tie_word_embeddings" in change else "llama"
    bad = copy(exports[arch], tmp_path / "bad")
    config = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps(config | change))
    code, out = reasons_of(bad, capsys)
    assert code == 1 and reason in out, out


def test_dtypes_float32_warns_and_mixed_fails(
    exports: dict[str, Path], base_models: dict[str, Path], tmp_path: Path
) -> None:
    assert WEIGHT_DTYPES["float32"] == "warning"
    fp32 = check_directory(base_models["llama"])  # save_pretrained of a float32 model
    assert fp32.ready and fp32.dtype == "float32"
    assert any("float32 weights import, but at twice the size" in w for w in fp32.warnings)

    def mix(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: t.float() if "layers.1." in n else t for n, t in tensors.items()}

    mixed = check_directory(one_shard(exports["llama"], tmp_path / "mixed", mix))
    assert any("mixed weight dtypes (" in r and "float32" in r for r in mixed.reasons)


def test_names_and_index_must_match(exports: dict[str, Path], tmp_path: Path) -> None:
    def rename(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n.replace("model.layers", "decoder.layers"): t for n, t in tensors.items()}

    foreign = check_directory(one_shard(exports["llama"], tmp_path / "names", rename))
    assert any("tensor names that LlamaForCausalLM does not have" in r for r in foreign.reasons)
    extra = copy(exports["llama"], tmp_path / "extra")
    shutil.copy2(sorted(extra.glob("model-*"))[0], extra / "model-00009-of-00009.safetensors")
    reasons = check_directory(extra).reasons
    assert any("shards not in model.safetensors.index.json" in r for r in reasons)
    assert any("tensors stored in more than one shard" in r for r in reasons)
    ghost = copy(exports["llama"], tmp_path / "ghost")
    index = json.loads((ghost / "model.safetensors.index.json").read_text())
    index["weight_map"]["model.layers.7.mlp.up_proj.weight"] = sorted(index["weight_map"].values())[
        0
    ]
    (ghost / "model.safetensors.index.json").write_text(json.dumps(index))
    assert any("lists tensors no shard holds" in r for r in check_directory(ghost).reasons)


def test_every_served_architecture_has_a_rule() -> None:
    served = {"Llama", "Mllama", "Mistral", "Mixtral", "Qwen2", "Qwen3", "T5", "GPTBigCode"}
    assert all(any(s in arch for arch in IMPORT_RULES) for s in served)
    assert human_bytes(999) == "999 B" and human_bytes(281_400) == "281.4 kB"
    assert human_bytes(200 * 1000**3) == "200 GB"


class CountingS3:
    """Records every GetObject; the first ranged read is throttled once (retry must absorb it)."""

    def __init__(self, client: Any) -> None:
        self.client, self.throttled = client, False
        self.ranges: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_object(self, **kwargs: Any) -> Any:
        if "Range" in kwargs and not self.throttled:
            self.throttled = True
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "GetObject")
        self.ranges.append(kwargs.get("Range"))
        return self.client.get_object(**kwargs)


@mock_aws
def test_s3_reads_only_the_headers_by_range(exports: dict[str, Path]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="models")
    for path in exports["qwen2"].iterdir():
        s3.put_object(Bucket="models", Key=f"runs/r1/model/{path.name}", Body=path.read_bytes())
    counting = CountingS3(s3)
    result = check_s3_prefix(counting, "s3://models/runs/r1/model")
    assert result.ready, result.reasons
    assert counting.throttled
    shards = [p for p in exports["qwen2"].iterdir() if p.suffix == ".safetensors"]
    ranged = [r for r in counting.ranges if r]
    assert len(ranged) == len(shards) and all(r.startswith("bytes=0-") for r in ranged)
    # A shard cut short on S3 is caught from the header alone.
    cut = sorted(shards)[0]
    s3.put_object(Bucket="models", Key=f"runs/r1/model/{cut.name}", Body=cut.read_bytes()[:-10])
    out = io.StringIO()
    assert (
        run(argparse.Namespace(location="s3://models/runs/r1/model", output="text"), out, s3) == 1
    )
    assert "truncated" in out.getvalue()
