"""The fine-tuning recipe: setup, train (validate, stop early, checkpoint), export. One per rank.

Launched by the container entry point (`python -m training_image.trainer`, which starts torchrun
with one worker per GPU on every node); `run(job)` is also callable in-process (tests: a world
of one).
The step itself (loss normalisation over accumulation and ranks) is in step.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule
from transformers import AutoTokenizer

from bedrock_pipeline.formats import FormatError
from bedrock_pipeline.import_check import check_directory
from bedrock_pipeline.training_contract import metric_line
from training_image.trainer import checkpoint, runtime, vision
from training_image.trainer.attention import resolve_backend
from training_image.trainer.chat import TemplateError, ensure_chat_template
from training_image.trainer.checkpoint import TrainerState
from training_image.trainer.config import TrainConfig, check_batch_layout
from training_image.trainer.data import ChannelData, DataError, load_channel, merge_shares
from training_image.trainer.export import EXPORT_DTYPE, export
from training_image.trainer.model import CausalLMWithLoss, build, load_hf_config, trainable
from training_image.trainer.packing import Rows, Schedule
from training_image.trainer.report import plot_losses, write_history
from training_image.trainer.sagemaker import Paths
from training_image.trainer.schedule import EarlyStopping, lr_at
from training_image.trainer.step import new_optimizer, train_step


@dataclass(frozen=True)
class Job:
    cfg: TrainConfig
    paths: Paths


@dataclass(frozen=True)
class Outcome:
    state: TrainerState
    total_steps: int
    exported: bool


def _channel(directory: Path, tokenizer: object, cfg: TrainConfig) -> ChannelData:
    """Each rank tokenizes 1/world of the records; the shares are exchanged (gloo, host memory),
    so no rank spends the time of the whole dataset. A rank's data error fails every rank."""
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        mine: ChannelData | str = load_channel(
            directory, tokenizer, cfg.maxSequenceLength, cfg.promptCompletionTemplate,
            share=(rank, world),
        )  # fmt: skip
    except (DataError, FormatError, TemplateError) as exc:
        if world == 1:
            raise
        mine = f"{type(exc).__name__}: {exc}"
    if world == 1:
        assert not isinstance(mine, str)
        return merge_shares(directory, [mine])
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, mine, group=runtime.host_group())
    errors = [p for p in parts if isinstance(p, str)]
    if errors:
        raise DataError(errors[0])
    return merge_shares(directory, parts)


def _data(job: Job, tokenizer: object) -> tuple[ChannelData, ChannelData | None]:
    cfg, paths = job.cfg, job.paths
    train = _channel(paths.train, tokenizer, cfg)
    val = _channel(paths.validation, tokenizer, cfg) if paths.validation is not None else None
    runtime.log(
        f"data: {train.records} train records ({train.fmt}), {train.label_tokens} label tokens, "
        f"{train.truncated} truncated, {train.split} split; "
        f"validation: {val.records if val else 0} records; tokenized on "
        f"{dist.get_world_size()} ranks"
    )
    return train, val


