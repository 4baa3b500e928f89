"""S3 objects as dataset byte streams, read sequentially in bounded memory.

An S3 object is read through one GetObject stream; when the connection drops mid-file the
reader reopens it with a `Range` from the byte it had reached, so a 10 GB file survives a reset
without starting over. Opening, reopening and listing go through `call_with_retry` (throttling,
5xx), so the client should be built with `single_attempt` (see `client`).
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
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


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Keys under ``prefix`` in S3's order. Paged by hand, not with a paginator: each
    ListObjectsV2 call can throttle and goes through ``call_with_retry``."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = call_with_retry(s3.list_objects_v2, **kwargs)
        for item in page.get("Contents", []):
            yield item["Key"]
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return
        kwargs["ContinuationToken"] = token


def log_objects(prefix_uri: str, s3: Any) -> list[S3Object]:
    """The gzip log files Bedrock delivered under the prefix, in key order."""
    bucket, prefix = split_s3_uri(prefix_uri)
    keys = sorted(list_keys(s3, bucket, prefix))
    return [S3Object(f"s3://{bucket}/{k}", s3) for k in keys if k.endswith(".gz")]


def object_sizes(
    client: Any, uris: Iterable[str], deadline: float | None = None
) -> tuple[dict[str, int], bool]:
    """({uri: size in bytes} of the objects among ``uris`` that exist, whether every one was
    looked up before ``deadline``, a ``time.monotonic()`` value).

    Lists each folder the keys sit in (ListObjectsV2 with ``Delimiter="/"``, so never its
    subfolders' objects), starting just before the next named key: a page that ends before it
    is followed by a jump (``StartAfter``), not by the next page. So the calls are bounded by
    the named keys, and by the folder's entries / 1,000 where named keys are dense, instead of
    one HeadObject per object. Raises botocore's ClientError (after retries) as the calls do."""
    folders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for uri in uris:
        bucket, key = split_s3_uri(uri)
        folders[(bucket, key.rpartition("/")[0] + "/" if "/" in key else "")].add(key)
    sizes: dict[str, int] = {}
    for (bucket, prefix), keys in sorted(folders.items()):
        wanted = sorted(keys)
        done = 0  # wanted[:done] sort at or before what was listed so far
        token: str | None = None
        while done < len(wanted):
            if deadline is not None and time.monotonic() > deadline:
                return sizes, False
            request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
            if token:
                request["ContinuationToken"] = token
            elif len(wanted[done]) > len(prefix) + 1:
                request["StartAfter"] = wanted[done][:-1]  # sorts just before wanted[done]
            page = call_with_retry(client.list_objects_v2, **request)
            for item in page.get("Contents", ()):
                if item["Key"] in keys:
                    sizes[f"s3://{bucket}/{item['Key']}"] = int(item["Size"])
            entries = [i["Key"] for i in page.get("Contents", ())]
            entries += [p["Prefix"] for p in page.get("CommonPrefixes", ())]
            if not page.get("IsTruncated") or not entries:
                break
            last = max(entries)
            while done < len(wanted) and wanted[done] <= last:
                done += 1
            # The next page continues where this one ended; a jump skips what lies between.
            next_start = wanted[done][:-1] if done < len(wanted) else ""
            token = page["NextContinuationToken"] if next_start <= last else None
    return sizes, True


def object_heads(
    client: Any,
    uris: Iterable[str],
    nbytes: int,
    deadline: float | None = None,
    workers: int = 10,
) -> tuple[dict[str, bytes], bool]:
    """({uri: its first ``nbytes`` bytes}, whether every one was tried before ``deadline``, a
    ``time.monotonic()`` value): one ranged GetObject per object (``Range: bytes=0-N``),
    ``workers`` at a time (botocore's default connection pool holds 10), each through
    ``call_with_retry``. An object that is gone (NoSuchKey) or empty (InvalidRange) is left
    out; other errors that are not retried away are raised."""

    def head(uri: str) -> bytes | None:
        if deadline is not None and time.monotonic() > deadline:
            raise _OutOfTime
        bucket, key = split_s3_uri(uri)
        try:
            response = call_with_retry(
                client.get_object, Bucket=bucket, Key=key, Range=f"bytes=0-{nbytes - 1}"
            )
        except ClientError as exc:
            if error_code(exc) in {"NoSuchKey", "404", "NotFound", "InvalidRange", "416"}:
                return None
            raise
        return bytes(response["Body"].read())

    heads: dict[str, bytes] = {}
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
