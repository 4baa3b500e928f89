"""The two sides of benchmarks/train_throughput.py, each configured from one `Setup`.

Like for like: both trainers get the same rows, the same attention kernel with the same
document masking (ours: the container's packed kernels; transformers: its own flash / flex /
SDPA path fed the packed layout), the same compile setting, precision policy and activation
checkpointing. Each run reports what it actually used; the driver refuses a ratio when any of
it differs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from training_image.trainer.chat import IGNORE, Example
from training_image.trainer.packing import Rows, collate

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
# transformers' attn_implementation for each of our kernels, and how it is told the documents.
HF_ATTENTION = {"flash": "flash_attention_2", "flex": "flex_attention", "sdpa": "sdpa"}


@dataclass(frozen=True)
class Setup:
    method: str  # lora | full
    shape: str
    seq: int
    accumulation: int  # rows per optimizer step
    warmup: int
    steps: int
    precision: str  # bf16 | fp32
    compile: bool
    activation_checkpointing: bool


def precision_policy(setup: Setup) -> str:
    """The precision policy both sides implement, as one label."""
    if setup.precision == "fp32":
        return "fp32"
    if setup.method == "lora":
        return "base bf16, adapters fp32, bf16 matmuls, fp32 grads"
    return "weights fp32, bf16 matmuls, fp32 grads"


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


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_ours(setup: Setup, rows: list[tuple[Example, ...]]) -> dict[str, Any]:
    from transformers import LlamaConfig

    from training_image.trainer import runtime
    from training_image.trainer.attention import PACKED, resolve_backend
    from training_image.trainer.config import parse_hyperparameters
    from training_image.trainer.model import build, trainable
    from training_image.trainer.step import new_optimizer, train_step

    dev = runtime.init()
    cfg = parse_hyperparameters({
        "method": setup.method, "mixedPrecision": setup.precision,
        "maxSequenceLength": setup.seq, "batchSize": setup.accumulation,
        "activationCheckpointing": str(setup.activation_checkpointing).lower(),
        "compile": str(setup.compile).lower(), "loraRank": LORA["rank"],
        "loraAlpha": LORA["alpha"], "loraDropout": 0,
        "learningRate": 2e-4 if setup.method == "lora" else 1e-5,
    })  # fmt: skip
    backend = resolve_backend("auto", dev, setup.precision == "bf16")
    hf_config = LlamaConfig(**SHAPES[setup.shape], attn_implementation=PACKED)
    model = build(cfg, hf_config, None, runtime.mesh("full"), dev, backend)
    params = trainable(model)
    optimizer = new_optimizer(cfg, params, dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(setup.warmup + setup.steps):
        chunk = rows[step * setup.accumulation : (step + 1) * setup.accumulation]
        batches = [collate([r], setup.seq, 0) for r in chunk]
        train_step(model, optimizer, params, batches, dev, 1.0)
        sync()
        times.append(time.perf_counter())
    return {"times": times, "attention": backend}


def hf_example(row: tuple[Example, ...], seq: int, backend: str) -> dict[str, torch.Tensor]:
    """One packed row as transformers' own document-masked path for `backend` reads it.

    flash: position ids restart per document and no attention mask (varlen from positions, as
    DataCollatorWithFlattening feeds it); flex: the 2-D mask holds 1-based document ids, 0 for
    padding (make_flex_block_causal_mask); sdpa: a 4-D boolean document mask, passed through.
    """
    b = collate([row], seq, 0)
    item = {"input_ids": b.input_ids[0], "labels": b.labels[0], "position_ids": b.position_ids[0]}
    if backend == "flex":
        mask = b.doc_ids[0].long() + 1
        mask[b.real_tokens :] = 0  # one row: its documents back to back, then padding
        item["attention_mask"] = mask
    elif backend == "sdpa":
        from training_image.trainer.attention import dense_document_mask

        item["attention_mask"] = dense_document_mask(b.doc_ids)[0]
    return item


def run_hf(setup: Setup, rows: list[tuple[Example, ...]], backend: str) -> dict[str, Any]:
    from transformers import (
        AutoModelForCausalLM,
        LlamaConfig,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )  # fmt: skip

    dev = device()
    bf16 = setup.precision == "bf16"
    # Same storage as ours: LoRA's frozen base in bf16, full fine-tuning's weights in fp32.
    dtype = torch.bfloat16 if setup.method == "lora" and bf16 else torch.float32
    with torch.device(dev):
        model = AutoModelForCausalLM.from_config(
            LlamaConfig(**SHAPES[setup.shape]), torch_dtype=dtype,
            attn_implementation=HF_ATTENTION[backend],
        )  # fmt: skip
    if setup.method == "lora":
        from peft import LoraConfig, get_peft_model

        # peft keeps the adapters in fp32 (autocast_adapter_dtype), as ours does.
        model = get_peft_model(model, LoraConfig(
            r=LORA["rank"], lora_alpha=LORA["alpha"], lora_dropout=0.0,
            target_modules="all-linear", task_type="CAUSAL_LM",
        ))  # fmt: skip
    data = [hf_example(row, setup.seq, backend) for row in rows]
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            sync()
            times.append(time.perf_counter())

    class InOrder(Trainer):
        # Trainer shuffles by default; the measured steps must read the rows ours reads.
        def _get_train_sampler(self, *args: Any, **kwargs: Any) -> Any:
            return torch.utils.data.SequentialSampler(self.train_dataset)

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=1,
            gradient_accumulation_steps=setup.accumulation,
            max_steps=setup.warmup + setup.steps,
            learning_rate=2e-4 if setup.method == "lora" else 1e-5, lr_scheduler_type="cosine",
            bf16=bf16, max_grad_norm=1.0, logging_steps=10_000, save_strategy="no",
            report_to=[], disable_tqdm=True, remove_unused_columns=False,
            dataloader_num_workers=0, use_cpu=dev.type == "cpu", optim="adamw_torch",
            torch_compile=setup.compile,
            gradient_checkpointing=setup.activation_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )  # fmt: skip
        InOrder(model=model, args=args, train_dataset=data, callbacks=[Clock()]).train()
    return {"times": times, "attention": backend}
