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
from safetensors.torch import load_file
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig

from training_image.trainer import attention
from training_image.trainer.config import TrainConfig
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
        self.windows = frozenset(layer_windows(lm.config))
        # When gradients are reduced over ranks (step.defer_gradient_sync): "last" micro-batch
        # only, "last-all-reduce" (hybrid: reduce-scatter each, all-reduce on the last), "every".
        self.grad_sync = "every"
        # transformers would build an [S, S + 1] causal mask on every forward (8 GiB at 64K
        # tokens in fp32, kept alive by activation checkpointing) that the packed kernels never
        # read: the decoder gets back whatever mask it was given (None, or the dense document
        # mask of the SDPA path).
        lm.get_decoder()._update_causal_mask = _given_mask

    def forward(self, batch: Batch, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of token losses of the batch (fp32 scalar); `batch` must already be on device."""
        masks = attention.attention_kwargs(batch, self.backend, self.windows)
        hidden = self.lm.get_decoder()(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            attention_mask=masks.get("doc_dense_mask"),
            use_cache=False,
            **masks,
        ).last_hidden_state
        weight = self.lm.get_output_embeddings().weight
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


def read_safetensors(base_dir: Path) -> dict[str, torch.Tensor]:
    index = base_dir / "model.safetensors.index.json"
    files = (
        sorted(set(json.loads(index.read_text())["weight_map"].values()))
        if index.exists()
        else [p.name for p in sorted(base_dir.glob("*.safetensors"))]
    )
    if not files:
        raise FileNotFoundError(f"{base_dir}: no *.safetensors weights in the base model channel")
    state: dict[str, torch.Tensor] = {}
    for name in files:
        state.update(load_file(str(base_dir / name)))
    return state


def internal_state_dict(
    model: CausalLMWithLoss, hf_state: dict[str, torch.Tensor], seed: int
) -> dict[str, torch.Tensor]:
    """Rank 0: the HF checkpoint renamed to the wrapped model, plus freshly initialized adapters."""
    wrapped = {clean_name(n): m for n, m in model.lm.named_modules() if isinstance(m, LoRALinear)}
    out: dict[str, torch.Tensor] = {}
    dtypes = {k: v.dtype for k, v in model.state_dict().items()}
    names = set(dtypes)
    gen = torch.Generator().manual_seed(seed)
    for module_name, module in wrapped.items():
        a = torch.empty(module.lora_a.weight.shape, dtype=torch.float32)
        bound = module.lora_a.in_features**-0.5
        out[f"{LM}.{module_name}.{LORA_A}.weight"] = a.uniform_(-bound, bound, generator=gen)
        out[f"{LM}.{module_name}.{LORA_B}.weight"] = torch.zeros(module.lora_b.weight.shape)
    for hf_name, tensor in hf_state.items():
        owner, _, leaf = hf_name.rpartition(".")
        name = f"{LM}.{owner}.base.{leaf}" if owner in wrapped else f"{LM}.{hf_name}"
        out[name] = tensor
    tied = f"{LM}.lm_head.weight"
    if tied in names and tied not in out and getattr(model.lm.config, "tie_word_embeddings", False):
        out[tied] = out[f"{LM}.model.embed_tokens.weight"]
    missing = sorted(names - set(out))
    if missing:
        raise KeyError(f"base checkpoint lacks {len(missing)} weights, e.g. {missing[:3]}")
    return {k: out[k].to(dtypes[k]) for k in names}


def reset_rope(module: nn.Module, device: torch.device) -> None:
    for sub in module.modules():
        if hasattr(sub, "rope_init_fn") and hasattr(sub, "inv_freq"):
            inv_freq, scaling = sub.rope_init_fn(sub.config, device)
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
    layers = lm.get_decoder().layers
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
    full: dict[str, Any] = {}
    if rank == 0:
        if base_dir is not None:
            hf_state = read_safetensors(base_dir)
        else:
            # Random weights (benchmarks): initialise on the device, it is much faster.
            hf_state = new_lm(hf_config, storage_dtype(cfg), device).state_dict()
        full = internal_state_dict(model, hf_state, cfg.seed)
    set_model_state_dict(
        model, full, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    )
    reset_rope(model, device)
    return model


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
