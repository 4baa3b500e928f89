"""`make train-local-vision`: a Llama 3.2 Vision run on this CPU, through the container's entry.

    python -m training_image.local_run_vision --out build/local-run-vision [--nproc 2]

Lays out /opt/ml as a SageMaker job would see it: a tiny random Mllama with its processor in
the base_model channel, generated shape images at their keys in the images channel,
Converse records that reference them by s3:// URI in train/validation, hyperparameters.json.
Then the same `train` entry point runs: torchrun, gloo workers, FSDP2, LoRA, validation,
checkpoints, merged export to OUT/model, import check. Exit 0 when the loss fell and the export
is import-ready.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from training_image.local_run import launch
from training_image.tiny_vision import (
    dataset_texts,
    vision_tokenizer,
    write_dataset,
    write_vision_base_model,
)

BUCKET = "amzn-s3-demo-bucket"
HYPERPARAMETERS = {
    "method": "lora",
    "maxSequenceLength": "128",
    "batchSize": "8",
    "learningRate": "0.01",
    "learningRateWarmupSteps": "3",
    "loraRank": "8",
    "loraAlpha": "16",
    "loraDropout": "0.0",
    "evalEverySteps": "6",
    "checkpointEverySteps": "6",
    "mixedPrecision": "fp32",
    "logEverySteps": "3",
}


def prepare(out: Path, epochs: int, train_records: int = 64) -> dict[str, str]:
    """Lay out OUT like /opt/ml and return the SM_* environment that points at it."""
    if out.exists():
        shutil.rmtree(out)
    data = out / "opt_ml" / "input" / "data"
    write_dataset(data / "train", data / "images", BUCKET, train_records, seed=1)
    write_dataset(data / "validation", data / "images", BUCKET, 16, seed=2)
    tokenizer = vision_tokenizer(dataset_texts())
    config = write_vision_base_model(data / "base_model", tokenizer, seed=0)
    print(
        f"base model: tiny Mllama (vision hidden {config.vision_config.hidden_size}, text hidden "
        f"{config.text_config.hidden_size}, cross-attention layers "
        f"{config.text_config.cross_attention_layers}), {config.image_token_index + 1} tokens"
    )
    config_dir = out / "opt_ml" / "input" / "config"
    config_dir.mkdir(parents=True)
    hyperparameters = {**HYPERPARAMETERS, "epochCount": str(epochs)}
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return {
        "SM_INPUT_CONFIG_DIR": str(config_dir),
        "SM_CHANNEL_TRAIN": str(data / "train"),
        "SM_CHANNEL_VALIDATION": str(data / "validation"),
        "SM_CHANNEL_IMAGES": str(data / "images"),
        "SM_CHANNEL_BASE_MODEL": str(data / "base_model"),
        "SM_MODEL_DIR": str(out / "model"),
        "SM_OUTPUT_DIR": str(out / "opt_ml" / "output"),
        "TRAINER_CHECKPOINT_DIR": str(out / "opt_ml" / "checkpoints"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/local-run-vision"))
    parser.add_argument("--nproc", type=int, default=2, help="gloo worker processes (FSDP2)")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    env = prepare(args.out.resolve(), args.epochs)
    return launch(args.out.resolve(), env, args.nproc, started)


if __name__ == "__main__":
    sys.exit(main())
