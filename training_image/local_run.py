"""`make train-local`: the container's job on this CPU, through the container's entry point.

    python -m training_image.local_run --out build/local-run [--nproc 2] [--epochs 3]
        [--train TRAIN.jsonl] [--validation VAL.jsonl]

Builds what a SageMaker job would find under /opt/ml (a tiny Llama base checkpoint with a BPE
tokenizer trained here on the sample data, the train/validation channels, hyperparameters.json),
points the SM_* variables at it, and calls the same `train` entry point: torchrun, N gloo
workers, FSDP2, LoRA, validation, checkpoints, merged export to OUT/model, import check.
Nothing is downloaded. The data is checked first with the validate step's own rules for
`container/llama3` (what the workflow does before it starts a training job): invalid data is
refused with the report and exit 1, before anything trains. Exit 0 when the loss fell and the
export is import-ready; 2 for a missing file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bedrock_pipeline.client.commands.validate_data import render_text
from bedrock_pipeline.import_check import check_directory
from bedrock_pipeline.model_spec import CustomizationType
from bedrock_pipeline.registry import get_model
from bedrock_pipeline.sources import LocalFile
from bedrock_pipeline.validation import validate_dataset
from training_image.tiny import jsonl_texts, train_tokenizer, write_base_model
from training_image.trainer import __main__ as container_entry

SAMPLE = Path(__file__).resolve().parent / "sample_data"
MODEL_ID = "container/llama3"
# CPU-sized: 256-token packed rows, 8 rows per step, fp32 (bf16 matmuls are slower on most CPUs;
# the bf16 mixed-precision path is the GPU default and is exercised by the tests too).
HYPERPARAMETERS = {
    "method": "lora",
    "maxSequenceLength": "256",
    "batchSize": "8",
    "learningRate": "0.01",
    "learningRateWarmupSteps": "5",
    "loraRank": "16",
    "loraAlpha": "32",
    "loraDropout": "0.05",
    "loraTargetModules": "all-linear",
    "evalEverySteps": "10",
    "checkpointEverySteps": "10",
    "mixedPrecision": "fp32",
    "logEverySteps": "5",
}


def validate(train: Path, validation: Path, epochs: int) -> bool:
    """The validate step's checks on the data and hyperparameters; prints the report when they
    fail. Duplicates and train/validation overlap are errors: a validation loss measured on
    training records says nothing."""
    report = validate_dataset(
        LocalFile(str(train)),
        model=get_model(MODEL_ID),
        customization=CustomizationType.FINE_TUNING,
        validation=LocalFile(str(validation)),
        hyperparameters={**HYPERPARAMETERS, "epochCount": str(epochs)},
    )
    if not report.valid:
        print(render_text(report), end="", file=sys.stderr)
        return False
    files = ", ".join(f"{f.role} {f.valid_records} records" for f in report.files)
    print(f"data: valid for {MODEL_ID} ({files})")
    return True


def prepare(
    out: Path, epochs: int, train: Path = SAMPLE / "train.jsonl",
    validation: Path = SAMPLE / "validation.jsonl",
) -> dict[str, str]:  # fmt: skip
    """Lay out OUT like /opt/ml and return the SM_* environment that points at it."""
    if out.exists():
        shutil.rmtree(out)  # a leftover checkpoint would make this run resume instead
    opt_ml = out / "opt_ml"
    data = opt_ml / "input" / "data"
    for channel, source in (("train", train), ("validation", validation)):
        (data / channel).mkdir(parents=True)
        shutil.copy2(source, data / channel / f"{channel}.jsonl")
    tokenizer = train_tokenizer(jsonl_texts([train]))
    config = write_base_model(data / "base_model", "llama", tokenizer, seed=0)
    params = sum(p.numel() for p in _model_params(data / "base_model"))
    vocab = len(tokenizer.get_vocab())  # with the special tokens, as len(tokenizer)
    print(
        f"base model: tiny Llama (hidden {config.hidden_size}, {config.num_hidden_layers} layers, "
        f"{params:,} parameters), BPE tokenizer of {vocab} tokens trained on the samples"
    )
    (opt_ml / "input" / "config").mkdir(parents=True)
    hyperparameters = {**HYPERPARAMETERS, "epochCount": str(epochs)}
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return {
        "SM_INPUT_CONFIG_DIR": str(opt_ml / "input" / "config"),
        "SM_CHANNEL_TRAIN": str(data / "train"),
        "SM_CHANNEL_VALIDATION": str(data / "validation"),
        "SM_CHANNEL_BASE_MODEL": str(data / "base_model"),
        "SM_MODEL_DIR": str(out / "model"),
        "SM_OUTPUT_DIR": str(opt_ml / "output"),
        "TRAINER_CHECKPOINT_DIR": str(opt_ml / "checkpoints"),
        "TRAINER_BEST_DIR": str(opt_ml / "best-local"),
    }


def _model_params(path: Path) -> list[Any]:
    from safetensors.torch import load_file

    return list(load_file(str(path / "model.safetensors")).values())


def report(model_dir: Path) -> bool:
    history = json.loads((model_dir / "training_history.json").read_text())["history"]
    train = [h["train_loss"] for h in history]
    val = [(h["step"], h["val_loss"]) for h in history if "val_loss" in h]
    print("\nstep  train_loss  val_loss")
    for h in history:
        if h["step"] % 5 == 0 or h["step"] == 1 or "val_loss" in h:
            v = f"{h['val_loss']:.4f}" if "val_loss" in h else ""
            print(f"{h['step']:>4}  {h['train_loss']:>10.4f}  {v:>8}")
    fell = train[-1] < train[0] and (not val or val[-1][1] < val[0][1])
    print(
        f"\ntrain loss {train[0]:.3f} -> {train[-1]:.3f}; validation loss "
        f"{val[0][1]:.3f} -> {min(v for _, v in val):.3f} (best)"
        if val
        else f"\ntrain loss {train[0]:.3f} -> {train[-1]:.3f}"
    )
    result = check_directory(model_dir)
    print(f"import check: {result.summary()}")
    print(f"loss curve: {model_dir / 'loss_curve.png'}")
    return fell and result.ready


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/local-run"))
    parser.add_argument("--nproc", type=int, default=2, help="gloo worker processes (FSDP2)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train", type=Path, default=SAMPLE / "train.jsonl")
    parser.add_argument("--validation", type=Path, default=SAMPLE / "validation.jsonl")
    args = parser.parse_args(argv)
    missing = [p for p in (args.train, args.validation) if not p.is_file()]
    if missing:
        print(f"train-local: error: no such file: {missing[0]}", file=sys.stderr)
        return 2
    if not validate(args.train, args.validation, args.epochs):
        message = "train-local: error: the data is invalid (above); nothing was trained"
        print(message, file=sys.stderr)
        return 1
    started = time.perf_counter()
    env = prepare(args.out.resolve(), args.epochs, args.train, args.validation)
    return launch(args.out.resolve(), env, args.nproc, started)


def launch(out: Path, env: dict[str, str], nproc: int, started: float) -> int:
    """Runs the container's entry point on this CPU with SageMaker's variables ``env`` and
    ``nproc`` gloo workers, then reports on ``out/model``; the process exit code."""
    os.environ.update(env)
    os.environ["TRAINER_NPROC_PER_NODE"] = str(nproc)
    # Workers must import this checkout (the package may not be pip-installed).
    root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    code = container_entry.main()
    if code != 0:
        print(f"training failed with exit code {code}", file=sys.stderr)
        return code
    ok = report(out / "model")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
