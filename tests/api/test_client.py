"""The client against a local gateway that verifies SigV4 and forwards to the real handlers."""

from __future__ import annotations

import json
import socket
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bedrock_pipeline.aws.retry import Backoff
from bedrock_pipeline.client.api import Client, ConfigurationError, WaitSchedule, resolve_from_stack
from bedrock_pipeline.client.models import (
    AccessDeniedError,
    BadRequestError,
    ConflictError,
    RunNotFoundError,
    ServerError,
    ThrottledError,
    TransportError,
    WaitTimeoutError,
)
from tests.api.gateway import Gateway, SignatureError, verify_sigv4
from tests.support.api import (
    API_KEY,
    KEY_ID,
    SECRET,
    StepFunctions,
    bedrock_doc,
    container_doc,
    import_doc,
    session,
    unique,
)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(gateway: Gateway, sleeps: list[float]) -> Client:
    gateway.throttle_next = gateway.fail_next = 0
    return Client(gateway.url, session(), api_key=API_KEY, sleep=sleeps.append)


def statuses_since(gateway: Gateway, mark: int) -> list[int]:
    return [status for _, _, status in gateway.requests[mark:]]


def test_happy_path_start_status_list_stop(client: Client, stepfunctions: StepFunctions):
    name = unique("client")
    started = client.start(bedrock_doc(name))
    assert started.created and started.run.run_name == name
    assert client.get(name).status == "RUNNING"
    assert name in {run.run_name for run in client.iter_runs(page_size=2)}
    stepfunctions.settle(name)
    assert client.stop(name).status in ("RUNNING", "ABORTED")


def test_wait_reports_progress_until_the_run_succeeds(client: Client, sleeps: list[float]):
    name = unique("wait")
    client.start(import_doc(name))
    seen: list[str] = []
    final = client.wait(
        name,
        schedule=WaitSchedule(initial_s=0.01, max_s=0.05),
        on_progress=lambda run: seen.append(run.status),
    )
    assert final.succeeded and final.outputs["importedModelArn"]
    assert seen[-1] == "SUCCEEDED"
    assert len(sleeps) == len(seen) - 1  # slept between polls, not after the last


def test_wait_returns_a_failed_run_with_its_reason(client: Client, stepfunctions):
    name = unique("fails")
    client.start(container_doc(name))
    final = client.wait(name, schedule=WaitSchedule(initial_s=0.01, max_s=0.01))
    assert (final.status, final.error) == ("FAILED", "TrainingJobFailed")


def test_wait_gives_up_at_its_timeout(client: Client):
    name = unique("slow")
    client.start(bedrock_doc(name))
    ticks = iter(range(1000))
    with pytest.raises(WaitTimeoutError) as caught:
        client.wait(name, timeout_s=3, clock=lambda: float(next(ticks)))
    assert caught.value.run.status == "RUNNING"


def test_idempotent_repeat_returns_the_same_run(client: Client):
    name = unique("again")
    first = client.start(bedrock_doc(name))
    second = client.start(bedrock_doc(name))
    assert not second.created
    assert second.run.execution_arn == first.run.execution_arn


def test_conflict_raises_without_retrying(client: Client, gateway: Gateway):
    name = unique("taken")
    client.start(bedrock_doc(name))
    mark = len(gateway.requests)
    with pytest.raises(ConflictError) as caught:
        client.start(bedrock_doc(name, trainingDataUri="s3://team-data/other.jsonl"))
    assert caught.value.code == "RUN_CONFLICT"
    assert statuses_since(gateway, mark) == [409]


BAD_DOC = {"runName": "bad name", "baseModelId": "m", "trainer": "tpu", "colour": "blue"}
BAD_FIELDS = {"runName", "trainer", "colour"}


def test_malformed_document_names_each_field_from_the_api(client: Client, gateway: Gateway):
    mark = len(gateway.requests)
    with pytest.raises(BadRequestError) as caught:
        client.start(BAD_DOC, validate=False)
    assert caught.value.status == 400 and caught.value.code == "VALIDATION_FAILED"
    assert {f.field for f in caught.value.fields} == BAD_FIELDS
    assert statuses_since(gateway, mark) == [400]


