"""The safetensors header: tensor names, dtypes, shapes and byte offsets, without the tensors.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
(``{"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": ..}``)
and then the tensor data; offsets count from the end of the header
(huggingface/safetensors, "Format"). Reading N + 8 bytes is enough to check a shard: a local
file by seek, an S3 object by ranged GET. Pure: callers hand in the bytes and the file size.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

LENGTH_BYTES = 8
# The reference implementation refuses headers above 100 MB (safetensors MAX_HEADER_SIZE).
MAX_HEADER_BYTES = 100_000_000
# Bytes per element of every safetensors dtype (huggingface/safetensors Dtype).
DTYPE_BYTES: dict[str, float] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "F4": 0.5,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
# safetensors dtype -> the name config.json's torch_dtype uses.
TORCH_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64"}


class HeaderError(ValueError):
    """The shard's header is unreadable or inconsistent; str() says which and why."""


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class ShardHeader:
    """One shard's header: ``tensors`` by name, ``file_bytes`` the whole file's size."""

    tensors: dict[str, TensorInfo]
    header_bytes: int  # N, the JSON's length
    file_bytes: int

    @property
    def data_bytes(self) -> int:
        return self.file_bytes - LENGTH_BYTES - self.header_bytes


def header_length(prefix: bytes, file_bytes: int) -> int:
    """N from the first 8 bytes; HeaderError when the file cannot hold that header."""
    if file_bytes < LENGTH_BYTES or len(prefix) < LENGTH_BYTES:
        raise HeaderError(f"{file_bytes} bytes: too short for a safetensors header")
    (length,) = struct.unpack("<Q", prefix[:LENGTH_BYTES])
    if length > MAX_HEADER_BYTES:
        raise HeaderError(f"header length {length:,} bytes is over the format's 100 MB limit")
    if LENGTH_BYTES + length > file_bytes:
        raise HeaderError(
            f"header says {length:,} bytes of JSON but the file has {file_bytes:,} bytes "
            "(truncated upload?)"
        )
    return int(length)


def _tensor(name: str, entry: Any) -> TensorInfo:
    if not isinstance(entry, dict):
        raise HeaderError(f"tensor {name!r}: entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise HeaderError(f"tensor {name!r}: unknown dtype {dtype!r}")
    ints = (shape or []) + (offsets or [])
    if (
        not isinstance(shape, list)
        or not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(v) is int and v >= 0 for v in ints)
    ):
        raise HeaderError(f"tensor {name!r}: shape and data_offsets must be non-negative ints")
    begin, end = offsets
    expected = math.prod(shape) * DTYPE_BYTES[dtype]
    if end - begin != expected:
        raise HeaderError(
            f"tensor {name!r}: offsets span {end - begin:,} bytes, {dtype}{shape} needs "
            f"{int(expected):,}"
        )
    return TensorInfo(dtype, tuple(shape), begin, end)


def parse_header(data: bytes, file_bytes: int) -> ShardHeader:
    """``data``: at least the first 8 + N bytes of the file. Raises HeaderError.

    Checks that every tensor's data lies inside the file: a shard cut short by an interrupted
    upload or copy fails here, before anyone pays for an import.
    """
    length = header_length(data, file_bytes)
    if len(data) < LENGTH_BYTES + length:
        raise HeaderError(f"need {LENGTH_BYTES + length} bytes of header, got {len(data)}")
    try:
        raw = json.loads(data[LENGTH_BYTES : LENGTH_BYTES + length])
    except (ValueError, UnicodeDecodeError) as exc:
        raise HeaderError(f"header is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise HeaderError("header is not a JSON object")
    tensors = {n: _tensor(n, e) for n, e in raw.items() if n != "__metadata__"}
    data_bytes = file_bytes - LENGTH_BYTES - length
    end = max((t.end for t in tensors.values()), default=0)
    if end > data_bytes:
        raise HeaderError(
            f"tensor data ends at byte {end:,} of the data section but the file holds "
            f"{data_bytes:,}: the shard is truncated"
        )
    return ShardHeader(tensors, length, file_bytes)
