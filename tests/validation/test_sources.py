"""S3 streaming: a dropped connection resumes at the right byte with a Range request."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ResponseStreamingError

from bedrock_pipeline.aws.s3 import S3Object, source_for
from bedrock_pipeline.sources import LocalFile, parse_s3_uri, s3_prefix, split_s3_uri


class _FlakyBody:
    """Serves `data` but fails once after `fail_at` bytes, like a reset connection."""

    def __init__(self, data: bytes, fail_at: int | None) -> None:
        self._stream, self._fail_at, self.closed = io.BytesIO(data), fail_at, False

    def read(self, n: int) -> bytes:
        if self._fail_at is not None and self._stream.tell() + n > self._fail_at:
            chunk = self._stream.read(self._fail_at - self._stream.tell())
            if chunk:
                return chunk
            raise ResponseStreamingError(error="connection reset")
        return self._stream.read(n)

    def close(self) -> None:
        self.closed = True


class _FakeS3:
    def __init__(self, data: bytes, fail_at: int | None) -> None:
        self.data, self.fail_at = data, fail_at
        self.calls: list[dict[str, Any]] = []

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        start = int(kwargs["Range"][6:-1]) if "Range" in kwargs else 0
        fail_at = self.fail_at if len(self.calls) == 1 else None
        return {"Body": _FlakyBody(self.data[start:], fail_at)}

    def head_object(self, **kwargs: Any) -> dict[str, Any]:
        return {"ContentLength": len(self.data)}


def test_resumes_after_a_dropped_connection() -> None:
    data = b"".join(b'{"input": "line %d"}\n' % i for i in range(20_000))
    client = _FakeS3(data, fail_at=123_457)
    source = S3Object("s3://bucket/key.jsonl", client)
    with source.open() as stream:
        assert stream.read() == data
    assert client.calls[1] == {"Bucket": "bucket", "Key": "key.jsonl", "Range": "bytes=123457-"}
    assert source.size() == len(data)


def test_gives_up_after_repeated_drops() -> None:
    class _AlwaysFlaky(_FakeS3):
        def get_object(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            return {"Body": _FlakyBody(b"x" * 100, 0)}

    with (
        pytest.raises(ResponseStreamingError),
        S3Object("s3://b/k", _AlwaysFlaky(b"", None)).open() as stream,
    ):
        stream.read()


@pytest.mark.parametrize("uri", ["s3://bucket", "s3:///key", "https://bucket/key", "s3://bucket/"])
def test_bad_uris(uri: str) -> None:
    with pytest.raises(ValueError):
        parse_s3_uri(uri)


def test_source_for() -> None:
    assert source_for("data/train.jsonl") == LocalFile("data/train.jsonl")
    assert isinstance(source_for("s3://b/k", object()), S3Object)
    with pytest.raises(ValueError, match="S3 client"):
        source_for("s3://b/k")


@pytest.mark.parametrize(
    ("uri", "split", "prefix"),
    [
        ("s3://b/k.jsonl", ("b", "k.jsonl"), ("b", "k.jsonl/")),
        ("s3://b/dir/", ("b", "dir/"), ("b", "dir/")),
        ("s3://b", ("b", ""), ("b", "")),
        # S3 keys hold '?', '#' and a leading '/': the split keeps them, as S3 reads the key.
        ("s3://b/page?1#top.png", ("b", "page?1#top.png"), ("b", "page?1#top.png/")),
        ("s3://b//k", ("b", "/k"), ("b", "/k/")),
    ],
)
def test_one_split_for_objects_and_prefixes(
    uri: str, split: tuple[str, str], prefix: tuple[str, str]
) -> None:
    assert split_s3_uri(uri) == split
    assert s3_prefix(uri) == prefix
    if split[1]:
        assert parse_s3_uri(uri) == split
