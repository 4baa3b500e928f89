"""Training artifacts saved next to the model: loss history (JSON) and the loss curve (PNG)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from training_image.trainer.checkpoint import TrainerState


def write_history(path: Path, state: TrainerState) -> None:
    path.write_text(json.dumps(asdict(state), indent=1))


def plot_losses(path: Path, history: list[dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display in the container
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["train_loss"] for h in history], label="train loss", linewidth=1)
    val = [(h["step"], h["val_loss"]) for h in history if "val_loss" in h]
    if val:
        ax.plot(*zip(*val, strict=True), marker="o", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (mean per label token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
