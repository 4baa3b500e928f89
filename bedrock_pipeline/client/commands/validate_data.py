"""`bedrock-pipeline validate-data`: the validate step's checks, on a laptop, before any upload.

    bedrock-pipeline validate-data TRAIN.jsonl --base-model MODEL_ID [--validation VAL.jsonl]
        [--customization-type TYPE] [--hyperparameters JSON] [--format text|json]
    bedrock-pipeline validate-data LOGS --invocation-logs --base-model STUDENT_ID
        --teacher-model TEACHER_ID [--request-metadata-filters JSON]

With --invocation-logs (distillation from model invocation logs), LOGS is a folder or file of
gzip invocation logs, or an s3:// prefix; --request-metadata-filters is the run document's
requestMetadataFilters.

Paths may be local files or s3:// URIs (read with the default AWS credentials). Exit codes:
0 valid (warnings allowed), 1 invalid, 2 usage error (unknown model, bad JSON, missing file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from bedrock_pipeline.aws.s3 import log_objects, source_for
from bedrock_pipeline.model_spec import CustomizationType, ModelSpec, Trainer
from bedrock_pipeline.registry import MODELS, UnknownModelError, get_model
from bedrock_pipeline.run_spec import RequestMetadataFilters, RunSpecError
from bedrock_pipeline.sources import DataSource, LocalFile
from bedrock_pipeline.validation import validate_dataset, validate_invocation_log_run
from bedrock_pipeline.validation_report import CODES, Report

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate-data",
        help="check a JSONL dataset and hyperparameters against a base model's rules",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
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
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output")
    parser.add_argument("--max-examples", type=int, default=5, help="examples kept per code")
    parser.add_argument(
        "--invocation-logs", action="store_true", help="TRAIN is invocation logs (distillation)"
    )
    parser.add_argument(
        "--request-metadata-filters", metavar="JSON", help='e.g. \'{"equals": {"project": "faq"}}\''
    )
    parser.set_defaults(func=run)


def _usage(message: str) -> int:
    print(f"bedrock-pipeline validate-data: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        model = get_model(args.base_model)
    except UnknownModelError as exc:
        return _usage(str(exc))
    hyperparameters = None
    if args.hyperparameters:
        try:
            hyperparameters = json.loads(args.hyperparameters)
        except json.JSONDecodeError as exc:
            return _usage(f"--hyperparameters is not JSON: {exc}")
        if not isinstance(hyperparameters, dict):
            return _usage("--hyperparameters must be a JSON object of key: value")
    if args.invocation_logs:
        return _logs(args, model, hyperparameters, out)
    locations = [args.train] + ([args.validation] if args.validation else [])
    missing = [p for p in locations if not p.startswith("s3://") and not os.path.isfile(p)]
    if missing:
        return _usage(f"no such file: {missing[0]}")
    s3 = None
    if any(p.startswith("s3://") for p in locations):
        import boto3  # only when needed: local checks work without AWS configuration

        s3 = boto3.client("s3")
    try:
        sources: list[DataSource] = [source_for(p, s3) for p in locations]
    except ValueError as exc:
        return _usage(str(exc))
    report = validate_dataset(
        sources[0],
        model=model,
        customization=CustomizationType(args.customization_type),
        trainer=Trainer(args.trainer) if args.trainer else None,
        validation=sources[1] if len(sources) > 1 else None,
        hyperparameters=hyperparameters,
        teacher_id=args.teacher_model,
        max_examples=args.max_examples,
    )
    return _write(args, report, out)


def _write(args: argparse.Namespace, report: Report, out: TextIO) -> int:
    if args.output == "json":
        json.dump(report.to_dict(), out, indent=1)
        out.write("\n")
    else:
        out.write(render_text(report))
    return EXIT_OK if report.valid else EXIT_INVALID


def _logs(args: argparse.Namespace, model: ModelSpec, hp: Any, out: TextIO) -> int:
    """Distillation from invocation logs: a local folder/file of .gz logs or an s3:// prefix."""
    config: dict[str, Any] = {"invocationLogSource": {"s3Uri": args.train}}
    if args.request_metadata_filters:
        try:
            filters = json.loads(args.request_metadata_filters)
            RequestMetadataFilters.model_validate(filters)
        except (json.JSONDecodeError, ValidationError, RunSpecError) as exc:
            return _usage(f"--request-metadata-filters: {exc}")
        config["requestMetadataFilters"] = filters
    if args.train.startswith("s3://"):
        import boto3

        sources: list[DataSource] = list(log_objects(args.train, boto3.client("s3")))
    elif os.path.isdir(args.train):
        found = sorted(Path(args.train).rglob("*.gz"))
        sources = [LocalFile(str(p)) for p in found]
    elif os.path.isfile(args.train):
        sources = [LocalFile(args.train)]
    else:
        return _usage(f"no such file or folder: {args.train}")
    report = validate_invocation_log_run(
        sources, config, model=model, hyperparameters=hp, teacher_id=args.teacher_model
    )
    return _write(args, report, out)


def render_text(report: Report) -> str:
    lines = [f"{report.model_id} {report.customization_type} (trainer: {report.trainer})"]
    for f in report.files:
        t = f.tokens.to_dict()
        lines.append(
            f"  {f.role}: {f.path}: {f.records} records ({f.valid_records} valid), "
            f"{f.bytes} bytes, format {f.format or '?'}"
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
        shown = report.issues(severity, limit=10_000)
        total = report.log.count(severity)
        if total:
            lines.append(f"{severity}s: {total} ({_counts(report, severity)})")
            lines += [f"  {issue}" for issue in shown]
            if total > len(shown):
                lines.append(f"  ... {total - len(shown)} more not shown (see --max-examples)")
    lines.append("VALID" if report.valid else "INVALID")
    return "\n".join(lines) + "\n"


def _counts(report: Report, severity: str) -> str:
    items = sorted(report.log.counts.items())
    return ", ".join(f"{code} {n}" for code, n in items if CODES[code].severity == severity)
