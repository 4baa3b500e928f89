"""The evaluation step over moto S3 on a test set with image records: planning refuses what no
request can carry; each record's images are read from S3 and sent as bytes; a record whose
image breaks a limit or cannot be read gets its own error."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from bedrock_pipeline.aws.retry import Backoff
from bedrock_pipeline.converse_images import MAX_IMAGE_BYTES
from bedrock_pipeline.formats import FormatError, ImageRef
from lambdas.evaluate import steps, store
from lambdas.evaluate.config import Batch
from lambdas.evaluate.images import ImageReader, ImageUnavailable
from lambdas.evaluate.invoke import Invoker
from tests.support.evaluation import (
    BUCKET,
    DATA,
    TEST_RECORDS,
    FakeRuntime,
    client_error,
    image_record,
    jsonl,
    make_config,
    png,
)

SQUARE, BIG, GONE = (f"s3://{DATA}/images/{n}.png" for n in ("square", "big", "gone"))


def put_test_set(s3: Any, records: list[dict[str, Any]]) -> None:
    s3.put_object(Bucket=DATA, Key="test.jsonl", Body=jsonl(records))


def evaluate(s3: Any, runtime: FakeRuntime) -> dict[int, dict[str, dict[str, Any]]]:
    """Plan and run every batch; the result rows by record index and model."""
    config = make_config(batchSize=10)
    plan = steps.plan(config, s3, BUCKET)
    for item in plan["batches"]:
        invoker = Invoker(runtime, config.inference, timeout_s=30)
        steps.run_batch(config, Batch(**item), s3=s3, invoker=invoker, bucket=BUCKET)
    rows: dict[int, dict[str, dict[str, Any]]] = {}
    for model in ("custom", "base"):
        for index, row in store.read_model_results(s3, BUCKET, "run-1", model).items():
            rows.setdefault(index, {})[model] = row
    return rows


def test_image_records_are_answered_with_the_bytes_of_their_objects(s3: Any) -> None:
    square = png(12, 12, (10, 200, 10))
    s3.put_object(Bucket=DATA, Key="images/square.png", Body=square)
    put_test_set(s3, [TEST_RECORDS[0], image_record(SQUARE)])
    runtime = FakeRuntime()
    rows = evaluate(s3, runtime)
    assert rows[1]["custom"]["output"] == "a square" and rows[1]["custom"]["error"] is None
    assert rows[1]["base"]["outputTokens"] > 0 and rows[0]["custom"]["output"] == "Paris"
    image_requests = [r for r in runtime.requests if len(r["messages"][0]["content"]) == 2]
    assert {r["modelId"] for r in image_requests} == {
        "meta.llama3-2-1b-instruct-v1:0",
        "arn:aws:bedrock:us-west-2:111122223333:imported-model/custom1",
    }
    for request in image_requests:
        assert request["messages"][0]["content"] == [
            {"image": {"format": "png", "source": {"bytes": square}}},
            {"text": "What shape is this?"},
        ]
        assert request["system"] == [{"text": "Look closely."}]


def test_over_limit_or_missing_image_fails_its_record_only(s3: Any) -> None:
    s3.put_object(Bucket=DATA, Key="images/square.png", Body=png())
    s3.put_object(Bucket=DATA, Key="images/big.png", Body=bytes(MAX_IMAGE_BYTES + 1))
    put_test_set(s3, [image_record(SQUARE), image_record(BIG), image_record(GONE)])
    runtime = FakeRuntime()
    rows = evaluate(s3, runtime)
    assert rows[0]["custom"]["error"] is None
    for model in ("custom", "base"):
        assert rows[1][model]["error"] == {
            "code": "ImageRefused",
            "message": f"image {BIG} is 3,932,161 bytes; Converse takes at most 3,932,160 "
            "bytes (3.75 MiB) per image",
        }
        error = rows[2][model]["error"]
        assert error["code"] == "ImageUnreadable" and error["message"].startswith(
            f"image {GONE}: NoSuchKey"
        )
    assert len(runtime.calls) == 2  # only the readable record reached the models


def test_plan_refuses_an_image_outside_the_test_sets_bucket(s3: Any) -> None:
    put_test_set(s3, [TEST_RECORDS[0], image_record("s3://other-bucket/a.png")])
    with pytest.raises(FormatError, match=r"test.jsonl:2: IMAGE_BUCKET: image s3://other-bucket"):
        steps.plan(make_config(), s3, BUCKET)


def test_plan_refuses_a_record_with_more_images_than_one_request_takes(s3: Any) -> None:
    put_test_set(s3, [image_record(*[SQUARE] * 21)])
    with pytest.raises(FormatError, match=r"test.jsonl:1: MEDIA_LIMIT: 21 images in one request"):
        steps.plan(make_config(), s3, BUCKET)


def test_models_asked_the_same_record_share_one_read(s3: Any) -> None:
    s3.put_object(Bucket=DATA, Key="images/square.png", Body=png())
    put_test_set(s3, [image_record(SQUARE)])
    records = store.load_test_set(s3, f"s3://{DATA}/test.jsonl")
    reader = ImageReader(s3)
    images = records[0].prompt_turns[0].images
    assert reader.read(images) == reader.read(images) == {SQUARE: png()}
    assert reader.reads == 1
    assert ImageReader(s3, cache_bytes=0).read(images * 2) == {SQUARE: png()}


def test_throttled_image_reads_are_retried(s3: Any) -> None:
    s3.put_object(Bucket=DATA, Key="images/square.png", Body=png())
    failures = [client_error("SlowDown", "Please reduce your request rate.", "GetObject")] * 2

    class Throttled:
        def get_object(self, **request: Any) -> Any:
            if failures:
                raise failures.pop()
            return s3.get_object(**request)

    sleeps: list[float] = []
    reader = ImageReader(
        Throttled(), backoff=Backoff(attempts=3, base_s=0.1, cap_s=1), sleep=sleeps.append
    )
    assert reader.read([ImageRef("png", SQUARE)]) == {SQUARE: png()}
    assert len(sleeps) == 2


def test_an_image_the_reader_refuses_or_a_broken_read_fails_its_record_only(s3: Any) -> None:
    # A PNG header claiming 20000 x 20000 px: Pillow refuses it as a decompression bomb (not an
    # OSError); and a body whose stream breaks off. Neither may abort the batch.
    header = (20000).to_bytes(4, "big") * 2 + png()[24:29]  # IHDR: width, height, the rest
    bomb = png()[:16] + header + zlib.crc32(b"IHDR" + header).to_bytes(4, "big") + png()[33:]
    s3.put_object(Bucket=DATA, Key="images/square.png", Body=png())
    s3.put_object(Bucket=DATA, Key="images/big.png", Body=bomb)
    put_test_set(s3, [image_record(SQUARE), image_record(BIG)])
    runtime = FakeRuntime()
    rows = evaluate(s3, runtime)
    assert rows[0]["custom"]["error"] is None
    for model in ("custom", "base"):
        error = rows[1][model]["error"]
        assert error["code"] == "ImageRefused", error
        assert error["message"].startswith(f"image {BIG} is refused by the image reader"), error

    class Broken:
        def read(self) -> bytes:
            raise ConnectionResetError("connection reset by peer")

        def close(self) -> None:
            pass

    class BreaksOff:
        def get_object(self, **request: Any) -> Any:
            return {"ContentLength": 10, "Body": Broken()}

    with pytest.raises(ImageUnavailable) as info:
        ImageReader(BreaksOff()).read([ImageRef("png", SQUARE)])
    assert info.value.code == "ImageUnreadable"
    assert str(info.value) == (f"image {SQUARE}: ConnectionResetError: connection reset by peer")
