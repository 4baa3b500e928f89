"""LoRA as plain modules, so FSDP2 shards adapters like any other parameter.

Own implementation rather than peft: under FSDP2 every parameter is its own DTensor, so frozen
bf16 base weights and trainable fp32 adapters can share a layer (FSDP1's uniform-requires_grad
and uniform-dtype faults do not arise), adapters are saved sharded with the optimizer, and export
merges them with one formula: W' = W + (alpha / r) * B @ A, computed in fp32.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from training_image.trainer.config import ALL_LINEAR
from training_image.trainer.hf import decoder_of

# Names inside a LoRA-wrapped module; export maps `<path>.base.weight` back to `<path>.weight`.
BASE, LORA_A, LORA_B = "base", "lora_a", "lora_b"


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.base = base
        self.base.requires_grad_(False)
        device = base.weight.device
        # Adapters stay fp32 (the optimizer's master copy); FSDP casts them for compute.
        self.lora_a = nn.Linear(
            base.in_features, rank, bias=False, device=device, dtype=torch.float32
        )
        self.lora_b = nn.Linear(
            rank, base.out_features, bias=False, device=device, dtype=torch.float32
        )
        self.scaling = alpha / rank
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        if device.type != "meta":
            self.reset_adapter()

    def reset_adapter(self, generator: torch.Generator | None = None) -> None:
        # As in the LoRA paper / peft: A random, B zero, so training starts at the base model.
        bound = 1 / math.sqrt(self.lora_a.in_features)
        with torch.no_grad():
            self.lora_a.weight.uniform_(-bound, bound, generator=generator)
            self.lora_b.weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.lora_b(self.lora_a(self.dropout(x))) * self.scaling


def _targets(decoder: nn.Module, names: tuple[str, ...]) -> list[str]:
    linear = [n for n, m in decoder.named_modules() if isinstance(m, nn.Linear)]
    if names == (ALL_LINEAR,):
        return linear
    chosen = [n for n in linear if n.rsplit(".", 1)[-1] in names]
    missing = set(names) - {n.rsplit(".", 1)[-1] for n in chosen}
    if missing:
        available = sorted({n.rsplit(".", 1)[-1] for n in linear})
        raise ValueError(
            f"hyperparameter 'loraTargetModules': {', '.join(sorted(missing))} match no linear "
            f"layer; available: {', '.join(available)}, or 'all-linear'"
        )
    return chosen


def apply_lora(
    lm: nn.Module,
    names: tuple[str, ...],
    rank: int,
    alpha: float,
    dropout: float,
    skip: tuple[str, ...] = (),
) -> list[str]:
    """Freeze the model and wrap the targeted linears of its decoder; returns their full names.

    Only the decoder's linears are candidates: lm_head stays frozen, as in peft's "all-linear".
    Linears whose name contains a part in `skip` stay frozen (Mllama: "cross_attn.").
    """
    lm.requires_grad_(False)
    decoder = decoder_of(lm)
    prefix = next(n for n, m in lm.named_modules() if m is decoder)
    wrapped = []
    for name in _targets(decoder, names):
        if any(part in f"{name}." for part in skip):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = decoder.get_submodule(parent_name) if parent_name else decoder
        setattr(parent, child, LoRALinear(getattr(parent, child), rank, alpha, dropout))
        wrapped.append(f"{prefix}.{name}" if prefix else name)
    return wrapped


def merged_weight(
    base: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scaling: float, dtype: torch.dtype
) -> torch.Tensor:
    """W + scaling * B @ A in fp32, then cast once to the export dtype."""
    return (base.float() + scaling * (b.float() @ a.float())).to(dtype)


def base_name(name: str) -> str:
    """HF name of a parameter of the wrapped model (`x.q_proj.base.weight` -> `x.q_proj.weight`)."""
    return name.replace(f".{BASE}.", ".")
