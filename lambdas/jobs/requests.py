"""The create-requests of the four job kinds, built from the prepared run state.

Pure: no AWS calls. Every request carries the run's derived name and idempotency token
(``bedrock_pipeline.run_spec.names_for``), the project's network and model key, and the run's tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bedrock_pipeline.training_contract import (
    CHANNEL_BASE_MODEL,
    CHANNEL_IMAGES,
    CHANNEL_TRAIN,
    CHANNEL_VALIDATION,
    ENV_SOURCE_PREFIX,
    MAX_ENVIRONMENT_VALUE,
    metric_definitions,
)
from lambdas.jobs.settings import Settings

# Where SageMaker mounts the checkpoint channel inside the container (its documented default).
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"


def tags(state: Mapping[str, Any], settings: Settings) -> list[dict[str, str]]:
    """The run's tags plus the ones the workflow owns (``bcp:`` keys are reserved in run_spec)."""
    run = state["run"]
    own = {"bcp:run": run["runName"], "bcp:stage": settings.STAGE_PREFIX}
    return [{"key": k, "value": v} for k, v in {**run.get("tags", {}), **own}.items()]


def _hyperparameters(state: Mapping[str, Any]) -> dict[str, str]:
    # The validate step returns the canonical string map (defaults filled in, ranges checked).
    validated = (state.get("validation") or {}).get("hyperParameters") or {}
    return {str(k): str(v) for k, v in validated.items()}


