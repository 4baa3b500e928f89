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

``training_job_denials`` decides each of those requests with the project's authorizer (identity
policy, bucket policy, key policy, S3 endpoint policy) and returns why each denied one is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bedrock_pipeline.image_manifest import manifest_key
from bedrock_pipeline.sources import split_s3_uri
from tools.audit.authz.calls import Authorizer
from tools.audit.authz.deployment import Deployment
from tools.audit.authz.policy import Request

# One object under each S3Prefix channel stands for all of them (IAM matches keys by pattern).
PREFIX_SAMPLE = "any-object"


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def training_job_reads(
    request: Mapping[str, Any], manifests: Mapping[str, list[Any]]
) -> list[tuple[str, str, str, dict[str, str]]]:
    """(action, resource, what, extra condition keys) of SageMaker's reads for the request's
    input channels and its model write. ``manifests``: each ManifestFile channel's manifest
    (its S3 URI -> the parsed JSON array), as the job will read it."""
    out: list[tuple[str, str, str, dict[str, str]]] = []
    for channel in request["InputDataConfig"]:
        name, source = channel["ChannelName"], channel["DataSource"]["S3DataSource"]
        bucket, key = split_s3_uri(source["S3Uri"])
        if source["S3DataType"] == "ManifestFile":
            out.append(("s3:GetObject", _object(bucket, key), f"channel {name}: manifest", {}))
            head, *suffixes = manifests[source["S3Uri"]]
            listed, prefix = split_s3_uri(head["prefix"])
            out += [
                ("s3:GetObject", _object(listed, prefix + s), f"channel {name}: {s}", {})
                for s in suffixes
            ]
        else:
            listing = {"s3:prefix": key}
            out.append(("s3:ListBucket", f"arn:aws:s3:::{bucket}", f"channel {name}", listing))
            sample = key + PREFIX_SAMPLE if key.endswith("/") else key
            out.append(("s3:GetObject", _object(bucket, sample), f"channel {name}: {sample}", {}))
    bucket, key = split_s3_uri(request["OutputDataConfig"]["S3OutputPath"])
    model = f"{key}{request['TrainingJobName']}/output/model/model.safetensors"
    out.append(("s3:PutObject", _object(bucket, model), "the trained model", {}))
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
    """(requests decided, why each denied one is) for SageMaker's S3 and KMS requests with the
    job's role (``training_job_denials``)."""
    role = str(request["RoleArn"])
    model, d = authorizer.model, authorizer.d
    found = model.endpoint("s3")
    endpoint_id, endpoint = found if found else (None, None)
    base = {
        "aws:principalarn": role,
        "aws:principalaccount": d.account,
        "aws:requestedregion": d.region,
        "aws:securetransport": "true",
        "aws:viaawsservice": "false",
        **({"aws:sourcevpce": endpoint_id, "aws:sourcevpc": model.vpc_id} if endpoint_id else {}),
    }
    kms = {
        **base,
        "kms:viaservice": f"s3.{d.region}.amazonaws.com",
        "kms:calleraccount": d.account,
        "aws:viaawsservice": "true",
    }
    output_key = request["OutputDataConfig"].get("KmsKeyId")
    denials: list[str] = []
    decided = 0
    for action, resource, what, extra in training_job_reads(request, manifests):
        bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        checks = [(Request(role, action, resource, {**base, **extra}), endpoint)]
        if action == "s3:GetObject" and model.encryption.get(bucket):
            checks.append((Request(role, "kms:Decrypt", model.encryption[bucket], kms), None))
        if action == "s3:PutObject" and output_key:
            checks.append((Request(role, "kms:GenerateDataKey", output_key, kms), None))
        for check, policy in checks:
            decided += 1
            reason = authorizer.denial(_with_owner(authorizer, check), policy)
            if reason:
                denials.append(f"{what}: {check.action} on {check.resource}: {reason}")
    return decided, denials


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


def _with_owner(authorizer: Authorizer, request: Request) -> Request:
    owner = authorizer.resource_account(request.resource)
    if owner is None:
        return request
    return Request(
        request.principal,
        request.action,
        request.resource,
        {**request.context, "aws:resourceaccount": owner},
    )
