"""Byte streams for datasets: local files and S3 objects, read sequentially in bounded memory.

An S3 object is read through one GetObject stream; when the connection drops mid-file the
reader reopens it with a `Range` from the byte it had reached, so a 10 GB file survives a reset
without starting over. Opening and reopening go through `call_with_retry` (throttling, 5xx).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlparse

from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.exceptions import (
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from lambdas.core.retry import call_with_retry

READ_BUFFER_BYTES = 1 << 20  # 1 MiB: large sequential reads; memory stays flat
_STREAM_ERRORS = (
    ResponseStreamingError,
    IncompleteReadError,
    ReadTimeoutError,
    BotoConnectionError,
)


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


class _ResumingS3Stream(io.RawIOBase):
    """Raw stream over GetObject that resumes at the current offset after a dropped connection."""

    def __init__(self, client: Any, bucket: str, key: str, max_resumes: int = 5) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._pos = 0
        self._resumes_left = max_resumes
        self._body = self._get(None)

    def _get(self, start: int | None) -> Any:
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Key": self._key}
        if start:
            kwargs["Range"] = f"bytes={start}-"
        return call_with_retry(self._client.get_object, **kwargs)["Body"]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            try:
                chunk = self._body.read(len(view))
                break
            except _STREAM_ERRORS:
                if self._resumes_left == 0:
                    raise
                self._resumes_left -= 1
                self._body.close()
                self._body = self._get(self._pos)
        n = len(chunk)
        view[:n] = chunk
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


@dataclass(frozen=True)
class S3Object:
    name: str  # the s3:// URI
    client: Any

    def size(self) -> int | None:
        bucket, key = parse_s3_uri(self.name)
        head = call_with_retry(self.client.head_object, Bucket=bucket, Key=key)
        return int(head["ContentLength"])

    def open(self) -> BinaryIO:
        bucket, key = parse_s3_uri(self.name)
        raw = _ResumingS3Stream(self.client, bucket, key)
        return io.BufferedReader(raw, buffer_size=READ_BUFFER_BYTES)


def source_for(location: str, s3_client: Any | None = None) -> DataSource:
    """LocalFile for a path, S3Object for an s3:// URI (needs a client)."""
    if location.startswith("s3://"):
        if s3_client is None:
            raise ValueError(f"an S3 client is needed to read {location}")
        parse_s3_uri(location)
        return S3Object(location, s3_client)
    return LocalFile(location)
