"""The synthesized state machine, run in moto's interpreter against the real handlers.

Every scenario starts a run the way the API does (execution named after ``runName``, the run
document as input) and judges the outcome from the execution, the jobs the emulated services
saw, and what the team is told (SNS message, EventBridge event).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.core.run_spec import names_for
from tests.workflow.conftest import Workflow

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TITAN = "amazon.titan-text-express-v1:0:8k"
PREFIX = "bcp-dev"  # the dev stage's prefix: job names start with it


def sums(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"What is {i} plus {i + 1}?", str(2 * i + 1)) for i in range(start, start + n)]


def messages(n: int) -> list[dict[str, Any]]:
    return [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in sums(n)
    ]


def prompt_completion(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"prompt": q, "completion": a} for q, a in sums(n, start)]


def bedrock_run(workflow: Workflow, name: str, **extra: Any) -> dict[str, Any]:
    uri = workflow.put_jsonl(f"{name}/train.jsonl", messages(40))
    return {"runName": name, "baseModelId": HAIKU, "trainingDataUri": uri, **extra}


def upload_weights(workflow: Workflow, prefix: str, files: dict[str, bytes]) -> str:
    for name, body in files.items():
        workflow.s3.put_object(Bucket=workflow.training_bucket, Key=f"{prefix}{name}", Body=body)
    return f"s3://{workflow.training_bucket}/{prefix}"


LLAMA_CONFIG = json.dumps(
    {
        "architectures": ["LlamaForCausalLM"],
        "max_position_embeddings": 4096,
        "torch_dtype": "bfloat16",
    }
).encode()
WEIGHTS = {
    "config.json": LLAMA_CONFIG,
    "tokenizer_config.json": b"{}",
    "tokenizer.json": b"{}",
    "model.safetensors": b"\0" * 64,
}


def created(workflow: Workflow) -> list[str]:
    """The create calls the run made, in order (only calls that reached a service)."""
    wanted = {
        "CreateModelCustomizationJob",
        "CreateTrainingJob",
        "CreateModelImportJob",
        "CreateProvisionedModelThroughput",
    }
    return [o for s, o, p in workflow.emulator.calls if o in wanted]


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
        "evaluation": {"testDataUri": test, "batchSize": 3},
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
    assert "missing required file tokenizer_config.json" in result.cause
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


# -- failures ----------------------------------------------------------------------------------


def test_invalid_dataset_fails_before_any_job(workflow: Workflow) -> None:
    uri = workflow.put_jsonl(
        "bad/train.jsonl", [{"prompt": "no messages here", "completion": "x"}] * 40
    )
    result = workflow.run({"runName": "bad-1", "baseModelId": HAIKU, "trainingDataUri": uri})
    assert result.status == "FAILED"
    assert result.error == "DatasetValidationError"
    assert "validation error" in result.cause and "validation-report.json" in result.cause
    assert created(workflow) == []
    (message,) = workflow.notifications()
    assert "bad-1: FAILED" in message and "validation error" in message


def test_invalid_run_document_names_the_field(workflow: Workflow) -> None:
    result = workflow.run(
        {
            "runName": "doc-1",
            "baseModelId": HAIKU,
            "customizationType": "DISTILLATION",
            "trainingDataUri": "s3://x-bucket/t.jsonl",
        }
    )
    assert result.status == "FAILED"
    assert result.error == "RunSpecError"
    assert result.cause.startswith("teacherModelId: required")
    assert created(workflow) == []


def test_base_model_outside_the_stage_is_refused(workflow: Workflow) -> None:
    document = bedrock_run(workflow, "model-1", baseModelId="meta.llama3-3-70b-instruct-v1:0:128k")
    result = workflow.run(document)
    assert (result.status, result.error) == ("FAILED", "RunSpecError")
    assert "not enabled in this stage" in result.cause


def test_job_that_fails_surfaces_its_reason(workflow: Workflow) -> None:
    workflow.emulator.script(
        "customization",
        duration_s=7200,
        outcome="Failed",
        message="Training data has 3 records longer than the context window",
    )
    result = workflow.run(bedrock_run(workflow, "fails-1"))
    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    assert "Training data has 3 records longer than the context window" in result.cause
    (event,) = workflow.run_events()
    assert event["detail-type"] == "Customization Run Failed"
    assert "longer than the context window" in event["detail"]["reason"]


def test_throttled_start_is_retried_and_starts_one_job(workflow: Workflow) -> None:
    workflow.emulator.throttle("bedrock", "CreateModelCustomizationJob", times=3)
    result = workflow.run(bedrock_run(workflow, "throttled-1"))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert (
        created(workflow).count("CreateModelCustomizationJob") == 4
    )  # three throttled, one accepted
    assert len(workflow.emulator.jobs) == 1


def test_duplicate_run_name_reaches_the_same_run_and_one_job(workflow: Workflow) -> None:
    document = bedrock_run(workflow, "dup-1")
    workflow.emulator.script("customization", duration_s=3600)
    workflow.emulator.hold_waits = True
    first = workflow.start(document)
    assert workflow.emulator.waiting.wait(30)
    second = workflow.start(document)  # same name, same input, still running: the same run
    assert second == first
    workflow.emulator.hold_waits = False
    assert workflow.wait(first).status == "SUCCEEDED"
    assert len(workflow.emulator.requests("bedrock", "CreateModelCustomizationJob")) == 1
    # Once it has ended, the name is taken: a new document must choose a new runName.
    changed = {**document, "hyperParameters": {"epochCount": 3}}
    with pytest.raises(workflow.sfn.exceptions.ExecutionAlreadyExists):
        workflow.start(changed)


def test_cancellation_stops_the_job(workflow: Workflow) -> None:
    workflow.emulator.script("customization", duration_s=86400)
    workflow.emulator.hold_waits = True
    arn = workflow.start(bedrock_run(workflow, "cancel-1"))
    assert workflow.emulator.waiting.wait(30)
    workflow.sfn.stop_execution(
        executionArn=arn, error="RunCancelled", cause="stopped through the API"
    )
    workflow.emulator.hold_waits = False
    result = workflow.wait(arn)
    assert result.status == "ABORTED"
    job = workflow.emulator.job("customization")
    assert job.stopped
    assert workflow.emulator.requests("bedrock", "StopModelCustomizationJob") == [
        {"jobIdentifier": job.name}
    ]
    (event,) = workflow.run_events()
    assert event["detail"]["outcome"] == "ABORTED" and event["detail"]["runName"] == "cancel-1"


def test_job_running_past_the_timeout_is_stopped(workflow: Workflow) -> None:
    workflow.emulator.script("training", duration_s=30 * 86400)  # never ends within 7 days
    train = workflow.put_jsonl("slow/train.jsonl", prompt_completion(5))
    base = upload_weights(workflow, "weights/slow/", WEIGHTS)
    result = workflow.run(
        {
            "runName": "slow-1",
            "baseModelId": "container/llama3",
            "trainer": "container",
            "trainingDataUri": train,
            "container": {"baseWeightsUri": base},
        }
    )
    assert result.status == "FAILED"
    assert result.error == "JobTimedOut"
    assert "604800 s (poll.timeout_s)" in result.cause
    assert workflow.emulator.job("training").stopped
    assert created(workflow) == ["CreateTrainingJob"]
