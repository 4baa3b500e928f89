"""S3 objects as dataset byte streams, read sequentially in bounded memory.

An S3 object is read through one GetObject stream; when the connection drops mid-file the
reader reopens it with a `Range` from the byte it had reached, so a 10 GB file survives a reset
without starting over. Opening, reopening and listing go through `call_with_retry` (throttling,
5xx), so the client should be built with `single_attempt` (see `client`).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from botocore.exceptions import (
    ClientError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from bedrock_pipeline.aws.retry import call_with_retry, error_code, single_attempt
from bedrock_pipeline.image_manifest import ObjectHead
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


def client(profile: str | None = None) -> Any:
    """An S3 client for the CLI (default credentials, or ``profile``) that leaves retries to
    ``call_with_retry``: one HTTP request per attempt."""
    import boto3  # only for S3: local files need no AWS configuration

    return boto3.session.Session(profile_name=profile).client("s3", config=single_attempt())


def list_objects(
    s3: Any, bucket: str, prefix: str, delimiter: str | None = None
) -> Iterator[dict[str, Any]]:
    """The objects (ListObjectsV2 ``Contents`` items) under ``prefix`` in S3's order; with
    ``delimiter`` "/" only those directly under it. Paged by hand, not with a paginator: each
    call can throttle and goes through ``call_with_retry``."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        kwargs["Delimiter"] = delimiter
    while True:
        page = call_with_retry(s3.list_objects_v2, **kwargs)
        yield from page.get("Contents", [])
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return
        kwargs["ContinuationToken"] = token


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Keys under ``prefix`` in S3's order (``list_objects``)."""
    return (item["Key"] for item in list_objects(s3, bucket, prefix))


def log_objects(prefix_uri: str, s3: Any) -> list[S3Object]:
    """The gzip log files Bedrock delivered under the prefix, in key order."""
    bucket, prefix = split_s3_uri(prefix_uri)
    keys = sorted(list_keys(s3, bucket, prefix))
    return [S3Object(f"s3://{bucket}/{k}", s3) for k in keys if k.endswith(".gz")]


def object_heads(
    client: Any,
    uris: Iterable[str],
    nbytes: int,
    deadline: float | None = None,
    workers: int = 10,
) -> tuple[dict[str, ObjectHead], bool]:
    """({uri: ObjectHead} of the objects among ``uris`` that exist, whether every one was
    tried before ``deadline``, a ``time.monotonic()`` value): one ranged GetObject per object
    (``Range: bytes=0-N``; the size is the total of its ``Content-Range``), ``workers`` at a
    time (botocore's default connection pool holds 10), each through ``call_with_retry``. An
    object that does not exist (NoSuchKey) is left out; an empty one (InvalidRange: no byte
    to return) has size 0. Other errors that are not retried away are raised."""

    def head(uri: str) -> ObjectHead | None:
        if deadline is not None and time.monotonic() > deadline:
            raise _OutOfTime
        bucket, key = split_s3_uri(uri)
        try:
            response = call_with_retry(
                client.get_object, Bucket=bucket, Key=key, Range=f"bytes=0-{nbytes - 1}"
            )
        except ClientError as exc:
            code = error_code(exc)
            if code in {"InvalidRange", "416"}:
                return ObjectHead(0, b"")
            if code in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise
        data = bytes(response["Body"].read())
        total = str(response.get("ContentRange", "")).rpartition("/")[2]
        return ObjectHead(int(total) if total.isdigit() else len(data), data)

    heads: dict[str, ObjectHead] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(head, uri): uri for uri in uris}
        complete = True
        for future, uri in futures.items():
            try:
                got = future.result()
            except _OutOfTime:
                complete = False
                continue
            if got is not None:
                heads[uri] = got
    return heads, complete


class _OutOfTime(Exception):
    """object_heads: the deadline passed before this object's turn."""
