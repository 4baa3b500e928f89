"""Safetensors shards written byte by byte (header JSON + zero data), for the import-check tests.

The writers live with the emulator that also needs them (``bedrock_pipeline.local.tiny_weights``).
"""

from __future__ import annotations

from pathlib import Path

from bedrock_pipeline.local.tiny_weights import (
    TINY_LLAMA,
    Spec,
    llama_tensors,
    shard_bytes,
    tiny_llama_files,
)
from bedrock_pipeline.safetensors_header import ShardHeader, parse_header

__all__ = [
    "TINY_LLAMA",
    "Spec",
    "header_of",
    "llama_tensors",
    "shard_bytes",
    "tiny_llama_files",
    "write_shard",
]


def write_shard(path: Path, tensors: Spec) -> Path:
    path.write_bytes(shard_bytes(tensors))
    return path


def header_of(tensors: Spec) -> ShardHeader:
    data = shard_bytes(tensors)
    return parse_header(data, len(data))
