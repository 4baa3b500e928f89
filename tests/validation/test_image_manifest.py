"""The images channel of a vision training job: the manifest the validate step writes, and the
paths the container reads (bedrock_pipeline.image_manifest, SageMaker's ManifestFile)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bedrock_pipeline.image_manifest import ManifestError, channel_path, manifest_body
from lambdas.validate.logic import DatasetValidationError, run_validation

BUCKET, OTHER, ARTIFACTS = "team-data", "team-other", "team-artifacts"


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
        ([f"s3://{BUCKET}/folder/"], "names no object"),
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
    result = run_validation(vision_event(train, validation), s3=s3, artifacts_bucket=ARTIFACTS)
    assert result["imagesManifestUri"] == f"s3://{ARTIFACTS}/runs/run-1/images.manifest"
    assert result["summary"]["images"] == 8
    body = s3.get_object(Bucket=ARTIFACTS, Key="runs/run-1/images.manifest")["Body"].read()
    keys = [f"img/{i}.png" for i in range(6)] + ["img/extra.png", "img/v.png"]
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
    assert f"{train}:2: IMAGE_BUCKET: image s3://{OTHER}/b.png is outside" in str(info.value)
    listed = s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="runs/run-1/")["Contents"]
    assert "runs/run-1/images.manifest" not in [o["Key"] for o in listed]


def test_train_and_validation_images_in_two_buckets_cannot_share_a_manifest(s3: Any) -> None:
    train = put(s3, BUCKET, "train.jsonl", [record(f"s3://{BUCKET}/a.png")])
    validation = put(s3, OTHER, "val.jsonl", [record(f"s3://{OTHER}/b.png")])
    with pytest.raises(DatasetValidationError) as info:
        run_validation(vision_event(train, validation), s3=s3, artifacts_bucket=ARTIFACTS)
    assert f"images:0: IMAGE_BUCKET: images in 2 buckets ({BUCKET}, {OTHER})" in str(info.value)
