"""Is a model directory ready for Bedrock Custom Model Import? Decided from the weights' headers.

The core is a pure function over the listing (file name -> size), config.json, the safetensors
index and each shard's parsed header (``bedrock_pipeline.safetensors_header``: names, dtypes,
shapes, offsets; never the tensor data). Adapters read them from a local directory (here, by
seek) or an S3 prefix (``bedrock_pipeline.aws.import_check``, by ranged GET), so the CLI, the
workflow's readiness step and the training container decide with the same code. Requirements
come from ``bedrock_pipeline.registry.IMPORT`` and the per-architecture ``IMPORT_RULES``
([import] model-customization-import-model.html). No torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bedrock_pipeline.import_rules import ADAPTER_FILES, ARCHIVE_SUFFIXES
from bedrock_pipeline.import_weights import INDEX, check_weights
from bedrock_pipeline.registry import IMPORT, IMPORT_ARCHITECTURES, IMPORT_RULES
from bedrock_pipeline.safetensors_header import (
    LENGTH_BYTES,
    HeaderError,
    ShardHeader,
    header_length,
    parse_header,
)

CONFIG = "config.json"
# Where configs keep their context length (GPTBigCode: n_positions; VL/Mllama: in text_config).
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
# A header read that fails comes back as its message instead of a ShardHeader.
Headers = Mapping[str, "ShardHeader | str"]


def human_bytes(n: int) -> str:
    """Decimal units, as the import limit is written ("200 GB"): 512 B, 1.4 MB, 6.1 GB."""
    for unit, size in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class ImportCheck:
    ready: bool
    reasons: tuple[str, ...]  # why not ready (empty when ready)
    warnings: tuple[str, ...]
    architecture: str | None
    weights_bytes: int
    context: int | None
    dtype: str | None = None  # the weights' dtype as the headers say (torch name)
    tensors: int = 0

    def summary(self) -> str:
        head = "ready" if self.ready else "NOT ready"
        detail = f" ({self.dtype}, {self.tensors} tensors)" if self.dtype else ""
        lines = [
            f"{head}: {self.architecture or '?'}, weights {human_bytes(self.weights_bytes)}"
            f"{detail}, context {self.context}"
        ]
        lines += [f"  - {r}" for r in self.reasons] + [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)


def weight_files(files: Mapping[str, int]) -> dict[str, int]:
    """The shards: every top-level *.safetensors except a PEFT adapter's."""
    return {
        n: s
        for n, s in files.items()
        if n.endswith(IMPORT.weight_suffix) and not n.startswith("adapter_model")
    }


def _context(config: Mapping[str, Any]) -> int | None:
    for scope in (config, config.get("text_config") or {}):
        for key in CONTEXT_KEYS:
            if isinstance(scope.get(key), int):
                return int(scope[key])
    return None


def _not_a_model_folder(files: Mapping[str, int]) -> str | None:
    """Outputs that are not a model folder at all, with their own fix instead of generic noise."""
    archives = sorted(n for n in files if n.endswith(ARCHIVE_SUFFIXES))
    if archives:
        return (
            f"{archives[0]} is an archive ({human_bytes(files[archives[0]])}); Custom Model "
            "Import reads the model files themselves: train with OutputDataConfig "
            "CompressionType=NONE (SageMaker), or extract the archive into this prefix"
        )
    adapter = sorted(n for n in files if n in ADAPTER_FILES)
    if adapter:
        return (
            f"adapter-only output ({', '.join(adapter)}): Custom Model Import takes full weights, "
            "not a LoRA adapter; merge the adapter into the base model (PEFT merge_and_unload()) "
            "and save_pretrained the merged model with its config and tokenizer"
        )
    return None


