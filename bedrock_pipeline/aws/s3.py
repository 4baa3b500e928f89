"""S3 objects as dataset byte streams, read sequentially in bounded memory.

An S3 object is read through one GetObject stream; when the connection drops mid-file the
reader reopens it with a `Range` from the byte it had reached, so a 10 GB file survives a reset
without starting over. Opening and reopening go through `call_with_retry` (throttling, 5xx).
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.exceptions import (
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from bedrock_pipeline.aws.retry import call_with_retry
from bedrock_pipeline.sources import (
    READ_BUFFER_BYTES,
    DataSource,
    LocalFile,
    parse_s3_uri,
    split_s3_uri,
)

_STREAM_ERRORS = (
    ResponseStreamingError,
    IncompleteReadError,
    ReadTimeoutError,
    BotoConnectionError,
)


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


def log_objects(prefix_uri: str, s3: Any) -> list[S3Object]:
    """The gzip log files Bedrock delivered under the prefix, in key order."""
    bucket, prefix = split_s3_uri(prefix_uri)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", ()))
    return [S3Object(f"s3://{bucket}/{k}", s3) for k in keys if k.endswith(".gz")]


def object_sizes(
    client: Any, uris: Iterable[str], deadline: float | None = None
) -> tuple[dict[str, int], bool]:
    """({uri: size in bytes} of the objects among ``uris`` that exist, whether every one was
    looked up before ``deadline``, a ``time.monotonic()`` value).

    Lists each folder the keys sit in (ListObjectsV2 with ``Delimiter="/"``: one call per
    1,000 entries of that folder, never its subfolders), from just before the folder's first
    named key to its last one, instead of one HeadObject per object."""
    folders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for uri in uris:
        bucket, key = split_s3_uri(uri)
        folders[(bucket, key.rpartition("/")[0] + "/" if "/" in key else "")].add(key)
    sizes: dict[str, int] = {}
    for (bucket, prefix), keys in sorted(folders.items()):
        first, last = min(keys), max(keys)
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
        if len(first) > len(prefix) + 1:
            request["StartAfter"] = first[:-1]  # every key >= first sorts after it
        while True:
            if deadline is not None and time.monotonic() > deadline:
                return sizes, False
            page = call_with_retry(client.list_objects_v2, **request)
            contents = page.get("Contents", ())
            for item in contents:
                if item["Key"] in keys:
                    sizes[f"s3://{bucket}/{item['Key']}"] = int(item["Size"])
            done = not page.get("IsTruncated") or (contents and contents[-1]["Key"] >= last)
            if done:
                break
            request["ContinuationToken"] = page["NextContinuationToken"]
    return sizes, True
