"""The images a container training job reads: a SageMaker manifest of exactly the objects the
run's datasets name, and where each one lands in the job's ``images`` input channel.

SageMaker's ``ManifestFile`` data source (SageMaker API Reference, ``S3DataSource``) is a JSON
array: ``{"prefix": "s3://bucket/prefix/"}`` first, then one key suffix per object. SageMaker
downloads ``prefix + suffix`` for each suffix and nothing else. The prefix "precludes ... a
manifest whose individual S3Uri is sourced from different S3 buckets", so every image of a run
must sit in one bucket (the registry row's ``images_in_dataset_bucket`` rule, checked by the
validator). The prefix here is the bucket's root, so an object ``s3://b/k`` is the file
``$SM_CHANNEL_IMAGES/k``: its key is its path under the channel (``channel_path``), whether
SageMaker places a file at its suffix or at its whole key.

Pure: no AWS calls; the validate step writes the manifest and the job driver names it as the
``images`` channel.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from bedrock_pipeline.sources import parse_s3_uri

# The manifest's object name, next to the run's validation report (runs/<runName>/).
MANIFEST_NAME = "images.manifest"
# 10 MB per image: the project's bound; Bedrock's Llama 3.2 dataset page
# (preparing-image-text-data.html) states the formats only. The validate step checks the
# objects' sizes, the container each file again.
MAX_IMAGE_BYTES = 10 * 1000**2


# The leading bytes of each image format the container and Converse take, enough to tell them
# apart: the PNG signature (PNG specification, 5.2), JPEG's SOI marker and the next marker's
# FF, GIF87a / GIF89a, and a RIFF container of form type WEBP (RFC 9649, 2).
HEAD_BYTES = 12


def image_format(head: bytes) -> str | None:
    """png | jpeg | gif | webp from an object's first ``HEAD_BYTES`` bytes; None for others."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class ObjectHead:
    """An image object's size in bytes and its first bytes (``aws.s3.object_heads``)."""

    size: int
    head: bytes


class ManifestError(ValueError):
    """The images cannot be listed in one manifest (another bucket, a folder, or a key that is
    no relative file path)."""


def object_location(uri: str) -> tuple[str, str]:
    """(bucket, key) of an image's ``s3://bucket/key`` whose key is also a file path under the
    channel: relative, no empty, '.' or '..' segment, not a folder (S3 allows such keys, but
    the job would find the file elsewhere or not at all). '?' and '#' belong to the key
    (``sources.parse_s3_uri``). Raises ManifestError naming what is wrong."""
    try:
        bucket, key = parse_s3_uri(uri)
    except ValueError:
        raise ManifestError(f"{uri!r} names no object (s3://BUCKET/KEY)") from None
    if key.endswith("/"):
        raise ManifestError(f"{uri} names a folder, not an object")
    segments = key.split("/")
    if "" in segments or "." in segments or ".." in segments:
        raise ManifestError(
            f"{uri}: the key must be a relative file path (no leading '/', no empty, '.' or "
            "'..' segment): the training job reads the image at its key under the images channel"
        )
    return bucket, key


def channel_path(uri: str) -> str:
    """The path of image ``s3://bucket/key`` under the ``images`` channel: ``key``."""
    return object_location(uri)[1]


def manifest_body(uris: Iterable[str]) -> bytes:
    """The manifest (UTF-8 JSON) for the distinct ``uris``, keys sorted.

    Raises ``ManifestError`` when ``uris`` is empty, names an object in a second bucket, or
    names a prefix instead of an object."""
    buckets: set[str] = set()
    keys: set[str] = set()
    for uri in uris:
        bucket, key = object_location(uri)
        buckets.add(bucket)
        keys.add(key)
    if not keys:
        raise ManifestError("no images: a manifest lists at least one object")
    if len(buckets) > 1:
        raise ManifestError(
            f"images in {len(buckets)} buckets ({', '.join(sorted(buckets))}); a SageMaker "
            "manifest reads from one bucket"
        )
    (bucket,) = buckets
    return json.dumps([{"prefix": f"s3://{bucket}/"}, *sorted(keys)], indent=0).encode()


def manifest_key(run_name: str) -> str:
    """The run's manifest in the artifacts bucket, beside its validation report."""
    return f"runs/{run_name}/{MANIFEST_NAME}"
