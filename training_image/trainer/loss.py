"""Cross-entropy summed over labelled tokens, without materializing the logits.

The usual path (lm_head over every position, fp32 upcast, then CE) holds [tokens, vocab] logits
and their gradient: 2-3 GB per 4K-token row for a 128K vocabulary. Here only positions that
carry a label are projected (prompt tokens of an SFT example need no logits at all), in chunks,
and the gradients w.r.t. the hidden states and lm_head are computed during the forward pass, so
nothing vocabulary-sized outlives a chunk and nothing is recomputed in backward.
Returns the SUM; the caller divides by the global label count (see train.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from training_image.trainer.chat import IGNORE

CHUNK_TOKENS = 2048


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, chunk: int
    ) -> torch.Tensor:
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = (
            torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        )
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start : start + chunk]
            t = target[start : start + chunk]
            logits = (h @ weight.t()).float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            if grad_h is None and grad_w is None:
                continue
            # d(sum CE)/d(logits) = softmax - one_hot(target)
            g = torch.exp(logits - lse[:, None])
            g[torch.arange(t.shape[0], device=t.device), t] -= 1
            g = g.to(hidden.dtype)
            if grad_h is not None:
                grad_h[start : start + chunk] = g @ weight
            if grad_w is not None:
                grad_w += (g.t() @ h).float()
        ctx.save_for_backward(grad_h, grad_w)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> Any:
        grad_h, grad_w = ctx.saved_tensors
        dh = grad_h * grad_out.to(grad_h.dtype) if grad_h is not None else None
        dw = (grad_w * grad_out).to(ctx.weight_dtype) if grad_w is not None else None
        return dh, dw, None, None


def labelled_positions(labels: torch.Tensor) -> torch.Tensor:
    """Flat indices t of [B, S-1] (hidden at t predicts label t+1) that carry a label."""
    return (labels[:, 1:].reshape(-1) != IGNORE).nonzero().squeeze(1)


def linear_cross_entropy_sum(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    positions: torch.Tensor | None = None,
    chunk: int = CHUNK_TOKENS,
) -> torch.Tensor:
    """Sum over labelled tokens of CE(hidden @ weight.T, next label); fp32 scalar."""
    dim = hidden.shape[-1]
    if positions is None:
        positions = labelled_positions(labels)
    h = hidden[:, :-1].reshape(-1, dim).index_select(0, positions)
    t = labels[:, 1:].reshape(-1).index_select(0, positions)
    if not torch.is_grad_enabled():
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, h.shape[0], chunk):
            logits = (h[start : start + chunk] @ weight.t()).float()
            total += F.cross_entropy(logits, t[start : start + chunk], reduction="sum")
        return total
    out: torch.Tensor = _LinearCrossEntropy.apply(h, weight, t, chunk)
    return out
