"""Llama 3.2 Vision (Mllama) in the recipe: setup, the model with its loss, FSDP2 build.

`train.run` calls these when the base model's config.json says model_type "mllama"; the step,
loss normalisation, schedule, checkpoints, early stopping, export and failure reporting are the
text path's. What differs: the base model's processor (preprocessor_config.json, chat template)
encodes the data, rows are never packed (VisionRows), attention is SDPA with a padding mask,
and the model computes cross-attention states from the pixels before the decoder.

Sharding: each vision encoder layer (local and global), the vision tower's remaining
parameters (patch and position embeddings, layer norms), each decoder layer (self- and
cross-attention) and the root (embeddings, projector, norm, lm_head) are FSDP2 units.
The vision tower is frozen by default (`freezeVisionTower`) and then runs without autograd;
LoRA adapts the decoder's linears, the cross-attention ones only with `loraCrossAttention`;
full fine-tuning trains the decoder, the projector and (unfrozen) the vision tower.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from transformers import AutoConfig, AutoProcessor, MllamaForConditionalGeneration, PretrainedConfig
from transformers.models.mllama.modeling_mllama import _prepare_cross_attention_mask

from training_image.trainer import runtime
from training_image.trainer.config import TrainConfig
from training_image.trainer.lora import apply_lora
from training_image.trainer.loss import linear_cross_entropy_sum
from training_image.trainer.model import BaseWeights, load_weights, storage_dtype
from training_image.trainer.vision_batch import VisionBatch, VisionRows
from training_image.trainer.vision_data import VisionChannel, load_vision_channel

VISION_MODEL_TYPES = ("mllama",)
ATTENTION = "sdpa"  # Mllama's text and vision attention classes in transformers 4.51.3
CROSS_ATTENTION = "cross_attn."


def is_vision(base_dir: Path) -> bool:
    """True when the base model channel holds a vision model this recipe trains."""
    config = base_dir / "config.json"
    if not config.is_file():
        return False
    return json.loads(config.read_text()).get("model_type") in VISION_MODEL_TYPES


def load_config(base_dir: Path) -> PretrainedConfig:
    return AutoConfig.from_pretrained(base_dir, attn_implementation=ATTENTION)


def load_processor(base_dir: Path) -> Any:
    """The base model's MllamaProcessor (image processor config, tokenizer, chat template)."""
    missing = [n for n in ("preprocessor_config.json",) if not (base_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{base_dir}: the base model channel lacks {', '.join(missing)}; a vision model "
            "needs its own processor files next to config.json"
        )
    return AutoProcessor.from_pretrained(base_dir)


def data(
    cfg: TrainConfig, train_dir: Path, val_dir: Path | None, images: Path | None, processor: Any
) -> tuple[VisionRows, VisionRows | None, VisionChannel]:
    """Every record read and every image checked (before any model is built)."""
    tokenizer = processor.tokenizer
    train = load_vision_channel(train_dir, tokenizer, images, cfg.maxSequenceLength)
    val = (
        load_vision_channel(val_dir, tokenizer, images, cfg.maxSequenceLength)
        if val_dir is not None
        else None
    )
    runtime.log(
        f"data: {train.records} train records (bedrock-conversation-2024 with images), "
        f"{train.images} images checked, {train.label_tokens} label tokens, {train.truncated} "
        f"truncated; validation: {val.records if val else 0} records "
        f"({val.images if val else 0} images); rows are not packed"
    )
    return (
        VisionRows(train.examples, processor),
        (VisionRows(val.examples, processor) if val else None),
        train,
    )


class MllamaWithLoss(nn.Module):
    """MllamaForConditionalGeneration plus the loss; one module so FSDP's root covers lm_head."""

    lm: Any  # MllamaForConditionalGeneration (transformers' attributes are untyped)

    def __init__(self, lm: Any) -> None:
        super().__init__()
        self.lm = lm
        self.vision_trainable = any(p.requires_grad for p in lm.vision_model.parameters())
        self.grad_sync = "every"  # as CausalLMWithLoss (step.defer_gradient_sync)

    def forward(self, batch: VisionBatch, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of token losses of the batch (fp32 scalar); `batch` must already be on device."""
        lm = self.lm
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.vision_trainable):
            states = lm.vision_model(
                pixel_values=batch.pixel_values,
                aspect_ratio_ids=batch.aspect_ratio_ids,
                aspect_ratio_mask=batch.aspect_ratio_mask,
            )[0]
        hidden_size = lm.config.text_config.hidden_size
        states = lm.multi_modal_projector(states).reshape(-1, states.shape[-2], hidden_size)
        cross_mask, row_mask = _prepare_cross_attention_mask(
            batch.cross_attention_mask,
            num_vision_tokens=lm.vision_model.num_patches,
            dtype=states.dtype,
        )
        hidden = lm.language_model.model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            cross_attention_states=states,
            cross_attention_mask=cross_mask,
            full_text_row_masked_out_mask=row_mask,
            use_cache=False,
        ).last_hidden_state
        weight = lm.language_model.lm_head.weight
        return linear_cross_entropy_sum(hidden, weight, batch.labels, positions)


def new_mllama(
    hf_config: PretrainedConfig, dtype: torch.dtype, device: str | torch.device
) -> nn.Module:
    with torch.device(device):
        lm = MllamaForConditionalGeneration._from_config(
            hf_config, torch_dtype=dtype, attn_implementation=ATTENTION
        )
    lm.config.use_cache = False
    lm.config.text_config.use_cache = False
    return lm


def prepare(lm: nn.Module, cfg: TrainConfig) -> None:
    """Freeze and wrap with LoRA as the hyperparameters say (before sharding)."""
    if cfg.method == "lora":
        skip = () if cfg.loraCrossAttention else (CROSS_ATTENTION,)
        apply_lora(
            lm, cfg.loraTargetModules, cfg.loraRank, cfg.loraAlpha, cfg.loraDropout, skip=skip
        )
        return
    lm.requires_grad_(True)
    if cfg.freezeVisionTower:
        lm.vision_model.requires_grad_(False)


def build(
    cfg: TrainConfig,
    hf_config: PretrainedConfig,
    base_dir: Path | None,
    mesh: DeviceMesh,
    device: torch.device,
) -> MllamaWithLoss:
    """The sharded training model on every rank. base_dir None = random weights (benchmarks)."""
    lm: Any = new_mllama(hf_config, storage_dtype(cfg), "meta")
    prepare(lm, cfg)
    model = MllamaWithLoss(lm)
    mp = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if cfg.mixedPrecision == "bf16" else None,
        reduce_dtype=torch.float32,
    )
    vision = lm.vision_model
    for layers in (vision.transformer.layers, vision.global_transformer.layers):
        _shard_layers(layers, cfg, mesh, mp, last_resharded=True)
    fully_shard(vision, mesh=mesh, mp_policy=mp)
    _shard_layers(lm.language_model.model.layers, cfg, mesh, mp, last_resharded=False)
    fully_shard(model, mesh=mesh, mp_policy=mp)
    if cfg.method == "lora":
        model.grad_sync = "last"
    elif mesh.ndim == 2:
        model.grad_sync = "last-all-reduce"
    if cfg.compile:
        runtime.log("compile: not applied to Mllama's layers; they run eagerly")
    model.to_empty(device=device)
    weights = None
    if torch.distributed.get_rank() == 0:
        weights = (
            BaseWeights(base_dir)
            if base_dir is not None
            else BaseWeights(tensors=new_mllama(hf_config, storage_dtype(cfg), device).state_dict())
        )
    # Decoder layers one at a time, then the root's rest (vision tower, projector, embeddings).
    load_weights(model, weights, cfg.seed, device)  # type: ignore[arg-type]
    return model


def _shard_layers(
    layers: nn.ModuleList,
    cfg: TrainConfig,
    mesh: DeviceMesh,
    mp: MixedPrecisionPolicy,
    last_resharded: bool,
) -> None:
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        if cfg.activationCheckpointing:
            layer = checkpoint_wrapper(layer, preserve_rng_state=cfg.loraDropout > 0)
        layers[i] = layer
        fully_shard(
            layer, mesh=mesh, mp_policy=mp, reshard_after_forward=last_resharded or i < last
        )
