"""Document-masked (block-causal) attention for packed rows, registered with transformers.

A token attends only to earlier tokens of its own document (`doc_ids`), and within the sliding
window of its layer when the architecture has one (Mistral: every layer; Qwen2: the layers from
`max_window_layers` on, when `use_sliding_window`). transformers passes each layer's window to
the kernel as `sliding_window`, so all three kernels take it from there:
  flash  flash-attn's varlen kernel on CUDA: each document is its own sequence (cu_seqlens);
  flex   FlexAttention with a block mask on CUDA: blocks across documents are skipped entirely;
  sdpa   a dense boolean mask with scaled_dot_product_attention: any device, used on CPU.
The model is loaded with attn_implementation=PACKED; the per-batch masks are built once, outside
the layers, and reach this function through the model's forward **kwargs. Their shapes depend on
the row length only (and, for flash, on a power-of-two bucket of the document count), so a
compiled layer is compiled once per row length, not once per batch.
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
FLEX_BLOCK = 128  # FlexAttention's default block size (query and key/value)
NO_WINDOW = 0  # key of the full-causal mask in the per-window mask dicts


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


def _bucket(n: int, smallest: int = 8) -> int:
    return max(smallest, 1 << (n - 1).bit_length())


def flash_kwargs(batch: Batch) -> dict[str, Any]:
    """cu_seqlens padded to a power-of-two length (zero-length sequences at the end) and
    max_seqlen = the row length: the compiled layer sees a handful of shapes, not one per batch.
    """
    lens = [n for row in batch.seq_lens for n in row]
    cu = torch.zeros(_bucket(len(lens) + 1), dtype=torch.int32)
    cu[1 : len(lens) + 1] = torch.tensor(lens, dtype=torch.int32).cumsum(0)
    cu[len(lens) + 1 :] = cu[len(lens)]
    return {"doc_cu_seqlens": cu.to(batch.doc_ids.device), "doc_max_len": batch.doc_ids.shape[1]}


def document_block_mask(doc: torch.Tensor, window: int | None, block: int = FLEX_BLOCK) -> Any:
    """FlexAttention BlockMask from document boundaries, without any [S, S] tensor.

    `doc` [B, S] holds non-decreasing document ids per row (packing.collate's layout). A pair of
    blocks (query block i >= key block j) is empty unless the last document of key block j is
    the first of query block i; it is full when both blocks lie inside one document (and inside
    the window); everything else is partial and gets `mask_mod`. Memory and time are O(B * S +
    B * (S / block)^2): 128x128 block pairs at 16K tokens instead of 16K x 16K elements.
    """
    from torch.nn.attention.flex_attention import BlockMask

    bsz, seq = doc.shape
    nb = -(-seq // block)
    tail = nb * block - seq
    padded = torch.cat([doc, doc[:, -1:].expand(bsz, tail)], dim=1) if tail else doc
    blocks = padded.view(bsz, nb, block)
    lo, hi = blocks.amin(-1), blocks.amax(-1)  # [B, nb]
    i = torch.arange(nb, device=doc.device)
    dist = i[:, None] - i[None, :]  # query block - key block, [nb, nb]
    causal = dist >= 0
    touch = causal & (hi[:, None, :] >= lo[:, :, None])  # [B, q, kv]
    one_doc = lo == hi
    full = (
        (dist > 0) & one_doc[:, :, None] & one_doc[:, None, :] & (lo[:, :, None] == lo[:, None, :])
    )
    if tail:  # the last block's missing positions are never "kept": mask_mod decides there
        whole = i < nb - 1
        full &= whole[:, None] & whole[None, :]
    if window:
        touch &= (dist - 1).clamp(min=0) * block + (dist > 0).long() < window
        full &= (dist + 1) * block - 1 < window
    partial = touch & ~full

    def blocks_of(kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        count = kept.sum(-1, dtype=torch.int32)[:, None]
        order = torch.argsort(kept.to(torch.int8), dim=-1, descending=True, stable=True)
        return count, order.to(torch.int32)[:, None]

    def mask_mod(b: Any, h: Any, q: Any, kv: Any) -> Any:
        keep = (doc[b, q] == doc[b, kv]) & (q >= kv)
        if window:
            keep = keep & (q - kv < window)
        return keep

    return BlockMask.from_kv_blocks(
        *blocks_of(partial), *blocks_of(full),
        BLOCK_SIZE=block, mask_mod=mask_mod, seq_lengths=(seq, seq),
    )  # fmt: skip


def dense_document_mask(doc: torch.Tensor) -> torch.Tensor:
    """[B, 1, S, S] boolean: same document and causal (the CPU path; quadratic by nature)."""
    pos = torch.arange(doc.shape[1], device=doc.device)
    keep = (doc[:, :, None] == doc[:, None, :]) & (pos[:, None] >= pos[None, :])
    return keep[:, None]


def attention_kwargs(
    batch: Batch, backend: str, windows: frozenset[int | None] = frozenset({None})
) -> dict[str, Any]:
    """The extra forward kwargs that carry this batch's document mask to every layer.

    `windows`: the distinct sliding windows of the model's layers (None: full causal).
    """
    if backend == "flash":
        return flash_kwargs(batch)
    if backend == "flex":
        masks = {w or NO_WINDOW: document_block_mask(batch.doc_ids, w) for w in windows}
        return {"doc_block_masks": masks}
    return {"doc_dense_mask": dense_document_mask(batch.doc_ids)}


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
    sliding_window: int | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention-interface signature: q/k/v [B, H, S, D] -> out [B, S, H, D].

    `sliding_window` is this layer's window, as the model's attention module passes it.
    """
    # `attention_mask` is ignored: the document mask replaces the model's causal mask.
    if not module.training:
        dropout = 0.0
    if "doc_cu_seqlens" in kwargs:
        from flash_attn import flash_attn_varlen_func

        bsz, heads, seq, dim = query.shape
        q, k, v = (
            t.transpose(1, 2).reshape(bsz * seq, t.shape[1], dim) for t in (query, key, value)
        )
        out = flash_attn_varlen_func(
            q, k, v,
            kwargs["doc_cu_seqlens"], kwargs["doc_cu_seqlens"],
            kwargs["doc_max_len"], kwargs["doc_max_len"],
            dropout_p=dropout, softmax_scale=scaling, causal=True,
            window_size=(sliding_window - 1, 0) if sliding_window else (-1, -1),
        )  # fmt: skip
        return out.reshape(bsz, seq, heads, dim), None
    if "doc_block_masks" in kwargs:
        from torch.nn.attention.flex_attention import flex_attention

        block_mask = kwargs["doc_block_masks"][sliding_window or NO_WINDOW]
        # Inside a compiled layer, dynamo turns flex_attention into its fused kernel itself.
        flex = flex_attention if torch.compiler.is_compiling() else _compiled_flex()
        out = flex(query, key, value, block_mask=block_mask, scale=scaling, enable_gqa=True)
        return out.transpose(1, 2).contiguous(), None
    if "doc_dense_mask" in kwargs:
        mask = kwargs["doc_dense_mask"]
        if sliding_window:
            pos = torch.arange(query.shape[2], device=query.device)
            mask = mask & (pos[:, None] - pos[None, :] < sliding_window)
        out = F.scaled_dot_product_attention(
            query, key, value,
            attn_mask=mask, dropout_p=dropout, scale=scaling, enable_gqa=True,
        )  # fmt: skip
        return out.transpose(1, 2).contiguous(), None
    raise RuntimeError(
        "packed attention called without a document mask: call the model through "
        "training_image.trainer.model.CausalLMWithLoss, or load it with attn_implementation='sdpa'"
    )


AttentionInterface.register(PACKED, packed_attention)
