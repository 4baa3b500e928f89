"""`bedrock-pipeline check-run`: a run document checked against a stage, offline, before `start`.

    bedrock-pipeline check-run RUN.json [--stage dev] [--config-dir config]
        [--data TRAIN.jsonl] [--output table|json]

Checks the whole document at once: schema and field combinations, the stage's allowed base
models and region (``config/<stage>.json``), the registry's trainer, customization types and
distillation teachers, the hyperparameters of the model or the container, and the container's
batch layout over the GPUs of its instances. Every bad field is named. The estimate gives what
is known offline: epochs, instance hours at most (container: maxRuntimeS x instances) and, with
``--data`` (a local copy of the training file), the estimated training tokens x epochs.
Exit codes: 0 valid, 1 invalid (each problem printed), 2 usage (no such file, not JSON, no
such stage). Nothing is started and nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bedrock_pipeline.client.output import (
    EXIT_FAILED,
    EXIT_OK,
    RawHelpFormatter,
    add_output_option,
    dump_json,
    error,
    output_kind,
)
from bedrock_pipeline.contract import ENV_STAGE
from bedrock_pipeline.model_spec import CustomizationType, did_you_mean
from bedrock_pipeline.registry import UnknownModelError, get_model
from bedrock_pipeline.run_check import RunCheck, Stage, check_run
from bedrock_pipeline.sources import LocalFile
from bedrock_pipeline.validation import validate_dataset

COMMAND = "check-run"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        COMMAND,
        help="check a run document against a stage, offline (every problem, cost estimate)",
        description=__doc__,
        formatter_class=RawHelpFormatter,
    )
    parser.add_argument("document", metavar="RUN.json", help="run document ('-' for stdin)")
    parser.add_argument(
        "--stage",
        default=os.environ.get(ENV_STAGE, "dev"),
        help=f"stage to check against (default ${ENV_STAGE} or dev)",
    )
    parser.add_argument(
        "--config-dir", type=Path, default=Path("config"), help="folder of <stage>.json files"
    )
    parser.add_argument(
        "--data", metavar="TRAIN.jsonl", help="local copy of the training data: token estimate"
    )
    add_output_option(parser)
    parser.set_defaults(func=run)


class _Usage(ValueError):
    pass


def read_stage(config_dir: Path, name: str) -> Stage:
    path = config_dir / f"{name}.json"
    if not path.is_file():
        names = sorted(p.stem for p in config_dir.glob("*.json")) if config_dir.is_dir() else []
        where = f"available: {', '.join(names)}" if names else "run from the repository root"
        raise _Usage(f"{path}: no such stage {name!r}{did_you_mean(name, names)}; {where}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Stage(name, str(raw["region"]), tuple(raw.get("allowed_base_models", ())))
    except (ValueError, KeyError, TypeError) as exc:
        raise _Usage(f"{path}: not a stage file ({exc})") from None


def read_document(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Usage(f"no such file: {path}") from None
    except OSError as exc:
        raise _Usage(f"{path}: cannot read: {(exc.strerror or str(exc)).lower()}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Usage(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None


def run(args: argparse.Namespace) -> int:
    try:
        stage = read_stage(args.config_dir, args.stage)
        document = read_document(args.document)
        if args.data is not None and not os.path.isfile(args.data):
            raise _Usage(f"--data: no such file: {args.data}")
    except _Usage as exc:
        return error(COMMAND, str(exc))
    check = check_run(document, stage)
    if args.data is not None and isinstance(document, dict):
        _estimate_tokens(check, document, args.data)
    if output_kind(args) == "json":
        sys.stdout.write(dump_json(check.to_dict() | {"stage": stage.name}))
    else:
        sys.stdout.write(render(check, args.document, stage))
    return EXIT_OK if check.valid else EXIT_FAILED


def _estimate_tokens(check: RunCheck, document: dict[str, Any], data: str) -> None:
    try:
        model = get_model(str(document.get("baseModelId")))
        customization = CustomizationType(document.get("customizationType", "FINE_TUNING"))
    except (UnknownModelError, ValueError):
        return  # already a problem of the document
    hyperparameters = (document.get("container") or {}).get("hyperParameters") or document.get(
        "hyperParameters"
    )
    report = validate_dataset(
        LocalFile(data),
        model=model,
        customization=customization,
        hyperparameters=hyperparameters if isinstance(hyperparameters, dict) else None,
    )
    check.estimate["trainingTokensTimesEpochs"] = report.estimated_training_tokens
    check.estimate["trainingRecords"] = report.files[0].valid_records if report.files else 0
    for issue in report.issues("error", limit=5):
        check.add(f"--data {data}", str(issue))


def render(check: RunCheck, path: str, stage: Stage) -> str:
    lines = [f"{path} against stage {stage.name} ({stage.region}):"]
    lines += [f"  {p.field}: {p.message}" for p in check.problems]
    if check.estimate:
        shown = ", ".join(f"{k} {v}" for k, v in check.estimate.items())
        lines.append(f"  estimate: {shown}")
    count = len(check.problems)
    lines.append("VALID" if check.valid else f"INVALID ({count} problem{'s' * (count != 1)})")
    return "\n".join(lines) + "\n"