def test_malformed_document_is_caught_before_sending(client: Client, gateway: Gateway):
    mark = len(gateway.requests)
    with pytest.raises(BadRequestError) as caught:
        client.start(BAD_DOC)
    assert {f.field for f in caught.value.fields} == BAD_FIELDS
    assert "colour" in str(caught.value)
    assert gateway.requests[mark:] == []


def test_unknown_run_is_not_found(client: Client):
    with pytest.raises(RunNotFoundError) as caught:
        client.get("no-such-run")
    assert caught.value.code == "RUN_NOT_FOUND"


def test_throttling_is_retried_with_backoff(client: Client, gateway: Gateway, sleeps):
    gateway.throttle_next = 2
    mark = len(gateway.requests)
    assert client.start(bedrock_doc(unique("throttled"))).created
    assert statuses_since(gateway, mark) == [429, 429, 201]
    assert len(sleeps) == 2 and all(0 <= s <= 20 for s in sleeps)


def test_server_errors_are_retried(client: Client, gateway: Gateway):
    gateway.fail_next = 1
    mark = len(gateway.requests)
    assert client.list().runs
    assert statuses_since(gateway, mark) == [503, 200]


def test_retries_end_with_a_typed_error(client: Client, gateway: Gateway):
    gateway.throttle_next = 99
    with pytest.raises(ThrottledError):
        client.list()
    gateway.throttle_next, gateway.fail_next = 0, 99
    with pytest.raises(ServerError):
        client.list()
    gateway.fail_next = 0


def test_wrong_secret_fails_signature_verification(gateway: Gateway, sleeps):
    bad = Client(gateway.url, session("not-the-secret"), api_key=API_KEY, sleep=sleeps.append)
    mark = len(gateway.requests)
    with pytest.raises(AccessDeniedError) as caught:
        bad.list()
    assert "signature" in caught.value.message
    assert statuses_since(gateway, mark) == [403] and sleeps == []


def test_missing_api_key_is_refused(gateway: Gateway):
    with pytest.raises(AccessDeniedError):
        Client(gateway.url, session()).list()


def test_default_credential_chain_signs(gateway: Gateway, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert Client(gateway.url, api_key=API_KEY, region="us-east-1").list().runs is not None


def test_verifier_rejects_a_tampered_request():
    url, body = "http://127.0.0.1:9/v1/runs?limit=2", b'{"runName": "a"}'
    request = AWSRequest(method="POST", url=url, data=body, headers={"host": "127.0.0.1:9"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "execute-api", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    assert verify_sigv4("POST", url, headers, body, {KEY_ID: SECRET}) == KEY_ID
    with pytest.raises(SignatureError):
        verify_sigv4("POST", url, headers, b'{"runName": "b"}', {KEY_ID: SECRET})
    with pytest.raises(SignatureError):
        verify_sigv4("POST", url.replace("limit=2", "limit=3"), headers, body, {KEY_ID: SECRET})


def test_unreachable_api_is_a_transport_error(sleeps):
    with socket.socket() as sock:  # a port that nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(
        f"http://127.0.0.1:{port}/v1",
        session(),
        connect_timeout_s=0.5,
        backoff=Backoff(attempts=2, base_s=0, cap_s=0),
        sleep=sleeps.append,
    )
    with pytest.raises(TransportError):
        client.get("x")
    assert len(sleeps) == 1


def test_region_comes_from_the_execute_api_host():
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"
    assert Client(url, session()).region == "eu-west-1"
    with pytest.raises(ConfigurationError):
        Client("ftp://example.com", session())


def test_api_url_and_key_come_from_the_stack_outputs(stepfunctions: StepFunctions):
    # Inside the module's moto account: a stack with the two outputs and a real API key.
    apigateway = boto3.client("apigateway", region_name="us-east-1")
    key = apigateway.create_api_key(name="bcp-dev-runs", enabled=True)
    template: dict[str, Any] = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "TriggerApiUrl": {"Value": "https://abc.execute-api.us-east-1.amazonaws.com/v1/"},
            "TriggerApiKeyId": {"Value": key["id"]},
        },
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="bcp-dev-workflow", TemplateBody=json.dumps(template)
    )
    url, value = resolve_from_stack("dev", boto3.session.Session(region_name="us-east-1"))
    assert url.endswith("/v1/") and value == key["value"]
    assert Client.from_stack("dev", session()).api_url.endswith("/v1")
