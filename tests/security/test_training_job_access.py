"""What SageMaker does with the training role, decided against the synthesized templates: it
reads each input channel (a prefix, or a manifest and every object the manifest lists) and
writes the model, from inside the VPC, with the keys the buckets and the request name
(tools/audit/authz/jobs.py). The scenario in tests/workflow checks the request the job driver
really builds; these cases show the check refuses what the templates do not allow."""

from __future__ import annotations

from typing import Any

import pytest

from tools.audit.authz.calls import Authorizer
from tools.audit.authz.jobs import training_job_denials


def _deployed(authorizer: Authorizer) -> dict[str, str]:
    d = authorizer.d
    out: dict[str, str] = {}
    for r in d.resources("AWS::S3::Bucket"):
        for kind in ("TrainingData", "Artifacts"):
            if r.logical_id.startswith(f"Buckets{kind}"):
                out[kind] = d.values(r.stack, r.logical_id)["Ref"]
    for r in d.resources("AWS::IAM::Role"):
        if "SageMakerTrainingRole" in r.logical_id:
            out["role"] = d.values(r.stack, r.logical_id)["Arn"]
    for r in d.resources("AWS::KMS::Key"):
        if "Model" in r.logical_id:
            out["modelKey"] = d.values(r.stack, r.logical_id)["Arn"]
    return out


def _request(names: dict[str, str], manifest: str) -> dict[str, Any]:
    data, artifacts = names["TrainingData"], names["Artifacts"]

    def channel(name: str, uri: str, kind: str = "S3Prefix") -> dict[str, Any]:
        return {
            "ChannelName": name,
            "DataSource": {"S3DataSource": {"S3DataType": kind, "S3Uri": uri}},
        }

    return {
        "TrainingJobName": "bcp-dev-run-train",
        "RoleArn": names["role"],
        "InputDataConfig": [
            channel("train", f"s3://{data}/vision/train.jsonl"),
            channel("base_model", f"s3://{data}/weights/vision/"),
            channel("images", manifest, "ManifestFile"),
        ],
        "OutputDataConfig": {
            "S3OutputPath": f"s3://{artifacts}/runs/run/training/",
            "KmsKeyId": names["modelKey"],
        },
    }


def test_the_training_role_reads_a_run_manifest_and_the_images_it_lists(
    dev_authorizer: Authorizer,
) -> None:
    names = _deployed(dev_authorizer)
    manifest = f"s3://{names['Artifacts']}/runs/run/images.manifest"
    listed = [{"prefix": f"s3://{names['TrainingData']}/"}, "photos/1.png", "photos/2.png"]
    request = _request(names, manifest)
    assert training_job_denials(dev_authorizer, request, {manifest: listed}) == []


@pytest.mark.parametrize(
    ("manifest_key", "prefix", "denied"),
    [
        # The training role reads the artifacts bucket under runs/ only.
        ("elsewhere/images.manifest", None, "channel images: manifest: s3:GetObject"),
        # Images outside the project's buckets: neither the role nor the endpoint allow them.
        ("runs/run/images.manifest", "s3://someone-elses-bucket/", "channel images: a.png"),
    ],
)
def test_what_the_templates_do_not_allow_is_denied(
    dev_authorizer: Authorizer, manifest_key: str, prefix: str | None, denied: str
) -> None:
    names = _deployed(dev_authorizer)
    manifest = f"s3://{names['Artifacts']}/{manifest_key}"
    listed = [{"prefix": prefix or f"s3://{names['TrainingData']}/"}, "a.png"]
    denials = training_job_denials(dev_authorizer, _request(names, manifest), {manifest: listed})
    assert any(line.startswith(denied) for line in denials), denials
