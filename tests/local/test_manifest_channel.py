"""Local mode's SageMaker ManifestFile channel: each listed object at its suffix, nothing else,
and never outside the channel folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bedrock_pipeline.local.emulated_bedrock import REGION
from bedrock_pipeline.local.services import download_manifest


def _manifest(s3: Any, listed: list[str]) -> str:
    body = json.dumps([{"prefix": "s3://data/"}, *listed]).encode()
    s3.put_object(Bucket="artifacts", Key="runs/r/images.manifest", Body=body)
    return "s3://artifacts/runs/r/images.manifest"


def test_each_listed_object_lands_at_its_suffix_and_nothing_else(tmp_path: Path) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in ("data", "artifacts"):
            s3.create_bucket(Bucket=bucket)
        for key in ("photos/a.png", "photos/b.png", "photos/unlisted.png"):
            s3.put_object(Bucket="data", Key=key, Body=key.encode())
        count = download_manifest(_manifest(s3, ["photos/a.png", "photos/b.png"]), tmp_path)
    assert count == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == [
        "photos/a.png",
        "photos/b.png",
    ]


@pytest.mark.parametrize("suffix", ["../escape.png", "/tmp/escape.png"])
def test_a_suffix_that_leaves_the_channel_is_refused(tmp_path: Path, suffix: str) -> None:
    channel = tmp_path / "channel"
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in ("data", "artifacts"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="data", Key=suffix, Body=b"x")
        with pytest.raises(ValueError, match="leads out of the channel"):
            download_manifest(_manifest(s3, [suffix]), channel)
    assert not (tmp_path / "escape.png").exists()