def check_import(
    files: Mapping[str, int],
    config: Mapping[str, Any] | None,
    index: Mapping[str, Any] | None,
    headers: Headers,
) -> ImportCheck:
    """files: top-level file name -> bytes; config: parsed config.json (None if unreadable);
    headers: shard name -> parsed header, or the reason it could not be read."""
    reasons: list[str] = []
    warnings: list[str] = []
    weights = weight_files(files)
    total = sum(weights.values())
    context = _context(config) if config else None
    archs = (config or {}).get("architectures")
    architecture = archs[0] if isinstance(archs, list) and archs else None
    if not weights and (odd := _not_a_model_folder(files)):
        return ImportCheck(False, (odd,), (), architecture, total, context)
    for name in IMPORT.required_files:
        if name not in files:
            reasons.append(f"missing required file {name}")
    if not any(name in files for name in IMPORT.tokenizer_files):
        reasons.append(f"no tokenizer file: need one of {', '.join(IMPORT.tokenizer_files)}")
    if not weights:
        bins = [n for n in files if n.endswith((".bin", ".pt", ".pth"))]
        hint = f" ({', '.join(sorted(bins)[:3])} must be converted to safetensors)" if bins else ""
        reasons.append(f"no *{IMPORT.weight_suffix} weights{hint}")
    if total >= IMPORT.max_weights_bytes:
        reasons.append(
            f"weights are {human_bytes(total)}; Custom Model Import takes less than "
            f"{human_bytes(IMPORT.max_weights_bytes)}"
        )
    if config is None:
        if CONFIG in files:
            reasons.append(f"{CONFIG} is not a JSON object")
        return ImportCheck(False, tuple(reasons), (), architecture, total, context)
    if not isinstance(archs, list) or len(archs) != 1 or architecture not in IMPORT_ARCHITECTURES:
        reasons.append(
            f"architectures {archs} in {CONFIG}: need exactly one of "
            f"{', '.join(sorted(IMPORT_ARCHITECTURES))}"
        )
    if context is not None and context > IMPORT.max_context_tokens:
        reasons.append(
            f"context length {context} ({CONFIG}); Custom Model Import takes at most "
            f"{IMPORT.max_context_tokens}"
        )
    elif context is None and architecture != "T5ForConditionalGeneration":
        warnings.append(f"{CONFIG} declares no context length ({', '.join(CONTEXT_KEYS)})")
    broken = {n: h for n, h in headers.items() if isinstance(h, str)}
    reasons += [f"{name}: {message}" for name, message in sorted(broken.items())]
    parsed = {n: h for n, h in headers.items() if isinstance(h, ShardHeader)}
    found = check_weights(IMPORT_RULES.get(architecture or ""), config, parsed, index)
    if not broken:  # a shard that cannot be read would make every name and index check noise
        reasons += found.reasons
        warnings += found.warnings
    return ImportCheck(
        not reasons, tuple(reasons), tuple(warnings), architecture, total, context,
        found.dtype, found.tensors,
    )  # fmt: skip


def parse_json_object(text: str | bytes) -> Mapping[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_local_header(path: Path) -> ShardHeader | str:
    """Two reads from the start of the file (length, then the JSON); the tensors stay on disk."""
    size = path.stat().st_size
    try:
        with path.open("rb") as stream:
            prefix = stream.read(LENGTH_BYTES)
            length = header_length(prefix, size)
            return parse_header(prefix + stream.read(length), size)
    except HeaderError as exc:
        return str(exc)


def check_directory(path: Path | str) -> ImportCheck:
    """Local adapter: list the directory's top level, read its JSON files and shard headers."""
    root = Path(path)
    if not root.is_dir():
        return ImportCheck(False, (f"{root} is not a directory",), (), None, 0, None)
    files = {p.name: p.stat().st_size for p in root.iterdir() if p.is_file()}
    config = parse_json_object((root / CONFIG).read_bytes()) if CONFIG in files else None
    index = parse_json_object((root / INDEX).read_bytes()) if INDEX in files else None
    headers = {name: read_local_header(root / name) for name in weight_files(files)}
    return check_import(files, config, index, headers)
