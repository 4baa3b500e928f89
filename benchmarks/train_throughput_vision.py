"""Vision LoRA throughput: our FSDP2 Mllama path vs transformers + peft, same model and batches.

    python benchmarks/train_throughput_vision.py [--out build/bench/train_throughput_vision.json]
    python benchmarks/train_throughput_vision.py --smoke     # CPU, tiny shape, fp32

Llama-3.2-11B-Vision-shaped MllamaForConditionalGeneration (config.json of
meta-llama/Llama-3.2-11B-Vision-Instruct, random weights), LoRA rank 16 on the decoder's
linears (cross-attention excluded, vision tower frozen), bf16, rows of `--seq` tokens holding
one 560 px image (4 tiles) and an SFT-style answer on the second half. Each trainer runs in a
fresh process so peak memory is its own; reported: non-padding tokens/s, peak memory, and the
ratios ours / baseline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

SHAPES: dict[str, dict[str, Any]] = {
    "llama-3.2-11b-vision": {
        "vision_config": dict(
            hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_global_layers=8,
            attention_heads=16, image_size=560, patch_size=14, max_num_tiles=4,
            vision_output_dim=7680, intermediate_layers_indices=[3, 7, 15, 23, 30],
        ),
        "text_config": dict(
            hidden_size=4096, intermediate_size=14336, num_hidden_layers=40,
            num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
            cross_attention_layers=[3, 8, 13, 18, 23, 28, 33, 38], rope_theta=500000.0,
            rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        ),
        "image_token_index": 128256,
    },
    "tiny": {
        "vision_config": dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_global_layers=1,
            attention_heads=2, image_size=28, patch_size=7, max_num_tiles=2,
            vision_output_dim=64, intermediate_layers_indices=[0],
            supported_aspect_ratios=[[1, 1], [1, 2], [2, 1]],
        ),
        "text_config": dict(
            hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=512, cross_attention_layers=[1], pad_token_id=0,
            bos_token_id=1, eos_token_id=2,
            rope_scaling={"rope_type": "default"},
        ),
        "image_token_index": 512,
    },
}  # fmt: skip


def batches(cfg: Any, seq: int, rows: int, count: int) -> list[Any]:
    """`count` VisionBatches of `rows` rows: image token first, labels on the second half."""
    from training_image.trainer.chat import IGNORE
    from training_image.trainer.vision_batch import VisionBatch

    v, t = cfg.vision_config, cfg.text_config
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(count):
        ids = torch.randint(0, t.vocab_size, (rows, seq), generator=gen)
        ids[:, 1] = cfg.image_token_index
        labels = ids.clone()
        labels[:, : seq // 2] = IGNORE
        tiles = v.max_num_tiles
        cross = torch.ones(rows, seq, 1, tiles, dtype=torch.long)
        cross[:, :1] = 0  # the bos token precedes the image
        out.append(VisionBatch(
            input_ids=ids, labels=labels, attention_mask=torch.ones_like(ids),
            pixel_values=torch.randn(rows, 1, tiles, 3, v.image_size, v.image_size, generator=gen),
            aspect_ratio_ids=torch.ones(rows, 1, dtype=torch.long),
            aspect_ratio_mask=torch.ones(rows, 1, tiles, dtype=torch.long),
            cross_attention_mask=cross,
            label_tokens=int((labels[:, 1:] != IGNORE).sum()), real_tokens=rows * seq,
        ))  # fmt: skip
    return out


def run_ours(args: argparse.Namespace, cfg: Any, data: list[Any]) -> list[float]:
    from training_image.trainer import runtime, vision
    from training_image.trainer.config import parse_hyperparameters
    from training_image.trainer.model import trainable
    from training_image.trainer.step import new_optimizer, train_step

    device = runtime.init()
    hp = parse_hyperparameters({
        "method": "lora", "mixedPrecision": args.precision, "maxSequenceLength": args.seq,
        "batchSize": 1, "loraRank": 16, "loraAlpha": 32, "loraDropout": 0,
        "activationCheckpointing": "true",
    })  # fmt: skip
    model = vision.build(hp, cfg, None, runtime.mesh("full"), device)
    params = trainable(model)
    optimizer = new_optimizer(hp, params, device)
    times = []
    for batch in data:
        train_step(model, optimizer, params, [batch], device, 1.0)
        _sync()
        times.append(time.perf_counter())
    return times


def run_baseline(args: argparse.Namespace, cfg: Any, data: list[Any]) -> list[float]:
    from peft import LoraConfig, get_peft_model
    from transformers import MllamaForConditionalGeneration

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    with torch.device(device):
        model = MllamaForConditionalGeneration._from_config(
            cfg, torch_dtype=dtype, attn_implementation="sdpa"
        )
    model.gradient_checkpointing_enable()
    model.enable_input_require_grads()
    targets = r".*language_model.*\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    times = []
    for batch in data:
        b = batch.to(device)
        loss = model(
            input_ids=b.input_ids, attention_mask=b.attention_mask, labels=b.labels,
            pixel_values=b.pixel_values.to(dtype), aspect_ratio_ids=b.aspect_ratio_ids,
            aspect_ratio_mask=b.aspect_ratio_mask, cross_attention_mask=b.cross_attention_mask,
        ).loss  # fmt: skip
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync()
        times.append(time.perf_counter())
    return times


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def one(args: argparse.Namespace) -> None:
    from transformers import MllamaConfig

    cfg = MllamaConfig(**SHAPES[args.shape])
    data = batches(cfg, args.seq, args.rows, args.warmup + args.steps)
    times = (run_ours if args.one == "ours" else run_baseline)(args, cfg, data)
    steps = [b - a for a, b in zip(times[args.warmup - 1 :], times[args.warmup :], strict=False)]
    seconds = sorted(steps)[len(steps) // 2] * len(steps)
    peak = torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else None
    tokens = args.rows * args.seq * len(steps)
    print("RESULT " + json.dumps({"trainer": args.one, "tokens_per_s": tokens / seconds,
                                  "peak_memory_gb": peak}), flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build/bench/train_throughput_vision.json"
    )
    parser.add_argument("--one", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama-3.2-11b-vision")
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--rows", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--timeout", type=int, default=280)
    args = parser.parse_args()
    if args.smoke:
        args.shape, args.seq, args.rows, args.warmup, args.steps = "tiny", 128, 2, 1, 3
        args.precision = "fp32"
    if args.one:
        return one(args)
    results = []
    for trainer in ("ours", "baseline"):
        cmd = [sys.executable, __file__, "--one", trainer, "--shape", args.shape, "--seq",
               str(args.seq), "--rows", str(args.rows), "--warmup", str(args.warmup),
               "--steps", str(args.steps), "--precision", args.precision]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            results.append({"trainer": trainer, "error": f"timed out after {args.timeout} s"})
            continue
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        failed = {"trainer": trainer, "error": proc.stderr[-2000:]}
        results.append(json.loads(line[len("RESULT ") :]) if line else failed)
    ours, base = results
    summary = {}
    if "error" not in ours and "error" not in base:
        summary["speedup"] = ours["tokens_per_s"] / base["tokens_per_s"]
        if ours["peak_memory_gb"] and base["peak_memory_gb"]:
            summary["memory_ratio"] = ours["peak_memory_gb"] / base["peak_memory_gb"]
    report = {"shape": args.shape, "seq": args.seq, "rows": args.rows, "precision": args.precision,
              "results": results, "summary": summary}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
