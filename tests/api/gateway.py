"""A local stand-in for the REST API on 127.0.0.1: what API Gateway does before the Lambda.

It verifies each request's SigV4 signature by recomputing it with botocore from the request as
received (method, path, query, signed headers, body) and the secret of the access key it names,
checks the API key and (like WAF's common rule set) the User-Agent, can answer 429 like the
stage throttle, and forwards everything else to ``lambdas.api.handler.dispatch`` as a REST
proxy event. The request model is not emulated here
(tests/api/test_request_model.py checks it with a draft-04 validator).
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bedrock_pipeline.contract import API_KEY_HEADER, STAGE_NAME, Route
from lambdas.api.handler import dispatch

REGION = "us-east-1"
SERVICE = "execute-api"
MAX_CLOCK_SKEW_S = 300
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<scope>[^,]+), ?"
    r"SignedHeaders=(?P<headers>[^,]+), ?Signature=(?P<signature>[0-9a-f]{64})$"
)
_ROUTES = [
    (re.compile(r"^/runs$"), Route.RUNS),
    (re.compile(r"^/runs/(?P<runName>[^/]+)$"), Route.RUN),
    (re.compile(r"^/runs/(?P<runName>[^/]+)/stop$"), Route.STOP),
]


class SignatureError(Exception):
    pass


def verify_sigv4(
    method: str, url: str, headers: dict[str, str], body: bytes, secrets: dict[str, str]
) -> str:
    """Recompute the request's signature; return the caller's access key id or raise."""
    lower = {k.lower(): v for k, v in headers.items()}
    match = _AUTH.match(lower.get("authorization", ""))
    if not match:
        raise SignatureError("Missing Authentication Token")
    key = match["key"]
    if key not in secrets:
        raise SignatureError("The security token included in the request is invalid.")
    date, region, service, terminal = match["scope"].split("/")
    amz_date = lower.get("x-amz-date", "")
    if (region, service, terminal) != (REGION, SERVICE, "aws4_request") or date != amz_date[:8]:
        raise SignatureError(f"Credential should be scoped correctly: {match['scope']}")
    signed = match["headers"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        raise SignatureError("host and x-amz-date must be signed")
    skew = abs(
        (
            datetime.now(UTC) - datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        ).total_seconds()
    )
    if skew > MAX_CLOCK_SKEW_S:
        raise SignatureError("Signature expired")
    request = AWSRequest(
        method=method, url=url, data=body, headers={h: lower.get(h, "") for h in signed}
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(key, secrets[key], lower.get("x-amz-security-token")), SERVICE, REGION
    )
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(
            "The request signature we calculated does not match the signature you provided."
        )
    return key


@dataclass
class Gateway:
    sfn: Any
    state_machine_arn: str
    secrets: dict[str, str]
    api_key: str
    throttle_next: int = 0  # answer this many requests with 429 before serving again
    fail_next: int = 0  # ... or with 503
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    url: str = ""

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        host = {k.lower(): v for k, v in headers.items()}.get("host", "")
        try:
            caller = verify_sigv4(method, f"http://{host}{path}", headers, body, self.secrets)
        except SignatureError as exc:
            return _error(403, "ACCESS_DENIED", str(exc))
        lower = {k.lower(): v for k, v in headers.items()}
        if not lower.get("user-agent"):  # WAF's common rule set: NoUserAgent_HEADER
            return _error(403, "ACCESS_DENIED", "Forbidden")
        if lower.get(API_KEY_HEADER) != self.api_key:
            return _error(403, "ACCESS_DENIED", "Forbidden")
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return _error(429, "THROTTLED", "Too Many Requests")
        if self.fail_next > 0:
            self.fail_next -= 1
            return _error(503, "UNAVAILABLE", "Service Unavailable")
        parts = urlsplit(path)
        route = _route(parts.path)
        if route is None:
            return _error(403, "ACCESS_DENIED", "Missing Authentication Token")
        resource, path_params = route
        event = {
            "resource": str(resource),
            "path": parts.path,
            "httpMethod": method,
            "headers": headers,
            "queryStringParameters": dict(parse_qsl(parts.query)) or None,
            "pathParameters": path_params or None,
            "body": body.decode() if body else None,
            "isBase64Encoded": False,
            "requestContext": {
                "requestId": f"req-{len(self.requests)}",
                "identity": {"userArn": f"arn:aws:iam::123456789012:user/{caller}"},
            },
        }
        response = dispatch(event, sfn=self.sfn, state_machine_arn=self.state_machine_arn)
        return response["statusCode"], response["body"].encode()


def _route(path: str) -> tuple[Route, dict[str, str]] | None:
    prefix = f"/{STAGE_NAME}"
    if not path.startswith(prefix + "/"):
        return None
    for pattern, resource in _ROUTES:
        match = pattern.match(path.removeprefix(prefix))
        if match:
            return resource, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": code, "message": message}).encode()


@contextmanager
def serve(gateway: Gateway) -> Iterator[Gateway]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, payload = gateway.handle(self.command, self.path, dict(self.headers), body)
            gateway.requests.append((self.command, self.path, status))
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}/{STAGE_NAME}"
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
