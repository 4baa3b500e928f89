"""What SageMaker does with the role a training job is passed, decided against the templates.

A CreateTrainingJob request names a role; SageMaker uses it for the job's own S3 traffic,
from inside the job's VPC (SageMaker Developer Guide, train-vpc.html: with a VPC and no internet
access, the job reaches S3 only through the VPC's S3 endpoint, whose policy applies). For each
input channel (API_S3DataSource.html) it lists the prefix and reads every object under it
(``S3Prefix``), or reads the manifest and then each object the manifest lists
(``ManifestFile``); it writes the model under ``OutputDataConfig.S3OutputPath``, encrypted with
``OutputDataConfig.KmsKeyId`` (API_OutputDataConfig.html). S3 calls KMS for the reads with the
key the object was stored under (the bucket's default key) and for the writes with the named
key, under the same role (UsingKMSEncryption.html, "permissions").

``training_job_denials`` decides each of those calls as the project's authorizer decides the
handlers' (identity policy, bucket policy, key policy, S3 endpoint policy) and returns why each
denied one is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bedrock_pipeline.image_manifest import manifest_key
from bedrock_pipeline.sources import split_s3_uri
from tools.audit.authz.calls import Authorizer, Call
from tools.audit.authz.deployment import Deployment

# One object under each S3Prefix channel stands for all of them (IAM matches keys by pattern).
PREFIX_SAMPLE = "any-object"


def training_job_calls(
    request: Mapping[str, Any], manifests: Mapping[str, list[Any]]
) -> list[Call]:
    """SageMaker's S3 calls for the request's input channels and its model write, each named
    by what it is for (``Call.caller``). ``manifests``: each ManifestFile channel's manifest
    (its S3 URI -> the parsed JSON array), as the job will read it."""

    def call(what: str, operation: str, **params: Any) -> Call:
        return Call("training job", ("", "SageMaker"), what, "s3", operation, params)

    out: list[Call] = []
    for channel in request["InputDataConfig"]:
        name, source = channel["ChannelName"], channel["DataSource"]["S3DataSource"]
        bucket, key = split_s3_uri(source["S3Uri"])
        if source["S3DataType"] == "ManifestFile":
            out.append(call(f"channel {name}: manifest", "GetObject", Bucket=bucket, Key=key))
            head, *suffixes = manifests[source["S3Uri"]]
            listed, prefix = split_s3_uri(head["prefix"])
            out += [
                call(f"channel {name}: {s}", "GetObject", Bucket=listed, Key=prefix + s)
                for s in suffixes
            ]
        else:
            out.append(call(f"channel {name}", "ListObjectsV2", Bucket=bucket, Prefix=key))
            sample = key + PREFIX_SAMPLE if key.endswith("/") else key
            out.append(call(f"channel {name}: {sample}", "GetObject", Bucket=bucket, Key=sample))
    bucket, key = split_s3_uri(request["OutputDataConfig"]["S3OutputPath"])
    model = f"{key}{request['TrainingJobName']}/output/model/model.safetensors"
    output_key = request["OutputDataConfig"].get("KmsKeyId")
    encryption = {"SSEKMSKeyId": output_key} if output_key else {}
    out.append(call("the trained model", "PutObject", Bucket=bucket, Key=model, **encryption))
    return out


def training_job_denials(
    authorizer: Authorizer, request: Mapping[str, Any], manifests: Mapping[str, list[Any]]
) -> list[str]:
    """Why SageMaker, acting with ``request["RoleArn"]``, could not read the job's inputs or
    write its model: one line per denied request (empty: all allowed)."""
    return training_job_check(authorizer, request, manifests)[1]


def training_job_check(
    authorizer: Authorizer, request: Mapping[str, Any], manifests: Mapping[str, list[Any]]
) -> tuple[int, list[str]]:
    """(requests decided, why each denied one is) for SageMaker's calls with the job's role,
    from inside the VPC: the authorizer's own decision of each call (``Authorizer.check_as``:
    the S3 endpoint policy, and the KMS requests S3 makes, the write's with the key it names)."""
    decisions = [
        authorizer.check_as(str(request["RoleArn"]), call, in_vpc=True)
        for call in training_job_calls(request, manifests)
    ]
    denials = [f"{d.call.caller}: {line}" for d in decisions for line in d.denials]
    return sum(len(d.checked) for d in decisions), denials


def vision_run_request(deployment: Deployment) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The CreateTrainingJob request the job driver builds for a Llama 3.2 Vision run of this
    deployment (``lambdas.jobs.requests.training`` with the jobs function's environment as
    deployed: every channel kind, the images channel included), and that channel's manifest."""
    from lambdas.jobs import requests
    from lambdas.jobs.settings import Settings

    function = next(
        r
        for r in deployment.resources("AWS::Lambda::Function")
        if str(r.properties.get("Handler", "")).startswith("lambdas.jobs.")
    )
    env = deployment.resolve(function.properties["Environment"]["Variables"], function.stack)
    settings = Settings.from_env({k: str(v) for k, v in env.items()})
    data = next(
        deployment.values(r.stack, r.logical_id)["Ref"]
        for r in deployment.resources("AWS::S3::Bucket")
        if r.logical_id.startswith("BucketsTrainingData")
    )
    manifest = f"s3://{settings.ARTIFACTS_BUCKET}/{manifest_key('audit-run')}"
    names = {"jobName": f"{settings.STAGE_PREFIX}-audit-run-train", "token": "t" * 40}
    state = {
        "run": {
            "runName": "audit-run",
            "trainer": "container",
            "trainingDataUri": f"s3://{data}/vision/train.jsonl",
            "validationDataUri": f"s3://{data}/vision/validation.jsonl",
            "container": {
                "baseWeightsUri": f"s3://{data}/weights/llama-3.2-11b-vision/",
                "method": "lora",
                "instanceType": "ml.p4d.24xlarge",
                "instanceCount": 1,
                "volumeSizeGb": 500,
                "maxRuntimeS": 86400,
                "useSpot": False,
            },
        },
        "names": {"training": names},
        "validation": {"hyperParameters": {}, "imagesManifestUri": manifest},
    }
    listed = [{"prefix": f"s3://{data}/"}, "vision/images/0001.png"]
    return requests.training(state, settings), {manifest: listed}
