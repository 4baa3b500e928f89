"""Python client of the trigger API: start, watch and stop runs without Step Functions knowledge.

    from bedrock_pipeline.client.api import Client
    api = Client.from_stack("dev")            # or Client("https://.../v1", api_key=...)
    started = api.start(json.load(open("run.json")))
    final = api.wait(started.run.run_name, on_progress=print)

Every request is signed with SigV4 (service ``execute-api``) from the session's credential chain,
re-read for each request so that refreshed role credentials are picked up. 429 and 5xx answers and
transport failures are retried with full-jitter backoff: safe for every route, because starting is
idempotent by run name and stopping a stopped run is a no-op. Other 4xx raise at once, typed.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from bedrock_pipeline import api_request as request
from bedrock_pipeline.aws.retry import Backoff
from bedrock_pipeline.client.models import (
    ApiError,
    BadRequestError,
    FieldError,
    Run,
    RunPage,
    StartResult,
    TransportError,
    WaitTimeoutError,
    error_from_response,
)
from bedrock_pipeline.contract import (
    API_KEY_HEADER,
    OUTPUT_API_KEY_ID,
    OUTPUT_API_URL,
    WORKFLOW_STACK_NAME,
    Route,
)

USER_AGENT = "bedrock-pipeline-client/1"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_BACKOFF = Backoff(attempts=5, base_s=0.5, cap_s=20.0)
# execute-api hosts name their region: <api-id>[-<vpce-id>].execute-api.<region>.amazonaws.com
_HOST_REGION = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


class ConfigurationError(ValueError):
    """The client cannot be set up: no region, no credentials, no API URL."""


@dataclass(frozen=True)
class WaitSchedule:
    """Polling of ``wait``: the interval grows by ``factor`` from ``initial_s`` up to ``max_s``."""

    initial_s: float = 5.0
    max_s: float = 60.0
    factor: float = 1.5


class Client:
    def __init__(
        self,
        api_url: str,
        session: boto3.session.Session | None = None,
        *,
        api_key: str | None = None,
        region: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(f"api_url {api_url!r} is not an http(s) URL")
        self.api_url = api_url.rstrip("/")
        self._session = session or boto3.session.Session()
        match = _HOST_REGION.search(parts.hostname)
        self.region = region or (match.group(1) if match else None) or self._session.region_name
        if not self.region:
            raise ConfigurationError(
                f"no AWS region: {parts.hostname} does not name one; pass region= or set "
                "AWS_REGION / AWS_DEFAULT_REGION"
            )
        self._api_key = api_key
        self._timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
        self._http = urllib3.PoolManager(retries=False)
        self._backoff = backoff
        self._sleep = sleep

    @classmethod
    def from_stack(
        cls, stage: str, session: boto3.session.Session | None = None, **kwargs: Any
    ) -> Client:
        """A client for the API a stage deployed, found through the workflow stack's outputs."""
        session = session or boto3.session.Session()
        url, key = resolve_from_stack(stage, session)
        return cls(url, session, api_key=kwargs.pop("api_key", None) or key, **kwargs)

    # -- routes ------------------------------------------------------------------------------

    def start(self, document: Mapping[str, Any], *, validate: bool = True) -> StartResult:
        """Start a run. Repeating the same document returns the same run (``created`` False).

        ``validate`` checks the document first with the model the API uses, so every bad field
        is named without a round trip (the gateway's own validator names fewer)."""
        if validate:
            check_document(document)
        status, body = self._request("POST", Route.RUNS, body=document)
        return StartResult(run=Run.from_json(body), created=status == 201)

    def get(self, run_name: str) -> Run:
        return Run.from_json(self._request("GET", _run_path(Route.RUN, run_name))[1])

    def list(
        self, *, limit: int | None = None, status: str | None = None, next_token: str | None = None
    ) -> RunPage:
        query = {"limit": limit, "status": status, "nextToken": next_token}
        _, body = self._request("GET", Route.RUNS, query=query)
        return RunPage(
            runs=tuple(Run.from_json(item) for item in body.get("runs", ())),
            next_token=body.get("nextToken"),
        )

    def iter_runs(
        self, *, status: str | None = None, page_size: int | None = None
    ) -> Iterator[Run]:
        token: str | None = None
        while True:
            page = self.list(limit=page_size, status=status, next_token=token)
            yield from page.runs
            if not page.next_token:
                return
            token = page.next_token

    def stop(self, run_name: str) -> Run:
        return Run.from_json(self._request("POST", _run_path(Route.STOP, run_name))[1])

    def wait(
        self,
        run_name: str,
        *,
        timeout_s: float | None = None,
        schedule: WaitSchedule = WaitSchedule(),
        on_progress: Callable[[Run], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Run:
        """Poll until the run ends and return it (whatever its status); ``on_progress`` sees
        every poll. Raises ``WaitTimeoutError`` when ``timeout_s`` passes first."""
        deadline = None if timeout_s is None else clock() + timeout_s
        interval = schedule.initial_s
        while True:
            run = self.get(run_name)
            if on_progress is not None:
                on_progress(run)
            if run.finished:
                return run
            # Jitter keeps many waiting clients from polling in lockstep.
            delay = interval * random.uniform(0.8, 1.2)
            if deadline is not None:
                if clock() >= deadline:
                    raise WaitTimeoutError(run, timeout_s or 0.0)
                delay = min(delay, max(0.0, deadline - clock()))
            self._sleep(delay)
            interval = min(schedule.max_s, interval * schedule.factor)

    # -- transport ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> tuple[int, Any]:
        url = self.api_url + path + _query_string(query or {})
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        last: ApiError | None = None
        for attempt in range(self._backoff.attempts):
            if attempt:
                self._sleep(self._backoff.delay(attempt - 1))
            try:
                response = self._http.request(
                    method,
                    url,
                    body=data or None,
                    headers=self._signed_headers(method, url, data),
                    timeout=self._timeout,
                    redirect=False,
                )
            except urllib3.exceptions.HTTPError as exc:
                last = TransportError(0, "TRANSPORT", f"{method} {url}: {exc}")
                continue
            payload = _decode(response.data)
            if response.status < 400:
                return response.status, payload
            last = error_from_response(
                response.status, payload, response.headers.get("x-amzn-requestid")
            )
            if response.status not in RETRYABLE_STATUSES:
                raise last
        assert last is not None
        raise last

    def _signed_headers(self, method: str, url: str, data: bytes) -> dict[str, str]:
        credentials = self._session.get_credentials()
        if credentials is None:
            raise ConfigurationError(
                "no AWS credentials found (environment, profile, SSO or instance role)"
            )
        headers = {"accept": "application/json"}
        if data:
            headers["content-type"] = "application/json"
        if self._api_key:
            headers[API_KEY_HEADER] = self._api_key
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(
            request
        )
        # Not signed (SigV4 skips it); WAF's common rule set blocks requests without one.
        return {**dict(request.headers.items()), "user-agent": USER_AGENT}


def check_document(document: Mapping[str, Any]) -> None:
    """Raise ``BadRequestError`` naming every invalid field, exactly as the API would."""
    try:
        request.run_spec(document)
    except request.ApiFailure as failure:
        fields = tuple(FieldError(f.field, f.message) for f in failure.fields)
        raise BadRequestError(0, str(failure.code), failure.message, fields) from None


def _run_path(route: Route, run_name: str) -> str:
    if not run_name:
        raise ValueError("run name must not be empty")
    return route.replace("{runName}", quote(run_name, safe=""))


def _query_string(query: Mapping[str, Any]) -> str:
    # RFC 3986 encoding, exactly what SigV4 canonicalizes: botocore signs the query as written.
    pairs = sorted((k, str(v)) for k, v in query.items() if v is not None)
    if not pairs:
        return ""
    return "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def _decode(data: bytes) -> Any:
    if not data:
        return {}
    try:
        return json.loads(data)
    except ValueError:
        return {"message": data.decode("utf-8", "replace")[:500]}


def resolve_from_stack(stage: str, session: boto3.session.Session) -> tuple[str, str | None]:
    """(API URL, API key value) from the stage's workflow stack outputs."""
    stack_name = WORKFLOW_STACK_NAME.format(stage=stage)
    cloudformation = session.client("cloudformation")
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if OUTPUT_API_URL not in outputs:
        raise ConfigurationError(f"stack {stack_name} has no output {OUTPUT_API_URL}")
    key_id = outputs.get(OUTPUT_API_KEY_ID)
    key = None
    if key_id:
        apigateway = session.client("apigateway")
        key = apigateway.get_api_key(apiKey=key_id, includeValue=True)["value"]
    return outputs[OUTPUT_API_URL], key
