"""One optimizer step, shared by the recipe and the throughput benchmark.

Loss normalisation: the step's token losses are summed over all its micro-batches on all ranks
and divided by the global number of labelled tokens of the step (all-reduced before the first
backward). The naive mean of per-micro-batch means over-weights short batches (transformers
#34191, torchtune #1875). FSDP averages gradients over ranks, hence the x world factor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule

from training_image.trainer import runtime
from training_image.trainer.config import TrainConfig
from training_image.trainer.loss import labelled_positions
from training_image.trainer.model import CausalLMWithLoss
from training_image.trainer.packing import Batch


@dataclass(frozen=True)
class StepStats:
    loss: float  # mean over the step's labelled tokens, all ranks
    grad_norm: float  # before clipping
    label_tokens: float  # over all ranks
    tokens: float  # non-padding tokens over all ranks


def new_optimizer(
    cfg: TrainConfig, params: list[torch.nn.Parameter], device: torch.device
) -> torch.optim.Optimizer:
    # fused: one kernel for the whole update on CUDA (the CPU build has no fused AdamW for DTensor)
    return torch.optim.AdamW(
        params, lr=cfg.learningRate, weight_decay=cfg.weightDecay, fused=device.type == "cuda"
    )


def defer_gradient_sync(model: CausalLMWithLoss, last: bool) -> None:
    """Reduce gradients over ranks on the step's last micro-batch only, where memory allows.

    Skipping FSDP's reduce-scatter keeps unsharded gradients until the last micro-batch: free
    for LoRA's adapters, a full model's worth of fp32 gradients per GPU for full fine-tuning.
    So full fine-tuning still reduce-scatters within a node each micro-batch and, with hybrid
    sharding, defers only the all-reduce across nodes (the slow network hop).
    """
    if not isinstance(model, FSDPModule) or model.grad_sync == "every":
        return
    if model.grad_sync == "last":
        model.set_requires_gradient_sync(last)
    else:  # "last-all-reduce"
        model.set_requires_all_reduce(last)


def train_step(
    model: CausalLMWithLoss,
    optimizer: torch.optim.Optimizer,
    params: list[torch.nn.Parameter],
    batches: Sequence[Batch],
    device: torch.device,
    max_grad_norm: float,
) -> StepStats:
    world = dist.get_world_size()
    local_labels = sum(b.label_tokens for b in batches)
    global_labels = runtime.all_sum([local_labels])[0]
    scale = world / max(global_labels, 1.0)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    model.train()
    for i, batch in enumerate(batches):
        defer_gradient_sync(model, last=i == len(batches) - 1)
        # Positions found on the host: no device sync for the data-dependent shape.
        positions = labelled_positions(batch.labels).to(device, non_blocking=True)
        loss = model(batch.to(device), positions)
        (loss * scale).backward()
        loss_sum += loss.detach()
    clip = max_grad_norm if max_grad_norm > 0 else math.inf
    norm = torch.nn.utils.clip_grad_norm_(params, clip, foreach=device.type == "cuda")
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    summed, tokens = runtime.all_sum([loss_sum.item(), sum(b.real_tokens for b in batches)])
    grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
    return StepStats(summed / max(global_labels, 1.0), grad_norm, global_labels, tokens)
