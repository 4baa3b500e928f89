"""The images channel of a vision training job: the manifest the validate step writes, and the
paths the container reads (bedrock_pipeline.image_manifest, SageMaker's ManifestFile)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bedrock_pipeline.aws.s3 import object_heads
from bedrock_pipeline.image_manifest import (
    HEAD_BYTES,
    MAX_IMAGE_BYTES,
    ManifestError,
    ObjectHead,
    channel_path,
    image_format,
    manifest_body,
)
from lambdas.validate.logic import DatasetValidationError, run_validation

BUCKET, OTHER, ARTIFACTS = "team-data", "team-other", "team-artifacts"
FIELD = "messages[0].content[0].image"  # the first image block of `record`
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def record(*uris: str, answer: str = "It is red.") -> str:
    images = [{"image": {"format": "png", "source": {"s3Location": {"uri": u}}}} for u in uris]
    return json.dumps(
        {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [
                {"role": "user", "content": [*images, {"text": "What colour is it?"}]},
                {"role": "assistant", "content": [{"text": answer}]},
            ],
        }
    )


def test_the_manifest_lists_each_object_once_under_the_bucket_root() -> None:
    body = manifest_body(
        [f"s3://{BUCKET}/shapes/b.png", f"s3://{BUCKET}/a.png", f"s3://{BUCKET}/shapes/b.png"]
    )
    assert json.loads(body) == [{"prefix": f"s3://{BUCKET}/"}, "a.png", "shapes/b.png"]


def test_keys_keep_the_characters_a_url_parser_would_take_away() -> None:
    # '?' and '#' are key characters to S3 (and to the validator), not a query or a fragment.
    uri = f"s3://{BUCKET}/scans/page?1#top.png"
    assert channel_path(uri) == "scans/page?1#top.png"
    assert json.loads(manifest_body([uri]))[1] == "scans/page?1#top.png"


@pytest.mark.parametrize(
    ("uris", "message"),
    [
        ([f"s3://{BUCKET}/a.png", f"s3://{OTHER}/b.png"], f"2 buckets ({BUCKET}, {OTHER})"),
        ([], "no images"),
        ([f"s3://{BUCKET}/folder/"], "names a folder, not an object"),
        ([f"s3://{BUCKET}//lead.png"], "must be a relative file path"),
        ([f"s3://{BUCKET}/a/../b.png"], "must be a relative file path"),
        ([f"s3://{BUCKET}/a//b.png"], "must be a relative file path"),
        ([f"s3://{BUCKET}/./c.png"], "must be a relative file path"),
        (["https://example.com/a.png"], "names no object"),
    ],
)
def test_what_one_manifest_cannot_hold_is_refused(uris: list[str], message: str) -> None:
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        manifest_body(uris)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (BUCKET, OTHER, ARTIFACTS):
            client.create_bucket(Bucket=bucket)
        yield client


def put(s3: Any, bucket: str, key: str, lines: list[str]) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body="".join(line + "\n" for line in lines).encode())
    return f"s3://{bucket}/{key}"


def put_images(s3: Any, *uris: str, size: int = 100) -> None:
    for uri in uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=PNG_SIGNATURE + bytes(size))


def vision_event(train: str, validation: str | None = None) -> dict[str, Any]:
    return {
        "runName": "run-1",
        "baseModelId": "container/llama3-vision",
        "customizationType": "FINE_TUNING",
        "trainer": "container",
        "trainingDataUri": train,
        **({"validationDataUri": validation} if validation else {}),
    }


def test_the_validate_step_writes_the_manifest_of_exactly_the_named_images(s3: Any) -> None:
    train = put(
        s3,
        BUCKET,
        "vision/train.jsonl",
        [record(f"s3://{BUCKET}/img/{i}.png", answer=f"It is {i}.") for i in range(6)]
        + [record(f"s3://{BUCKET}/img/0.png", f"s3://{BUCKET}/img/extra.png", answer="Both.")],
    )
    validation = put(s3, BUCKET, "vision/val.jsonl", [record(f"s3://{BUCKET}/img/v.png")])
    keys = [f"img/{i}.png" for i in range(6)] + ["img/extra.png", "img/v.png"]
    put_images(s3, *(f"s3://{BUCKET}/{k}" for k in keys))
    result = run_validation(vision_event(train, validation), s3=s3, artifacts_bucket=ARTIFACTS)
    assert result["imagesManifestUri"] == f"s3://{ARTIFACTS}/runs/run-1/images.manifest"
    assert result["summary"]["images"] == 8
    body = s3.get_object(Bucket=ARTIFACTS, Key="runs/run-1/images.manifest")["Body"].read()
    assert json.loads(body) == [{"prefix": f"s3://{BUCKET}/"}, *sorted(keys)]


def test_text_runs_get_no_manifest(s3: Any) -> None:
    lines = [json.dumps({"prompt": f"q{i}", "completion": "a"}) for i in range(4)]
    event = {**vision_event(put(s3, BUCKET, "t.jsonl", lines)), "baseModelId": "container/llama3"}
    result = run_validation(event, s3=s3, artifacts_bucket=ARTIFACTS)
    assert "imagesManifestUri" not in result and "images" not in result["summary"]
    listed = s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="runs/run-1/")["Contents"]
    assert [o["Key"] for o in listed] == ["runs/run-1/validation-report.json"]


def test_an_image_outside_the_dataset_bucket_fails_validation_naming_the_line(s3: Any) -> None:
    train = put(
        s3,
        BUCKET,
        "train.jsonl",
        [record(f"s3://{BUCKET}/a.png"), record(f"s3://{OTHER}/b.png", answer="It is blue.")],
    )
    with pytest.raises(DatasetValidationError) as info:
        run_validation(vision_event(train), s3=s3, artifacts_bucket=ARTIFACTS)
    assert f"{train}:2: IMAGE_BUCKET: {FIELD}: image s3://{OTHER}/b.png is outside" in str(
        info.value
    )
    listed = s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="runs/run-1/")["Contents"]
    assert "runs/run-1/images.manifest" not in [o["Key"] for o in listed]


def test_train_and_validation_images_in_two_buckets_cannot_share_a_manifest(s3: Any) -> None:
    train = put(s3, BUCKET, "train.jsonl", [record(f"s3://{BUCKET}/a.png")])
    validation = put(s3, OTHER, "val.jsonl", [record(f"s3://{OTHER}/b.png")])
    put_images(s3, f"s3://{BUCKET}/a.png", f"s3://{OTHER}/b.png")
    with pytest.raises(DatasetValidationError) as info:
        run_validation(vision_event(train, validation), s3=s3, artifacts_bucket=ARTIFACTS)
    assert (
        f"{validation}:1: IMAGE_BUCKET: {FIELD}: image s3://{OTHER}/b.png is in bucket {OTHER}, "
        "the run's "
        f"images in {BUCKET} (first named at {train}:1)"
    ) in str(info.value)


@pytest.mark.parametrize("key", ["/lead.png", "a/../b.png", "a//b.png"])
def test_a_key_that_is_no_path_under_the_channel_fails_at_its_record(s3: Any, key: str) -> None:
    uri = f"s3://{BUCKET}/{key}"
    put_images(s3, uri, f"s3://{BUCKET}/ok.png")
    lines = [record(f"s3://{BUCKET}/ok.png"), record(uri, answer="It is blue.")]
    train = put(s3, BUCKET, "train.jsonl", lines)
    with pytest.raises(DatasetValidationError) as info:
        run_validation(vision_event(train), s3=s3, artifacts_bucket=ARTIFACTS)
    assert f"{train}:2: IMAGE_KEY: {FIELD}: {uri}: the key must be a relative file path" in (
        str(info.value)
    )
    report = json.loads(
        s3.get_object(Bucket=ARTIFACTS, Key="runs/run-1/validation-report.json")["Body"].read()
    )
    assert report["examples"]["IMAGE_KEY"][0].startswith(f"{train}:2:")


def test_missing_and_oversized_images_fail_validation_at_the_record_that_names_them(
    s3: Any,
) -> None:
    present, big = f"s3://{BUCKET}/img/ok.png", f"s3://{BUCKET}/img/big.png"
    missing = f"s3://{BUCKET}/img/gone.png"
    put_images(s3, present)
    put_images(s3, big, size=MAX_IMAGE_BYTES)
    lines = [record(present), record(missing, answer="It is blue."), record(big, answer="Green.")]
    train = put(s3, BUCKET, "train.jsonl", lines)
    with pytest.raises(DatasetValidationError) as info:
        run_validation(vision_event(train), s3=s3, artifacts_bucket=ARTIFACTS)
    message = str(info.value)
    assert message.startswith("2 validation error(s):")
    assert f"{train}:2: IMAGE_NOT_FOUND: {FIELD}: image {missing} does not exist" in message
    assert (
        f"{train}:3: IMAGE_TOO_LARGE: {FIELD}: image {big} is 10,000,008 bytes; at most 10,000,000"
        in (message)
    )
    report = json.loads(
        s3.get_object(Bucket=ARTIFACTS, Key="runs/run-1/validation-report.json")["Body"].read()
    )
    assert report["errorCount"] == 2  # the rest are warnings (a small dataset, no validation)
    assert report["countsByCode"]["IMAGE_NOT_FOUND"] == 1
    assert report["countsByCode"]["IMAGE_TOO_LARGE"] == 1
    listed = s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="runs/run-1/")["Contents"]
    assert "runs/run-1/images.manifest" not in [o["Key"] for o in listed]


def test_one_ranged_read_per_image_gives_its_size_and_first_bytes(s3: Any) -> None:
    # The size is the total of Content-Range, so no listing and no HeadObject are needed;
    # an object shorter than the range comes back whole.
    big, small = f"s3://{BUCKET}/photos/big.png", f"s3://{BUCKET}/photos/small.png"
    put_images(s3, big, size=5000)
    s3.put_object(Bucket=BUCKET, Key="photos/small.png", Body=PNG_SIGNATURE[:5])
    calls: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.*", lambda model, **_: calls.append(model.name)
    )
    heads, complete = object_heads(s3, [big, small], HEAD_BYTES)
    assert complete and calls == ["GetObject", "GetObject"]
    assert heads[big] == ObjectHead(len(PNG_SIGNATURE) + 5000, (PNG_SIGNATURE + bytes(4))[:12])
    assert heads[small] == ObjectHead(5, PNG_SIGNATURE[:5])


def test_running_out_of_time_is_an_error_not_a_missing_image(s3: Any) -> None:
    train = put(s3, BUCKET, "train.jsonl", [record(f"s3://{BUCKET}/a/1.png")])
    report_event = vision_event(train)
    with pytest.raises(DatasetValidationError) as info:
        run_validation(report_event, s3=s3, artifacts_bucket=ARTIFACTS, deadline=0.0)
    assert "IMAGES_UNCHECKED: time ran out after finding 0 of 1 named images" in str(info.value)
    assert "IMAGE_NOT_FOUND" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (b"\xff\xd8\xff\xe0" + bytes(20), "a jpeg image"),
        (b"GIF89a" + bytes(20), "a gif image"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(20), "a webp image"),
        (b"%PDF-1.7\n" + bytes(20), "no png, jpeg, gif or webp image"),
    ],
)
def test_an_object_that_is_not_its_declared_format_fails_at_its_record(
    s3: Any, body: bytes, found: str
) -> None:
    uri = f"s3://{BUCKET}/img/scan.png"
    s3.put_object(Bucket=BUCKET, Key="img/scan.png", Body=body)
    put_images(s3, f"s3://{BUCKET}/img/ok.png")
    lines = [record(f"s3://{BUCKET}/img/ok.png"), record(uri, answer="It is blue.")]
    train = put(s3, BUCKET, "train.jsonl", lines)
    with pytest.raises(DatasetValidationError) as info:
        run_validation(vision_event(train), s3=s3, artifacts_bucket=ARTIFACTS)
    message = f"{train}:2: IMAGE_CONTENT: {FIELD}: declares format 'png' but {uri} is {found}"
    assert message in str(info.value)
    assert str(info.value).startswith("1 validation error(s):")


def test_only_the_first_bytes_of_each_image_are_read(s3: Any) -> None:
    uris = [f"s3://{BUCKET}/img/{i}.png" for i in range(40)]
    put_images(s3, *uris, size=5000)
    ranges: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: ranges.append(params["Range"])
    )
    heads, complete = object_heads(s3, uris, HEAD_BYTES)
    assert complete and set(heads) == set(uris)
    assert all(len(h.head) == HEAD_BYTES and image_format(h.head) == "png" for h in heads.values())
    assert {h.size for h in heads.values()} == {len(PNG_SIGNATURE) + 5000}
    assert ranges == [f"bytes=0-{HEAD_BYTES - 1}"] * 40


def test_an_empty_image_fails_at_its_record(s3: Any) -> None:
    empty = f"s3://{BUCKET}/img/empty.png"
    s3.put_object(Bucket=BUCKET, Key="img/empty.png", Body=b"")
    put_images(s3, f"s3://{BUCKET}/img/ok.png")
    lines = [record(f"s3://{BUCKET}/img/ok.png"), record(empty, answer="It is blue.")]
    train = put(s3, BUCKET, "train.jsonl", lines)
    with pytest.raises(DatasetValidationError) as info:
        run_validation(vision_event(train), s3=s3, artifacts_bucket=ARTIFACTS)
    assert f"{train}:2: IMAGE_CONTENT: {FIELD}: image {empty} is empty" in str(info.value)


def test_reads_leave_out_objects_that_are_gone_and_size_empty_ones_0(s3: Any) -> None:
    ok, empty, gone = (f"s3://{BUCKET}/img/{n}.png" for n in ("ok", "empty", "gone"))
    put_images(s3, ok)
    s3.put_object(Bucket=BUCKET, Key="img/empty.png", Body=b"")
    heads, complete = object_heads(s3, [ok, empty, gone], HEAD_BYTES)
    assert complete and set(heads) == {ok, empty} and heads[empty] == ObjectHead(0, b"")
    heads, complete = object_heads(s3, [ok], HEAD_BYTES, deadline=0.0)
    assert not complete and heads == {}
