"""Training throughput: our FSDP2 trainer vs the Hugging Face Trainer, like for like.

    python benchmarks/train_throughput.py          # one GPU, < 8 min: table + JSON
    python benchmarks/train_throughput.py --smoke  # CPU, tiny shape (make bench)

Llama-3.2-1B-shaped model (random weights: throughput does not depend on their values), rows of
4096 tokens packed from synthetic SFT documents (30-60 % prompt, loss on the completion), bf16.
Four runs, each in a fresh process so peak memory is its own: LoRA and full fine-tuning, each by
our trainer (the container's own build/train_step) and by transformers' Trainer (+ peft for
LoRA) on the same rows, with the same attention kernel and document masking (flash-attn varlen
when installed, else FlexAttention; SDPA with a dense document mask on CPU), the same compile
setting, precision policy and activation checkpointing (train_runs.py). Every result records
them; a method's ratio is reported only when both sides match (`like_for_like`).
Reported: tokens/s per GPU (non-padding tokens), peak allocated memory, MFU = model FLOPs /
time / the device's dense bf16 peak (PEAK_BF16, by exact device name), where model FLOPs count
every token through every matmul (2N forward, 2N input grads, +2N weight grads for full) plus
causal attention within each document. Target: ours >= 1.3x the baseline's tokens/s at no more
peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from train_runs import (  # noqa: E402
    SHAPES,
    Setup,
    make_rows,
    precision_policy,
    run_hf,
    run_ours,
)

from training_image.trainer.chat import Example  # noqa: E402

# Dense (not sparse) bf16 tensor-core peak per GPU, from NVIDIA's datasheets (H100: SXM5 989.5,
# PCIe 756.5, NVL 835.5 TFLOP/s; H200: SXM 989.5, NVL 835.5; A100 312; L40S 362.05). Matched on
# torch.cuda.get_device_name(), most specific pattern first; an unknown device gets no MFU.
PEAK_BF16: tuple[tuple[str, str, float], ...] = (
    (r"H100.*PCIe", "H100 PCIe", 756.5e12),
    (r"H100 NVL", "H100 NVL", 835.5e12),
    (r"H100", "H100 SXM5", 989.5e12),
    (r"H200 NVL", "H200 NVL", 835.5e12),
    (r"H200", "H200 SXM", 989.5e12),
    (r"A100", "A100", 312e12),
    (r"L40S", "L40S", 362.05e12),
)
LIKE_FOR_LIKE = ("attention", "document_masking", "compile", "precision",
                 "activation_checkpointing")  # fmt: skip


def peak_flops(name: str) -> tuple[str, float] | None:
    for pattern, label, peak in PEAK_BF16:
        if re.search(pattern, name):
            return label, peak
    return None


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


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def _peak_gb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # CPU: process RSS (KB->GB)


def one(trainer: str, setup: Setup, hf_attention: str | None) -> None:
    """Child process: one (trainer, method) run; prints one JSON line."""
    cfg = SHAPES[setup.shape]
    rows = make_rows(setup.seq, (setup.warmup + setup.steps) * setup.accumulation,
                     cfg["vocab_size"])  # fmt: skip
    if trainer == "ours":
        result = run_ours(setup, rows)
    else:
        result = run_hf(setup, rows, hf_attention or "sdpa")
    times = result.pop("times")
    measured = rows[setup.warmup * setup.accumulation :]
    # Median step time x steps: one stalled step (a shared host, a GC pause) does not move it.
    durations = [b - a for a, b in zip(times[setup.warmup - 1 :], times[setup.warmup :],
                                        strict=False)]  # fmt: skip
    seconds = sorted(durations)[len(durations) // 2] * len(durations)
    tokens = sum(len(e.input_ids) for r in measured for e in r)
    peak = peak_flops(device_name())
    flops = model_flops(measured, cfg, setup.method)
    print("RESULT " + json.dumps({
        "trainer": trainer, "method": setup.method, "tokens_per_s_per_gpu": tokens / seconds,
        "peak_memory_gb": _peak_gb(), "mfu": flops / seconds / peak[1] if peak else None,
        "seconds": seconds, "measured_tokens": tokens, "attention": result["attention"],
        "document_masking": True, "compile": setup.compile,
        "precision": precision_policy(setup),
        "activation_checkpointing": setup.activation_checkpointing,
    }), flush=True)  # fmt: skip


def child(args: argparse.Namespace, trainer: str, setup: Setup, runs_after: int,
          hf_attention: str | None = None) -> dict[str, Any]:  # fmt: skip
    """One run in a fresh process, within what the overall time budget leaves for it."""
    cmd = [sys.executable, __file__, "--one", trainer, "--setup", json.dumps(asdict(setup))]
    if hf_attention:
        cmd += ["--hf-attention", hf_attention]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_PORT")}
    # Keep about a minute and a half for each run still to come (model build + 11 steps).
    left = args.deadline - time.monotonic() - 90 * runs_after
    timeout = max(30.0, min(args.timeout, left))
    failed = {"trainer": trainer, "method": setup.method}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return failed | {"error": f"timed out after {timeout:.0f} s"}
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return failed | {"error": proc.stderr[-2000:]}
    return dict(json.loads(line[len("RESULT ") :]))


def compare(ours: dict[str, Any], hf: dict[str, Any]) -> dict[str, Any]:
    """Ratios only when both ran and used the same kernel, masking, compile, precision, AC."""
    if "error" in ours or "error" in hf:
        return {"like_for_like": False, "why": "a run failed"}
    differ = [k for k in LIKE_FOR_LIKE if ours.get(k) != hf.get(k)]
    if differ:
        return {"like_for_like": False, "why": f"differ in {', '.join(differ)}"}
    speedup = ours["tokens_per_s_per_gpu"] / hf["tokens_per_s_per_gpu"]
    memory = ours["peak_memory_gb"] / hf["peak_memory_gb"]
    return {"like_for_like": True, "speedup": speedup, "memory_ratio": memory,
            "target_met": speedup >= 1.3 and memory <= 1.0}  # fmt: skip


def table(results: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    head = f"{'run':<12} {'tokens/s/GPU':>12} {'peak GB':>8} {'MFU':>6}  attention  compile  AC"
    lines = [head, "-" * len(head)]
    for r in results:
        name = f"{r['trainer']} {r['method']}"
        if "error" in r:
            lines.append(f"{name:<12} failed: {r['error'].strip().splitlines()[-1][:60]}")
            continue
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        lines.append(f"{name:<12} {r['tokens_per_s_per_gpu']:>12,.0f} {r['peak_memory_gb']:>8.2f}"
                     f" {mfu:>6}  {r['attention']:<9}  {r['compile']!s:<7}  "
                     f"{r['activation_checkpointing']}")  # fmt: skip
    for method, s in summary.items():
        if s["like_for_like"]:
            lines.append(f"{method}: ours/HF tokens/s {s['speedup']:.2f}x, peak memory "
                         f"{s['memory_ratio']:.2f}x, target met: {s['target_met']}")  # fmt: skip
        else:
            lines.append(f"{method}: no ratio ({s['why']})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shape on CPU, fp32")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "bench" / "train_throughput.json"
    )
    parser.add_argument("--one", choices=["ours", "hf"], dest="trainer", help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    parser.add_argument("--hf-attention", help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama-3.2-1b")
    parser.add_argument("--seq", type=int, default=4096)
    parser.add_argument("--accumulation", type=int, default=4, help="rows per optimizer step")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--compile", action="store_true", help="torch.compile on both sides")
    parser.add_argument("--activation-checkpointing", action="store_true", help="on both sides")
    parser.add_argument("--timeout", type=int, default=240, help="most seconds for one run")
    parser.add_argument("--budget", type=int, default=450, help="seconds for all runs together")
    args = parser.parse_args()
    if args.trainer:
        setup = Setup(**json.loads(args.setup))
        return one(args.trainer, setup, args.hf_attention)
    if args.smoke:
        args.shape, args.seq, args.accumulation, args.warmup, args.steps = "tiny", 256, 2, 2, 4
        args.precision = "fp32"
    args.deadline = time.monotonic() + args.budget
    results, summary = [], {}
    for i, method in enumerate(("lora", "full")):
        setup = Setup(method, args.shape, args.seq, args.accumulation, args.warmup, args.steps,
                      args.precision, args.compile, args.activation_checkpointing)  # fmt: skip
        later = 3 - 2 * i
        ours = child(args, "ours", setup, later)
        # The baseline uses the kernel ours resolved to (flash-attn if installed, else flex).
        hf = child(args, "hf", setup, later - 1, ours.get("attention", "sdpa"))
        results += [ours, hf]
        summary[method] = compare(ours, hf)
        print(json.dumps([ours, hf], indent=1), flush=True)
    name = device_name()
    peak = peak_flops(name)
    report = {"device": name, "peak_bf16_flops": peak[1] if peak else None,
              "peak_source": peak[0] if peak else "unknown device: no MFU",
              "torch": torch.__version__, "setup": {f.name: getattr(setup, f.name)
                                                    for f in fields(Setup) if f.name != "method"},
              "results": results, "summary": summary}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(table(results, summary))
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
