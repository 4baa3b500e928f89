"""Byte streams for datasets, read sequentially in bounded memory: the protocol and local files.

S3 objects are `bedrock_pipeline.aws.s3.S3Object`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Protocol

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


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, rest) of ``s3://bucket/rest``, split as S3 names objects: everything after the
    bucket's slash is the key or prefix, '?' and '#' included (``urllib.parse`` would cut them
    off as a query or fragment). ``rest`` may be empty (the bucket) or end in '/' (a prefix).
    Raises ValueError when ``uri`` is not ``s3://BUCKET[/...]``."""
    bucket, _, rest = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise ValueError(f"not an S3 URI (s3://BUCKET/KEY): {uri!r}")
    return bucket, rest


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an object's URI; ValueError when it names no key."""
    bucket, key = split_s3_uri(uri)
    if not key:
        raise ValueError(f"not an S3 object URI (s3://BUCKET/KEY): {uri!r}")
    return bucket, key


def s3_prefix(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of a folder's URI, the prefix ending in '/' ('' for the bucket)."""
    bucket, prefix = split_s3_uri(uri)
    return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"
