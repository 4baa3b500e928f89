"""`bedrock-pipeline local start`: one run of the workflow on this machine, in emulation.

    bedrock-pipeline local start RUN.json --files DIR [--model ID=DIR ...] [--out DIR]
        [--stage dev] [--nproc 1] [--timeout 3600]

Runs the synthesized state machine of the stage with the real handlers against local stand-ins
(docs/local.md): moto for the AWS services, the training container's entry point on this CPU
for SageMaker training jobs, the real import readiness check for Custom Model Import, and
transformers ``generate`` from local weights for Bedrock Runtime. Bedrock customization jobs
are emulated job status only. ``--files DIR`` serves every ``s3://BUCKET/KEY`` of the document
from ``DIR/BUCKET/KEY``; ``--model ID=DIR`` gives a model id (a base model) its local weights.
Needs a checkout of the repository and the ``local`` and ``training`` extras.

Exit codes: 0 the run succeeded (and, if evaluated, the model was promoted); 1 the run failed,
timed out or was not promoted; 2 usage (bad document, missing file, extras not installed).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bedrock_pipeline.contract import Outcome
from bedrock_pipeline.run_spec import RunSpecError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "bedrock-pipeline local start"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run the workflow on this machine against local stand-ins (emulation)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    actions = parser.add_subparsers(dest="local_command", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start a run document and wait for it")
    start.add_argument("document", type=Path, metavar="RUN.json")
    start.add_argument("--files", type=Path, help="folder laid out BUCKET/KEY for s3:// URIs")
    start.add_argument(
        "--model", action="append", default=[], metavar="ID=DIR", help="local weights of a model"
    )
    start.add_argument("--out", type=Path, help="output folder (default build/local/<runName>)")
    start.add_argument("--stage", default="dev", help="the stage whose templates run")
    start.add_argument("--nproc", type=int, default=1, help="training processes (gloo)")
    start.add_argument("--timeout", type=float, default=3600.0, help="seconds before stopping")
    start.set_defaults(func=run)


def _usage(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load(path: Path) -> dict[str, Any] | str:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    except json.JSONDecodeError as exc:
        return f"{path}:{exc.lineno}: not JSON: {exc.msg}"
    if not isinstance(document, dict):
        return f"{path}: the run document is a JSON object, not {type(document).__name__}"
    return document


def _weights(pairs: list[str]) -> dict[str, Path] | str:
    weights: dict[str, Path] = {}
    for pair in pairs:
        model_id, sep, directory = pair.partition("=")
        if not sep or not model_id or not directory:
            return f"--model {pair!r}: expected MODEL_ID=DIR"
        if not (Path(directory) / "config.json").is_file():
            return f"--model {pair!r}: {directory} holds no config.json (a Hugging Face checkpoint)"
        weights[model_id] = Path(directory)
    return weights


# Run-document fields that name an input the run reads: objects, then prefixes (folders).
OBJECT_FIELDS = ("trainingDataUri", "validationDataUri", "evaluation.testDataUri",
                 "evaluation.fewShotUri")  # fmt: skip
PREFIX_FIELDS = ("container.baseWeightsUri", "modelDataUri")


def _field(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _missing_input(document: dict[str, Any], files: Path | None) -> str | None:
    """The first input the document names that ``--files`` does not hold, said as a usage
    error (DIR/BUCKET/KEY is where local mode serves s3://BUCKET/KEY from)."""
    for path in (*OBJECT_FIELDS, *PREFIX_FIELDS):
        uri = _field(document, path)
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            continue
        if files is None:
            return (
                f"{path} {uri}: local mode serves s3://BUCKET/KEY from --files DIR as "
                "DIR/BUCKET/KEY; give --files"
            )
        local = files / uri.removeprefix("s3://")
        if not (local.is_dir() if path in PREFIX_FIELDS else local.is_file()):
            kind = "folder" if path in PREFIX_FIELDS else "file"
            return f"{path} {uri}: no {kind} {local} under --files {files}"
    return None


def _unused_models(weights: dict[str, Path], spec: Any) -> str | None:
    """A --model ID the run never calls: a typo would otherwise be ignored silently."""
    import difflib

    from bedrock_pipeline.run_spec import evaluation_base_model_id, inference_model_id

    used = {spec.base_model_id, inference_model_id(spec.base_model_id)}
    used.add(evaluation_base_model_id(spec))
    if spec.evaluation is not None:
        used |= {m.model_id for m in spec.evaluation.comparison_models}
    used.discard(None)
    for model_id in weights:
        if model_id not in used:
            close = difflib.get_close_matches(model_id, sorted(used), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            return (
                f"--model {model_id}: the run calls no such model (it calls "
                f"{', '.join(sorted(used))}){hint}"
            )
    return None


def _missing_weights(weights: dict[str, Path], spec: Any) -> str | None:
    """Why the evaluation would call a model that has no local weights: neither its base model
    nor the run's base model has --model weights, or a comparison model has none (the run
    would fail at the evaluation, after training). None when every model can answer."""
    from bedrock_pipeline.run_spec import evaluation_base_model_id

    compared = evaluation_base_model_id(spec)
    if compared is None:
        return None
    if compared not in weights and spec.base_model_id not in weights:
        return (
            f"the evaluation's base model {compared} needs local weights: pass --model "
            f"{spec.base_model_id}=DIR (they answer for it) or --model {compared}=DIR"
        )
    for model in spec.evaluation.comparison_models:
        if model.model_id not in weights:
            return (
                f"evaluation.comparisonModels {model.name} ({model.model_id}) needs local "
                f"weights: pass --model {model.model_id}=DIR"
            )
    return None


def run(args: argparse.Namespace) -> int:
    document = _load(args.document)
    if isinstance(document, str):
        return _usage(document)
    weights = _weights(args.model)
    if isinstance(weights, str):
        return _usage(weights)
    if args.files is not None and not args.files.is_dir():
        return _usage(f"--files {args.files}: no such directory")
    try:
        from bedrock_pipeline.run_spec import RunSpec

        spec = RunSpec.model_validate(document)
    except RunSpecError as exc:
        return _usage(f"{args.document}: {exc.field}: {exc.message}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        return _usage(f"{args.document}: {where}: {first['msg']}")
    problem = (
        _missing_input(document, args.files)
        or _unused_models(weights, spec)
        or _missing_weights(weights, spec)
    )
    if problem is not None:
        return _usage(f"{args.document}: {problem}")
    try:
        from bedrock_pipeline.local.runner import (
            NotACheckoutError,
            run_locally,
            synthesize_templates,
            use_checkout,
        )
    except ImportError as exc:
        return _usage(f"local mode needs the local and training extras ({exc.name} is missing)")
    try:
        use_checkout()
    except NotACheckoutError as exc:
        return _usage(str(exc))
    out = args.out or Path("build/local") / spec.run_name
    started = time.perf_counter()
    from stacks.config import StageConfigError

    with tempfile.TemporaryDirectory(prefix="bcp-local-synth-") as synth:
        print(f"synthesizing stage {args.stage} ...", flush=True)
        try:
            templates = synthesize_templates(args.stage, Path(synth))
        except StageConfigError as exc:
            return _usage(str(exc).replace("\n", "; "))
    result = run_locally(
        document,
        templates=templates,
        out=out,
        files=args.files,
        weights=weights,
        nproc=args.nproc,
        timeout_s=args.timeout,
        say=lambda line: print(line, flush=True),
    )
    summary = result.summary
    outcome = f", outcome {result.outcome}" if result.outcome else ""
    print(f"{spec.run_name}: status {result.status}{outcome}")
    if summary.get("error"):
        print(f"  {summary['error']}: {summary.get('cause')}")
    for line in summary["emulated"]:
        print(f"  emulated: {line}")
    for model_id, by in summary["servedBy"].items():
        print(f"  {model_id} answered by {by}")
    print(f"  outputs: {out} ({time.perf_counter() - started:.0f} s)")
    succeeded = result.status == "SUCCEEDED" and result.outcome in (None, Outcome.SUCCEEDED)
    return EXIT_OK if succeeded else EXIT_FAILED
