"""The S3 side of the import-readiness check: a listing, two small JSON objects, shard headers.

Each shard's header comes from ranged GETs: the first ``FIRST_READ`` bytes (the 8-byte length
and, for shards of ordinary size, the whole header), then the rest of the header if it is
longer. The tensor data is never downloaded. The decision is
``bedrock_pipeline.import_check.check_import`` (pure); every S3 call goes through
``call_with_retry`` (throttling, 5xx).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bedrock_pipeline.aws.retry import call_with_retry
from bedrock_pipeline.aws.s3 import list_objects
from bedrock_pipeline.import_check import (
    CONFIG,
    INDEX,
    ImportCheck,
    check_import,
    parse_json_object,
    weight_files,
)
from bedrock_pipeline.safetensors_header import (
    LENGTH_BYTES,
    HeaderError,
    ShardHeader,
    header_length,
    parse_header,
)
from bedrock_pipeline.sources import s3_prefix

# A 7B model's header is about 30 kB; 256 kB covers the largest common models in one request.
FIRST_READ = 256 * 1024


def _range(s3: Any, bucket: str, key: str, first: int, last: int) -> bytes:
    response = call_with_retry(s3.get_object, Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")
    return bytes(response["Body"].read())


def read_s3_header(s3: Any, bucket: str, key: str, size: int) -> ShardHeader | str:
    """The shard's header in one ranged GET, two when it is longer than ``FIRST_READ``."""
    if size < LENGTH_BYTES:
        return f"{size} bytes: too short for a safetensors header"
    data = _range(s3, bucket, key, 0, min(size, FIRST_READ) - 1)
    try:
        wanted = LENGTH_BYTES + header_length(data, size)
        if len(data) < wanted:
            data += _range(s3, bucket, key, len(data), wanted - 1)
        return parse_header(data, size)
    except HeaderError as exc:
        return str(exc)


def list_prefix(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Top-level objects under the prefix (name -> bytes); nested folders are not the model's."""
    files = {
        item["Key"][len(prefix) :]: int(item["Size"])
        for item in list_objects(s3, bucket, prefix, delimiter="/")
    }
    files.pop("", None)  # the "directory" placeholder object, if any
    return files


def check_s3_prefix(s3: Any, uri: str) -> ImportCheck:
    """S3 adapter: one paginated listing, config.json, the index and each shard's header."""
    bucket, prefix = s3_prefix(uri)
    files = list_prefix(s3, bucket, prefix)

    def read(name: str) -> Mapping[str, Any] | None:
        if name not in files:
            return None
        body = call_with_retry(s3.get_object, Bucket=bucket, Key=prefix + name)["Body"].read()
        return parse_json_object(body)

    headers = {
        name: read_s3_header(s3, bucket, prefix + name, size)
        for name, size in weight_files(files).items()
    }
    return check_import(files, read(CONFIG), read(INDEX), headers)
