"""`bedrock-pipeline validate-data`: the validate step's checks, on a laptop, before any upload.

    bedrock-pipeline validate-data TRAIN.jsonl --base-model MODEL_ID [--validation VAL.jsonl]
        [--customization-type TYPE] [--teacher-model ID] [--hyperparameters JSON]
        [--instance-type ml.g5.12xlarge --instance-count 2] [--output table|json]
        [--report-file report.json]
    bedrock-pipeline validate-data LOGS --invocation-logs --base-model STUDENT_ID
        --teacher-model TEACHER_ID [--request-metadata-filters JSON]

With --invocation-logs (distillation from model invocation logs), LOGS is a folder or file of
gzip invocation logs, or an s3:// prefix; --request-metadata-filters is the run document's
requestMetadataFilters.

Paths may be local files or s3:// URIs (read with the default AWS credentials, or --profile).
Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage or environment (unknown model, bad
JSON, missing file, no credentials, access denied, no such bucket or key): one line, no report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from bedrock_pipeline.aws.errors import environment_problem
from bedrock_pipeline.aws.s3 import client as s3_client
from bedrock_pipeline.aws.s3 import log_objects, object_heads, source_for
from bedrock_pipeline.client.output import (
    EXIT_FAILED,
    EXIT_OK,
    RawHelpFormatter,
    add_output_option,
    error,
    os_error_message,
    output_kind,
    write_atomic,
)
from bedrock_pipeline.client.progress import ReadProgress
from bedrock_pipeline.image_manifest import HEAD_BYTES
from bedrock_pipeline.model_spec import CustomizationType, ModelSpec, Trainer
from bedrock_pipeline.registry import MODELS, UnknownModelError, get_model
from bedrock_pipeline.run_spec import RequestMetadataFilters, RunSpecError
from bedrock_pipeline.sources import DataSource, LocalFile, split_s3_uri
from bedrock_pipeline.training_contract import (
    DEFAULT_INSTANCE_TYPE,
    GPUS_PER_INSTANCE,
    world_size,
)
from bedrock_pipeline.validation import (
    check_media_objects,
    validate_dataset,
    validate_invocation_log_run,
)
from bedrock_pipeline.validation_report import CODES, Report

COMMAND = "validate-data"
EXIT_INVALID = EXIT_FAILED


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        COMMAND,
        help="check a JSONL dataset and hyperparameters against a base model's rules",
        description=__doc__,
        formatter_class=RawHelpFormatter,
    )
    parser.add_argument("train", metavar="TRAIN.jsonl", help="training data: path or s3:// URI")
    parser.add_argument(
        "--base-model", required=True, metavar="MODEL_ID", help=f"one of: {', '.join(MODELS)}"
    )
    parser.add_argument("--validation", metavar="VAL.jsonl", help="validation data (optional)")
    parser.add_argument(
        "--customization-type",
        default=CustomizationType.FINE_TUNING.value,
        choices=[c.value for c in CustomizationType],
    )
    parser.add_argument("--trainer", choices=[t.value for t in Trainer if t != Trainer.IMPORT])
    parser.add_argument("--teacher-model", metavar="MODEL_ID", help="distillation teacher")
    parser.add_argument(
        "--hyperparameters", metavar="JSON", help='e.g. \'{"epochCount": 3, "batchSize": "16"}\''
    )
    parser.add_argument(
        "--instance-type",
        default=DEFAULT_INSTANCE_TYPE,
        choices=sorted(GPUS_PER_INSTANCE),
        metavar="TYPE",
        help=f"container runs: SageMaker instance type (default {DEFAULT_INSTANCE_TYPE}); "
        "batchSize must split over its GPUs",
    )
    parser.add_argument("--instance-count", type=int, default=1, help="container runs")
    add_output_option(parser)
    parser.add_argument(
        "--report-file",
        type=Path,
        metavar="PATH",
        help="also write the JSON report here (whole or not at all; never on exit 2)",
    )
    parser.add_argument("--max-examples", type=int, default=5, help="examples kept per code")
    parser.add_argument("--profile", help="AWS profile for s3:// paths")
    parser.add_argument(
        "--invocation-logs", action="store_true", help="TRAIN is invocation logs (distillation)"
    )
    parser.add_argument(
        "--request-metadata-filters", metavar="JSON", help='e.g. \'{"equals": {"project": "faq"}}\''
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None, s3: Any = None) -> int:
    out = out or sys.stdout
    try:
        model = get_model(args.base_model)
    except UnknownModelError as exc:
        return error(COMMAND, str(exc))
    hyperparameters = None
    if args.hyperparameters:
        try:
            hyperparameters = json.loads(args.hyperparameters)
        except json.JSONDecodeError as exc:
            return error(COMMAND, f"--hyperparameters is not JSON: {exc}")
        if not isinstance(hyperparameters, dict):
            return error(COMMAND, "--hyperparameters must be a JSON object of key: value")
    if not 1 <= args.instance_count <= 16:
        return error(COMMAND, "--instance-count must be 1-16")
    if args.report_file is not None and not args.report_file.parent.is_dir():
        return error(COMMAND, f"--report-file: no such directory: {args.report_file.parent}")
    if args.invocation_logs:
        try:
            return _logs(args, model, hyperparameters, out, s3)
        except Exception as exc:
            problem = environment_problem(exc)
            if problem is None:
                raise
            return error(COMMAND, f"{args.train}: {problem}")
    locations = [args.train] + ([args.validation] if args.validation else [])
    missing = [p for p in locations if not p.startswith("s3://") and not os.path.isfile(p)]
    if missing:
        return error(COMMAND, f"no such file: {missing[0]}")
    if s3 is None and any(p.startswith("s3://") for p in locations):
        s3 = s3_client(getattr(args, "profile", None))
    try:
        sources: list[DataSource] = [source_for(p, s3) for p in locations]
        sizes = {source.name: source.size() for source in sources}  # S3: HeadObject
    except ValueError as exc:
        return error(COMMAND, str(exc))
    except Exception as exc:
        problem = environment_problem(exc)
        if problem is None:
            raise
        where = next((p for p in locations if p.startswith("s3://")), locations[0])
        return error(COMMAND, f"{where}: {problem}")
    progress = ReadProgress(sys.stderr, sizes) if sys.stderr.isatty() else None
    customization = CustomizationType(args.customization_type)
    trainer = Trainer(args.trainer) if args.trainer else model.trainer
    report = validate_dataset(
        sources[0],
        model=model,
        customization=customization,
        trainer=trainer,
        validation=sources[1] if len(sources) > 1 else None,
        hyperparameters=hyperparameters,
        teacher_id=args.teacher_model,
        max_examples=args.max_examples,
        gpus=world_size(args.instance_type, args.instance_count),
        progress=progress,
    )
    if progress is not None:
        progress.close()
    if report.media and s3 is not None:
        # Image objects the records name (the dataset is on S3): each exists and fits.
        try:
            check_media_objects(report, *object_heads(s3, report.media, HEAD_BYTES))
        except Exception as exc:
            problem = environment_problem(exc)
            if problem is None:
                raise
            bucket = split_s3_uri(next(iter(report.media)))[0]
            return error(COMMAND, f"s3://{bucket}/ (looking the images up): {problem}")
    return _write(args, report, out)


def _write(args: argparse.Namespace, report: Report, out: TextIO) -> int:
    document = json.dumps(report.to_dict(), indent=1) + "\n"
    if args.report_file is not None:
        try:
            write_atomic(args.report_file, document)
        except OSError as exc:
            return error(COMMAND, os_error_message(exc))
    out.write(document if output_kind(args) == "json" else render_text(report))
    return EXIT_OK if report.valid else EXIT_INVALID


def _logs(args: argparse.Namespace, model: ModelSpec, hp: Any, out: TextIO, s3: Any = None) -> int:
    """Distillation from invocation logs: a local folder/file of .gz logs or an s3:// prefix."""
    config: dict[str, Any] = {"invocationLogSource": {"s3Uri": args.train}}
    if args.request_metadata_filters:
        try:
            filters = json.loads(args.request_metadata_filters)
            RequestMetadataFilters.model_validate(filters)
        except (json.JSONDecodeError, ValidationError, RunSpecError) as exc:
            return error(COMMAND, f"--request-metadata-filters: {exc}")
        config["requestMetadataFilters"] = filters
    if args.train.startswith("s3://"):
        if s3 is None:
            s3 = s3_client(getattr(args, "profile", None))
        sources: list[DataSource] = list(log_objects(args.train, s3))
    elif os.path.isdir(args.train):
        found = sorted(Path(args.train).rglob("*.gz"))
        sources = [LocalFile(str(p)) for p in found]
    elif os.path.isfile(args.train):
        sources = [LocalFile(args.train)]
    else:
        return error(COMMAND, f"no such file or folder: {args.train}")
    report = validate_invocation_log_run(
        sources, config, model=model, hyperparameters=hp, teacher_id=args.teacher_model
    )
    return _write(args, report, out)


