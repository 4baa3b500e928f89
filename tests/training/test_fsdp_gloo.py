"""FSDP2 across processes (gloo, CPU) through the container's own entry point.

Two ranks must train exactly like one: every step's rows are the same set whatever the world
size, the loss is normalised by the step's global label count, and FSDP's gradient average is
undone by the x world factor. Any slip in that arithmetic shows up as diverging losses.
Two layouts: one node with 2 workers (full sharding), and two "hosts" with 1 worker each, as a
2-instance SageMaker job would start them (hybrid sharding: replicate across nodes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.training import FAST, RunJob, free_port, sample_records, write_channel

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
HP = {**FAST, "maxSteps": "4", "checkpointEverySteps": "2", "evalEverySteps": "2"}


def job_env(root: Path, base: Path, hp: dict[str, str]) -> dict[str, str]:
    write_channel(root / "input" / "data" / "train", sample_records("train", 48))
    write_channel(root / "input" / "data" / "validation", sample_records("validation", 8))
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hp))
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
        "SM_CHANNEL_TRAIN": str(root / "input" / "data" / "train"),
        "SM_CHANNEL_VALIDATION": str(root / "input" / "data" / "validation"),
        "SM_CHANNEL_BASE_MODEL": str(base),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "TRAINER_CHECKPOINT_DIR": str(root / "checkpoints"),
        "TRAINER_BEST_DIR": str(root / "best-local"),
        "TRAINER_MASTER_PORT": str(free_port()),
    }


def launch(envs: list[dict[str, str]]) -> list[str]:
    """Start `train` once per host (as SageMaker does) and wait for all of them."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "training_image.trainer"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for env in envs
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-4000:]
    return outputs


def histories(model_dir: Path) -> tuple[list[float], list[float]]:
    history: list[dict[str, Any]] = json.loads((model_dir / "training_history.json").read_text())[
        "history"
    ]
    return [h["train_loss"] for h in history], [h["val_loss"] for h in history if "val_loss" in h]


def reference(run_job: RunJob) -> tuple[list[float], list[float]]:
    outcome, _ = run_job({k: v for k, v in HP.items() if k not in FAST}, validation=8)
    history = outcome.state.history
    return [h["train_loss"] for h in history], [h["val_loss"] for h in history if "val_loss" in h]


def test_two_workers_on_one_node_train_like_one_rank(
    run_job: RunJob, base_models: dict[str, Path], tmp_path: Path
) -> None:
    env = job_env(tmp_path / "opt_ml", base_models["llama"], HP)
    (out,) = launch([env | {"TRAINER_NPROC_PER_NODE": "2"}])
    assert "world 2 (shard 2)" in out
    model = tmp_path / "opt_ml" / "model"
    assert json.loads((model / "import_check.json").read_text())["ready"]
    assert (tmp_path / "opt_ml" / "checkpoints" / "step-00000002" / "DONE-node0").exists()
    train, val = histories(model)
    want_train, want_val = reference(run_job)
    assert train == pytest.approx(want_train, rel=1e-5)
    assert len(val) == 2 and val == pytest.approx(want_val, rel=1e-5)


def test_two_hosts_hybrid_sharding_train_like_one_rank(
    run_job: RunJob, base_models: dict[str, Path], tmp_path: Path
) -> None:
    # sharding left at its default: 'auto' is hybrid as soon as there is more than one host
    env = job_env(tmp_path / "opt_ml", base_models["llama"], HP)
    hosts = {"SM_HOSTS": '["localhost", "127.0.0.1"]', "TRAINER_NPROC_PER_NODE": "1"}
    outs = launch([env | hosts | {"SM_CURRENT_HOST": h} for h in ("127.0.0.1", "localhost")])
    assert "--nnodes=2" in outs[0] and "--node-rank=1" in outs[1]
    assert "world 2 (replicate 2 x shard 1)" in outs[0]
    checkpoint = tmp_path / "opt_ml" / "checkpoints" / "step-00000002"
    assert (checkpoint / "DONE-node0").exists() and (checkpoint / "DONE-node1").exists()
    train, val = histories(tmp_path / "opt_ml" / "model")
    want_train, want_val = reference(run_job)
    assert train == pytest.approx(want_train, rel=1e-5)
    assert val == pytest.approx(want_val, rel=1e-5)
