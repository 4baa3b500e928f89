"""Reading a request: the body as a run document, query parameters, and the API's error type.

Every problem a caller can cause becomes an ``ApiFailure`` whose body names the field and says
what is allowed. The run document is checked by ``RunSpec`` (the model the gateway's request
model is generated from), here collecting every bad field at once rather than only the first.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bedrock_pipeline.contract import LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, ErrorCode, RunStatus
from bedrock_pipeline.run_spec import RunSpec, RunSpecError, cross_field_issues

# A run document is a few kilobytes; anything much larger is a mistake or abuse.
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


@dataclass
class ApiFailure(Exception):
    status: int
    code: ErrorCode
    message: str
    fields: tuple[FieldProblem, ...] = field(default=())

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": str(self.code), "message": self.message}
        if self.fields:
            out["fields"] = [{"field": f.field, "message": f.message} for f in self.fields]
        return out


def json_body(raw: str | None, is_base64: bool = False) -> dict[str, Any]:
    """The body as a JSON object, or 400/413."""
    if raw is None or raw == "":
        raise ApiFailure(
            400, ErrorCode.INVALID_JSON, "request body is empty; send the run document"
        )
    try:
        data = base64.b64decode(raw, validate=True) if is_base64 else raw.encode()
    except (binascii.Error, ValueError) as exc:
        raise ApiFailure(400, ErrorCode.INVALID_JSON, f"body is not valid base64: {exc}") from None
    if len(data) > MAX_BODY_BYTES:
        raise ApiFailure(
            413, ErrorCode.PAYLOAD_TOO_LARGE, f"body is {len(data)} bytes; at most {MAX_BODY_BYTES}"
        )
    try:
        parsed = json.loads(data)
    except UnicodeDecodeError:
        raise ApiFailure(400, ErrorCode.INVALID_JSON, "body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiFailure(
            400,
            ErrorCode.INVALID_JSON,
            f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    if not isinstance(parsed, dict):
        raise ApiFailure(
            400, ErrorCode.INVALID_JSON, f"body must be a JSON object, got {type(parsed).__name__}"
        )
    return parsed


def run_spec(document: Mapping[str, Any]) -> RunSpec:
    """Validate a run document; 400 VALIDATION_FAILED names every bad field."""
    try:
        return RunSpec.model_validate(document)
    except ValidationError as exc:
        problems = _problems(exc, document)
    raise ApiFailure(
        400,
        ErrorCode.VALIDATION_FAILED,
        f"the run document has {len(problems)} invalid field(s): "
        + ", ".join(p.field for p in problems),
        tuple(problems),
    )


def _problems(exc: ValidationError, document: Mapping[str, Any]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for error in exc.errors(include_url=False):
        cross = (error.get("ctx") or {}).get("error")
        if isinstance(cross, RunSpecError):
            # Pydantic runs the document's model validator only once every field is valid, and
            # it stops at the first combination problem; list them all so one round trip fixes
            # the document. A nested model's own check (loc set) is reported as it is.
            issues = [cross] if error["loc"] else _all_cross_field_issues(document) or [cross]
            problems.extend(FieldProblem(i.field, i.message) for i in issues)
            continue
        path = ".".join(str(p) for p in error["loc"]) or "<document>"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field; see the run document's schema for the allowed fields"
        problems.append(FieldProblem(path, message))
    return problems


def _all_cross_field_issues(document: Mapping[str, Any]) -> list[RunSpecError]:
    """``cross_field_issues`` of a document whose fields are each valid. ``model_construct``
    skips validation; those checks only compare fields with enum values and with None, which
    the raw JSON values answer the same way (StrEnum members equal their strings)."""
    by_alias = {f.alias or name: name for name, f in RunSpec.model_fields.items()}
    fields = {by_alias.get(k, k): v for k, v in document.items()}
    try:
        return cross_field_issues(RunSpec.model_construct(**fields))
    except Exception:  # a check that needs parsed values: fall back to pydantic's first issue
        return []


def list_query(params: Mapping[str, str] | None) -> tuple[int, str | None, str | None]:
    """(limit, status filter, next token) from ``GET /runs`` query parameters."""
    params = params or {}
    unknown = sorted(set(params) - {"limit", "status", "nextToken"})
    if unknown:
        raise ApiFailure(
            400,
            ErrorCode.INVALID_PARAMETER,
            f"unknown query parameter(s) {', '.join(unknown)}; allowed: limit, status, nextToken",
            tuple(FieldProblem(name, "unknown query parameter") for name in unknown),
        )
    limit = LIST_DEFAULT_LIMIT
    if "limit" in params:
        raw = params["limit"]
        if not raw.isdigit() or not 1 <= int(raw) <= LIST_MAX_LIMIT:
            raise _bad_param("limit", f"must be an integer 1-{LIST_MAX_LIMIT}, got {raw!r}")
        limit = int(raw)
    status = params.get("status")
    if status is not None and status not in RunStatus.__members__:
        raise _bad_param("status", f"must be one of {', '.join(RunStatus)}, got {status!r}")
    token = params.get("nextToken") or None
    if token is not None and len(token) > 3096:  # Step Functions' nextToken limit
        raise _bad_param("nextToken", "is longer than any token this API returns")
    return limit, status, token


def _bad_param(name: str, message: str) -> ApiFailure:
    return ApiFailure(
        400, ErrorCode.INVALID_PARAMETER, f"{name} {message}", (FieldProblem(name, message),)
    )
