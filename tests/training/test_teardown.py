"""How a worker leaves the process group: in order after a run, never in place of its error.

The two-process runs (test_fsdp_gloo, test_vision, test_failures) show that jobs end with exit
status 0 or with the failing rank's own error; these pin the order that makes that hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training_image.trainer import runtime, worker


class _Recorder:
    def __init__(self, calls: list[str], initialized: bool = True) -> None:
        self.calls, self.initialized = calls, initialized

    def is_initialized(self) -> bool:
        return self.initialized

    def barrier(self) -> None:
        self.calls.append("barrier")

    def destroy_process_group(self) -> None:
        self.calls.append("destroy_process_group")


def test_shutdown_frees_the_model_then_waits_for_every_rank_then_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(runtime, "dist", _Recorder(calls))

    def collect() -> int:
        calls.append("gc.collect")
        return 0

    monkeypatch.setattr(runtime.gc, "collect", collect)
    runtime.shutdown()
    assert calls == ["gc.collect", "barrier", "destroy_process_group"]


def test_shutdown_without_a_group_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(runtime, "dist", _Recorder(calls, initialized=False))
    runtime.shutdown()
    assert calls == []


def _job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for name in ("model", "output", "checkpoints"):
        (tmp_path / name).mkdir()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "hyperparameters.json").write_text("{}")
    env = {
        "SM_INPUT_CONFIG_DIR": str(tmp_path / "config"),
        "SM_CHANNEL_TRAIN": str(tmp_path),
        "SM_CHANNEL_BASE_MODEL": str(tmp_path),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DIR": str(tmp_path / "output"),
        "TRAINER_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "RANK": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    calls: list[str] = []
    monkeypatch.setattr(worker.runtime, "shutdown", lambda: calls.append("shutdown"))
    monkeypatch.setattr(worker, "parse_hyperparameters", lambda raw: object())
    monkeypatch.setattr(worker.Paths, "check", lambda self: None)
    return calls


def test_a_finished_run_leaves_the_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _job(tmp_path, monkeypatch)
    monkeypatch.setattr(worker, "run", lambda job: calls.append("run"))
    assert worker.main() == 0
    assert calls == ["run", "shutdown"]


def test_a_failed_run_raises_its_own_error_and_skips_the_collective_teardown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _job(tmp_path, monkeypatch)

    def fail(job: Any) -> None:
        raise RuntimeError("out of data at step 3")

    monkeypatch.setattr(worker, "run", fail)
    with pytest.raises(RuntimeError, match="out of data at step 3"):
        worker.main()
    assert calls == []  # a barrier here would wait for peers that may never come
    failure = (tmp_path / "output" / "failure").read_text()
    assert failure.startswith("rank 1 on ") and failure.endswith("out of data at step 3")
