"""`bedrock-pipeline validate-data`: the validate step's checks, on a laptop, before any upload.

    bedrock-pipeline validate-data TRAIN.jsonl --base-model MODEL_ID [--validation VAL.jsonl]
        [--customization-type TYPE] [--hyperparameters JSON] [--format text|json]

Paths may be local files or s3:// URIs (read with the default AWS credentials). Exit codes:
0 valid (warnings allowed), 1 invalid, 2 usage error (unknown model, bad JSON, missing file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from bedrock_pipeline.aws.s3 import source_for
from bedrock_pipeline.model_spec import CustomizationType, Trainer
from bedrock_pipeline.registry import MODELS, UnknownModelError, get_model
from bedrock_pipeline.sources import DataSource
from bedrock_pipeline.validation import validate_dataset
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
    if args.output == "json":
        json.dump(report.to_dict(), out, indent=1)
        out.write("\n")
    else:
        out.write(render_text(report))
    return EXIT_OK if report.valid else EXIT_INVALID


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
