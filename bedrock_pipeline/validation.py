"""Dataset and hyperparameter validation for one customization run: the report behind the
validate step, `bedrock-pipeline validate-data` and the container's own pre-flight check.

Streams each file once (bedrock_pipeline.scanner) in bounded memory, then applies the dataset-level
rules of the registry row: record counts, file sizes, validation-set limits, train/validation
overlap, and advice (dataset size, batch size). Nothing stops at the first error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from bedrock_pipeline.digests import DigestIndex
from bedrock_pipeline.hyperparameters import HyperparameterIssue, resolve_hyperparameters
from bedrock_pipeline.image_manifest import MAX_IMAGE_BYTES, ObjectHead, image_format
from bedrock_pipeline.invocation_logs import validate_invocation_logs
from bedrock_pipeline.model_spec import CustomizationType, DatasetLimits, ModelSpec, Trainer
from bedrock_pipeline.registry import RECOMMENDED_MIN_RECORDS, distillation_teachers
from bedrock_pipeline.scanner import Scanner
from bedrock_pipeline.sources import DataSource
from bedrock_pipeline.training_contract import batch_layout_problem
from bedrock_pipeline.validation_report import FileStats, Issue, IssueLog, MediaRef, Report

DEFAULT_DIGEST_CAP = 1_000_000  # exact duplicate checks up to this many records per file


def validate_dataset(
    train: DataSource,
    *,
    model: ModelSpec,
    customization: CustomizationType,
    trainer: Trainer | None = None,
    validation: DataSource | None = None,
    hyperparameters: Mapping[str, object] | None = None,
    teacher_id: str | None = None,
    max_examples: int = 5,
    deadline: float | None = None,
    digest_cap: int = DEFAULT_DIGEST_CAP,
    gpus: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Report:
    """Check the datasets and hyperparameters of one customization; bad data never raises.

    `gpus` (container runs: GPUs per instance x instance count, see
    training_contract.world_size) adds the batch-layout rule the container enforces at start.
    `progress(file name, lines, bytes)` is called every few thousand lines while reading.

    `deadline` is a `time.monotonic()` value: past it reading stops and the report carries
    VALIDATION_INCOMPLETE, an error, because an unchecked file must not start a paid job.
    """
    trainer = trainer or model.trainer
    log = IssueLog(max_examples)
    report = Report(model.model_id, str(customization), str(trainer), log)
    hp_issues = _check_settings(
        report, model, trainer, hyperparameters, teacher_id, customization, gpus
    )
    limits = model.limits(customization)
    if limits is None:
        supported = ", ".join(model.customizations)
        message = f"{model.model_id} does not support {customization}; supported: {supported}"
        log.add(Issue("customizationType", 0, "UNSUPPORTED_CUSTOMIZATION", message))
        return report

    scanner = Scanner(model, limits, log, deadline)
    if progress is not None:
        scanner.progress_to = progress
    train_index = DigestIndex(exact_cap=digest_cap)
    train_stats = _scan_file(scanner, train, "train", train_index, None, limits.max_train_bytes)
    report.files.append(train_stats)
    val_stats = None
    if validation is not None:
        val_index = DigestIndex(exact_cap=digest_cap)
        max_bytes = limits.max_validation_bytes
        val_stats = _scan_file(scanner, validation, "validation", val_index, train_index, max_bytes)
        report.files.append(val_stats)
    report.media = scanner.media_uris
    if scanner.probabilistic:
        report.duplicate_check = f"exact for the first {digest_cap} records, Bloom filter after"
    _check_counts(report, limits, train_stats, val_stats)
    bad_keys = {hp.key for hp in hp_issues}
    _advise(report, model, train_stats, val_stats, bad_keys)
    return report


def _check_settings(
    report: Report,
    model: ModelSpec,
    trainer: Trainer,
    hyperparameters: Mapping[str, object] | None,
    teacher_id: str | None,
    customization: CustomizationType,
    gpus: int | None = None,
) -> list[HyperparameterIssue]:
    """Hyperparameters, batch layout, trainer and teacher: the checks that read no data."""
    log = report.log
    report.token_estimator = model.estimator.describe()
    report.hyperparameters, hp_issues = resolve_hyperparameters(model, hyperparameters)
    for hp in hp_issues:
        log.add(Issue("hyperParameters", 0, hp.code, hp.message, hp.key))
    bad_keys = {hp.key for hp in hp_issues}
    if gpus and trainer == Trainer.CONTAINER and not bad_keys & {"batchSize", "microBatchSize"}:
        resolved = report.hyperparameters
        problem = batch_layout_problem(
            int(resolved["batchSize"]), int(resolved["microBatchSize"]), gpus
        )
        if problem:
            message = f"batchSize={resolved['batchSize']}: {problem}"
            log.add(Issue("hyperParameters", 0, "BATCH_LAYOUT", message, "batchSize"))
    if trainer != model.trainer:
        message = f"{model.model_id} is trained by '{model.trainer}', not '{trainer}'"
        log.add(Issue("trainer", 0, "TRAINER_MISMATCH", message))
    distil = customization == CustomizationType.DISTILLATION
    if distil and teacher_id is None and model.limits(customization) is not None:
        names = ", ".join(distillation_teachers(model.model_id)) or "none"
        message = (
            f"distillation needs a teacher model (--teacher-model); teachers for "
            f"{model.model_id}: {names}"
        )
        log.add(Issue("teacherModelId", 0, "MISSING_TEACHER", message))
    if teacher_id is not None:
        teachers = distillation_teachers(model.model_id)
        if teacher_id not in teachers:
            allowed = ", ".join(teachers) or "none (not a distillation student)"
            message = f"{teacher_id} cannot distil into {model.model_id}; teachers: {allowed}"
            log.add(Issue("teacherModelId", 0, "UNSUPPORTED_TEACHER", message))
    return hp_issues


def validate_invocation_log_run(
    sources: Iterable[DataSource],
    config: Mapping[str, object],
    *,
    model: ModelSpec,
    hyperparameters: Mapping[str, object] | None = None,
    teacher_id: str | None = None,
) -> Report:
    """Distillation from invocation logs: the logs (bedrock_pipeline.invocation_logs), then the
    same settings checks as a prompt file gets."""
    report = validate_invocation_logs(sources, config, model_id=model.model_id)
    if model.limits(CustomizationType.DISTILLATION) is None:
        message = f"{model.model_id} is no distillation student"
        report.log.add(Issue("customizationType", 0, "UNSUPPORTED_CUSTOMIZATION", message))
    _check_settings(
        report, model, model.trainer, hyperparameters, teacher_id, CustomizationType.DISTILLATION
    )
    return report


# HeadObject errors carry the HTTP status as their code; say what it means for the user.
_S3_ERRORS = {
    "404": "no such object (NoSuchKey): check the URI",
    "NoSuchKey": "no such object (NoSuchKey): check the URI",
    "NoSuchBucket": "no such bucket: check the URI",
    "403": "access denied: the role needs s3:GetObject (and kms:Decrypt for KMS objects)",
    "AccessDenied": "access denied: the role needs s3:GetObject (and kms:Decrypt for KMS objects)",
}


def _unreadable(exc: Exception) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    if code is None:
        return f"cannot read: {exc}"
    return f"cannot read: {_S3_ERRORS.get(str(code), f'{code}: {exc}')}"


def _scan_file(
    scanner: Scanner,
    source: DataSource,
    role: Literal["train", "validation"],
    own: DigestIndex,
    train: DigestIndex | None,
    max_bytes: int | None,
) -> FileStats:
    stats = FileStats(role, source.name)
    log = scanner.log
    try:
        size = source.size()
        if size is not None and max_bytes is not None and size > max_bytes:
            message = (
                f"{size} bytes; {scanner.model.model_id} takes a {role} file of at most {max_bytes}"
            )
            log.add(Issue(source.name, 0, "FILE_TOO_LARGE", message))
        if not scanner.scan(source, stats, own, train):
            stats.bytes = size or 0
            return stats  # not JSON Lines at all: said once at line 1, nothing else to add
    except Exception as exc:
        # A missing file (OSError) or an S3 error left after retries (ClientError: NoSuchKey,
        # AccessDenied) is a finding about the input; anything else is a bug and surfaces.
        if not isinstance(exc, OSError) and not hasattr(exc, "response"):
            raise
        log.add(Issue(source.name, 0, "UNREADABLE", _unreadable(exc)))
        return stats
    if stats.records == 0:
        log.add(Issue(source.name, 0, "EMPTY_FILE", f"the {role} file holds no records"))
    return stats


def _check_counts(
    report: Report, limits: DatasetLimits, train: FileStats, val: FileStats | None
) -> None:
    log, model = report.log, report.model_id
    least, most = limits.min_train_records, limits.max_train_records
    if train.records and least and train.records < least:
        message = f"{train.records} training records; {model} needs at least {least}"
        log.add(Issue(train.path, 0, "TOO_FEW_RECORDS", message))
    if most and train.records > most:
        message = f"{train.records} training records; {model} takes at most {most}"
        log.add(Issue(train.path, 0, "TOO_MANY_RECORDS", message))
    if val is not None and not limits.validation_file:
        message = f"{model} takes no validation dataset for this customization; remove it"
        log.add(Issue(val.path, 0, "VALIDATION_NOT_SUPPORTED", message))
    least = limits.min_validation_records
    if val is not None and val.records and least and val.records < least:
        message = f"{val.records} validation records; {model} needs at least {least}"
        log.add(Issue(val.path, 0, "TOO_FEW_RECORDS", message))
    most = limits.max_validation_records
    if val is not None and most and val.records > most:
        message = f"{val.records} validation records; {model} takes at most {most}"
        log.add(Issue(val.path, 0, "TOO_MANY_RECORDS", message))
    total, most = train.records + (val.records if val else 0), limits.max_total_records
    # Without a validation file the total is the training count: report it once.
    if most and total > most and (val is not None or not limits.max_train_records):
        message = f"{total} training + validation records; {model} takes at most {most} in all"
        log.add(Issue(val.path if val else train.path, 0, "TOO_MANY_TOTAL_RECORDS", message))


def _advise(
    report: Report, model: ModelSpec, train: FileStats, val: FileStats | None, bad_keys: set[str]
) -> None:
    log, hp = report.log, report.hyperparameters
    if 0 < train.valid_records < RECOMMENDED_MIN_RECORDS:
        message = (
            f"{train.valid_records} valid records; fewer than {RECOMMENDED_MIN_RECORDS} rarely "
            "teach a new skill (format or tone can still be learned)"
        )
        log.add(Issue(train.path, 0, "SMALL_DATASET", message))
    if val is None and "earlyStoppingPatience" in hp:
        message = "no validation file: early stopping and validation loss need one"
        log.add(Issue(train.path, 0, "NO_VALIDATION_DATA", message))
    report.estimated_training_tokens = train.tokens.total * int(hp.get("epochCount", "1"))
    guide = model.batch_size_guide
    if guide is not None and train.records:
        low, high = guide.recommend(train.records)
        report.recommended_batch_size = (low, high)
        batch = int(hp["batchSize"])
        if "batchSize" not in bad_keys and not low <= batch <= high:
            message = f"batchSize={batch}; {low}-{high} is advised for {train.records} records"
            log.add(Issue("hyperParameters", 0, "BATCH_SIZE_NOT_RECOMMENDED", message, "batchSize"))


def check_media_objects(report: Report, heads: Mapping[str, ObjectHead], complete: bool) -> None:
    """Add an issue for each media object ``report.media`` names that does not exist (absent
    from ``heads``, ``aws.s3.object_heads``'s sizes and first ``image_manifest.HEAD_BYTES``
    bytes), is empty or over ``image_manifest.MAX_IMAGE_BYTES``, or whose first bytes are not
    the format its block declares; each at the record that first names it. ``complete`` False
    (the lookups ran out of time) is one more error."""
    for uri, ref in sorted(report.media.items(), key=lambda item: (item[1].path, item[1].line)):
        found = heads.get(uri)
        if found is None:
            if complete:
                text = f"{ref.kind} {uri} does not exist; the training job reads every named image"
                _media_issue(report, ref, "IMAGE_NOT_FOUND", text)
            continue
        if found.size == 0:
            _media_issue(report, ref, "IMAGE_CONTENT", f"{ref.kind} {uri} is empty")
            continue
        if found.size > MAX_IMAGE_BYTES:
            text = f"{ref.kind} {uri} is {found.size:,} bytes; at most {MAX_IMAGE_BYTES:,} allowed"
            _media_issue(report, ref, "IMAGE_TOO_LARGE", text)
            continue
        fmt = image_format(found.head)
        if fmt != ref.declared:
            what = f"a {fmt} image" if fmt else "no png, jpeg, gif or webp image"
            text = f"declares format '{ref.declared}' but {uri} is {what}"
            _media_issue(report, ref, "IMAGE_CONTENT", text)
    if not complete:
        message = (
            f"time ran out after finding {len(heads)} of {len(report.media)} named images; "
            "the rest were not looked up"
        )
        report.log.add(Issue("images", 0, "IMAGES_UNCHECKED", message))


def _media_issue(report: Report, ref: MediaRef, code: str, text: str) -> None:
    """``code`` at the record that first names the object, its message led by the field."""
    report.log.add(Issue(ref.path, ref.line, code, f"{ref.field}: {text}", ref.field))
