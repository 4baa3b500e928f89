"""Helpers of the workflow in moto tests (data, fakes, typed handles); the fixtures that use
them live in tests/workflow/conftest.py."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from bedrock_pipeline.aws.retry import Backoff
from bedrock_pipeline.local.deployment import MotoDeployment
from bedrock_pipeline.local.emulator import REGION, AwsEmulator

FAST = Backoff(attempts=6, base_s=0.001, cap_s=0.005)


QUESTION = re.compile(r"What is (\d+) plus (\d+)\?")


@dataclass
class Execution:
    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    events: list[dict[str, Any]]

    @property
    def transitions(self) -> int:
        """State transitions as Step Functions bills them: one per state entered."""
        return sum(1 for e in self.events if e["type"].endswith("StateEntered"))

    def entered(self) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.events
            if "stateEnteredEventDetails" in e
        ]


class Workflow:
    def __init__(self, deployment: MotoDeployment, emulator: AwsEmulator) -> None:
        self.deployment = deployment
        self.emulator = emulator
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        data = deployment.stack_named("-data")
        buckets = [
            v["Ref"]
            for (stack, logical), v in deployment.values.items()
            if stack == data
            and logical.startswith("Buckets")
            and deployment.templates[data]["Resources"][logical]["Type"] == "AWS::S3::Bucket"
        ]
        self.training_bucket = next(b for b in buckets if "trainingdata" in b)
        self.artifacts_bucket = next(b for b in buckets if "artifacts" in b)
        # Emulated names -> the deployment's (the workflow fixture sets the recorder's).
        self.deployed: Callable[[Any], Any] = lambda value: value
        self.messages = self._subscribe_topic()
        self.event_queue = self._capture_events()

    def _subscribe_topic(self) -> str:
        """An SQS subscriber on the run topic, so tests read what the team would receive."""
        sns = boto3.client("sns", region_name=REGION)
        (topic,) = sns.list_topics()["Topics"]
        url = self.sqs.create_queue(QueueName="test-notifications")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=topic["TopicArn"],
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        return url

    def _capture_events(self) -> str:
        """An EventBridge rule on the default bus for the pipeline's run events, into SQS."""
        events = boto3.client("events", region_name=REGION)
        url = self.sqs.create_queue(QueueName="test-run-events")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name="test-run-events",
            EventPattern=json.dumps({"source": ["bedrock-customization-pipeline"]}),
        )
        events.put_targets(Rule="test-run-events", Targets=[{"Id": "queue", "Arn": arn}])
        return url

    def run_events(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.event_queue, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    def notifications(self) -> list[str]:
        got = self.sqs.receive_message(QueueUrl=self.messages, MaxNumberOfMessages=10)
        return [m["Body"] for m in got.get("Messages", [])]

    def put_jsonl(self, key: str, records: list[dict[str, Any]], bucket: str | None = None) -> str:
        body = "\n".join(json.dumps(r) for r in records).encode()
        self.s3.put_object(Bucket=bucket or self.training_bucket, Key=key, Body=body)
        return f"s3://{bucket or self.training_bucket}/{key}"

    def start(self, document: dict[str, Any], name: str | None = None) -> str:
        from bedrock_pipeline.run_spec import execution_name

        return str(
            self.sfn.start_execution(
                stateMachineArn=self.deployment.state_machine_arn,
                name=name or execution_name(document["runName"]),
                input=json.dumps(document, sort_keys=True),
            )["executionArn"]
        )

    def wait(self, arn: str, timeout_s: float = 60) -> Execution:
        deadline = time.monotonic() + timeout_s
        while True:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        output = json.loads(described["output"]) if described.get("output") else None
        return Execution(
            arn, described["status"], output, described.get("error"), described.get("cause"), events
        )

    def run(self, document: dict[str, Any]) -> Execution:
        return self.wait(self.start(document))


def answer_sums(model_id: str, question: str) -> str:
    """Emulated models: the customized one adds correctly, base models do not know."""
    found = QUESTION.search(question)
    custom = any(kind in model_id for kind in ("provisioned-model", "imported-model"))
    if found and custom:
        return str(int(found.group(1)) + int(found.group(2)))
    return "I am not sure."
