"""The model through each packed kernel: no quadratic memory, per-layer windows, compile once.

flash-attn does not run on CPU: its path is exercised with the reference varlen kernel of
test_attention (per-document SDPA) registered as a torch custom op, as flash-attn registers its
own, so dynamo sees one opaque operator. FlexAttention runs eagerly on CPU (its fused kernel is
the GPU path); the block masks and the per-layer choice of mask are the same.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch._dynamo.testing import CompileCounter
from torch.nn.attention.flex_attention import flex_attention
from transformers import AutoModelForCausalLM

from tests.support.training import FAST
from tests.training.allocations import LargestAllocation
from tests.training.test_attention import reference_varlen
from training_image.trainer import attention, runtime
from training_image.trainer import model as model_module
from training_image.trainer.attention import PACKED
from training_image.trainer.chat import IGNORE, Example
from training_image.trainer.config import parse_hyperparameters
from training_image.trainer.hf import config_of
from training_image.trainer.model import CausalLMWithLoss, build, layer_windows, load_hf_config
from training_image.trainer.packing import Rows, collate


@torch.library.custom_op("trainer_test::varlen", mutates_args=())
def _varlen_op(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor, max_len: int,
    scale: float, left: int,
) -> torch.Tensor:  # fmt: skip
    return reference_varlen(q, k, v, cu, cu, max_len, max_len, softmax_scale=scale, causal=True,
                            window_size=(left, 0))  # fmt: skip


@_varlen_op.register_fake
def _(q: torch.Tensor, *args: Any) -> torch.Tensor:
    return torch.empty_like(q)


def _save(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    ctx.save_for_backward(*inputs[:4])
    ctx.rest = inputs[4:]


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
    q, k, v, cu = ctx.saved_tensors
    max_len, scale, left = ctx.rest
    with torch.enable_grad():
        qkv = [t.detach().requires_grad_() for t in (q, k, v)]
        out = reference_varlen(qkv[0], qkv[1], qkv[2], cu, cu, max_len, max_len,
                               softmax_scale=scale, causal=True, window_size=(left, 0))  # fmt: skip
        grads = torch.autograd.grad(out, qkv, grad)
    return (*grads, None, None, None, None)


_varlen_op.register_autograd(_backward, setup_context=_save)


def _flash_attn_varlen_func(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
    max_q: int, max_k: int, dropout_p: float = 0.0, softmax_scale: float | None = None,
    causal: bool = False, window_size: tuple[int, int] = (-1, -1),
) -> torch.Tensor:  # fmt: skip
    assert causal and dropout_p == 0.0 and softmax_scale is not None
    return _varlen_op(q, k, v, cu_q, max_q, softmax_scale, window_size[0])


@pytest.fixture
def kernels(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """flash_attn as the reference custom op; flex_attention eager."""
    fake = types.ModuleType("flash_attn")
    fake.flash_attn_varlen_func = _flash_attn_varlen_func  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flash_attn", fake)
    monkeypatch.setattr(attention, "_compiled_flex", lambda: flex_attention)
    yield


def packed_model(base: Path, backend: str, **overrides: Any) -> CausalLMWithLoss:
    lm = AutoModelForCausalLM.from_pretrained(
        base, torch_dtype=torch.float32, attn_implementation=PACKED, **overrides
    )
    return CausalLMWithLoss(lm, backend)


def documents(lengths: list[int], vocab: int, seed: int = 0) -> list[Example]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(10, vocab, (n,), generator=gen).tolist()
        out.append(Example(tuple(ids), (IGNORE, *ids[1:])))
    return out


def test_forward_at_16k_tokens_allocates_nothing_quadratic(
    base_models: dict[str, Path], kernels: None
) -> None:
    seq = 16384
    model = packed_model(base_models["llama"], "flash").train()
    row = documents([512] * (seq // 512), config_of(model.lm).vocab_size)
    batch = collate([row], seq, 0)
    with LargestAllocation() as alloc:
        loss = model(batch)
    assert torch.isfinite(loss)
    # transformers' own causal mask alone would be 16K x 16K fp32 (1 GiB); the largest tensor
    # here is an activation or one document's attention, linear in the row length.
    assert alloc.bytes < seq * seq // 16, (alloc.bytes, alloc.op)


def test_qwen2_window_applies_only_from_max_window_layers() -> None:
    from transformers import Qwen2Config

    config = Qwen2Config(num_hidden_layers=4, sliding_window=8, max_window_layers=2,
                         use_sliding_window=True)  # fmt: skip
    assert layer_windows(config) == [None, None, 8, 8]
    config.use_sliding_window = False
    assert layer_windows(config) == [None] * 4


SLIDING = {
    "llama": {},
    "mistral": {"sliding_window": 8},
    # layer 0 full causal, layer 1 windowed: a kernel that windows every layer disagrees
    "qwen2": {"use_sliding_window": True, "sliding_window": 8, "max_window_layers": 1},
}


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize("arch", sorted(SLIDING))
def test_three_kernels_agree_per_family(
    base_models: dict[str, Path], kernels: None, arch: str
) -> None:
    losses = {}
    for backend in attention.BACKENDS:
        model = packed_model(base_models[arch], backend, **SLIDING[arch])
        rows = [documents([40, 70, 150], 400, seed=1), documents([260], 400, seed=2)]
        with torch.no_grad():
            losses[backend] = float(model(collate(rows, 272, 0)))
    assert losses["flash"] == pytest.approx(losses["sdpa"], rel=1e-5)
    assert losses["flex"] == pytest.approx(losses["sdpa"], rel=1e-5)
    if arch == "qwen2":  # and the per-layer choice matters: windowing every layer differs
        every = packed_model(base_models[arch], "sdpa", **SLIDING[arch] | {"max_window_layers": 0})
        with torch.no_grad():
            assert float(every(collate(rows, 272, 0))) != pytest.approx(losses["sdpa"], rel=1e-4)


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize(("backend", "packing"), [("flash", True), ("flex", True), ("sdpa", False)])
def test_compiled_layers_compile_once_per_shape_not_per_batch(
    base_models: dict[str, Path],
    kernels: None,
    world_of_one: None,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    packing: bool,
) -> None:
    counter = CompileCounter()
    monkeypatch.setattr(model_module, "COMPILE_BACKEND", counter)
    torch._dynamo.reset()
    cfg = parse_hyperparameters({**FAST, "compile": "true", "maxSequenceLength": "512"})
    base = base_models["llama"]
    model = build(cfg, load_hf_config(base), base, runtime.mesh("full"), torch.device("cpu"),
                  backend)  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(10, 250, (60,), generator=gen).tolist()
    rows = Rows.build(documents(lengths, 400), 512, packing)
    batches = [rows.batch([i], 0, packing) for i in range(12)]
    shapes = {
        (tuple(b.input_ids.shape), len(attention.flash_kwargs(b)["doc_cu_seqlens"]))
        for b in batches
    }
    # The batches really differ: row length, document count or longest document (which is what
    # flash's cu_seqlens and max_seqlen followed before).
    layouts = {(b.input_ids.shape, len(b.seq_lens[0]), max(b.seq_lens[0])) for b in batches}
    assert len(layouts) >= 8
    grad = backend != "flex"  # FlexAttention has no backward on CPU
    for batch in batches:
        with torch.set_grad_enabled(grad):
            loss = model(batch)
        if grad:
            loss.backward()
    # One graph per shape (flex and SDPA: per row length), shared by both decoder layers; with
    # gradients twice: the first layer's input needs none (LoRA: frozen embeddings).
    distinct = len(shapes) if backend == "flash" else len({s for s, _ in shapes})
    assert counter.frame_count == (2 if grad else 1) * distinct, (counter.frame_count, shapes)
    assert distinct <= 3
