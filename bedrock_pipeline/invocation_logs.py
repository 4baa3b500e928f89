"""Model invocation logs as distillation data: which logs Bedrock can use, and how many match.

A distillation job can read its prompts (and, with `usePromptResponse`, the answers) from the
invocation logs Bedrock delivers to S3 (distillation-data-prep-option-2.html): JSON records,
one per line, usually gzip-compressed (`.json.gz`). Per log, the checks of AWS's distillation
validator (aws-samples/amazon-bedrock-samples
custom-models/model_distillation/dataset-validation/dataset_validator.py,
`validate_invocation_log`, `is_invocation_log_entry_supported`):

- `modelId` is present, and both `input` and `output`;
- the request is single turn: at most one user message in `input.inputBodyJson.messages`;
- text only: that message holds one content block, a non-empty `text`.

Bedrock drops the logs it cannot use ("Invalid prompts ... will be dropped", the validator's
README), so each is a warning naming line and field; too few usable logs that match the
`requestMetadataFilters` is the error. Numbers: at least 100 (the validator's
`MIN_NUM_PROMPTS`, "Minimum of 100 invocation logs that match the given filter"), at most
15,000 prompts or pairs used (distillation-data-prep-option-2.html).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from bedrock_pipeline.formats import FormatError, parse_line
from bedrock_pipeline.sources import DataSource
from bedrock_pipeline.validation_report import FileStats, Issue, IssueLog, Report

MIN_MATCHING_LOGS = 100
MAX_USED_LOGS = 15_000
_GZIP_MAGIC = b"\x1f\x8b"


def matches(filters: Mapping[str, Any] | None, metadata: Any) -> bool:
    """Whether a log's `requestMetadata` passes RequestMetadataFilters (None: every log)."""
    if not filters:
        return True
    pairs = metadata if isinstance(metadata, Mapping) else {}
    if "equals" in filters:
        return all(pairs.get(k) == v for k, v in filters["equals"].items())
    if "notEquals" in filters:
        return all(pairs.get(k) != v for k, v in filters["notEquals"].items())
    if "andAll" in filters:
        return all(matches(f, pairs) for f in filters["andAll"])
    if "orAll" in filters:
        return any(matches(f, pairs) for f in filters["orAll"])
    raise ValueError(f"not a RequestMetadataFilters union: {sorted(filters)}")


def unusable(log: Any) -> tuple[str, str] | None:
    """(field, reason) when Bedrock cannot distil from this log record; None when it can."""
    if not isinstance(log, Mapping):
        return "", "an invocation log record must be a JSON object"
    if "modelId" not in log:
        return "modelId", "missing required field 'modelId'"
    for key in ("input", "output"):
        if key not in log:
            return key, f"an invocation log needs both input and output; '{key}' is missing"
    body = log["input"].get("inputBodyJson") if isinstance(log["input"], Mapping) else None
    messages = body.get("messages") if isinstance(body, Mapping) else None
    if not isinstance(messages, list):
        return None  # a prompt-style body (InvokeModel): read by the service as it is
    users = [
        (i, m) for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "user"
    ]
    if len(users) > 1:
        field = f"input.inputBodyJson.messages[{users[1][0]}]"
        return field, f"{len(users)} user messages: distillation takes single-turn prompts"
    for i, message in users:
        content = message.get("content")
        field = f"input.inputBodyJson.messages[{i}].content"
        if isinstance(content, str):
            continue
        blocks = content if isinstance(content, list) else []
        text = (
            blocks[0].get("text") if len(blocks) == 1 and isinstance(blocks[0], Mapping) else None
        )
        if not isinstance(text, str) or not text:
            return field, "not one text block: multimodal prompts are not distilled from logs"
    return None


def _open(source: DataSource) -> BinaryIO:
    stream = source.open()
    head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    if head == _GZIP_MAGIC or source.name.endswith(".gz"):
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def validate_invocation_logs(
    sources: Iterable[DataSource],
    config: Mapping[str, Any],
    *,
    model_id: str,
    max_examples: int = 5,
) -> Report:
    """Read every log file once; count the usable logs that match the filters.

    `config` is the run document's `invocationLogsConfig` (API shape). Errors: INVALID_JSON and
    the like per line, TOO_FEW_RECORDS below 100 matching usable logs, EMPTY_FILE when no
    file is found. Warnings: LOG_RECORD_SKIPPED per unusable log, TOO_MANY_LOGS over 15,000.
    """
    log = IssueLog(max_examples)
    report = Report(model_id, "DISTILLATION", "bedrock", log)
    filters = config.get("requestMetadataFilters")
    prefix = config["invocationLogSource"]["s3Uri"]
    matching = files = 0
    stats = FileStats("train", prefix)  # every log file under the prefix, as one dataset
    report.files.append(stats)
    for source in sources:
        files += 1
        with _open(source) as stream:
            for number, raw in enumerate(stream, start=1):
                stats.records += 1
                stats.bytes += len(raw)
                try:
                    record = parse_line(raw.rstrip(b"\r\n"), source.name, number)
                except FormatError as err:
                    log.add(Issue(source.name, number, err.code, err.message))
                    continue
                problem = unusable(record)
                if problem is not None:
                    field, reason = problem
                    log.add(Issue(source.name, number, "LOG_RECORD_SKIPPED", reason, field))
                    continue
                stats.valid_records += 1
                if matches(filters, record.get("requestMetadata")):
                    matching += 1
    if not files:
        log.add(Issue(prefix, 0, "EMPTY_FILE", f"no invocation log files under {prefix}"))
    elif matching < MIN_MATCHING_LOGS:
        message = (
            f"{matching} usable invocation logs match requestMetadataFilters; distillation "
            f"needs at least {MIN_MATCHING_LOGS}"
        )
        log.add(Issue(prefix, 0, "TOO_FEW_RECORDS", message))
    elif matching > MAX_USED_LOGS:
        message = f"{matching} matching logs; Bedrock uses at most {MAX_USED_LOGS}"
        log.add(Issue(prefix, 0, "TOO_MANY_LOGS", message))
    return report
