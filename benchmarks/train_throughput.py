"""Training throughput: our FSDP2 trainer vs the Hugging Face Trainer, same model, data, precision.

    python benchmarks/train_throughput.py [--out build/bench/train_throughput.json]   # one GPU
    python benchmarks/train_throughput.py --smoke                                      # CPU, tiny

Llama-3.2-1B-shaped model (random weights: throughput does not depend on their values), rows of
4096 tokens packed from synthetic SFT documents (30-60 % prompt, loss on the completion), bf16.
Four runs, each in a fresh process so peak memory is its own: LoRA and full fine-tuning, each by
our trainer (the container's own build/train_step) and by transformers' Trainer (+ peft for
LoRA) on the same rows. Reported: tokens/s per GPU (non-padding tokens), peak allocated memory,
MFU = model FLOPs / time / peak bf16 FLOPs, where model FLOPs count every token through every
matmul (2N forward, 2N input grads, +2N weight grads for full) plus causal attention within
each document; both trainers get the same numerator, so the MFU ratio is the throughput ratio.
Target: ours >= 1.3x the baseline's tokens/s at no more peak memory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from training_image.trainer.chat import IGNORE, Example  # noqa: E402
from training_image.trainer.packing import Rows, collate  # noqa: E402

# Dense bf16 peak FLOP/s by device name (H100 SXM: 989 TFLOP/s; H200: same compute).
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12}
SHAPES: dict[str, dict[str, Any]] = {
    # meta-llama/Llama-3.2-1B config.json
    "llama-3.2-1b": dict(
        hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, vocab_size=128256, max_position_embeddings=131072,
        rope_theta=500000.0, tie_word_embeddings=True, rms_norm_eps=1e-5,
        rope_scaling={"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    ),
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=512, max_position_embeddings=2048,
    ),
}  # fmt: skip
LORA = {"rank": 16, "alpha": 32.0}


def make_rows(seq: int, count: int, vocab: int, seed: int = 0) -> list[tuple[Example, ...]]:
    """`count` packed rows of synthetic SFT documents (log-normal lengths, mean ~700 tokens)."""
    gen = torch.Generator().manual_seed(seed)
    docs: list[Example] = []
    while sum(len(d.input_ids) for d in docs) < seq * count * 1.05:
        n = int(min(seq, max(32, math.exp(6.3 + 0.8 * float(torch.randn(1, generator=gen))))))
        prompt = int(n * (0.3 + 0.3 * float(torch.rand(1, generator=gen))))
        ids = torch.randint(10, vocab, (n,), generator=gen).tolist()
        labels = [IGNORE] * prompt + ids[prompt:]
        docs.append(Example(tuple(ids), tuple(labels)))
    rows = Rows.build(docs, seq, packing=True).rows
    return sorted(rows, key=lambda r: -sum(len(e.input_ids) for e in r))[:count]


def model_flops(rows: list[tuple[Example, ...]], cfg: dict[str, Any], method: str) -> float:
    h, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    head_dim = cfg.get("head_dim", h // cfg["num_attention_heads"])
    kv = cfg["num_key_value_heads"] * head_dim
    per_layer = h * (h + 2 * kv) + h * h + 3 * h * cfg["intermediate_size"]
    matmul = layers * per_layer + cfg["vocab_size"] * h  # lm_head
    tokens = sum(len(e.input_ids) for r in rows for e in r)
    attn_fwd = sum(2 * layers * cfg["num_attention_heads"] * head_dim * len(e.input_ids) ** 2
                   for r in rows for e in r)  # fmt: skip
    passes = 3 if method == "full" else 2  # LoRA: no weight gradients for the frozen matmuls
    return passes * 2 * matmul * tokens + 3 * attn_fwd


def _device() -> tuple[torch.device, str]:
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.cuda.get_device_name()
    return torch.device("cpu"), "cpu"


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _peak_gb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # CPU: process RSS (KB->GB)


def run_ours(args: argparse.Namespace, rows: list[tuple[Example, ...]]) -> dict[str, Any]:
    from transformers import LlamaConfig

    from training_image.trainer import runtime
    from training_image.trainer.attention import PACKED, resolve_backend
    from training_image.trainer.config import parse_hyperparameters
    from training_image.trainer.model import build, trainable
    from training_image.trainer.step import new_optimizer, train_step

    device = runtime.init()
    cfg = parse_hyperparameters({
        "method": args.method, "mixedPrecision": args.precision, "maxSequenceLength": args.seq,
        "batchSize": args.accumulation, "activationCheckpointing": "false",
        "compile": str(args.compile).lower(), "loraRank": LORA["rank"], "loraAlpha": LORA["alpha"],
        "loraDropout": 0, "learningRate": 2e-4 if args.method == "lora" else 1e-5,
    })  # fmt: skip
    backend = resolve_backend("auto", device, args.precision == "bf16")
    hf_config = LlamaConfig(**SHAPES[args.shape], attn_implementation=PACKED)
    model = build(cfg, hf_config, None, runtime.mesh("full"), device, backend)
    params = trainable(model)
    optimizer = new_optimizer(cfg, params, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(args.warmup + args.steps):
        chunk = rows[step * args.accumulation : (step + 1) * args.accumulation]
        train_step(
            model, optimizer, params, [collate([r], args.seq, 0) for r in chunk], device, 1.0
        )
        _sync()
        times.append(time.perf_counter())
    return {"times": times, "attention": backend, "compile": args.compile}


def run_hf(args: argparse.Namespace, rows: list[tuple[Example, ...]]) -> dict[str, Any]:
    import importlib.util

    from transformers import (
        AutoModelForCausalLM,
        LlamaConfig,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )  # fmt: skip

    device, _ = _device()
    flash = device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None
    attn = "flash_attention_2" if flash else "sdpa"
    bf16 = args.precision == "bf16"
    dtype = torch.bfloat16 if args.method == "lora" and bf16 else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(
            LlamaConfig(**SHAPES[args.shape]), torch_dtype=dtype, attn_implementation=attn
        )
    if args.method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=LORA["rank"], lora_alpha=LORA["alpha"], lora_dropout=0.0,
            target_modules="all-linear", task_type="CAUSAL_LM",
        ))  # fmt: skip
    # Packed rows with restarting position_ids: with flash-attn this is transformers' own
    # DataCollatorWithFlattening path (varlen, no cross-attention); with SDPA it is plain causal.
    data = []
    for row in rows:
        b = collate([row], args.seq, 0)
        data.append({"input_ids": b.input_ids[0], "labels": b.labels[0],
                     "position_ids": b.position_ids[0]})  # fmt: skip
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            _sync()
            times.append(time.perf_counter())

    class InOrder(Trainer):
        # Trainer shuffles by default; tokens/s is computed from the rows of the measured steps
        # taken in order (as ours reads them), so the baseline must read the same rows then.
        def _get_train_sampler(self, *args: Any, **kwargs: Any) -> Any:
            return torch.utils.data.SequentialSampler(self.train_dataset)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=1,
            gradient_accumulation_steps=args.accumulation, max_steps=args.warmup + args.steps,
            learning_rate=2e-4 if args.method == "lora" else 1e-5, lr_scheduler_type="cosine",
            bf16=bf16, max_grad_norm=1.0, logging_steps=10_000, save_strategy="no",
            report_to=[], disable_tqdm=True, remove_unused_columns=False,
            dataloader_num_workers=0, use_cpu=device.type == "cpu", optim="adamw_torch",
        )  # fmt: skip
        InOrder(model=model, args=training_args, train_dataset=data, callbacks=[Clock()]).train()
    return {"times": times, "attention": attn, "compile": False}


def one(args: argparse.Namespace) -> None:
    """Child process: one (trainer, method) run; prints one JSON line."""
    cfg = SHAPES[args.shape]
    rows = make_rows(args.seq, (args.warmup + args.steps) * args.accumulation, cfg["vocab_size"])
    result = (run_ours if args.trainer == "ours" else run_hf)(args, rows)
    times = result.pop("times")
    measured = rows[args.warmup * args.accumulation :]
    # Median step time x steps: one stalled step (a shared host, a GC pause) does not move it.
    durations = [
        b - a for a, b in zip(times[args.warmup - 1 :], times[args.warmup :], strict=False)
    ]
    seconds = sorted(durations)[len(durations) // 2] * len(durations)
    tokens = sum(len(e.input_ids) for r in measured for e in r)
    _, name = _device()
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    flops = model_flops(measured, cfg, args.method)
    print("RESULT " + json.dumps({
        "trainer": args.trainer, "method": args.method, "tokens_per_s_per_gpu": tokens / seconds,
        "peak_memory_gb": _peak_gb(), "mfu": flops / seconds / peak if peak else None,
        "seconds": seconds, "measured_tokens": tokens, **result,
    }), flush=True)  # fmt: skip


def child(
    args: argparse.Namespace, trainer: str, method: str, compile_: bool, runs_after: int
) -> dict[str, Any]:
    """One run in a fresh process, within what the overall time budget leaves for it."""
    cmd = [sys.executable, __file__, "--one", trainer, "--method", method, "--shape", args.shape,
           "--seq", str(args.seq), "--accumulation", str(args.accumulation), "--warmup",
           str(args.warmup), "--steps", str(args.steps), "--precision", args.precision]  # fmt: skip
    if compile_:
        cmd.append("--compile")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_PORT")}
    # Keep about a minute and a half for each run still to come (model build + 11 steps).
    left = args.deadline - time.monotonic() - 90 * runs_after
    timeout = max(30.0, min(args.timeout, left))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"trainer": trainer, "method": method, "error": f"timed out after {timeout:.0f} s"}
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return {"trainer": trainer, "method": method, "error": proc.stderr[-2000:]}
    return dict(json.loads(line[len("RESULT ") :]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shape on CPU, fp32")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "bench" / "train_throughput.json"
    )
    parser.add_argument("--one", choices=["ours", "hf"], dest="trainer", help=argparse.SUPPRESS)
    parser.add_argument("--method", choices=["lora", "full"], default="lora")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama-3.2-1b")
    parser.add_argument("--seq", type=int, default=4096)
    parser.add_argument("--accumulation", type=int, default=4, help="rows per optimizer step")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-compile", action="store_true", help="ours without torch.compile")
    parser.add_argument("--timeout", type=int, default=240, help="most seconds for one run")
    parser.add_argument("--budget", type=int, default=450, help="seconds for all runs together")
    args = parser.parse_args()
    if args.smoke:
        args.shape, args.seq, args.accumulation, args.warmup, args.steps = "tiny", 256, 2, 2, 4
        args.precision, args.no_compile = "fp32", True
    if args.trainer:
        return one(args)
    args.deadline = time.monotonic() + args.budget
    _, name = _device()
    use_compile = name != "cpu" and not args.no_compile
    results = []
    for i, method in enumerate(("lora", "full")):
        later = 3 - 2 * i
        ours = child(args, "ours", method, use_compile, later)
        if "error" in ours and use_compile:  # keep a number even if compile fails on this box
            failed = ours["error"][-500:]
            ours = child(args, "ours", method, False, later) | {"compile_error": failed}
        results += [ours, child(args, "hf", method, False, later - 1)]
        print(json.dumps(results[-2:], indent=1), flush=True)
    summary = {}
    for method in ("lora", "full"):
        ours, hf = (next(r for r in results if r["trainer"] == t and r["method"] == method)
                    for t in ("ours", "hf"))  # fmt: skip
        if "error" not in ours and "error" not in hf:
            speedup = ours["tokens_per_s_per_gpu"] / hf["tokens_per_s_per_gpu"]
            memory = ours["peak_memory_gb"] / hf["peak_memory_gb"]
            summary[method] = {"speedup": speedup, "memory_ratio": memory,
                               "target_met": speedup >= 1.3 and memory <= 1.0}  # fmt: skip
    report = {"device": name, "torch": torch.__version__, "shape": args.shape, "seq": args.seq,
              "rows_per_step": args.accumulation, "warmup_steps": args.warmup,
              "measured_steps": args.steps, "precision": args.precision, "results": results,
              "summary": summary}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
