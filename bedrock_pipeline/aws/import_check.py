"""The S3 side of the import-readiness check: one listing and two small JSON objects per prefix.

The decision itself is `bedrock_pipeline.import_check.check_import` (pure); every S3 call goes
through `call_with_retry` (throttling, 5xx).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bedrock_pipeline.aws.retry import call_with_retry
from bedrock_pipeline.import_check import CONFIG, INDEX, ImportCheck, _json, check_import


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise ValueError(f"not an s3://BUCKET/PREFIX URI: {uri!r}")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def check_s3_prefix(s3: Any, uri: str) -> ImportCheck:
    """S3 adapter: one paginated listing plus config.json and the index (a few KB each)."""
    bucket, prefix = split_s3_uri(uri)
    files: dict[str, int] = {}
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
        if token:
            kwargs["ContinuationToken"] = token
        page = call_with_retry(s3.list_objects_v2, **kwargs)
        for obj in page.get("Contents", []):
            files[obj["Key"][len(prefix) :]] = int(obj["Size"])
        token = page.get("NextContinuationToken")
        if not token:
            break
    files.pop("", None)  # the "directory" placeholder object, if any

    def read(name: str) -> Mapping[str, Any] | None:
        if name not in files:
            return None
        body = call_with_retry(s3.get_object, Bucket=bucket, Key=prefix + name)["Body"].read()
        return _json(body)

    return check_import(files, read(CONFIG), read(INDEX))
