"""FSDP2 across two processes (gloo, CPU) through the container's own entry point.

Two ranks must train exactly like one: every step's rows are the same set whatever the world
size, the loss is normalised by the step's global label count, and FSDP's gradient average is
undone by the x world factor. Any slip in that arithmetic shows up as diverging losses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import FAST, RunJob, free_port, sample_records, write_channel

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_two_gloo_ranks_train_like_one(
    run_job: RunJob, base_models: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**FAST, "maxSteps": "4", "checkpointEverySteps": "2", "evalEverySteps": "2"}
    root = tmp_path / "opt_ml"
    write_channel(root / "input" / "data" / "train", sample_records("train", 48))
    write_channel(root / "input" / "data" / "validation", sample_records("validation", 8))
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hp))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
        "SM_CHANNEL_TRAIN": str(root / "input" / "data" / "train"),
        "SM_CHANNEL_VALIDATION": str(root / "input" / "data" / "validation"),
        "SM_CHANNEL_BASE_MODEL": str(base_models["llama"]),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "TRAINER_CHECKPOINT_DIR": str(root / "checkpoints"),
        "TRAINER_NPROC_PER_NODE": "2",
        "TRAINER_MASTER_PORT": str(free_port()),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "training_image.trainer"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "world 2" in proc.stdout
    two = json.loads((root / "model" / "training_history.json").read_text())
    assert json.loads((root / "model" / "import_check.json").read_text())["ready"]
    assert (root / "checkpoints" / "step-00000002" / "DONE-node0").exists()
    one, _ = run_job({k: v for k, v in hp.items() if k not in FAST}, validation=8)
    want = one.state.history
    assert [h["train_loss"] for h in two["history"]] == pytest.approx(
        [h["train_loss"] for h in want], rel=1e-5
    )
    val_two = [h["val_loss"] for h in two["history"] if "val_loss" in h]
    assert len(val_two) == 2  # steps 2 and 4
    assert val_two == pytest.approx([h["val_loss"] for h in want if "val_loss" in h], rel=1e-5)
