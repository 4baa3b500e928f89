"""The input files of the example run documents in ``examples/local/``, built here.

    python -m bedrock_pipeline.local.examples OUT

Writes ``OUT/local-examples/`` as ``--files OUT`` serves it: ``qa/train.jsonl``,
``qa/validation.jsonl``, ``qa/test.jsonl`` (the generated finance QA set of ``demo_data``) and
two tiny Llama checkpoints, ``weights/base/`` and ``weights/tuned/`` (random weights, a
tokenizer trained on the set: nothing is downloaded); for ``vision.json``, Converse records with
images (``vision/{train,validation,test}/data.jsonl``), the generated shape
images they name (``shapes/*.png``) and a tiny Llama 3.2 Vision checkpoint with its processor
(``weights/vision/``). Then, for example::

    bedrock-pipeline local start examples/local/import.json --files OUT \\
        --model container/llama3=OUT/local-examples/weights/base
"""

from __future__ import annotations

import sys
from pathlib import Path

from bedrock_pipeline.local import demo_data

BUCKET = "local-examples"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "local"


def build_files(out: Path, *, train: int = 48, test: int = 6) -> Path:
    """The files folder for the examples; returns the base weights' directory."""
    from training_image.tiny import train_tokenizer, write_base_model

    root = out / BUCKET
    sets = demo_data.splits(train, 8, test, 0, seed=11)
    for name, rows in (("train", sets.train), ("validation", sets.validation), ("test", sets.test)):
        demo_data.write_jsonl(root / "qa" / f"{name}.jsonl", [demo_data.as_record(q) for q in rows])
    texts = [t for q in sets.train for t in (demo_data.SYSTEM, q.user, q.concise, q.verbose)]
    tokenizer = train_tokenizer(iter(texts), vocab_size=512)
    for seed, name in ((0, "base"), (1, "tuned")):
        write_base_model(root / "weights" / name, "llama", tokenizer, seed=seed)
    build_vision_files(root)
    return root / "weights" / "base"


def build_vision_files(root: Path, *, train: int = 24, validation: int = 8, test: int = 4) -> None:
    """``vision.json``'s records (training, validation and the evaluation's test set), the
    images they name (at their keys under ``root``, the bucket) and the tiny Mllama base
    checkpoint."""
    from training_image.tiny_vision import (
        dataset_texts,
        vision_tokenizer,
        write_dataset,
        write_vision_base_model,
    )

    write_dataset(root / "vision" / "train", root, BUCKET, train, seed=1)
    write_dataset(root / "vision" / "validation", root, BUCKET, validation, seed=2)
    write_dataset(root / "vision" / "test", root, BUCKET, test, seed=3)
    write_vision_base_model(root / "weights" / "vision", vision_tokenizer(dataset_texts()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    base = build_files(Path(sys.argv[1]))
    root = base.parents[1]
    print(f"wrote {root}:")
    print("  qa/{train,validation,test}.jsonl           the finance QA set")
    print(f"  weights/base, weights/tuned                tiny Llama checkpoints ({base})")
    print("  vision/{train,validation,test}/data.jsonl  Converse records with images (vision.json)")
    print("  shapes/*.png                               the images they name")
    print("  weights/vision                             a tiny Llama 3.2 Vision checkpoint")
