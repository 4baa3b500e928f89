"""Export for Bedrock Custom Model Import: merged bf16 weights in sharded safetensors + configs.

The export is the last step of every run, not an option: LoRA is merged (W + alpha/r * B @ A in
fp32) as it is written, so the output is a plain transformers checkpoint that loads with
transformers 4.51.3 and imports into Bedrock, which takes no adapters.
Weights are gathered one tensor at a time (a collective every rank joins in the same order) and
rank 0 streams them into shards of at most `shard_mb`: a full state dict of a 70B model is never
held anywhere, and no collective waits on a minutes-long gather.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn
from torch.distributed.tensor import DTensor
from transformers import GenerationConfig

from training_image.trainer import runtime
from training_image.trainer.hf import config_of
from training_image.trainer.lora import LORA_A, LORA_B, LoRALinear, merged_weight
from training_image.trainer.model import clean_name

EXPORT_DTYPE = torch.bfloat16
# End-of-turn markers of the chat templates: generation must stop there, not only at eos.
END_OF_TURN_TOKENS = ("<|eot_id|>", "<|im_end|>")
# Files copied from the base model when present (tokenizer.model: sentencepiece tokenizers).
COPY_FROM_BASE = ("tokenizer.model",)


def _full(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if isinstance(t, DTensor) else t


def merged_tensors(
    lm: nn.Module, dtype: torch.dtype = EXPORT_DTYPE
) -> Iterator[tuple[str, torch.Tensor]]:
    """(HF name, full tensor in export dtype) in a fixed order; collective for DTensors."""
    lora = {clean_name(n): m for n, m in lm.named_modules() if isinstance(m, LoRALinear)}
    for raw, param in lm.named_parameters():
        name = clean_name(raw)
        owner, _, leaf = name.rpartition(".")
        module_name, _, part = owner.rpartition(".")
        if module_name in lora and part in (LORA_A, LORA_B):
            continue  # folded into the base weight below
        if module_name in lora and part == "base":
            mod = lora[module_name]
            full = _full(param.detach())
            if leaf == "weight":
                a, b = _full(mod.lora_a.weight.detach()), _full(mod.lora_b.weight.detach())
                full = merged_weight(full, a, b, mod.scaling, dtype)
            yield f"{module_name}.{leaf}", full.to(dtype)
            continue
        yield name, _full(param.detach()).to(dtype)


class _ShardWriter:
    def __init__(self, out: Path, max_bytes: int) -> None:
        self.out, self.max_bytes = out, max_bytes
        self.pending: dict[str, torch.Tensor] = {}
        self.size = 0
        self.files: list[tuple[str, list[str]]] = []
        self.total = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        nbytes = tensor.numel() * tensor.element_size()
        if self.pending and self.size + nbytes > self.max_bytes:
            self.flush()
        self.pending[name] = tensor.contiguous().cpu()
        self.size += nbytes
        self.total += nbytes

    def flush(self) -> None:
        tmp = f"shard-{len(self.files):05d}.tmp"
        save_file(self.pending, str(self.out / tmp), metadata={"format": "pt"})
        self.files.append((tmp, list(self.pending)))
        self.pending, self.size = {}, 0

    def finish(self) -> list[str]:
        if self.pending:
            self.flush()
        count = len(self.files)
        if count == 1:
            (self.out / self.files[0][0]).replace(self.out / "model.safetensors")
            return ["model.safetensors"]
        weight_map, names = {}, []
        for i, (tmp, keys) in enumerate(self.files, start=1):
            final = f"model-{i:05d}-of-{count:05d}.safetensors"
            (self.out / tmp).replace(self.out / final)
            weight_map.update(dict.fromkeys(keys, final))
            names.append(final)
        index = {"metadata": {"total_size": self.total}, "weight_map": weight_map}
        (self.out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        return names


def export(
    lm: nn.Module,
    tokenizer: Any,
    out: Path,
    base_dir: Path | None,
    shard_bytes: int = 5000 * 1024**2,
    dtype: torch.dtype = EXPORT_DTYPE,
    processor: Any = None,
) -> list[str]:
    """Collective: every rank calls it; rank 0 writes `out` and returns the weight files.

    `processor` (vision models): also written, so preprocessor_config.json and the chat
    template travel with the weights.
    """
    main = runtime.is_main()
    writer = _ShardWriter(out, shard_bytes) if main else None
    if main:
        out.mkdir(parents=True, exist_ok=True)
    for name, tensor in merged_tensors(lm, dtype):
        if writer is not None:
            writer.add(name, tensor)
    if writer is None:
        return []
    files = writer.finish()
    _write_configs(lm, tokenizer, out, base_dir, dtype)
    if processor is not None:
        processor.save_pretrained(out)
    return files


def _write_configs(
    lm: nn.Module, tokenizer: Any, out: Path, base_dir: Path | None, dtype: torch.dtype
) -> None:
    trained = config_of(lm)
    config = trained.__class__.from_dict(trained.to_dict())
    config.torch_dtype = dtype
    config.use_cache = True  # disabled for training only
    for sub in ("text_config", "vision_config"):  # composite configs (Mllama)
        if getattr(config, sub, None) is not None:
            getattr(config, sub).torch_dtype = dtype
            getattr(config, sub).use_cache = True
    config.architectures = [lm.__class__.__name__]
    config._attn_implementation_autoset = False  # as save_pretrained does: not a saved setting
    config.save_pretrained(out)
    generation = (
        GenerationConfig.from_pretrained(base_dir)
        if base_dir is not None and (base_dir / "generation_config.json").exists()
        else GenerationConfig.from_model_config(config)
    )
    generation.eos_token_id = _stop_ids(generation.eos_token_id, tokenizer)
    generation.save_pretrained(out)
    tokenizer.save_pretrained(out)
    for name in COPY_FROM_BASE:
        if base_dir is not None and (base_dir / name).exists() and not (out / name).exists():
            shutil.copy2(base_dir / name, out / name)


def _stop_ids(current: int | list[int] | None, tokenizer: Any) -> int | list[int] | None:
    ids = [current] if isinstance(current, int) else list(current or [])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    vocab = tokenizer.get_vocab()
    ids.extend(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
    unique = list(dict.fromkeys(ids))
    return unique[0] if len(unique) == 1 else unique or None
