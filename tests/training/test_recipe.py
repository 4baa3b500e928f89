"""The recipe end to end on tiny models: resume, early stopping, export, architectures."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bedrock_pipeline.client.cli import main as cli
from bedrock_pipeline.training_contract import parse_metric_line
from tests.support.training import RunJob
from training_image.trainer import checkpoint

pytestmark = pytest.mark.slow


def losses(history: list[dict[str, float]]) -> list[float]:
    return [h["train_loss"] for h in history]


def test_resume_continues_with_the_same_losses(run_job: RunJob, tmp_path: Path) -> None:
    # Dropout on: the resumed run must also restore the RNG, not only weights and optimizer.
    hp = {"maxSteps": "6", "checkpointEverySteps": "2", "loraDropout": "0.1"}
    straight, _ = run_job(hp, root=tmp_path / "straight")
    interrupted, paths = run_job(hp, root=tmp_path / "spot", interrupt_after=3)
    assert not interrupted.exported and interrupted.state.step == 3
    assert checkpoint.latest(paths.checkpoints) is not None  # step 2 survived the "reclaim"
    resumed, _ = run_job(hp, root=tmp_path / "spot")
    assert resumed.exported
    # The resumed run restarts from step 2 (one interval lost) and then matches step for step.
    expected = losses(straight.state.history)
    got = losses(resumed.state.history)
    assert len(got) == len(expected) == 6
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert expected[-1] < expected[0]


def test_early_stopping_stops_when_the_loss_stalls(run_job: RunJob) -> None:
    # A learning rate this small cannot improve the validation loss by 0.05 per evaluation.
    hp = {
        "maxSteps": "8",
        "learningRate": "1e-7",
        "evalEverySteps": "1",
        "earlyStoppingThreshold": "0.05",
        "earlyStoppingPatience": "2",
    }
    outcome, paths = run_job(hp, validation=8)
    # Eval 1 sets the reference; evals 2 and 3 miss it: stop after step 3, not 8.
    assert outcome.state.stopped_early
    assert outcome.state.step == 3
    assert outcome.exported and (paths.model / "config.json").exists()


def test_no_early_stop_while_the_loss_improves(run_job: RunJob) -> None:
    hp = {"maxSteps": "5", "evalEverySteps": "1", "earlyStoppingThreshold": "0.0"}
    outcome, _ = run_job(hp, validation=8)
    vals = [h["val_loss"] for h in outcome.state.history]
    assert all(b < a for a, b in itertools.pairwise(vals))  # it does improve...
    assert not outcome.state.stopped_early and outcome.state.step == 5  # ...so it runs on
    assert outcome.state.best_step == 5


def test_export_loads_with_transformers_generates_and_passes_check(
    run_job: RunJob, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome, paths = run_job({"maxSteps": "3"}, validation=4)
    out = capsys.readouterr().out
    metric_lines = [line for line in out.splitlines() if line.startswith("[metrics]")]
    parsed = [parse_metric_line(line) for line in metric_lines]
    assert [p["train:loss"] for p in parsed if "train:loss" in p] == pytest.approx(
        [h["train_loss"] for h in outcome.state.history], rel=1e-5
    )
    assert any("validation:loss" in p for p in parsed)
    model_dir = paths.model
    names = {p.name for p in model_dir.iterdir()}
    assert {
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    } <= names
    assert {"loss_curve.png", "training_history.json", "import_check.json"} <= names
    assert "model.safetensors" in names  # one shard: sharding itself is tested in test_export
    config = json.loads((model_dir / "config.json").read_text())
    assert config["torch_dtype"] == "bfloat16" and config["architectures"] == ["LlamaForCausalLM"]
    assert "_attn_implementation" not in json.dumps(config)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 3?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
    generated = model.generate(**ids, max_new_tokens=6, do_sample=False)
    assert generated.shape[1] > ids["input_ids"].shape[1]
    assert (model_dir / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli(["check-import", str(model_dir)]) == 0


@pytest.mark.parametrize("arch", ["llama", "mistral", "qwen2"])
def test_architectures_share_one_path(
    run_job: RunJob, base_models: dict[str, Path], arch: str
) -> None:
    outcome, paths = run_job({"maxSteps": "2", "packing": "false"}, arch=arch, train=16)
    assert outcome.exported
    exported = AutoModelForCausalLM.from_pretrained(paths.model, torch_dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(base_models[arch], torch_dtype=torch.float32)
    arch_name = json.loads((paths.model / "config.json").read_text())["architectures"][0]
    assert type(exported).__name__ == type(base).__name__ == arch_name
    trained, frozen = exported.state_dict(), base.state_dict()
    assert trained.keys() == frozen.keys()
    # LoRA was merged into the targeted linears; everything else is the base, to bf16 rounding.
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(trained[q], frozen[q], atol=1e-3)
    emb = "model.embed_tokens.weight"
    assert torch.allclose(trained[emb], frozen[emb], rtol=1e-2, atol=1e-3)
    tok = AutoTokenizer.from_pretrained(paths.model)
    ids = tok("The capital of Peru is", return_tensors="pt")
    out = exported.generate(**ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_full_fine_tuning(run_job: RunJob) -> None:
    outcome, paths = run_job({"method": "full", "maxSteps": "3", "learningRate": "0.001"})
    assert outcome.exported
    history = losses(outcome.state.history)
    assert history[-1] < history[0]
    assert json.loads((paths.model / "import_check.json").read_text())["ready"] is True


def test_accumulation_and_micro_batching_give_the_same_steps(
    run_job: RunJob, tmp_path: Path
) -> None:
    # 4 rows per step as 4 micro-batches of 1, or 1 micro-batch of 4: the loss is normalised by
    # the step's label tokens either way, so the trajectories coincide.
    hp = {"maxSteps": "3", "batchSize": "4"}
    accumulated, _ = run_job({**hp, "microBatchSize": "1"}, root=tmp_path / "a")
    batched, _ = run_job({**hp, "microBatchSize": "4"}, root=tmp_path / "b")
    assert losses(accumulated.state.history) == pytest.approx(
        losses(batched.state.history), rel=1e-5
    )


def test_bf16_mixed_precision_with_activation_checkpointing(run_job: RunJob) -> None:
    # The GPU defaults: frozen base stored in bf16, fp32 adapters, bf16 compute, fp32 gradient
    # reduction, each decoder layer recomputed in backward.
    hp = {"maxSteps": "4", "mixedPrecision": "bf16", "activationCheckpointing": "true",
          "loraDropout": "0.1"}  # fmt: skip
    outcome, paths = run_job(hp)
    history = losses(outcome.state.history)
    assert all(math.isfinite(x) for x in history) and history[-1] < history[0]
    assert json.loads((paths.model / "import_check.json").read_text())["ready"] is True
