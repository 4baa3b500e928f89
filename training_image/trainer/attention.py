"""Document-masked (block-causal) attention for packed rows, registered with transformers.

A token attends only to earlier tokens of its own document (`doc_ids`), and within the sliding
window when the architecture has one. Three kernels compute the same thing:
  flash  flash-attn's varlen kernel on CUDA: each document is its own sequence (cu_seqlens);
  flex   FlexAttention with a block mask on CUDA: blocks across documents are skipped entirely;
  sdpa   a dense boolean mask with scaled_dot_product_attention: any device, used on CPU.
The model is loaded with attn_implementation=PACKED; the per-batch mask is built once, outside
the layers, and reaches this function through the model's forward **kwargs.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface

from training_image.trainer.packing import Batch

PACKED = "packed_doc_causal"
BACKENDS = ("flash", "flex", "sdpa")


def _flash_available() -> bool:
    if importlib.util.find_spec("flash_attn") is None:
        return False
    try:  # installed but built for another torch/CUDA: treat as absent
        from flash_attn import flash_attn_varlen_func  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def resolve_backend(requested: str, device: torch.device, half: bool = True) -> str:
    """The kernel to use: 'auto' picks the fastest one this machine has.

    flash-attn computes in bf16/fp16 only; with fp32 compute 'auto' uses FlexAttention.
    """
    if requested == "auto":
        if device.type != "cuda":
            return "sdpa"
        return "flash" if half and _flash_available() else "flex"
    if requested in ("flash", "flex") and device.type != "cuda":
        raise ValueError(f"attention '{requested}' needs a CUDA device; use 'sdpa' on {device}")
    if requested == "flash" and not (half and _flash_available()):
        raise ValueError("attention 'flash' needs flash_attn and bf16; use 'flex' or 'auto'")
    return requested


def attention_kwargs(
    batch: Batch, backend: str, sliding_window: int | None = None
) -> dict[str, Any]:
    """The extra forward kwargs that carry this batch's document mask to every layer."""
    doc = batch.doc_ids
    bsz, seq = doc.shape
    if backend == "flash":
        lens = torch.tensor([n for row in batch.seq_lens for n in row], dtype=torch.int32)
        cu = F.pad(lens.cumsum(0, dtype=torch.int32), (1, 0)).to(doc.device)
        return {"doc_cu_seqlens": cu, "doc_max_len": int(lens.max())}
    if backend == "flex":
        from torch.nn.attention.flex_attention import create_block_mask

        def mask_mod(b: Any, h: Any, q: Any, kv: Any) -> Any:
            keep = (doc[b, q] == doc[b, kv]) & (q >= kv)
            if sliding_window:
                keep = keep & (q - kv < sliding_window)
            return keep

        block = create_block_mask(mask_mod, bsz, None, seq, seq, device=doc.device)
        return {"doc_block_mask": block}
    pos = torch.arange(seq, device=doc.device)
    keep = (doc[:, :, None] == doc[:, None, :]) & (pos[:, None] >= pos[None, :])
    if sliding_window:
        keep &= pos[:, None] - pos[None, :] < sliding_window
    return {"doc_dense_mask": keep[:, None]}


@cache
def _compiled_flex() -> Any:
    from torch.nn.attention.flex_attention import flex_attention

    # Uncompiled flex_attention materializes the full score matrix; compiled it is a fused kernel.
    return torch.compile(flex_attention, dynamic=False)


def packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention-interface signature: q/k/v [B, H, S, D] -> out [B, S, H, D]."""
    # `attention_mask` (the model's own causal mask) is ignored: the document mask replaces it.
    if not module.training:
        dropout = 0.0
    if "doc_cu_seqlens" in kwargs:
        from flash_attn import flash_attn_varlen_func

        bsz, heads, seq, dim = query.shape
        q, k, v = (
            t.transpose(1, 2).reshape(bsz * seq, t.shape[1], dim) for t in (query, key, value)
        )
        window = kwargs.get("sliding_window")
        out = flash_attn_varlen_func(
            q, k, v,
            kwargs["doc_cu_seqlens"], kwargs["doc_cu_seqlens"],
            kwargs["doc_max_len"], kwargs["doc_max_len"],
            dropout_p=dropout, softmax_scale=scaling, causal=True,
            window_size=(window - 1, 0) if window else (-1, -1),
        )  # fmt: skip
        return out.reshape(bsz, seq, heads, dim), None
    if "doc_block_mask" in kwargs:
        from torch.nn.attention.flex_attention import flex_attention

        # Inside a compiled layer, dynamo turns flex_attention into its fused kernel itself.
        flex = flex_attention if torch.compiler.is_compiling() else _compiled_flex()
        out = flex(
            query, key, value, block_mask=kwargs["doc_block_mask"], scale=scaling, enable_gqa=True
        )
        return out.transpose(1, 2).contiguous(), None
    if "doc_dense_mask" in kwargs:
        out = F.scaled_dot_product_attention(
            query, key, value,
            attn_mask=kwargs["doc_dense_mask"], dropout_p=dropout, scale=scaling, enable_gqa=True,
        )  # fmt: skip
        return out.transpose(1, 2).contiguous(), None
    raise RuntimeError(
        "packed attention called without a document mask: call the model through "
        "training_image.trainer.model.CausalLMWithLoss, or load it with attn_implementation='sdpa'"
    )


AttentionInterface.register(PACKED, packed_attention)
