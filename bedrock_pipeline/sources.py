"""Byte streams for datasets, read sequentially in bounded memory: the protocol and local files.

S3 objects are `bedrock_pipeline.aws.s3.S3Object`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

READ_BUFFER_BYTES = 1 << 20  # 1 MiB: large sequential reads; memory stays flat


class DataSource(Protocol):
    """A dataset to read: `name` is what error lines show, `size()` is None when unknown."""

    @property
    def name(self) -> str: ...

    def size(self) -> int | None: ...

    def open(self) -> BinaryIO: ...


@dataclass(frozen=True)
class LocalFile:
    name: str

    def size(self) -> int | None:
        return os.path.getsize(self.name)

    def open(self) -> BinaryIO:
        return open(self.name, "rb", buffering=READ_BUFFER_BYTES)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.lstrip("/"):
        raise ValueError(f"not an S3 object URI (s3://BUCKET/KEY): {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")
