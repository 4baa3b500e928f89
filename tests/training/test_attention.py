"""The three document-mask kernels compute the same attention.

flash-attn does not run on CPU; its branch is exercised against a reference varlen kernel
(per-document SDPA) injected as `flash_attn`, which checks the reshapes and cu_seqlens that
the real kernel would receive. FlexAttention runs eagerly here (its compiled form is the GPU
path); the mask_mod, block mask and layout are the same.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import flex_attention

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
        kwargs = attention.attention_kwargs(batch, backend, window)
        if window:
            kwargs["sliding_window"] = window  # what Mistral's attention passes the kernel
        out, _ = attention.packed_attention(module, q, k, v, None, scaling=0.3, **kwargs)
        assert out.shape == (3, 20, HEADS, DIM)
        outputs[backend] = out
    assert torch.allclose(outputs["flash"], outputs["sdpa"], atol=1e-5)
    assert torch.allclose(outputs["flex"], outputs["sdpa"], atol=1e-5)
    # and the documents are really separate: a token's output ignores earlier documents
    v2 = v.clone()
    v2[0, :, :5] += 10.0  # perturb row 0's first document only
    kwargs = attention.attention_kwargs(batch, "sdpa", window)
    moved, _ = attention.packed_attention(module, q, k, v2, None, scaling=0.3, **kwargs)
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
