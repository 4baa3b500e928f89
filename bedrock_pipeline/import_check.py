"""Is a model directory ready for Bedrock Custom Model Import? Decided from listings, not weights.

The core is a pure function over (file name -> size) plus the parsed config.json (and, when
sharded, the safetensors index), so the workflow Lambda can run it on an S3 listing and two small
objects; adapters list a local directory (here) or an S3 prefix
(`bedrock_pipeline.aws.import_check`). Every requirement comes from
`bedrock_pipeline.registry.IMPORT` ([import] model-customization-import-model.html). No torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bedrock_pipeline.registry import IMPORT, IMPORT_ARCHITECTURES

CONFIG, INDEX = "config.json", "model.safetensors.index.json"
# Where configs keep their context length (GPTBigCode: n_positions; VL/Mllama: in text_config).
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
# Weight dtypes Bedrock serves; float32 imports but doubles size and cost (warning).
SERVED_DTYPES = frozenset({"bfloat16", "float16"})
GB = 1000**3


@dataclass(frozen=True)
class ImportCheck:
    ready: bool
    reasons: tuple[str, ...]  # why not ready (empty when ready)
    warnings: tuple[str, ...]
    architecture: str | None
    weights_bytes: int
    context: int | None

    def summary(self) -> str:
        head = "ready" if self.ready else "NOT ready"
        size = f"{self.weights_bytes / GB:.2f} GB"
        lines = [f"{head}: {self.architecture or '?'}, weights {size}, context {self.context}"]
        lines += [f"  - {r}" for r in self.reasons] + [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)


def _context(config: Mapping[str, Any]) -> int | None:
    for scope in (config, config.get("text_config") or {}):
        for key in CONTEXT_KEYS:
            if isinstance(scope.get(key), int):
                return int(scope[key])
    return None


def check_import(
    files: Mapping[str, int],
    config: Mapping[str, Any] | None,
    index: Mapping[str, Any] | None = None,
) -> ImportCheck:
    """files: top-level file name -> bytes; config: parsed config.json (None if unreadable)."""
    reasons: list[str] = []
    warnings: list[str] = []
    for name in IMPORT.required_files:
        if name not in files:
            reasons.append(f"missing required file {name}")
    if not any(name in files for name in IMPORT.tokenizer_files):
        reasons.append(f"no tokenizer file: need one of {', '.join(IMPORT.tokenizer_files)}")
    weights = {n: s for n, s in files.items() if n.endswith(IMPORT.weight_suffix)}
    total = sum(weights.values())
    if not weights:
        bins = [n for n in files if n.endswith((".bin", ".pt", ".pth"))]
        hint = f" ({', '.join(sorted(bins)[:3])} must be converted to safetensors)" if bins else ""
        reasons.append(f"no *{IMPORT.weight_suffix} weights{hint}")
    if total >= IMPORT.max_weights_bytes:
        reasons.append(
            f"weights are {total / GB:.1f} GB; Custom Model Import takes less than "
            f"{IMPORT.max_weights_bytes / GB:.0f} GB"
        )
    if index is not None:
        listed = set((index.get("weight_map") or {}).values())
        absent = sorted(listed - set(weights))
        if absent:
            reasons.append(f"{INDEX} names shards that are missing: {', '.join(absent[:3])}")
    architecture, context = None, None
    if config is None:
        if CONFIG in files:
            reasons.append(f"{CONFIG} is not a JSON object")
    else:
        archs = config.get("architectures") or []
        architecture = archs[0] if archs else None
        if len(archs) != 1 or architecture not in IMPORT_ARCHITECTURES:
            reasons.append(
                f"architectures {archs} in {CONFIG}: need exactly one of "
                f"{', '.join(sorted(IMPORT_ARCHITECTURES))}"
            )
        context = _context(config)
        if context is not None and context > IMPORT.max_context_tokens:
            reasons.append(
                f"context length {context} ({CONFIG}); Custom Model Import takes at most "
                f"{IMPORT.max_context_tokens}"
            )
        elif context is None and architecture != "T5ForConditionalGeneration":
            warnings.append(f"{CONFIG} declares no context length ({', '.join(CONTEXT_KEYS)})")
        dtype = config.get("torch_dtype")
        if dtype not in SERVED_DTYPES:
            warnings.append(
                f"torch_dtype {dtype!r} in {CONFIG}: export bfloat16 (or float16) weights"
            )
    return ImportCheck(not reasons, tuple(reasons), tuple(warnings), architecture, total, context)


def _json(text: str | bytes) -> Mapping[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def check_directory(path: Path | str) -> ImportCheck:
    """Local adapter: list the directory's top level and read its small JSON files."""
    root = Path(path)
    if not root.is_dir():
        return ImportCheck(False, (f"{root} is not a directory",), (), None, 0, None)
    files = {p.name: p.stat().st_size for p in root.iterdir() if p.is_file()}
    config = _json((root / CONFIG).read_bytes()) if CONFIG in files else None
    index = _json((root / INDEX).read_bytes()) if INDEX in files else None
    return check_import(files, config, index)
