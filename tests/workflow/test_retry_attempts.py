"""One HTTP request per ``call_with_retry`` attempt, against real botocore clients.

Each client is the one its caller really builds (the handlers' factories, the CLI's S3 client),
pointed with ``AWS_ENDPOINT_URL`` at a local HTTP server that answers every request with the
service's throttling error and counts the requests. botocore's Stubber would not do: it answers
before the retry handler runs, so it cannot show how many times botocore sends a request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bedrock_pipeline.aws import s3 as aws_s3
from bedrock_pipeline.aws.retry import Backoff, call_with_retry, is_retryable, single_attempt
from lambdas.api import handler as api
from lambdas.evaluate import handler as evaluate
from lambdas.jobs import handler as jobs
from lambdas.notify import handler as notify
from lambdas.validate import handler as validate

ATTEMPTS = 3  # call_with_retry's attempts in these tests
_XML_THROTTLE = (
    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    "<Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"
)
_S3_SLOW_DOWN = (
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)


class _Throttler(BaseHTTPRequestHandler):
    """Every request: the protocol's throttling error (JSON, query XML, or S3's 503 SlowDown)."""

    requests: list[str]

    def _answer(self) -> None:
        self.requests.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(length).decode() if length else ""
        content_type = self.headers.get("Content-Type", "")
        if "Action=" in form:  # query protocol (SNS)
            status, body, kind = 400, _XML_THROTTLE, "text/xml"
        elif "json" in content_type or self.headers.get("X-Amz-Target") or "/model" in self.path:
            status, kind = 400, "application/json"
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
        else:  # S3 (rest-xml)
            status, body, kind = 503, _S3_SLOW_DOWN, "application/xml"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("x-amzn-ErrorType", "ThrottlingException")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def throttling_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The requests the server saw; every client made while it runs is pointed at it."""
    requests: list[str] = []
    handler = type("Handler", (_Throttler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")  # an explicit setting must win over these
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    for module in (jobs, notify, api, evaluate, validate):
        for cached in ("_clients", "_sfn", "_runtime", "_s3"):
            if hasattr(module, cached):
                getattr(module, cached).cache_clear()
    yield requests
    for module in (jobs, notify, api, evaluate, validate):
        for cached in ("_clients", "_sfn", "_runtime", "_s3"):
            if hasattr(module, cached):
                getattr(module, cached).cache_clear()
    server.shutdown()
    server.server_close()


_ARN = "arn:aws:states:us-east-1:111122223333:stateMachine:m"
_MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]
# (who builds the client, its factory, the operation, its parameters)
CALLS: list[tuple[str, Callable[[], Any], str, dict[str, Any]]] = [
    ("jobs", lambda: jobs._clients()["bedrock"], "get_model_customization_job",
     {"jobIdentifier": "job"}),
    ("jobs", lambda: jobs._clients()["sagemaker"], "describe_training_job",
     {"TrainingJobName": "job"}),
    ("jobs", lambda: jobs._clients()["s3"], "list_objects_v2", {"Bucket": "b", "Prefix": "p/"}),
    ("notify", lambda: notify._clients()[0], "publish", {"TopicArn": _ARN, "Message": "m"}),
    ("notify", lambda: notify._clients()[1], "put_events",
     {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]}),
    ("api", api._sfn, "describe_execution", {"executionArn": _ARN}),
    ("evaluate", lambda: evaluate._runtime(30.0), "converse",
     {"modelId": "m", "messages": _MESSAGES}),
    ("evaluate", evaluate._s3, "get_object", {"Bucket": "b", "Key": "k"}),
    ("validate", validate._s3, "put_object", {"Bucket": "b", "Key": "k", "Body": b"{}"}),
    ("cli", aws_s3.client, "head_object", {"Bucket": "b", "Key": "k"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("owner", "make", "operation", "params"),
    CALLS,
    ids=[f"{owner}-{operation}" for owner, _, operation, _ in CALLS],
)
def test_each_attempt_of_ours_is_one_request(
    throttling_endpoint: list[str],
    owner: str,
    make: Callable[[], Any],
    operation: str,
    params: dict[str, Any],
) -> None:
    sleeps: list[float] = []
    client = make()
    with pytest.raises(ClientError) as caught:
        call_with_retry(
            getattr(client, operation),
            backoff=Backoff(attempts=ATTEMPTS, base_s=0.5),
            sleep=sleeps.append,
            **params,
        )
    # Throttling, ThrottlingException, SlowDown; "503" for HeadObject, whose answer has no body.
    assert caught.value.response["Error"]["Code"] in {
        "Throttling",
        "ThrottlingException",
        "SlowDown",
        "503",
    }
    assert is_retryable(caught.value)
    # botocore gave up after its one request each time; our backoff slept between ours.
    assert caught.value.response["ResponseMetadata"].get("RetryAttempts", 0) == 0
    assert len(throttling_endpoint) == ATTEMPTS, throttling_endpoint
    assert len(sleeps) == ATTEMPTS - 1


def test_botocore_max_attempts_counts_retries(throttling_endpoint: list[str]) -> None:
    """Why ``total_max_attempts``: botocore's ``max_attempts: 1`` means one retry, two requests."""
    as_retries = Config(retries={"max_attempts": 1, "mode": "standard"})
    client = boto3.client("sagemaker", config=as_retries)
    with pytest.raises(ClientError):
        call_with_retry(
            client.describe_training_job,
            backoff=Backoff(attempts=ATTEMPTS),
            sleep=lambda _: None,
            TrainingJobName="job",
        )
    assert len(throttling_endpoint) == 2 * ATTEMPTS


def test_single_attempt_keeps_the_timeouts() -> None:
    config = single_attempt(connect_timeout=3, read_timeout=10)
    assert (config.connect_timeout, config.read_timeout) == (3, 10)
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}
