"""Checkpoints a spot restart can trust, and the sharded state around them (RNG, evaluation,
gradient reduction).

A restart must never resume from a checkpoint that arrived incomplete (a truncated shard: the
manifest catches it) or that does not load (a corrupt shard of the right size: loading fails and
the previous one is used); either way the resumed run reproduces the uninterrupted one.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.distributed.tensor import DTensor

from tests.support.training import FAST, RunJob
from training_image.trainer import checkpoint, runtime
from training_image.trainer.checkpoint import TrainerState
from training_image.trainer.config import parse_hyperparameters
from training_image.trainer.model import build, load_hf_config, trainable
from training_image.trainer.packing import Rows
from training_image.trainer.step import new_optimizer
from training_image.trainer.train import evaluate

HP = {"maxSteps": "6", "checkpointEverySteps": "2", "loraDropout": "0.1"}


def losses(outcome: Any) -> list[float]:
    return [h["train_loss"] for h in outcome.state.history]


def steps(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("step-*"))


def test_resume_skips_a_damaged_newest_checkpoint(run_job: RunJob, tmp_path: Path) -> None:
    straight, _ = run_job(HP, root=tmp_path / "straight")
    _, paths = run_job(HP, root=tmp_path / "truncated", interrupt_after=5)
    assert steps(paths.checkpoints) == ["step-00000002", "step-00000004"]  # the last two
    shutil.copytree(tmp_path / "truncated", tmp_path / "corrupt")
    for damage in ("truncated", "corrupt"):
        root = tmp_path / damage / "checkpoints"
        shard = next((root / "step-00000004").glob("__0_*.distcp"))
        data = shard.read_bytes()
        if damage == "truncated":  # as a download cut short leaves it: the manifest says so
            shard.write_bytes(data[: len(data) // 2])
            assert checkpoint.latest(root) == root / "step-00000002"
        else:  # same size, unreadable content: complete on paper, fails to load
            shard.write_bytes(bytes(len(data)))
            assert checkpoint.latest(root) == root / "step-00000004"
        resumed, _ = run_job(HP, root=tmp_path / damage)
        assert resumed.exported and resumed.state.step == 6
        # From step 2, with its dropout RNG: the same trajectory as the run never interrupted.
        assert losses(resumed) == pytest.approx(losses(straight), rel=1e-6, abs=1e-7), damage


def test_marker_is_a_manifest_of_every_file(run_job: RunJob, tmp_path: Path) -> None:
    _, paths = run_job({"maxSteps": "4", "checkpointEverySteps": "1"}, interrupt_after=3)
    assert steps(paths.checkpoints) == ["step-00000002", "step-00000003"]
    path = paths.checkpoints / "step-00000003"
    listed = checkpoint.json.loads((path / "DONE-node0").read_text())["files"]
    on_disk = {p.name: p.stat().st_size for p in path.iterdir() if not p.name.startswith("DONE")}
    assert listed == on_disk
    (path / "rng-0.pt").unlink()  # a file missing after the download: not complete
    assert checkpoint.latest(paths.checkpoints) == paths.checkpoints / "step-00000002"
    shutil.rmtree(paths.checkpoints / "step-00000002")
    assert checkpoint.latest(paths.checkpoints) is None


@pytest.fixture
def tiny(base_models: dict[str, Path], world_of_one: None) -> Any:
    cfg = parse_hyperparameters({**FAST, "mixedPrecision": "bf16"})
    base = base_models["llama"]
    model = build(cfg, load_hf_config(base), base, runtime.mesh("full"), torch.device("cpu"),
                  "sdpa")  # fmt: skip
    return cfg, model, new_optimizer(cfg, trainable(model), torch.device("cpu"))


def test_cuda_rng_state_is_saved_and_restored(
    tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, model, optimizer = tiny
    generator = {"state": torch.arange(16, dtype=torch.uint8)}
    monkeypatch.setattr(checkpoint, "_has_cuda", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda: generator["state"].clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s: generator.update(state=s))
    path = checkpoint.save(tmp_path, model, optimizer, TrainerState(step=1))
    generator["state"] = torch.zeros(16, dtype=torch.uint8)  # dropout moved on after the save
    checkpoint.load(path, model, optimizer)
    assert generator["state"].tolist() == list(range(16))


def test_evaluation_leaves_every_parameter_sharded(tiny: Any, tokenizer: Any) -> None:
    # The root and the last layer do not reshard after forward (backward would need them at
    # once); without a backward they stay gathered, in bf16, and the best-weights keep would
    # store those compute copies instead of the fp32 shards.
    cfg, model, _ = tiny
    from tests.training.test_kernels import documents

    rows = Rows.build(documents([40, 60, 30, 80], 400), 128, packing=True)
    evaluate(model, rows, 0, cfg, torch.device("cpu"))
    unsharded = [n for n, p in model.named_parameters() if not isinstance(p, DTensor)]
    assert unsharded == []
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    assert lora and all(p.dtype == torch.float32 for p in lora)


def test_gradients_are_reduced_on_the_last_micro_batch_only(
    tiny: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch.distributed.fsdp._fully_shard import _fsdp_param_group

    from tests.training.test_kernels import documents
    from training_image.trainer.step import train_step

    _, model, optimizer = tiny
    original = _fsdp_param_group.foreach_reduce
    calls = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_fsdp_param_group, "foreach_reduce", counted)
    rows = Rows.build(documents([40, 60, 30, 80, 50, 70], 400), 128, packing=True)
    batches = [rows.batch([i % len(rows.rows)], 0, True) for i in range(4)]
    train_step(model, optimizer, trainable(model), batches, torch.device("cpu"), 1.0)
    assert model.grad_sync == "last"  # LoRA
    # Once per FSDP group with trainable parameters (the 2 decoder layers; the root's are all
    # frozen), not once per micro-batch: that would be 8.
    assert len(calls) == 2


def test_full_fine_tuning_keeps_best_weights_off_the_synced_folder(run_job: RunJob) -> None:
    hp = {"method": "full", "maxSteps": "2", "evalEverySteps": "1", "learningRate": "0.001"}
    outcome, paths = run_job(hp, validation=4)
    assert outcome.state.best_step is not None and outcome.exported
    assert not (paths.checkpoints / "best").exists()  # nothing of it goes to S3
    shards = torch.load(paths.best_local / "rank-0.pt")
    assert shards and all(t.dtype == torch.bfloat16 for t in shards.values())
    _, lora_paths = run_job({"maxSteps": "2", "evalEverySteps": "1"}, validation=4,
                               root=paths.model.parent.parent / "lora")  # fmt: skip
    kept = torch.load(lora_paths.checkpoints / "best" / "rank-0.pt")  # survives a restart
    assert kept and all(t.dtype == torch.float32 for t in kept.values())


def test_rank_0_reads_the_base_model_one_layer_at_a_time(
    base_models: dict[str, Path], world_of_one: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file

    from training_image.trainer import model as model_module

    loads: list[int] = []
    real_set = model_module.set_model_state_dict
    reads: list[str] = []
    real_get = model_module.BaseWeights.get

    def counted_set(module: Any, part: dict[str, Any], options: Any) -> None:
        loads.append(len(part))
        real_set(module, part, options=options)

    def counted_get(self: Any, name: str) -> torch.Tensor:
        reads.append(name)
        return real_get(self, name)

    monkeypatch.setattr(model_module, "set_model_state_dict", counted_set)
    monkeypatch.setattr(model_module.BaseWeights, "get", counted_get)
    base = base_models["llama"]
    cfg = parse_hyperparameters({**FAST, "method": "full"})
    model = build(cfg, load_hf_config(base), base, runtime.mesh("full"), torch.device("cpu"),
                  "sdpa")  # fmt: skip
    on_disk = load_file(str(base / "model.safetensors"))
    assert sorted(reads) == sorted(on_disk)  # every tensor read once
    # 2 layers of 9 tensors each, then embeddings, final norm and lm_head: never all at once
    assert loads == [9, 9, 3]
    q = model.state_dict()["lm.model.layers.1.self_attn.q_proj.weight"]
    assert isinstance(q, DTensor)
    assert torch.equal(q.full_tensor(), on_disk["model.layers.1.self_attn.q_proj.weight"])
