"""Build the model for training: meta init, LoRA, activation checkpointing, FSDP2, rank-0 load.

Order matters and follows torchtitan/torchtune: every rank builds the model on the meta device
(no memory), LoRA wraps its linears, each decoder layer is wrapped for activation checkpointing
(FSDP's, never also model.gradient_checkpointing: the two together recompute twice), layers then
the root are `fully_shard`-ed, storage is allocated for the local shards only, and rank 0 alone
reads the safetensors and broadcasts them shard by shard. Non-persistent buffers (RoPE
frequencies) are not in any checkpoint and are recomputed after allocation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors import safe_open
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig

from training_image.trainer import attention
from training_image.trainer.config import TrainConfig
from training_image.trainer.hf import (
    config_of,
    decoder_layers_of,
    decoder_of,
    method_of,
    output_weight_of,
)
from training_image.trainer.lora import LORA_A, LORA_B, LoRALinear, apply_lora
from training_image.trainer.loss import linear_cross_entropy_sum
from training_image.trainer.packing import Batch

LM = "lm"  # attribute of the wrapper holding the transformers model; prefix of internal names
# Module-name parts added by activation checkpointing / compile / FSDP wrappers; state dicts
# (and the exported checkpoint) never contain them.
WRAPPER_PARTS = ("_checkpoint_wrapped_module.", "_orig_mod.", "_fsdp_wrapped_module.")


def clean_name(name: str) -> str:
    for part in WRAPPER_PARTS:
        name = name.replace(part, "")
    return name


class CausalLMWithLoss(nn.Module):
    """The transformers model plus the loss, as one module so FSDP's root hooks cover lm_head."""

    def __init__(self, lm: nn.Module, backend: str) -> None:
        super().__init__()
        self.lm = lm
        self.backend = backend
        self.windows = frozenset(layer_windows(config_of(lm)))
        # When gradients are reduced over ranks (step.defer_gradient_sync): "last" micro-batch
        # only, "last-all-reduce" (hybrid: reduce-scatter each, all-reduce on the last), "every".
        self.grad_sync = "every"
        # transformers would build an [S, S + 1] causal mask on every forward (8 GiB at 64K
        # tokens in fp32, kept alive by activation checkpointing) that the packed kernels never
        # read: the decoder gets back whatever mask it was given (None, or the dense document
        # mask of the SDPA path).
        object.__setattr__(decoder_of(lm), "_update_causal_mask", _given_mask)

    def forward(self, batch: Batch, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of token losses of the batch (fp32 scalar); `batch` must already be on device."""
        masks = attention.attention_kwargs(batch, self.backend, self.windows)
        hidden = decoder_of(self.lm)(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            attention_mask=masks.get("doc_dense_mask"),
            use_cache=False,
            **masks,
        ).last_hidden_state
        weight = output_weight_of(self.lm)
        return linear_cross_entropy_sum(hidden, weight, batch.labels, positions)


def _given_mask(attention_mask: torch.Tensor | None, *args: Any, **kwargs: Any) -> Any:
    return attention_mask


def layer_windows(config: PretrainedConfig) -> list[int | None]:
    """Each decoder layer's sliding window (None: full causal), as transformers applies them.

    Mistral: every layer. Qwen2: only with `use_sliding_window`, and only the layers from
    `max_window_layers` on (Qwen2Attention.forward in transformers 4.51.3). Llama: none.
    """
    layers = int(config.num_hidden_layers)
    window = getattr(config, "sliding_window", None)
    if not window or getattr(config, "use_sliding_window", True) is False:
        return [None] * layers
    first = getattr(config, "max_window_layers", 0)
    return [int(window) if i >= first else None for i in range(layers)]


def storage_dtype(cfg: TrainConfig) -> torch.dtype:
    # Full fine-tuning keeps fp32 master weights; LoRA's frozen base can live in bf16.
    if cfg.method == "lora" and cfg.mixedPrecision == "bf16":
        return torch.bfloat16
    return torch.float32


def load_hf_config(base_dir: Path) -> PretrainedConfig:
    return AutoConfig.from_pretrained(base_dir, attn_implementation=attention.PACKED)


def new_lm(
    hf_config: PretrainedConfig, dtype: torch.dtype, device: str | torch.device
) -> nn.Module:
    with torch.device(device):
        lm = AutoModelForCausalLM.from_config(
            hf_config, torch_dtype=dtype, attn_implementation=attention.PACKED
        )
    lm.config.use_cache = False
    return lm


class BaseWeights:
    """Rank 0's view of the base checkpoint: each tensor read (memory-mapped) when asked for.

    `tensors`: an in-memory state dict instead of files (random weights for benchmarks).
    """

    def __init__(
        self, base_dir: Path | None = None, tensors: dict[str, torch.Tensor] | None = None
    ) -> None:
        self._tensors = tensors or {}
        self._files: dict[str, Any] = {}
        self._where: dict[str, str] = {}
        if base_dir is None:
            return
        index = base_dir / "model.safetensors.index.json"
        files = (
            sorted(set(json.loads(index.read_text())["weight_map"].values()))
            if index.exists()
            else [p.name for p in sorted(base_dir.glob("*.safetensors"))]
        )
        if not files:
            raise FileNotFoundError(
                f"{base_dir}: no *.safetensors weights in the base model channel"
            )
        for name in files:
            handle = safe_open(str(base_dir / name), framework="pt")
            self._files[name] = handle
            self._where.update(dict.fromkeys(handle.keys(), name))

    def names(self) -> set[str]:
        return set(self._tensors) | set(self._where)

    def get(self, name: str) -> torch.Tensor:
        if name in self._tensors:
            return self._tensors[name]
        return self._files[self._where[name]].get_tensor(name)


def weight_sources(model: CausalLMWithLoss, names: set[str]) -> dict[str, str]:
    """Internal parameter name -> HF checkpoint name, or LORA_A / LORA_B for a new adapter."""
    wrapped = {clean_name(n) for n, m in model.lm.named_modules() if isinstance(m, LoRALinear)}
    out: dict[str, str] = {}
    for name in model.state_dict():
        inner = name.removeprefix(f"{LM}.")
        owner, _, leaf = inner.rpartition(".")
        module_name, _, part = owner.rpartition(".")
        if module_name in wrapped and part in (LORA_A, LORA_B):
            out[name] = part
        elif module_name in wrapped and part == "base":
            out[name] = f"{module_name}.{leaf}"
        else:
            out[name] = inner
    tied = f"{LM}.lm_head.weight"
    if tied in out and "lm_head.weight" not in names and config_of(model.lm).tie_word_embeddings:
        out[tied] = "model.embed_tokens.weight"
    missing = sorted(n for n, src in out.items() if src not in (LORA_A, LORA_B, *names))
    if missing:
        raise KeyError(f"base checkpoint lacks {len(missing)} weights, e.g. {missing[:3]}")
    return out


def load_weights(
    model: CausalLMWithLoss, weights: BaseWeights | None, seed: int, device: torch.device
) -> None:
    """Collective: rank 0 reads the base weights one decoder layer at a time and broadcasts them.

    Rank 0 never holds more than one layer (plus, last, the embeddings, norm and lm_head) in host
    memory, in the storage dtype: not the whole checkpoint and an fp32 copy of it.
    """
    rank0 = dist.get_rank() == 0
    current = model.state_dict()  # clean names; DTensors report the full shape
    sources = weight_sources(model, weights.names()) if rank0 and weights else {}
    layers = decoder_layers_of(model.lm)
    prefixes = {id(m): clean_name(n) + "." for n, m in model.named_modules()}
    groups: list[tuple[nn.Module, str]] = [(layer, prefixes[id(layer)]) for layer in layers]
    groups.append((model, ""))
    gen = torch.Generator().manual_seed(seed)
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True, strict=False)
    done: set[str] = set()
    for module, prefix in groups:
        part: dict[str, Any] = {}
        for name, source in sources.items():
            if not name.startswith(prefix) or name in done:
                continue
            done.add(name)
            tensor = _initial(current[name].shape, source, weights, gen)
            part[name.removeprefix(prefix)] = tensor.to(current[name].dtype)
        set_model_state_dict(module, part, options=options)
    reset_rope(model, device)


def _initial(shape: torch.Size, source: str, weights: Any, gen: torch.Generator) -> torch.Tensor:
    if source == LORA_B:
        return torch.zeros(shape)
    if source == LORA_A:  # uniform(+-1/sqrt(in_features)), as nn.Linear's default init
        return torch.empty(shape).uniform_(-(shape[1] ** -0.5), shape[1] ** -0.5, generator=gen)
    return weights.get(source)


def reset_rope(module: nn.Module, device: torch.device) -> None:
    for sub in module.modules():
        if hasattr(sub, "rope_init_fn") and hasattr(sub, "inv_freq"):
            inv_freq, scaling = method_of(sub, "rope_init_fn")(sub.config, device)
            sub.register_buffer("inv_freq", inv_freq, persistent=False)
            sub.original_inv_freq = inv_freq
            sub.attention_scaling = scaling


COMPILE_BACKEND: Any = "inductor"
# Distinct shapes a compiled layer meets: padded-row buckets (packing.padded_length, at most 11)
# times flash's cu_seqlens buckets (a few); every decoder layer shares the one compiled code.
RECOMPILE_LIMIT = 32


def compile_layer(layer: nn.Module) -> None:
    """Static shapes (the best kernels); the batch layout keeps their number small."""
    torch._dynamo.config.recompile_limit = max(
        torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT
    )
    layer.compile(backend=COMPILE_BACKEND, dynamic=False)


def build(
    cfg: TrainConfig,
    hf_config: PretrainedConfig,
    base_dir: Path | None,
    mesh: DeviceMesh,
    device: torch.device,
    backend: str,
) -> CausalLMWithLoss:
    """The sharded training model on every rank. base_dir None = random weights (benchmarks)."""
    rank = torch.distributed.get_rank()
    lm = new_lm(hf_config, storage_dtype(cfg), "meta")
    if cfg.method == "lora":
        apply_lora(lm, cfg.loraTargetModules, cfg.loraRank, cfg.loraAlpha, cfg.loraDropout)
    model = CausalLMWithLoss(lm, backend)
    layers = decoder_layers_of(lm)
    for i, layer in enumerate(layers):
        if cfg.activationCheckpointing:
            layer = checkpoint_wrapper(layer, preserve_rng_state=cfg.loraDropout > 0)
        if cfg.compile:
            compile_layer(layer)
        layers[i] = layer
    mp = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if cfg.mixedPrecision == "bf16" else None,
        reduce_dtype=torch.float32,
    )
    # Parameters of one layer are gathered together; the root keeps embeddings, norm, lm_head.
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        fully_shard(layer, mesh=mesh, mp_policy=mp, reshard_after_forward=i < last)
    fully_shard(model, mesh=mesh, mp_policy=mp)
    if cfg.method == "lora":
        model.grad_sync = "last"
    elif mesh.ndim == 2:
        model.grad_sync = "last-all-reduce"
    model.to_empty(device=device)
    weights = None
    if rank == 0:
        # Random weights (benchmarks): initialised on the device, it is much faster.
        weights = (
            BaseWeights(base_dir)
            if base_dir is not None
            else BaseWeights(tensors=new_lm(hf_config, storage_dtype(cfg), device).state_dict())
        )
    load_weights(model, weights, cfg.seed, device)
    return model


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
