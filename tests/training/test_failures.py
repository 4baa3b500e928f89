"""Failures are reported as the job's FailureReason: which rank, which host, what happened.

The fault is injected on rank 1 of 2 (gloo) through a sitecustomize module on PYTHONPATH, so
the container's entry point, torchrun and the workers run unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.training.test_fsdp_gloo import HP, REPO, job_env
from training_image.trainer.sagemaker import ContractError, Paths, check_writable

pytestmark = pytest.mark.slow

INJECT = """
import os
if os.environ.get("RANK") == "1":
    import training_image.trainer.train as train
    original = train.train_step
    calls = []

    def train_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            {fault}
        return original(*args, **kwargs)

    train.train_step = train_step
"""
FAULTS = {
    "exception": 'raise RuntimeError("injected fault at step 2")',
    "oom-kill": "import signal; os.kill(os.getpid(), signal.SIGKILL)",
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_on_rank_1_of_2_is_the_failure_reason(
    base_models: dict[str, Path], tmp_path: Path, fault: str
) -> None:
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(INJECT.format(fault=FAULTS[fault]))
    env = job_env(tmp_path / "opt_ml", base_models["llama"], HP)
    env |= {"PYTHONPATH": f"{inject}{os.pathsep}{REPO}", "TRAINER_NPROC_PER_NODE": "2"}
    proc = subprocess.run([sys.executable, "-m", "training_image.trainer"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    failure = (tmp_path / "opt_ml" / "output" / "failure").read_text()
    if fault == "exception":  # written by rank 1 itself, not replaced by rank 0's aftermath
        assert failure == "rank 1 on localhost: RuntimeError: injected fault at step 2"
    else:  # no Python exception: the launcher reports torchrun's record of the dead worker
        assert failure.startswith("rank 1 (local rank 1) on localhost: SIGKILL (killed: ")
        assert "out-of-memory" in failure


@pytest.fixture
def opt_ml() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="opt_ml-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


def paths_under(root: Path) -> Paths:
    return Paths.from_env({
        "SM_MODEL_DIR": str(root / "model"), "SM_OUTPUT_DIR": str(root / "output"),
        "TRAINER_CHECKPOINT_DIR": str(root / "checkpoints"),
    })  # fmt: skip


def test_unwritable_output_fails_at_startup_naming_it(opt_ml: Path) -> None:
    paths = paths_under(opt_ml)
    check_writable(paths)  # creates what is missing
    assert {p.name for p in opt_ml.iterdir()} == {"model", "checkpoints", "output"}
    assert not any((opt_ml / "model").iterdir())  # the probe file is gone
    shutil.rmtree(opt_ml / "checkpoints")
    (opt_ml / "checkpoints").write_text("")  # not a directory: unwritable even for root
    with pytest.raises(ContractError, match=r"checkpoints \(checkpoints output\) is not writable"):
        check_writable(paths)