def render_text(report: Report) -> str:
    lines = [f"{report.model_id} {report.customization_type} (trainer: {report.trainer})"]
    for f in report.files:
        t = f.tokens.to_dict()
        shown = f.format or "?"
        if f.expected_format:
            shown += f" (the model expects {f.expected_format})"
        lines.append(
            f"  {f.role}: {f.path}: {f.records} records ({f.valid_records} valid), "
            f"{f.bytes} bytes, format {shown}"
        )
        if f.tokens.count:
            lines.append(
                f"    estimated tokens/record: min {t['min']}, median {t['median']}, "
                f"p95 {t['p95']}, max {t['max']}"
            )
    if report.estimated_training_tokens is not None:
        lines.append(f"  estimated training tokens x epochs: {report.estimated_training_tokens}")
    if report.recommended_batch_size:
        low, high = report.recommended_batch_size
        lines.append(f"  recommended batch size: {low}-{high}")
    lines.append(f"  hyperParameters: {json.dumps(report.hyperparameters)}")
    lines.append(f"  token estimate: {report.token_estimator}")
    for severity in ("error", "warning"):
        shown_issues = report.issues(severity, limit=10_000)
        total = report.log.count(severity)
        if total:
            lines.append(f"{severity}s: {total} ({_counts(report, severity)})")
            lines += [f"  {issue}" for issue in shown_issues]
            if total > len(shown_issues):
                lines.append(
                    f"  ... {total - len(shown_issues)} more not shown (see --max-examples)"
                )
    lines.append("VALID" if report.valid else "INVALID")
    return "\n".join(lines) + "\n"


def _counts(report: Report, severity: str) -> str:
    items = sorted(report.log.counts.items())
    return ", ".join(f"{code} {n}" for code, n in items if CODES[code].severity == severity)
