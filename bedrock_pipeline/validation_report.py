"""What the dataset validator reports: error codes, issues, token statistics, the report JSON.

Every code the validator can emit is a row of `CODES` (severity and meaning); the table in
docs/validation.md lists the same codes, and a test keeps the two in step.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any, Literal

from bedrock_pipeline.formats import FormatCode
from bedrock_pipeline.hyperparameters import HyperparameterCode

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class CodeInfo:
    severity: Severity
    meaning: str


CODES: dict[str, CodeInfo] = {
    # Line-level: encoding and JSON (bedrock_pipeline.formats)
    FormatCode.INVALID_UTF8: CodeInfo("error", "line is not valid UTF-8"),
    FormatCode.INVALID_JSON: CodeInfo("error", "line is not one JSON value (incl. BOM, NaN)"),
    FormatCode.BLANK_LINE: CodeInfo("error", "empty line inside the file"),
    FormatCode.NOT_AN_OBJECT: CodeInfo("error", "line is JSON but not an object"),
    "RECORD_TOO_LARGE": CodeInfo("error", "line longer than any model accepts; skipped unread"),
    "NOT_JSON_LINES": CodeInfo(
        "error", "whole file is not JSON Lines (array, pretty-printed, CSV, archive, UTF-16)"
    ),
    # Record schema (bedrock_pipeline.formats)
    FormatCode.UNKNOWN_FORMAT: CodeInfo("error", "keys match no dataset format"),
    "FORMAT_MISMATCH": CodeInfo("error", "record is another format than the model expects"),
    FormatCode.MISSING_FIELD: CodeInfo("error", "required field absent"),
    FormatCode.UNKNOWN_FIELD: CodeInfo("error", "field the format does not allow"),
    FormatCode.WRONG_TYPE: CodeInfo("error", "field has the wrong JSON type"),
    FormatCode.EMPTY_CONTENT: CodeInfo("error", "text, content list or messages list is empty"),
    FormatCode.INVALID_ROLE: CodeInfo("error", "role is not user or assistant"),
    FormatCode.ROLE_ORDER: CodeInfo(
        "error", "turns must start with user, alternate, end on assistant"
    ),
    FormatCode.SCHEMA_VERSION: CodeInfo("error", "schemaVersion is not bedrock-conversation-2024"),
    FormatCode.INVALID_CONTENT_BLOCK: CodeInfo(
        "error", "content block is not exactly one block kind (or too many blocks)"
    ),
    FormatCode.IMAGE_NOT_ALLOWED: CodeInfo("error", "image outside a user turn"),
    FormatCode.IMAGE_FORMAT: CodeInfo("error", "image format not png/jpeg/gif/webp"),
    FormatCode.IMAGE_URI: CodeInfo(
        "error", "image location is not s3://BUCKET/KEY (or bad bucketOwner, characters)"
    ),
    FormatCode.BLOCK_NOT_ALLOWED: CodeInfo(
        "error", "block the model does not take, or in the wrong turn (toolConfig too)"
    ),
    FormatCode.MEDIA_NOT_SUPPORTED: CodeInfo("error", "image/video/document the model cannot read"),
    FormatCode.MEDIA_FORMAT: CodeInfo("error", "video or document format the model does not take"),
    FormatCode.MEDIA_URI: CodeInfo("error", "video or document location is not a valid S3 URI"),
    FormatCode.MEDIA_LIMIT: CodeInfo(
        "error", "too many images/videos/documents, or a video with other media"
    ),
    FormatCode.TOOL_USE: CodeInfo(
        "error", "toolUse names no configured tool, or toolResult answers no toolUse"
    ),
    # Record rules of the chosen model and customization (bedrock_pipeline.registry)
    "MULTI_TURN_NOT_SUPPORTED": CodeInfo(
        "error", "more than one user turn where single-turn is required"
    ),
    "IMAGE_BUCKET": CodeInfo(
        "error", "image/video not in the dataset's bucket (Nova and our container require it)"
    ),
    "IMAGE_KEY": CodeInfo("error", "an image key that is no file path under the images channel"),
    "IMAGE_NOT_FOUND": CodeInfo("error", "a named image object does not exist (training reads it)"),
    "IMAGE_TOO_LARGE": CodeInfo("error", "a named image object is over the size limit"),
    "IMAGE_CONTENT": CodeInfo("error", "an image object is not the format its block declares"),
    "IMAGES_UNCHECKED": CodeInfo("error", "time ran out before every named image was looked up"),
    "MIXED_MEDIA": CodeInfo("error", "images and videos in one dataset (one kind per dataset)"),
    "IGNORED_FIELD": CodeInfo("warning", "top-level field Bedrock does not train on"),
    "TOOL_USE_CAUTION": CodeInfo("warning", "tool use the job may not support yet (see message)"),
    "RESERVED_KEYWORD": CodeInfo("error", "prompt contains a keyword the model reserves"),
    "TOKEN_LIMIT": CodeInfo("error", "estimated tokens of the record exceed the model's limit"),
    "DUPLICATE_RECORD": CodeInfo("error", "record identical to an earlier line of the same file"),
    "POSSIBLE_DUPLICATE": CodeInfo(
        "warning", "probable duplicate (probabilistic check, very large file)"
    ),
    "TRAIN_VALIDATION_OVERLAP": CodeInfo(
        "error", "validation record identical to a training record"
    ),
    "POSSIBLE_OVERLAP": CodeInfo(
        "warning", "probable train/validation overlap (probabilistic check)"
    ),
    # File and dataset level (line 0)
    "UNREADABLE": CodeInfo("error", "file or object cannot be read"),
    "EMPTY_FILE": CodeInfo("error", "file holds no records"),
    "FILE_TOO_LARGE": CodeInfo("error", "file larger than the model's limit"),
    "TOO_FEW_RECORDS": CodeInfo("error", "fewer records in a file than the model's minimum"),
    "VALIDATION_NOT_SUPPORTED": CodeInfo("error", "validation file for a job that takes none"),
    "LOG_RECORD_SKIPPED": CodeInfo(
        "warning", "invocation log distillation cannot use (Bedrock drops it)"
    ),
    "TOO_MANY_LOGS": CodeInfo("warning", "more matching invocation logs than Bedrock uses"),
    "TOO_MANY_RECORDS": CodeInfo("error", "more records in a file than the model allows"),
    "TOO_MANY_TOTAL_RECORDS": CodeInfo("error", "training + validation records above the limit"),
    "VALIDATION_INCOMPLETE": CodeInfo("error", "time ran out before the whole file was read"),
    "UNKNOWN_MODEL": CodeInfo("error", "baseModelId is not in the registry (the message lists it)"),
    "UNSUPPORTED_CUSTOMIZATION": CodeInfo(
        "error", "model does not support this customization type"
    ),
    "TRAINER_MISMATCH": CodeInfo("error", "model is not trained by the requested trainer"),
    "UNSUPPORTED_TEACHER": CodeInfo("error", "teacher model cannot distil into this student"),
    "MISSING_TEACHER": CodeInfo("error", "distillation without a teacher model"),
    "BATCH_LAYOUT": CodeInfo(
        "error", "batchSize is no multiple of microBatchSize x GPUs of the instances"
    ),
    HyperparameterCode.UNKNOWN: CodeInfo("error", "hyperparameter key the model does not take"),
    HyperparameterCode.TYPE: CodeInfo(
        "error", "hyperparameter value is not a number of the right type"
    ),
    HyperparameterCode.RANGE: CodeInfo("error", "hyperparameter value outside the model's range"),
    # Advice
    "SMALL_DATASET": CodeInfo("warning", "too few records to learn a new skill"),
    "NO_VALIDATION_DATA": CodeInfo(
        "warning", "no validation set: early stopping and val loss unused"
    ),
    "BATCH_SIZE_NOT_RECOMMENDED": CodeInfo(
        "warning", "batch size outside the recommendation for this size"
    ),
}


@dataclass(frozen=True)
class MediaRef:
    """Where a media URI is first named: file, 1-based line, field, block kind."""

    path: str
    line: int
    field: str
    kind: str
    declared: str = ""  # the block's format (png | jpeg | gif | webp for images)


@dataclass(frozen=True)
class Issue:
    path: str
    line: int  # 1-based; 0 for the whole file or a setting
    code: str
    message: str
    field: str = ""

    @property
    def severity(self) -> Severity:
        return CODES[self.code].severity

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code}: {self.message}"


class IssueLog:
    """Counts every issue per code; keeps only the first `max_examples` of each (bounded memory)."""

    def __init__(self, max_examples: int = 5) -> None:
        self.max_examples = max_examples
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[Issue]] = {}

    def add(self, issue: Issue) -> None:
        n = self.counts.get(issue.code, 0)
        self.counts[issue.code] = n + 1
        if n < self.max_examples:
            self.examples.setdefault(issue.code, []).append(issue)

    def count(self, severity: Severity) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code].severity == severity)

    def first(self, severity: Severity, limit: int) -> list[Issue]:
        """Examples of one severity in file/line order, at most `limit`."""
        found = [i for xs in self.examples.values() for i in xs if i.severity == severity]
        return sorted(found, key=lambda i: (i.path, i.line))[:limit]


class TokenStats:
    """Exact token-count percentiles from a histogram: memory is fixed, not per record."""

    CAP = 1 << 17  # counts at or above share the last bucket; min/max stay exact

    def __init__(self) -> None:
        self.hist = array("Q", bytes(8 * self.CAP))
        self.count = 0
        self.total = 0
        self.min: int | None = None
        self.max = 0

    def add(self, tokens: int) -> None:
        self.hist[tokens if tokens < self.CAP else self.CAP - 1] += 1
        self.count += 1
        self.total += tokens
        if tokens > self.max:
            self.max = tokens
        if self.min is None or tokens < self.min:
            self.min = tokens

    def finish(self, count: int, total: int, maximum: int) -> None:
        """Totals of a histogram filled directly (the scanner's inlined hot loop)."""
        self.count, self.total, self.max = count, total, maximum
        first = next((value for value, n in enumerate(self.hist) if n), None)
        self.min = None if first is None else min(first, maximum)

    def percentile(self, pct: int) -> int | None:
        """Nearest-rank percentile (integer math: no float rounding at the boundaries)."""
        if not self.count:
            return None
        rank = max(1, -(-pct * self.count // 100))
        seen = 0
        for value, n in enumerate(self.hist):
            seen += n
            if seen >= rank:
                return min(value, self.max)
        return self.max  # pragma: no cover

    def to_dict(self) -> dict[str, int | None]:
        return {
            "min": self.min,
            "median": self.percentile(50),
            "p95": self.percentile(95),
            "max": self.max if self.count else None,
            "total": self.total,
        }


@dataclass
class FileStats:
    role: Literal["train", "validation"]
    path: str
    bytes: int = 0
    records: int = 0
    valid_records: int = 0
    format: str | None = None  # the file's format (what most of its records are in)
    tokens: TokenStats = field(default_factory=TokenStats)
    expected_format: str | None = None  # set when the file is in another format than expected

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "path": self.path,
            "bytes": self.bytes,
            "records": self.records,
            "validRecords": self.valid_records,
            "format": self.format,
            "estimatedTokens": self.tokens.to_dict(),
        } | ({"expectedFormat": self.expected_format} if self.expected_format else {})


@dataclass
class Report:
    model_id: str
    customization_type: str
    trainer: str
    log: IssueLog
    files: list[FileStats] = field(default_factory=list)
    hyperparameters: dict[str, str] = field(default_factory=dict)
    token_estimator: str = ""
    recommended_batch_size: tuple[int, int] | None = None
    estimated_training_tokens: int | None = None
    duplicate_check: str = "exact"
    # DatasetLimits.media_channel: the distinct media URIs the records name (with where each is
    # first named), for the manifest of the training job's `images` channel (image_manifest).
    media: dict[str, MediaRef] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return self.log.count("error")

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def issues(self, severity: Severity, limit: int = 20) -> list[Issue]:
        return self.log.first(severity, limit)

    def summary(self) -> dict[str, Any]:
        """The small part of the report that travels in the workflow's state (< 1 KB)."""
        train = next((f for f in self.files if f.role == "train"), None)
        return {
            "valid": self.valid,
            "errors": self.error_count,
            "warnings": self.log.count("warning"),
            "trainRecords": train.records if train else 0,
            "validationRecords": sum(f.records for f in self.files if f.role == "validation"),
            "estimatedTrainingTokens": self.estimated_training_tokens,
            **({"images": len(self.media)} if self.media else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "modelId": self.model_id,
            "customizationType": self.customization_type,
            "trainer": self.trainer,
            "errorCount": self.error_count,
            "warningCount": self.log.count("warning"),
            "countsByCode": dict(sorted(self.log.counts.items())),
            "examples": {
                code: [str(i) for i in issues] for code, issues in sorted(self.log.examples.items())
            },
            "files": [f.to_dict() for f in self.files],
            "hyperParameters": self.hyperparameters,
            "estimatedTrainingTokens": self.estimated_training_tokens,
            "recommendedBatchSize": (
                {"min": self.recommended_batch_size[0], "max": self.recommended_batch_size[1]}
                if self.recommended_batch_size
                else None
            ),
            "tokenEstimator": self.token_estimator,
            "duplicateCheck": self.duplicate_check,
            **({"images": len(self.media)} if self.media else {}),
        }
