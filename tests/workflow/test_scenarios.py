"""Happy paths of the synthesized state machine, run in moto's interpreter against the real
handlers: every scenario starts a run the way the API does (execution named after ``runName``,
the run document as input) and judges it by the execution, the requests the emulated services
received, and what the team is told (SNS message, EventBridge event).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from bedrock_pipeline.run_spec import names_for
from tests.support.workflow import Workflow
from tests.workflow.runs import (
    HAIKU,
    LLAMA_CONFIG,
    PREFIX,
    SONNET,
    TITAN,
    WEIGHTS,
    bedrock_run,
    created,
    prompt_completion,
    sums,
    upload_weights,
)
from tools.audit.authz.calls import Authorizer
from tools.audit.authz.jobs import training_job_denials


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="PNG")
    return out.getvalue()


# A cross-region inference profile: the evaluation role needs the profile and the model.
LLAMA_BEDROCK = "us.meta.llama3-2-1b-instruct-v1:0"

# -- happy paths -------------------------------------------------------------------------------


def test_bedrock_fine_tuning(workflow: Workflow) -> None:
    workflow.emulator.script("customization", duration_s=3600)
    result = workflow.run(bedrock_run(workflow, "ft-1", tags={"team": "search"}))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["outcome"] == "SUCCEEDED"
    assert result.output["outputs"]["customModelArn"].startswith("arn:aws:bedrock:")
    (request,) = workflow.emulator.requests("bedrock", "CreateModelCustomizationJob")
    env = workflow.deployment.functions["JobsFunction0F6DA2A5"].environment
    names = names_for("ft-1", PREFIX)["customization"]
    assert (
        request["jobName"] == names["jobName"] and request["clientRequestToken"] == names["token"]
    )
    assert request["customModelKmsKeyId"] == env["MODEL_KEY_ARN"]
    assert request["vpcConfig"]["subnetIds"] == env["SUBNET_IDS"].split(",")
    assert request["vpcConfig"]["securityGroupIds"] == [env["SECURITY_GROUP_IDS"]]
    assert request["roleArn"] == env["BEDROCK_CUSTOMIZATION_ROLE_ARN"]
    assert {"key": "team", "value": "search"} in request["jobTags"]
    assert {"key": "bcp:run", "value": "ft-1"} in request["customModelTags"]
    # The validate step's canonical hyperparameters (defaults filled in) reach the job.
    assert request["hyperParameters"]["epochCount"] == "2"
    (event,) = workflow.run_events()
    assert event["detail-type"] == "Customization Run Succeeded"
    assert (
        event["detail"]["outputs"]["customModelArn"] == result.output["outputs"]["customModelArn"]
    )
    (message,) = workflow.notifications()
    assert "ft-1: SUCCEEDED" in message


def test_continued_pre_training(workflow: Workflow) -> None:
    records = [
        {"input": f"Paragraph {i} of the team's domain corpus about sums."} for i in range(20)
    ]
    uri = workflow.put_jsonl("cpt/train.jsonl", records)
    document = {
        "runName": "cpt-1",
        "baseModelId": TITAN,
        "customizationType": "CONTINUED_PRE_TRAINING",
        "trainingDataUri": uri,
        "hyperParameters": {"epochCount": 1},
    }
    result = workflow.run(document)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (request,) = workflow.emulator.requests("bedrock", "CreateModelCustomizationJob")
    assert request["customizationType"] == "CONTINUED_PRE_TRAINING"
    assert request["hyperParameters"]["epochCount"] == "1"


def test_distillation(workflow: Workflow) -> None:
    records = [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [{"role": "user", "content": [{"text": q}]}],
        }
        for q, _ in sums(100)
    ]
    uri = workflow.put_jsonl("distil/train.jsonl", records)
    document = {
        "runName": "distil-1",
        "baseModelId": HAIKU,
        "customizationType": "DISTILLATION",
        "trainingDataUri": uri,
        "teacherModelId": SONNET,
        "maxResponseLength": 1000,
    }
    result = workflow.run(document)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (request,) = workflow.emulator.requests("bedrock", "CreateModelCustomizationJob")
    teacher = request["customizationConfig"]["distillationConfig"]["teacherModelConfig"]
    assert teacher == {"teacherModelIdentifier": SONNET, "maxResponseLengthForInference": 1000}
    assert request["customizationType"] == "DISTILLATION"


def test_container_training_then_import_then_evaluation(workflow: Workflow) -> None:
    train = workflow.put_jsonl("container/train.jsonl", prompt_completion(10))
    test = workflow.put_jsonl("container/test.jsonl", prompt_completion(7, start=100))
    base = upload_weights(workflow, "weights/llama/", WEIGHTS)
    workflow.emulator.script("training", duration_s=5 * 3600)
    workflow.emulator.script("import", duration_s=900)
    document = {
        "runName": "container-1",
        "baseModelId": "container/llama3",
        "trainer": "container",
        "trainingDataUri": train,
        "container": {
            "baseWeightsUri": base,
            "instanceType": "ml.g5.12xlarge",
            "useSpot": True,
            "maxRuntimeS": 36000,
            "maxWaitS": 72000,
            "hyperParameters": {"epochCount": 2},
        },
        "evaluation": {"testDataUri": test, "batchSize": 3, "baseModelId": LLAMA_BEDROCK},
    }
    result = workflow.run(document)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    env = workflow.deployment.functions["JobsFunction0F6DA2A5"].environment
    (training,) = workflow.emulator.requests("sagemaker", "CreateTrainingJob")
    assert training["TrainingJobName"].startswith(f"{PREFIX}-")
    assert training["VpcConfig"] == {
        "SecurityGroupIds": [env["SECURITY_GROUP_IDS"]],
        "Subnets": env["SUBNET_IDS"].split(","),
    }
    assert training["ResourceConfig"]["VolumeKmsKeyId"] == env["MODEL_KEY_ARN"]
    assert training["OutputDataConfig"]["KmsKeyId"] == env["MODEL_KEY_ARN"]
    assert training["OutputDataConfig"]["CompressionType"] == "NONE"
    assert training["EnableNetworkIsolation"] is True
    assert training["EnableInterContainerTrafficEncryption"] is True
    assert training["EnableManagedSpotTraining"] is True
    assert training["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 36000,
        "MaxWaitTimeInSeconds": 72000,
    }
    assert training["CheckpointConfig"]["S3Uri"].endswith("/runs/container-1/checkpoints/")
    assert training["AlgorithmSpecification"]["TrainingImage"] == env["TRAINING_IMAGE_URI"]
    assert (
        training["HyperParameters"]["epochCount"] == "2"
        and training["HyperParameters"]["method"] == "lora"
    )
    assert {c["ChannelName"] for c in training["InputDataConfig"]} == {"train", "base_model"}
    (imported,) = workflow.emulator.requests("bedrock", "CreateModelImportJob")
    # The import reads exactly the directory the training job wrote (no model.tar.gz).
    assert (
        imported["modelDataSource"]["s3DataSource"]["s3Uri"]
        == result.output["outputs"]["trainedModelUri"]
    )
    assert imported["importedModelKmsKeyId"] == env["MODEL_KEY_ARN"]
    assert imported["vpcConfig"]["subnetIds"] == env["SUBNET_IDS"].split(",")
    assert imported["clientRequestToken"] == names_for("container-1", PREFIX)["import"]["token"]
    evaluation = result.output["outputs"]["evaluation"]
    assert evaluation["decision"] == "promoted"
    assert "Evaluate batches" in result.entered()
    assert result.entered().count("Run batch") == 3  # 7 records in batches of 3
    # The base side of the comparison is the Bedrock model the document names, never the
    # registry architecture (Bedrock Runtime has no model container/llama3).
    calls = workflow.emulator.requests("bedrock-runtime", "Converse")
    called = {c["modelId"] for c in calls}
    assert called == {LLAMA_BEDROCK, result.output["outputs"]["importedModelArn"]}
    assert sum(c["modelId"] == LLAMA_BEDROCK for c in calls) == 7


def test_vision_training_reads_the_images_the_validate_step_listed(
    workflow: Workflow, dev_authorizer: Authorizer
) -> None:
    bucket = workflow.training_bucket

    def record(key: str) -> dict[str, Any]:
        image = {"format": "png", "source": {"s3Location": {"uri": f"s3://{bucket}/{key}"}}}
        question = {"role": "user", "content": [{"image": image}, {"text": f"Colour of {key}?"}]}
        answer = {"role": "assistant", "content": [{"text": "It is red."}]}
        return {"schemaVersion": "bedrock-conversation-2024", "messages": [question, answer]}

    keys = [f"photos/{i}.png" for i in range(5)] + ["photos/held-out.png"]
    for key in keys:
        workflow.s3.put_object(Bucket=bucket, Key=key, Body=png())
    train = workflow.put_jsonl("vision/train.jsonl", [record(k) for k in keys[:-1]])
    validation = workflow.put_jsonl("vision/val.jsonl", [record(keys[-1])])
    base = upload_weights(workflow, "weights/vision/", WEIGHTS)
    workflow.emulator.script("training", duration_s=3600)
    document = {
        "runName": "vision-1",
        "baseModelId": "container/llama3-vision",
        "trainer": "container",
        "trainingDataUri": train,
        "validationDataUri": validation,
        "container": {"baseWeightsUri": base},
    }
    result = workflow.run(document)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (training,) = workflow.emulator.requests("sagemaker", "CreateTrainingJob")
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in training["InputDataConfig"]
    }
    manifest = f"s3://{workflow.artifacts_bucket}/runs/vision-1/images.manifest"
    assert channels["images"]["S3DataType"] == "ManifestFile"
    assert channels["images"]["S3Uri"] == manifest
    assert {c["S3DataType"] for n, c in channels.items() if n != "images"} == {"S3Prefix"}
    # The container's data errors name the dataset's objects, not their copies in the job.
    assert training["Environment"] == {
        "TRAINER_SOURCE_TRAIN": train,
        "TRAINER_SOURCE_VALIDATION": validation,
    }
    body = workflow.s3.get_object(
        Bucket=workflow.artifacts_bucket, Key="runs/vision-1/images.manifest"
    )["Body"].read()
    assert json.loads(body) == [{"prefix": f"s3://{bucket}/"}, *sorted(keys)]
    # SageMaker reads the manifest, each image and the other channels with the training role,
    # through the S3 endpoint: the templates allow every one of those requests.
    deployed = workflow.deployed(training)
    manifests = {
        deployed["InputDataConfig"][-1]["DataSource"]["S3DataSource"]["S3Uri"]: (
            workflow.deployed(json.loads(body))
        )
    }
    assert training_job_denials(dev_authorizer, deployed, manifests) == []


def test_import_of_weights_trained_elsewhere(workflow: Workflow) -> None:
    weights = upload_weights(workflow, "imports/qwen/", WEIGHTS)
    document = {
        "runName": "import-1",
        "baseModelId": "container/llama3",
        "trainer": "import",
        "modelDataUri": weights,
    }
    result = workflow.run(document)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert created(workflow) == ["CreateModelImportJob"]
    assert "Validate dataset" not in result.entered()
    assert result.output["outputs"]["importedModelArn"].startswith("arn:aws:bedrock:")


def test_weights_that_cannot_be_imported_start_no_import_job(workflow: Workflow) -> None:
    weights = upload_weights(
        workflow, "imports/broken/", {"config.json": LLAMA_CONFIG, "model.bin": b"\0"}
    )
    result = workflow.run(
        {
            "runName": "import-2",
            "baseModelId": "container/llama3",
            "trainer": "import",
            "modelDataUri": weights,
        }
    )
    assert result.status == "FAILED"
    assert result.error == "ImportNotReady"
    assert "missing required file tokenizer_config.json" in (result.cause or "")
    assert created(workflow) == []


@pytest.mark.parametrize(
    ("decision", "delete_after"), [("promoted", True), ("not-promoted", False)]
)
def test_provisioned_throughput_and_evaluation_gate(
    workflow: Workflow, decision: str, delete_after: bool
) -> None:
    test = workflow.put_jsonl("pt/test.jsonl", prompt_completion(4, start=50))
    if decision == "not-promoted":
        workflow.emulator.answer = lambda model, question: "I am not sure."
    workflow.emulator.script("throughput", duration_s=1200)
    document = bedrock_run(
        workflow,
        f"pt-{decision}",
        provisionedThroughput={"modelUnits": 2, "deleteAfterEvaluation": delete_after},
        evaluation={"testDataUri": test},
    )
    result = workflow.run(document)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (request,) = workflow.emulator.requests("bedrock", "CreateProvisionedModelThroughput")
    assert request["modelUnits"] == 2 and "commitmentDuration" not in request
    assert request["modelId"] == result.output["outputs"]["customModelArn"]
    provisioned = result.output["outputs"]["provisionedModelArn"]
    # The evaluation called the provisioned model, and the throughput is deleted either way:
    # after a promotion because the run asked for it, after a rejection always.
    assert any(
        p["modelId"] == provisioned
        for p in workflow.emulator.requests("bedrock-runtime", "Converse")
    )
    assert workflow.emulator.deleted_throughput == [provisioned]
    assert result.output["outputs"]["evaluation"]["decision"] == decision
    outcome = "SUCCEEDED" if decision == "promoted" else "NOT_PROMOTED"
    assert result.output["outcome"] == outcome
    assert workflow.run_events()[0]["detail"]["outcome"] == outcome


def test_promoted_model_keeps_its_throughput_when_asked(workflow: Workflow) -> None:
    test = workflow.put_jsonl("keep/test.jsonl", prompt_completion(2, start=70))
    document = bedrock_run(
        workflow,
        "keep-1",
        provisionedThroughput={"deleteAfterEvaluation": False},
        evaluation={"testDataUri": test},
    )
    result = workflow.run(document)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert workflow.emulator.deleted_throughput == []
    assert (
        workflow.emulator.job("throughput").status(
            workflow.emulator.clock.now(), "Creating", "InService"
        )
        == "InService"
    )