def run(job: Job, *, interrupt_after: int | None = None) -> Outcome:
    """Train and export. `interrupt_after` stops after that step like a spot reclaim (tests)."""
    cfg, paths = job.cfg, job.paths
    device = runtime.init()
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(cfg.seed + rank)  # dropout differs per rank; data order does not
    tokenizer = AutoTokenizer.from_pretrained(paths.base_model)
    image_model = vision.is_vision(paths.base_model)
    processor = vision.load_processor(paths.base_model) if image_model else None
    hf_config = (vision.load_config if image_model else load_hf_config)(paths.base_model)
    ensure_chat_template(tokenizer, hf_config.model_type)
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    rows: Rows | vision.VisionRows
    val_rows: Rows | vision.VisionRows | None
    if processor is not None:
        rows, val_rows, _ = vision.data(cfg, paths.train, paths.validation, paths.images, processor)
    else:
        train, val = _data(job, tokenizer)
        rows = Rows.build(train.examples, cfg.maxSequenceLength, cfg.packing)
        val_rows = Rows.build(val.examples, cfg.maxSequenceLength, cfg.packing) if val else None
    check_batch_layout(cfg, world)
    plan = Schedule(len(rows.rows), cfg.batchSize, cfg.microBatchSize, world, cfg.seed)
    total = plan.steps_per_epoch * cfg.epochCount
    total = min(total, cfg.maxSteps) if cfg.maxSteps else total
    eval_every = cfg.evalEverySteps or plan.steps_per_epoch
    backend = (
        vision.ATTENTION
        if image_model
        else resolve_backend(cfg.attention, device, cfg.mixedPrecision == "bf16")
    )
    mesh = runtime.mesh(cfg.sharding)
    layout = " x ".join(
        f"{n} {s}" for n, s in zip(mesh.mesh_dim_names or (), mesh.shape, strict=True)
    )
    runtime.log(
        f"plan: {len(rows.rows)} rows of <= {cfg.maxSequenceLength} tokens, {plan.steps_per_epoch} "
        f"steps/epoch, {total} steps, accumulation {plan.accumulation}, world {world} "
        f"({layout}), attention {backend}, method {cfg.method}"
    )
    model: CausalLMWithLoss | vision.MllamaWithLoss = (
        vision.build(cfg, hf_config, paths.base_model, mesh, device)
        if image_model
        else build(cfg, hf_config, paths.base_model, mesh, device, backend)
    )
    params = trainable(model)
    optimizer = new_optimizer(cfg, params, device)
    state = TrainerState()
    # LoRA's best adapters are small: they live with the checkpoints and survive a restart.
    # A full model's best weights would upload a model's worth of shards to S3 at every
    # improvement: they stay on local disk, in the export dtype, and a restart forgets them.
    full = cfg.method == "full"
    best_dir = paths.best_local if full else paths.checkpoints / "best"
    best_dtype = EXPORT_DTYPE if full else None
    resumed = checkpoint.resume(paths.checkpoints, model, optimizer)
    if resumed is not None:
        path, state = resumed
        runtime.log(f"resumed from {path} at step {state.step}")
        if full and state.best_step is not None:
            runtime.log(f"best weights of step {state.best_step} were local: the next "
                        "validation sets a new best")  # fmt: skip
            state.best_val_loss = state.best_step = None
            checkpoint.clear_best(best_dir)
    else:
        checkpoint.clear_best(best_dir)  # best weights of some earlier job are not this job's
    stopper = EarlyStopping.from_state(
        cfg.earlyStoppingThreshold, cfg.earlyStoppingPatience, state.stopper
    )
    while state.step < total and not state.stopped_early:
        started = time.perf_counter()
        lr = lr_at(
            state.step,
            cfg.learningRate,
            cfg.learningRateWarmupSteps,
            total,
            cfg.minLearningRateRatio,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        batches = [rows.batch(ix, pad_id, cfg.packing) for ix in plan.rows_for(state.step, rank)]
        # The vision model and batch have the text ones' interface (forward(batch, positions),
        # labels, label_tokens, real_tokens, to(device)).
        stats = train_step(model, optimizer, params, batches, device, cfg.maxGradNorm)  # type: ignore[arg-type]
        state.step += 1
        train_loss = stats.loss
        record = {"step": state.step, "train_loss": train_loss, "lr": lr}
        if state.step % cfg.logEverySteps == 0 or state.step == total:
            elapsed = time.perf_counter() - started
            runtime.log(metric_line(state.step, {
                "epoch": state.step / plan.steps_per_epoch, "train_loss": train_loss, "lr": lr,
                "grad_norm": stats.grad_norm, "tokens_per_s": stats.tokens / elapsed / world,
            }))  # fmt: skip
        if val_rows is not None and (state.step % eval_every == 0 or state.step == total):
            val_loss = evaluate(model, val_rows, pad_id, cfg, device)
            record["val_loss"] = val_loss
            runtime.log(metric_line(state.step, {"val_loss": val_loss}))
            if state.best_val_loss is None or val_loss < state.best_val_loss:
                state.best_val_loss, state.best_step = val_loss, state.step
                checkpoint.keep_best(best_dir, model, best_dtype)
            if cfg.earlyStopping and stopper.update(val_loss):
                state.stopped_early = True
                runtime.log(
                    f"early stopping at step {state.step}: validation loss did not improve by "
                    f"more than {cfg.earlyStoppingThreshold} in {cfg.earlyStoppingPatience} "
                    f"evaluations; best {state.best_val_loss:.4f} at step {state.best_step}"
                )
            state.stopper = stopper.state()
        state.history.append(record)
        if state.step % cfg.checkpointEverySteps == 0 and state.step < total:
            checkpoint.save(paths.checkpoints, model, optimizer, state)
        if interrupt_after is not None and state.step >= interrupt_after and state.step < total:
            return Outcome(state, total, exported=False)
    finish(job, model, tokenizer, state, best_dir, processor)
    return Outcome(state, total, exported=True)


def evaluate(
    model: CausalLMWithLoss | vision.MllamaWithLoss,
    rows: Rows | vision.VisionRows,
    pad_id: int,
    cfg: TrainConfig,
    device: torch.device,
) -> float:
    """Mean token loss over the whole validation set, split over ranks."""
    rank, world = dist.get_rank(), dist.get_world_size()
    per_round = world * cfg.microBatchSize
    n = len(rows.rows)
    loss_sum, labels = 0.0, 0.0
    model.eval()
    with torch.no_grad():
        # Every rank runs the same number of forwards (FSDP all-gathers are collectives); a rank
        # with no rows left re-reads row 0 and counts nothing.
        for start in range(0, n, per_round):
            mine = list(
                range(start + rank * cfg.microBatchSize, start + (rank + 1) * cfg.microBatchSize)
            )
            real = [i for i in mine if i < n]
            batch = rows.batch(real or [0], pad_id, cfg.packing)
            value = float(model(batch.to(device)))
            if real:
                loss_sum += value
                labels += batch.label_tokens
    # The root and the last layer keep their gathered parameters after forward (backward would
    # need them at once); with no backward to free them they would stay gathered, in the compute
    # dtype, and the best-weights keep would read those copies instead of the fp32 shards.
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()
    model.train()
    total_loss, total_labels = runtime.all_sum([loss_sum, labels])
    return total_loss / max(total_labels, 1.0)


def finish(
    job: Job,
    model: CausalLMWithLoss | vision.MllamaWithLoss,
    tokenizer: object,
    state: TrainerState,
    best_dir: Path,
    processor: object = None,
) -> None:
    """Best weights back in, merged export, loss curve, import check. Collective until export."""
    if state.best_step is not None and checkpoint.restore_best(best_dir, model):
        runtime.log(
            f"exporting the best weights: step {state.best_step}, "
            f"val_loss {state.best_val_loss:.4f}"
        )
    out = job.paths.model
    shard_bytes = job.cfg.exportShardSizeMb * 1024**2
    files = export(model.lm, tokenizer, out, job.paths.base_model, shard_bytes, processor=processor)
    if runtime.is_main():
        write_history(out / "training_history.json", state)
        plot_losses(out / "loss_curve.png", state.history)
        result = check_directory(out)
        (out / "import_check.json").write_text(json.dumps(asdict(result), indent=1))
        # Reported, not fatal: the weights are written either way, and the workflow runs the
        # same check before CreateModelImportJob. Failing here would discard a finished run.
        level = "" if result.ready else "WARNING "
        runtime.log(f"export: {len(files)} weight files in {out}")
        runtime.log(f"{level}import check: {result.summary()}")
    dist.barrier()
