"""The images of test records: checked when the test set is planned, read from S3 per record.

Converse gets each image as bytes (``ImageSource.bytes``), read here with the evaluation
function's role, which reads the training-data bucket only (the bucket the test set is in):
an image elsewhere fails planning, naming the record. Limits: ``converse_images``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from bedrock_pipeline.aws.retry import DEFAULT_BACKOFF, Backoff, call_with_retry, error_code
from bedrock_pipeline.converse_images import (
    MAX_IMAGE_BYTES,
    ImageRefused,
    check_count,
    check_image,
)
from bedrock_pipeline.evalset import EvalRecord
from bedrock_pipeline.formats import FormatCode, FormatError, ImageRef
from bedrock_pipeline.sources import parse_s3_uri

CACHE_BYTES = 64 * 1024 * 1024  # images kept for the next model asked the same record
IMAGE_REFUSED = "ImageRefused"  # over a Converse limit, or not the image it is declared to be
IMAGE_UNREADABLE = "ImageUnreadable"  # S3 did not return it


class ImageUnavailable(Exception):
    """A record's image cannot be sent; ``code`` is the result row's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_test_set(records: Sequence[EvalRecord], uri: str) -> None:
    """Refuse, naming file and line, a record whose prompt holds more images than one Converse
    request takes, or an image outside the test set's bucket (the only one the role reads)."""
    bucket, _ = parse_s3_uri(uri)
    for record in records:
        images = [image for turn in record.prompt_turns for image in turn.images]
        try:
            check_count(images)
        except ImageRefused as exc:
            raise FormatError(
                uri, record.line, FormatCode.MEDIA_LIMIT, "messages", str(exc)
            ) from exc
        for image in images:
            where, _ = parse_s3_uri(image.uri)
            if where != bucket:
                raise FormatError(
                    uri, record.line, "IMAGE_BUCKET", "messages",
                    f"image {image.uri} is in bucket {where}; the evaluation reads images from "
                    f"the test set's bucket ({bucket}) only",
                )  # fmt: skip


class ImageReader:
    """Reads and checks images from S3 (with the throttling retries of every S3 call), keeping
    recent ones so the models asked the same record share one read. Thread-safe."""

    def __init__(
        self,
        s3: Any,
        *,
        cache_bytes: int = CACHE_BYTES,
        backoff: Backoff = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.s3, self.cache_bytes, self.backoff, self.sleep = s3, cache_bytes, backoff, sleep
        self._cache: dict[str, bytes] = {}
        self._held = 0
        self._lock = threading.Lock()
        self.reads = 0  # GetObject calls made

    def read(self, images: Sequence[ImageRef]) -> dict[str, bytes]:
        """Bytes by URI of every image; raises ImageUnavailable for the first one that cannot
        be sent (too many, missing, unreadable, over a limit, not its declared format)."""
        try:
            check_count(images)
        except ImageRefused as exc:
            raise ImageUnavailable(IMAGE_REFUSED, str(exc)) from exc
        found: dict[str, bytes] = {}
        for image in images:
            if image.uri not in found:
                found[image.uri] = self._one(image)
        return found

    def _one(self, image: ImageRef) -> bytes:
        with self._lock:
            cached = self._cache.get(image.uri)
        if cached is not None:
            return cached
        data = self._get(image)
        try:
            check_image(image, data)
        except ImageRefused as exc:
            raise ImageUnavailable(IMAGE_REFUSED, str(exc)) from exc
        with self._lock:
            if self._held + len(data) <= self.cache_bytes:
                self._held += len(data)
                self._cache[image.uri] = data
        return data

    def _get(self, image: ImageRef) -> bytes:
        bucket, key = parse_s3_uri(image.uri)
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if image.bucket_owner:
            request["ExpectedBucketOwner"] = image.bucket_owner
        self.reads += 1
        try:
            response = call_with_retry(
                self.s3.get_object, backoff=self.backoff, sleep=self.sleep, **request
            )
        except ClientError as exc:
            code = error_code(exc) or "ClientError"
            message = exc.response.get("Error", {}).get("Message", str(exc))
            raise ImageUnavailable(
                IMAGE_UNREADABLE, f"image {image.uri}: {code}: {message}"
            ) from exc
        except Exception as exc:  # connection or read timeouts that outlived the retries
            raise ImageUnavailable(
                IMAGE_UNREADABLE, f"image {image.uri}: {type(exc).__name__}: {exc}"
            ) from exc
        size = int(response.get("ContentLength") or 0)
        if size > MAX_IMAGE_BYTES:  # refused before its bytes are held in memory
            response["Body"].close()
            raise ImageUnavailable(
                IMAGE_REFUSED,
                f"image {image.uri} is {size:,} bytes; Converse takes at most "
                f"{MAX_IMAGE_BYTES:,} bytes (3.75 MiB) per image",
            )
        try:
            body: bytes = response["Body"].read()
        except Exception as exc:  # the stream broke off
            raise ImageUnavailable(
                IMAGE_UNREADABLE, f"image {image.uri}: {type(exc).__name__}: {exc}"
            ) from exc
        return body
