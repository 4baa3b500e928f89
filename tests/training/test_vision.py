"""Llama 3.2 Vision (Mllama) in the container: masks, image checks, LoRA merge, FSDP, export.

A tiny random Mllama (training_image/tiny_vision.py) and generated shape images; fp32 so
losses compare to float tolerance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoProcessor, MllamaForConditionalGeneration

from bedrock_pipeline.import_check import check_directory
from bedrock_pipeline.registry import get_model
from tests.training.conftest import FAST, free_port
from training_image.tiny_vision import (
    converse_record,
    dataset_texts,
    draw,
    vision_tokenizer,
    write_dataset,
    write_vision_base_model,
)
from training_image.trainer import vision
from training_image.trainer.chat import IGNORE
from training_image.trainer.config import parse_hyperparameters
from training_image.trainer.export import export
from training_image.trainer.lora import LoRALinear
from training_image.trainer.sagemaker import Paths
from training_image.trainer.train import Job, run
from training_image.trainer.vision_batch import VisionRows
from training_image.trainer.vision_data import IMAGE_TOKEN, ImageError, load_vision_channel

REPO = Path(__file__).resolve().parents[2]
BUCKET = "amzn-s3-demo-bucket"
HP = {**FAST, "batchSize": "4", "maxSteps": "4", "evalEverySteps": "2", "checkpointEverySteps": "2"}


@pytest.fixture(scope="module")
def vision_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("vision") / "base_model"
    write_vision_base_model(base, vision_tokenizer(dataset_texts()), seed=0)
    return base


def layout(root: Path, base: Path, hp: dict[str, str], train: int = 16) -> dict[str, str]:
    data = root / "input" / "data"
    write_dataset(data / "train", data / "images", BUCKET, train, seed=1)
    write_dataset(data / "validation", data / "images", BUCKET, 4, seed=2)
    (root / "input" / "config").mkdir(parents=True, exist_ok=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hp))
    return {
        "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
        "SM_CHANNEL_TRAIN": str(data / "train"),
        "SM_CHANNEL_VALIDATION": str(data / "validation"),
        "SM_CHANNEL_IMAGES": str(data / "images"),
        "SM_CHANNEL_BASE_MODEL": str(base),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "TRAINER_CHECKPOINT_DIR": str(root / "checkpoints"),
    }


def run_here(env: dict[str, str], hp: dict[str, str]) -> list[dict[str, Any]]:
    outcome = run(Job(parse_hyperparameters(hp), Paths.from_env(env)))
    return outcome.state.history


@pytest.fixture(scope="module")
def one_rank(
    vision_base: Path, tmp_path_factory: pytest.TempPathFactory, world_of_one: None
) -> tuple[Path, list[dict[str, Any]]]:
    """One in-process run (a world of one): its export and its history."""
    root = tmp_path_factory.mktemp("one")
    return root / "model", run_here(layout(root, vision_base, HP), HP)


def test_registry_row_reads_converse_with_images() -> None:
    row = get_model("container/llama3-vision")
    assert row.import_architecture == "MllamaForConditionalGeneration"
    (limits,) = row.customizations.values()
    assert "image" in limits.converse.media and limits.converse.max_system_blocks == 1


def test_labels_only_on_assistant_tokens_with_image_tokens(
    vision_base: Path, tmp_path: Path
) -> None:
    processor = AutoProcessor.from_pretrained(vision_base)
    tok = processor.tokenizer
    images = tmp_path / "images"
    for name in ("a.png", "b.png"):
        images.mkdir(parents=True, exist_ok=True)
        draw("circle", "red", (32, 32), 0).save(images / name)
    record = converse_record(
        f"s3://{BUCKET}/a.png", "png", "What colour is the circle?", "It is red."
    )
    second = {"image": {"format": "png", "source": {"s3Location": {"uri": f"s3://{BUCKET}/b.png"}}}}
    record["messages"] += [
        {"role": "user", "content": [second, {"text": "And this circle?"}]},
        {"role": "assistant", "content": [{"text": "It is blue."}]},
    ]
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "d.jsonl").write_text(json.dumps(record) + "\n")
    (example,) = load_vision_channel(tmp_path / "train", tok, images, 256).examples
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    ids, labels = example.input_ids, example.labels
    assert ids.count(image_id) == 2
    assert all(labels[i] == IGNORE for i, t in enumerate(ids) if t == image_id)
    labelled = tok.decode([t for t in labels if t != IGNORE])
    assert labelled == "It is red.<|eot_id|>It is blue.<|eot_id|>"
    batch = VisionRows((example,), processor).batch([0], tok.pad_token_id)
    first, second_at = [i for i, t in enumerate(ids) if t == image_id]
    cross = batch.cross_attention_mask[0]  # [S, images, tiles]
    assert cross[:first].sum() == 0  # nothing before the first image sees an image
    assert cross[first:second_at, 0].any() and cross[first:second_at, 1].sum() == 0
    assert cross[second_at:, 1].any() and cross[second_at:, 0].sum() == 0
    assert batch.label_tokens == sum(1 for t in labels if t != IGNORE)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:60]), "cannot be decoded"),
        (lambda p: p.unlink(), "image not found"),
        (lambda p: draw("square", "red", (32, 32), 0).save(p, format="GIF"), "declares format"),
    ],
)
def test_broken_image_fails_before_training_naming_record_and_image(
    vision_base: Path, tmp_path: Path, world_of_one: None, damage: Any, message: str
) -> None:
    env = layout(tmp_path, vision_base, HP)
    image = tmp_path / "input" / "data" / "images" / "shapes" / "train-0003.png"
    damage(image)
    with pytest.raises(ImageError) as caught:
        run_here(env, HP)
    text = str(caught.value)
    assert "data.jsonl:4: messages[0].content[0].image" in text
    assert f"s3://{BUCKET}/shapes/train-0003.png" in text and message in text
    assert not (tmp_path / "model").exists() and not (tmp_path / "checkpoints").exists()


def test_lora_merge_exact_on_vision_model(
    vision_base: Path, tmp_path: Path, world_of_one: None
) -> None:
    cfg = parse_hyperparameters({**FAST, "loraCrossAttention": "true"})
    hf_config = vision.load_config(vision_base)
    mesh = torch.distributed.device_mesh.init_device_mesh("cpu", (1,))
    model = vision.build(cfg, hf_config, vision_base, mesh, torch.device("cpu"))
    wrapped = [n for n, m in model.lm.named_modules() if isinstance(m, LoRALinear)]
    assert any("cross_attn." in n for n in wrapped)
    assert not any(n.startswith("vision_model") for n in wrapped)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_b" in name:  # B = 0 at start: give the adapters something to merge
                param.to_local().copy_(  # type: ignore[attr-defined]
                    torch.randn(param.shape, generator=gen) * 0.05
                )
    processor = AutoProcessor.from_pretrained(vision_base)
    write_dataset(tmp_path / "train", tmp_path / "images", BUCKET, 3, seed=5)
    channel = load_vision_channel(tmp_path / "train", processor.tokenizer, tmp_path / "images", 128)
    batch = VisionRows(channel.examples, processor).batch(
        [0, 1, 2], processor.tokenizer.pad_token_id
    )
    with torch.no_grad():
        trained = float(model(batch))
    out = tmp_path / "export"
    export(
        model.lm, processor.tokenizer, out, vision_base, dtype=torch.float32, processor=processor
    )
    merged = MllamaForConditionalGeneration.from_pretrained(out, torch_dtype=torch.float32)
    assert not any("lora" in k for k in load_file(str(out / "model.safetensors")))
    with torch.no_grad():
        logits = merged(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            pixel_values=batch.pixel_values,
            aspect_ratio_ids=batch.aspect_ratio_ids,
            aspect_ratio_mask=batch.aspect_ratio_mask,
            cross_attention_mask=batch.cross_attention_mask,
        ).logits
    keep = batch.labels[:, 1:] != IGNORE
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1][keep], batch.labels[:, 1:][keep], reduction="sum"
    )
    assert float(loss) == pytest.approx(trained, rel=1e-5)


def test_export_loads_and_answers_an_image_question(
    one_rank: tuple[Path, list[dict[str, Any]]],
) -> None:
    out, history = one_rank
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for name in ("preprocessor_config.json", "chat_template.json", "tokenizer.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "import_check.json").read_text())["ready"]
    model = MllamaForConditionalGeneration.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    messages = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "What colour is the square?"}],
        }
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(
        images=draw("square", "red", (32, 32), 9), text=text, add_special_tokens=False,
        return_tensors="pt",
    )  # fmt: skip
    answer = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert answer.shape[1] > inputs["input_ids"].shape[1]


def test_import_check_reads_mllama_tensor_names(vision_base: Path, tmp_path: Path) -> None:
    assert check_directory(vision_base).ready
    out = tmp_path / "renamed"
    out.mkdir()
    for name in os.listdir(vision_base):
        (out / name).write_bytes((vision_base / name).read_bytes())
    state = load_file(str(vision_base / "model.safetensors"))
    state["vision_model.global_transformer.layers.0.mlp.fc9.weight"] = state.pop(
        "vision_model.global_transformer.layers.0.mlp.fc1.weight"
    )
    state["language_model.model.layers.1.cross_attn.q_proj.weight"] = torch.zeros(3, 64)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    result = check_directory(out)
    reasons = " ".join(result.reasons)
    assert not result.ready
    assert "mlp.fc9.weight" in reasons and "cross_attn.q_proj.weight [3, 64]" in reasons
    assert "missing vision_model.global_transformer.layers.N.mlp.fc1.weight" in reasons


@pytest.mark.slow
def test_two_gloo_workers_train_like_one_rank_on_images(
    vision_base: Path, tmp_path: Path, one_rank: tuple[Path, list[dict[str, Any]]]
) -> None:
    env = layout(tmp_path / "two", vision_base, HP)
    proc = subprocess.run(
        [sys.executable, "-m", "training_image.trainer"],
        env={**os.environ, **env, "PYTHONPATH": str(REPO), "TRAINER_NPROC_PER_NODE": "2",
             "TRAINER_MASTER_PORT": str(free_port())},
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "world 2" in proc.stdout + proc.stderr
    two = json.loads((tmp_path / "two" / "model" / "training_history.json").read_text())["history"]
    _, one = one_rank
    assert [h["train_loss"] for h in two] == pytest.approx([h["train_loss"] for h in one], rel=1e-5)
    val_two = [h["val_loss"] for h in two if "val_loss" in h]
    assert len(val_two) == 2
    assert val_two == pytest.approx([h["val_loss"] for h in one if "val_loss" in h], rel=1e-5)


@pytest.mark.parametrize("freeze", ["true", "false"])
def test_full_fine_tuning_keeps_the_vision_tower_frozen_unless_asked(
    vision_base: Path, tmp_path: Path, world_of_one: None, freeze: str
) -> None:
    hp = {**HP, "method": "full", "maxSteps": "2", "learningRate": "0.001",
          "freezeVisionTower": freeze}  # fmt: skip
    env = layout(tmp_path, vision_base, hp, train=8)
    # Two steps: Mllama starts its cross-attention gates at 0, so the projector and the vision
    # tower get gradients only once the first step has opened them.
    run_here(env | {"TRAINER_BEST_DIR": str(tmp_path / "best")}, hp)
    base = load_file(str(vision_base / "model.safetensors"))
    out = load_file(str(tmp_path / "model" / "model.safetensors"))
    changed = {k for k, v in out.items() if not torch.equal(v, base[k].to(v.dtype))}
    assert any(k.startswith("language_model.model.layers.") for k in changed)
    assert any(k.startswith("multi_modal_projector.") for k in changed)
    assert any(k.startswith("vision_model.") for k in changed) == (freeze == "false")
