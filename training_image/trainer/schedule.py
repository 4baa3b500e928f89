"""Learning-rate schedule and early stopping: pure functions of the step and of the losses seen.

Both are plain state (numbers) so a resumed run recomputes exactly what it would have had.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def lr_at(step: int, base_lr: float, warmup: int, total: int, min_ratio: float) -> float:
    """LR for optimizer step `step` (0-based): linear warmup, then cosine to base_lr * min_ratio."""
    if warmup and step < warmup:
        return base_lr * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return base_lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class EarlyStopping:
    """Bedrock's Claude 3 Haiku semantics: earlyStoppingThreshold is the minimum improvement of
    the validation loss that counts; after earlyStoppingPatience evaluations in a row without
    such an improvement, training stops. Improvement is absolute and measured against the loss
    of the last evaluation that counted (the first evaluation always counts)."""

    threshold: float
    patience: int
    reference: float | None = None
    misses: int = 0

    def update(self, val_loss: float) -> bool:
        """Record one evaluation; True when training should stop now."""
        if self.reference is None or val_loss < self.reference - self.threshold:
            self.reference = val_loss
            self.misses = 0
        else:
            self.misses += 1
        return self.misses >= self.patience

    def state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, threshold: float, patience: int, state: dict[str, Any]) -> EarlyStopping:
        stopper = cls(threshold, patience)
        stopper.reference = state.get("reference")
        stopper.misses = int(state.get("misses", 0))
        return stopper
