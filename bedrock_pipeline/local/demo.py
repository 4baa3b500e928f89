"""`make demo`: the two tables of the fine-tuned-vs-base comparison on TAT-QA (answer quality and
output tokens), computed on this machine through the local workflow.

    python -m bedrock_pipeline.local.demo [--out build/demo] [--quick]

1. Generates a TAT-QA-style finance QA set (``demo_data``): train, validation, test.
2. Builds the base model: a tiny Llama (``training_image.tiny``) with a BPE tokenizer trained
   on the set's text, then trained on *verbose* answers (full sentences), so the baseline
   answers the questions, in many words.
3. Runs the container workflow in local mode (``runner.run_locally``): validate -> training
   job (the container's entry point, LoRA on *concise* answers) -> import readiness check and
   registration -> evaluation of base vs custom (transformers ``generate``, real output-token
   counts) -> report -> promotion decision -> notification.
4. Writes OUT/: test.jsonl, predictions/base.jsonl and predictions/custom.jsonl (the format
   ``bedrock-pipeline score`` reads), report.json|md|png (the evaluation step's), events.jsonl
   (the execution history), run.json, and prints both tables.

``--quick`` is the reduced demo the tests run: fewer records and steps, same path.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bedrock_pipeline.local import demo_data
from bedrock_pipeline.local.runner import LocalRun, run_locally

BUCKET = "local-demo-data"
# Our container trains registry architectures: the base is named by its architecture.
BASE_MODEL_ID = "container/llama3"
# What a deployed run would compare against: the Bedrock model the weights started from.
EVALUATION_BASE_MODEL_ID = "us.meta.llama3-2-1b-instruct-v1:0"
RUN_NAME = "demo-tatqa"


@dataclass(frozen=True)
class Size:
    pretrain: int
    train: int
    validation: int
    test: int
    base_epochs: int
    tune_epochs: int
    hidden: int
    layers: int


FULL = Size(
    pretrain=800,
    train=240,
    validation=16,
    test=48,
    base_epochs=12,
    tune_epochs=2,
    hidden=128,
    layers=2,
)
QUICK = Size(
    pretrain=320,
    train=96,
    validation=8,
    test=12,
    base_epochs=8,
    tune_epochs=2,
    hidden=64,
    layers=2,
)


def build_base_model(
    out: Path, texts: list[str], verbose_records: list[dict[str, Any]], size: Size, seed: int = 0
) -> Path:
    """A tiny Llama trained (all weights) on verbose answers; saved as a HF checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM

    from training_image.tiny import train_tokenizer, write_base_model

    torch.set_num_threads(1)  # on a shared 2-core machine one thread is several times faster
    tokenizer = train_tokenizer(iter(texts), vocab_size=768)
    write_base_model(
        out,
        "llama",
        tokenizer,
        seed=seed,
        hidden_size=size.hidden,
        intermediate_size=size.hidden * 2,
        num_hidden_layers=size.layers,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(out, torch_dtype=torch.float32)
    rows, starts = [], []
    for r in verbose_records:
        messages = [{"role": "system", "content": r["system"]}, *r["messages"]]
        rows.append(tokenizer.apply_chat_template(messages, tokenize=True))
        # The loss is on the answer only, as the container trains (prompt tokens are context).
        prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True)
        starts.append(len(prompt))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    batch = 16
    steps = size.base_epochs * ((len(rows) + batch - 1) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=steps)
    model.train()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(size.base_epochs):
        order = torch.randperm(len(rows), generator=generator).tolist()
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            width = max(len(rows[i]) for i in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            labels = torch.full((len(chunk), width), -100)
            for j, i in enumerate(chunk):
                ids[j, : len(rows[i])] = torch.tensor(rows[i])
                mask[j, : len(rows[i])] = 1
                labels[j, starts[i] : len(rows[i])] = torch.tensor(rows[i][starts[i] :])
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def run_document(size: Size) -> dict[str, Any]:
    data = f"s3://{BUCKET}/demo"
    return {
        "runName": RUN_NAME,
        "baseModelId": BASE_MODEL_ID,
        "trainer": "container",
        "trainingDataUri": f"{data}/train.jsonl",
        "validationDataUri": f"{data}/validation.jsonl",
        "container": {
            "baseWeightsUri": f"{data}/base-model/",
            "method": "lora",
            "maxRuntimeS": 3600,
            "hyperParameters": {
                "epochCount": size.tune_epochs,
                "batchSize": 4,
                "learningRate": 0.003,
                "learningRateWarmupSteps": 2,
                "maxSequenceLength": 256,
                "loraRank": 16,
                "loraAlpha": 32,
                "loraTargetModules": "all-linear",
                "mixedPrecision": "fp32",
                "evalEverySteps": 10,
                "checkpointEverySteps": 1000,
                "logEverySteps": 5,
            },
        },
        "evaluation": {
            # The Bedrock model of a deployed run; local mode answers it with the base weights.
            "baseModelId": EVALUATION_BASE_MODEL_ID,
            "testDataUri": f"{data}/test.jsonl",
            "inference": {"maxTokens": 48, "temperature": 0},
            "concurrency": 1,
        },
    }


def predictions(artifacts: Path, model: str) -> list[dict[str, Any]]:
    """The evaluation step's batch results as ``score``'s prediction lines, in test order."""
    rows: dict[int, dict[str, Any]] = {}
    for path in sorted((artifacts / "evaluation" / model).glob("batch-*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[int(row["index"])] = row
    out = []
    for index in sorted(rows):
        r = rows[index]
        if r.get("output") is None:
            out.append({"output": None, "error": str(r.get("error") or "no output")})
        else:
            out.append(
                {
                    "output": r["output"],
                    "outputTokens": r.get("outputTokens"),
                    "latencyMs": r.get("latencyMs"),
                }
            )
    return out


def tables(report: Mapping[str, Any]) -> str:
    """The two tables: answer quality per model with the gain, and output tokens."""
    base, custom = report["models"]["base"], report["models"]["custom"]

    rows = [
        ("F1", base["f1"], custom["f1"]),
        ("Exact match", base["exactMatch"], custom["exactMatch"]),
        # answerScore (metrics.answer_score): the number when the reference has one, else F1.
        ("Numeric answer score", base["answerScore"], custom["answerScore"]),
    ]
    lines = ["| metric | base | custom | gain |", "|---|---|---|---|"]
    for name, b, c in rows:
        lines.append(f"| {name} | {b:.1%} | {c:.1%} | {c - b:+.1%} |")
    bt, ct = base["outputTokens"], custom["outputTokens"]
    lines += ["", "| output tokens | base | custom | reduced |", "|---|---|---|---|"]
    for key in ("mean", "median", "std", "min", "max"):
        reduced = 1 - ct[key] / bt[key] if bt[key] else 0.0
        lines.append(f"| {key} | {bt[key]:.1f} | {ct[key]:.1f} | {reduced:.0%} |")
    return "\n".join(lines)


def main(
    argv: list[str] | None = None,
    *,
    templates: Mapping[str, dict[str, Any]] | None = None,
    say: Callable[[str], None] = print,
) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/demo"))
    parser.add_argument("--quick", action="store_true", help="the reduced demo (tests)")
    parser.add_argument("--nproc", type=int, default=1, help="training processes (gloo)")
    parser.add_argument("--assembly", type=Path, help="synthesized templates (default: synth)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    started = time.perf_counter()
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    files = out / "files" / BUCKET / "demo"
    sets = demo_data.splits(size.train, size.validation, size.test, size.pretrain)
    for name, rows in (("train", sets.train), ("validation", sets.validation)):
        demo_data.write_jsonl(files / f"{name}.jsonl", [demo_data.as_record(q) for q in rows])
    test = [demo_data.as_record(q) for q in sets.test]
    demo_data.write_jsonl(files / "test.jsonl", test)
    demo_data.write_jsonl(out / "test.jsonl", test)
    verbose = [demo_data.as_record(q, verbose=True) for q in sets.pretrain]
    texts = [
        t
        for q in sets.pretrain + sets.train
        for t in (demo_data.SYSTEM, q.user, q.concise, q.verbose)
    ]
    say(f"data: {len(sets.train)} train, {len(sets.validation)} validation, {len(sets.test)} test")
    build_base_model(out / "base-model", texts, verbose, size)
    shutil.copytree(out / "base-model", files / "base-model")
    took = time.perf_counter() - started
    say(f"base model: trained on {len(verbose)} verbose answers ({took:.0f} s)")
    if templates is None and args.assembly is not None:
        from bedrock_pipeline.local.runner import read_templates

        templates = read_templates(args.assembly)
    if templates is None:
        import tempfile

        from bedrock_pipeline.local.runner import synthesize_templates

        with tempfile.TemporaryDirectory(prefix="bcp-demo-synth-") as synth:
            templates = synthesize_templates("dev", Path(synth))
    document = run_document(size)
    (out / "run-document.json").write_text(json.dumps(document, indent=2) + "\n")
    result: LocalRun = run_locally(
        document,
        templates=templates,
        out=out / "run",
        files=out / "files",
        weights={demo_data_base_id(): out / "base-model"},
        nproc=args.nproc,
        say=say,
    )
    return finish(out, result, started, say)


def demo_data_base_id() -> str:
    from bedrock_pipeline.run_spec import inference_model_id

    return inference_model_id(BASE_MODEL_ID)


def finish(out: Path, result: LocalRun, started: float, say: Callable[[str], None]) -> int:
    artifacts = out / "run" / "artifacts"
    for name in ("report.json", "report.md", "report.png"):
        source = artifacts / "evaluation" / name
        if source.is_file():
            shutil.copy2(source, out / name)
    shutil.copy2(out / "run" / "events.jsonl", out / "events.jsonl")
    shutil.copy2(out / "run" / "run.json", out / "run.json")
    (out / "predictions").mkdir(exist_ok=True)
    for model in ("base", "custom"):
        demo_data.write_jsonl(out / "predictions" / f"{model}.jsonl", predictions(artifacts, model))
    elapsed = time.perf_counter() - started
    say(f"run {result.summary['runName']}: {result.status}, outcome {result.outcome}")
    if result.status != "SUCCEEDED" or not (out / "report.json").is_file():
        say(f"  {result.summary.get('error')}: {result.summary.get('cause')}")
        return 1
    report = json.loads((out / "report.json").read_text())
    say(tables(report))
    say(f"\nwall time: {elapsed:.0f} s; outputs in {out}/")
    (out / "tables.md").write_text(tables(report) + f"\n\nwall time: {elapsed:.0f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
