"""`make train-local`: the container's job on this CPU, through the container's entry point.

    python -m training_image.local_run --out build/local-run [--nproc 2] [--epochs 3]

Builds what a SageMaker job would find under /opt/ml (a tiny Llama base checkpoint with a BPE
tokenizer trained here on the sample data, the train/validation channels, hyperparameters.json),
points the SM_* variables at it, and calls the same `train` entry point: torchrun, N gloo
workers, FSDP2, LoRA, validation, checkpoints, merged export to OUT/model, import check.
Nothing is downloaded. Exit 0 when the loss fell and the export is import-ready.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bedrock_pipeline.import_check import check_directory
from training_image.tiny import jsonl_texts, train_tokenizer, write_base_model
from training_image.trainer import __main__ as container_entry

SAMPLE = Path(__file__).resolve().parent / "sample_data"
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


def prepare(out: Path, epochs: int) -> dict[str, str]:
    """Lay out OUT like /opt/ml and return the SM_* environment that points at it."""
    if out.exists():
        shutil.rmtree(out)  # a leftover checkpoint would make this run resume instead
    opt_ml = out / "opt_ml"
    data = opt_ml / "input" / "data"
    for channel, name in (("train", "train.jsonl"), ("validation", "validation.jsonl")):
        (data / channel).mkdir(parents=True)
        shutil.copy2(SAMPLE / name, data / channel / name)
    tokenizer = train_tokenizer(jsonl_texts([SAMPLE / "train.jsonl"]))
    config = write_base_model(data / "base_model", "llama", tokenizer, seed=0)
    params = sum(p.numel() for p in _model_params(data / "base_model"))
    print(
        f"base model: tiny Llama (hidden {config.hidden_size}, {config.num_hidden_layers} layers, "
        f"{params:,} parameters), BPE tokenizer of {len(tokenizer)} tokens trained on the samples"
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
    }


def _model_params(path: Path) -> list:  # type: ignore[type-arg]
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
    args = parser.parse_args(argv)
    started = time.perf_counter()
    env = prepare(args.out.resolve(), args.epochs)
    os.environ.update(env)
    os.environ["TRAINER_NPROC_PER_NODE"] = str(args.nproc)
    # Workers must import this checkout (the package may not be pip-installed).
    root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    code = container_entry.main()
    if code != 0:
        print(f"training failed with exit code {code}", file=sys.stderr)
        return code
    ok = report(args.out.resolve() / "model")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