def customization(state: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    run, names = state["run"], state["names"]["customization"]
    request: dict[str, Any] = {
        "jobName": names["jobName"],
        "customModelName": names["modelName"],
        "roleArn": settings.BEDROCK_CUSTOMIZATION_ROLE_ARN,
        "clientRequestToken": names["token"],
        "baseModelIdentifier": run["baseModelId"],
        "customizationType": run["customizationType"],
        "customModelKmsKeyId": settings.MODEL_KEY_ARN,
        "jobTags": tags(state, settings),
        "customModelTags": tags(state, settings),
        "trainingDataConfig": _training_data(run),
        "outputDataConfig": {"s3Uri": settings.artifacts_uri(run["runName"], "customization")},
        "hyperParameters": _hyperparameters(state),
        "vpcConfig": settings.vpc,
    }
    if run.get("validationDataUri"):
        request["validationDataConfig"] = {"validators": [{"s3Uri": run["validationDataUri"]}]}
    if run["customizationType"] == "DISTILLATION":
        teacher: dict[str, Any] = {"teacherModelIdentifier": run["teacherModelId"]}
        if run.get("maxResponseLength"):
            teacher["maxResponseLengthForInference"] = run["maxResponseLength"]
        request["customizationConfig"] = {"distillationConfig": {"teacherModelConfig": teacher}}
    return request


def _training_data(run: Mapping[str, Any]) -> dict[str, Any]:
    """A prompt or training file, or (distillation) the invocation logs: the run document
    holds ``invocationLogsConfig`` in the API's own shape (TrainingDataConfig)."""
    if run.get("invocationLogsConfig"):
        return {"invocationLogsConfig": run["invocationLogsConfig"]}
    return {"s3Uri": run["trainingDataUri"]}


def _channel(name: str, uri: str, data_type: str = "S3Prefix") -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": data_type,
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def training_output_uri(state: Mapping[str, Any], settings: Settings) -> str:
    return settings.artifacts_uri(state["run"]["runName"], "training")


def trained_model_uri(state: Mapping[str, Any], settings: Settings) -> str:
    """With CompressionType NONE, SageMaker copies /opt/ml/model here file by file."""
    job = state["names"]["training"]["jobName"]
    return f"{training_output_uri(state, settings)}{job}/output/model/"


def training(state: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    run, names = state["run"], state["names"]["training"]
    container = run["container"]
    channels = [
        _channel(CHANNEL_TRAIN, run["trainingDataUri"]),
        _channel(CHANNEL_BASE_MODEL, container["baseWeightsUri"]),
    ]
    if run.get("validationDataUri"):
        channels.append(_channel(CHANNEL_VALIDATION, run["validationDataUri"]))
    # Image records: the validate step listed exactly the images they name in a manifest
    # (bedrock_pipeline.image_manifest); SageMaker downloads those objects, nothing else.
    manifest = (state.get("validation") or {}).get("imagesManifestUri")
    if manifest:
        channels.append(_channel(CHANNEL_IMAGES, manifest, data_type="ManifestFile"))
    sources = {
        f"{ENV_SOURCE_PREFIX}{name.upper()}": uri
        for name, uri in ((CHANNEL_TRAIN, run["trainingDataUri"]),
                          (CHANNEL_VALIDATION, run.get("validationDataUri")))
        if uri and len(uri) <= MAX_ENVIRONMENT_VALUE
    }  # fmt: skip
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": container["maxRuntimeS"]}
    if container["useSpot"]:
        stopping["MaxWaitTimeInSeconds"] = container.get("maxWaitS") or container["maxRuntimeS"]
    return {
        "TrainingJobName": names["jobName"],
        "RoleArn": settings.SAGEMAKER_ROLE_ARN,
        "AlgorithmSpecification": {
            "TrainingImage": settings.TRAINING_IMAGE_URI,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(),
        },
        "HyperParameters": {**_hyperparameters(state), "method": container["method"]},
        # The container's data errors name these objects instead of its copies of them.
        "Environment": sources,
        "InputDataConfig": channels,
        "OutputDataConfig": {
            "S3OutputPath": training_output_uri(state, settings),
            "KmsKeyId": settings.MODEL_KEY_ARN,
            # Files, not model.tar.gz: Custom Model Import reads the directory as it is.
            "CompressionType": "NONE",
        },
        "ResourceConfig": {
            "InstanceType": container["instanceType"],
            "InstanceCount": container["instanceCount"],
            "VolumeSizeInGB": container["volumeSizeGb"],
            "VolumeKmsKeyId": settings.MODEL_KEY_ARN,
        },
        "VpcConfig": {
            "SecurityGroupIds": list(settings.SECURITY_GROUP_IDS),
            "Subnets": list(settings.SUBNET_IDS),
        },
        "StoppingCondition": stopping,
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "EnableManagedSpotTraining": bool(container["useSpot"]),
        # Resume after a spot interruption (the trainer saves every checkpointEverySteps).
        "CheckpointConfig": {
            "S3Uri": settings.artifacts_uri(run["runName"], "checkpoints"),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        },
        "Tags": [{"Key": t["key"], "Value": t["value"]} for t in tags(state, settings)],
    }


def import_source(state: Mapping[str, Any], settings: Settings) -> str:
    """The weights to import: the training job's model directory, or the run's own prefix."""
    run = state["run"]
    if run["trainer"] == "import":
        uri = str(run["modelDataUri"])
        return uri if uri.endswith("/") else uri + "/"
    return trained_model_uri(state, settings)


def model_import(state: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    names = state["names"]["import"]
    return {
        "jobName": names["jobName"],
        "importedModelName": names["modelName"],
        "roleArn": settings.BEDROCK_IMPORT_ROLE_ARN,
        "modelDataSource": {"s3DataSource": {"s3Uri": import_source(state, settings)}},
        "jobTags": tags(state, settings),
        "importedModelTags": tags(state, settings),
        "clientRequestToken": names["token"],
        "vpcConfig": settings.vpc,
        "importedModelKmsKeyId": settings.MODEL_KEY_ARN,
    }


def throughput(state: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    run, names = state["run"], state["names"]["throughput"]
    model_arn = state["jobs"]["customization"]["outputs"]["modelArn"]
    # No commitmentDuration: no-commitment throughput is the only kind that can be deleted
    # after the evaluation.
    return {
        "clientRequestToken": names["token"],
        "modelUnits": run["provisionedThroughput"]["modelUnits"],
        "provisionedModelName": names["modelName"],
        "modelId": model_arn,
        "tags": tags(state, settings),
    }
