"""The three document-mask kernels compute the same attention.

flash-attn does not run on CPU; its branch is exercised against a reference varlen kernel
(per-document SDPA) injected as `flash_attn`, which checks the reshapes and cu_seqlens that
the real kernel would receive. FlexAttention runs eagerly here (its compiled form is the GPU
path); the mask_mod, block mask and layout are the same.
"""

from __future__ import annotations

import itertools
import sys
import types
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

from tests.training.allocations import LargestAllocation
from training_image.trainer import attention
from training_image.trainer.chat import Example
from training_image.trainer.packing import collate

HEADS, KV_HEADS, DIM = 4, 2, 8


def reference_varlen(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
    max_q: int, max_k: int, dropout_p: float = 0.0, softmax_scale: float | None = None,
    causal: bool = False, window_size: tuple[int, int] = (-1, -1),
) -> torch.Tensor:  # fmt: skip
    assert q.dim() == 3 and cu_q.dtype == torch.int32 and causal and torch.equal(cu_q, cu_k)
    out = torch.empty_like(q)
    for start, end in zip(cu_q[:-1].tolist(), cu_q[1:].tolist(), strict=True):
        n = end - start
        assert n <= max_q == max_k
        pos = torch.arange(n)
        keep = pos[:, None] >= pos[None, :]
        if window_size[0] >= 0:
            keep &= pos[:, None] - pos[None, :] <= window_size[0]
        qs, ks, vs = (t[start:end].transpose(0, 1)[None] for t in (q, k, v))
        o = F.scaled_dot_product_attention(
            qs, ks, vs, attn_mask=keep, scale=softmax_scale, enable_gqa=True
        )
        out[start:end] = o[0].transpose(0, 1)
    return out


class Module(torch.nn.Module):
    pass


@pytest.fixture
def packed() -> Any:
    docs = [[5, 9, 3], [4, 7, 2, 6], [11, 1, 4, 2, 2]]  # lengths per row (17 / 19 / 20)
    rows = [[Example(tuple(range(n)), tuple(range(n))) for n in row] for row in docs]
    batch = collate(rows, 20, 0)
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(3, HEADS, 20, DIM, generator=gen)
    k, v = (torch.randn(3, KV_HEADS, 20, DIM, generator=gen) for _ in range(2))
    return batch, q, k, v


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize("window", [None, 3])
def test_flash_flex_and_sdpa_agree(
    packed: Any, window: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, q, k, v = packed
    module = Module().eval()
    monkeypatch.setitem(sys.modules, "flash_attn", types.SimpleNamespace(
        flash_attn_varlen_func=reference_varlen))  # fmt: skip
    monkeypatch.setattr(attention, "_compiled_flex", lambda: flex_attention)
    outputs = {}
    for backend in attention.BACKENDS:
        kwargs = attention.attention_kwargs(batch, backend, frozenset({window}))
        # the layer's window, as Mistral's and Qwen2's attention modules pass it to the kernel
        out, _ = attention.packed_attention(
            module, q, k, v, None, scaling=0.3, sliding_window=window, **kwargs
        )
        assert out.shape == (3, 20, HEADS, DIM)
        outputs[backend] = out
    assert torch.allclose(outputs["flash"], outputs["sdpa"], atol=1e-5)
    assert torch.allclose(outputs["flex"], outputs["sdpa"], atol=1e-5)
    # and the documents are really separate: a token's output ignores earlier documents
    v2 = v.clone()
    v2[0, :, :5] += 10.0  # perturb row 0's first document only
    kwargs = attention.attention_kwargs(batch, "sdpa")
    moved, _ = attention.packed_attention(
        module, q, k, v2, None, scaling=0.3, sliding_window=window, **kwargs
    )
    assert torch.allclose(moved[0, 5:], outputs["sdpa"][0, 5:], atol=1e-6)
    assert not torch.allclose(moved[0, :5], outputs["sdpa"][0, :5], atol=1e-3)


def test_backend_choice() -> None:
    cpu = torch.device("cpu")
    assert attention.resolve_backend("auto", cpu) == "sdpa"
    with pytest.raises(ValueError, match="needs a CUDA device"):
        attention.resolve_backend("flex", cpu)
    with pytest.raises(RuntimeError, match="without a document mask"):
        q = k = v = torch.zeros(1, 1, 2, 2)
        attention.packed_attention(Module(), q, k, v, None)


@pytest.mark.parametrize("window", [None, 70, 200])
def test_block_mask_from_document_boundaries_equals_create_block_mask(window: int | None) -> None:
    # Documents spanning several blocks (full blocks exist) and a row length that is not a
    # multiple of the block size (a partial last block).
    lens = [200, 300, 50, 17]
    doc = torch.cat([torch.full((n,), i, dtype=torch.int32) for i, n in enumerate(lens)])[None]
    seq = doc.shape[1]

    def mask_mod(b: Any, h: Any, q: Any, kv: Any) -> Any:
        keep = (doc[b, q] == doc[b, kv]) & (q >= kv)
        return keep & (q - kv < window) if window else keep

    want = create_block_mask(mask_mod, 1, None, seq, seq, device="cpu", BLOCK_SIZE=32)
    got = attention.document_block_mask(doc, window, block=32)
    assert want.full_kv_num_blocks is not None and got.full_kv_num_blocks is not None
    assert int(got.full_kv_num_blocks.sum()) > 0
    assert torch.equal(got.kv_num_blocks, want.kv_num_blocks)
    assert torch.equal(got.full_kv_num_blocks, want.full_kv_num_blocks)
    assert torch.equal(got.to_dense(), want.to_dense())


def test_block_mask_at_16k_tokens_allocates_nothing_quadratic() -> None:
    lens = [700, 3000, 1200, 9000, 2484]  # 16,384 tokens
    doc = torch.cat([torch.full((n,), i, dtype=torch.int32) for i, n in enumerate(lens)])[None]
    with LargestAllocation() as alloc:
        attention.document_block_mask(doc, None)
        attention.document_block_mask(doc, 4096)
    # An element-wise mask is 16K x 16K = 268M elements (2.5 GiB as create_block_mask builds it
    # eagerly); the block layout is 128 x 128 block pairs.
    assert alloc.bytes <= 256 * 1024, (alloc.bytes, alloc.op)


def test_flash_kwargs_have_few_shapes() -> None:
    # The document count varies per batch; the compiled layer must see the same shapes anyway.
    shapes = set()
    for count in range(1, 7):
        row = [Example(tuple(range(10)), tuple(range(10)))] * count
        kwargs = attention.flash_kwargs(collate([row], 64, 0))
        cu = kwargs["doc_cu_seqlens"]
        lens = [10] * count + ([64 - 10 * count] if 10 * count < 64 else [])
        assert cu[: len(lens) + 1].tolist() == [0, *itertools.accumulate(lens)]
        assert set(cu[len(lens) :].tolist()) == {64}  # zero-length sequences pad the end
        assert kwargs["doc_max_len"] == 64
        shapes.add(tuple(cu.shape))
    assert shapes == {(8,)}
