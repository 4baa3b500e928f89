"""`bedrock-pipeline score`: the evaluation report from saved model outputs, no AWS needed.

    bedrock-pipeline score --test test.jsonl \\
        --predictions base=base.jsonl --predictions custom=custom.jsonl \\
        --out report/ [--baseline base] [--candidate custom] [--min-f1-gain 0.01] \\
        [--decision-metric answerScore|f1|exactMatch|numericMatch]

Each PRED.jsonl has one line per test record, in test-set order:
``{"output": "...", "outputTokens": 12}`` (``outputTokens`` and ``latencyMs`` optional;
``{"output": null, "error": "..."}`` records a failed call). Writes report.json, report.md and
report.png into --out, exactly as the evaluation step writes them. --min-f1-gain applies the
promotion gate: the gain required of --decision-metric (default answerScore, which compares
numbers by value; f1 and exactMatch are SQuAD v1.1's). Exit 1 when the gate says
not-promoted, 2 for unusable input (the message names file and line).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

from bedrock_pipeline import patterns
from bedrock_pipeline.client.output import (
    RawHelpFormatter,
    add_output_option,
    dump_json,
    error,
    os_error_message,
    output_kind,
)
from bedrock_pipeline.evalset import load_eval_records
from bedrock_pipeline.formats import FormatError, iter_jsonl
from bedrock_pipeline.metrics import Prediction
from bedrock_pipeline.promotion import (
    DECISION_METRICS,
    DEFAULT_DECISION_METRIC,
    DEFAULT_MAX_ERROR_RATE,
    decide,
)
from bedrock_pipeline.report import build_report, render_files

MODEL_NAME = re.compile(patterns.MODEL_NAME)
PREDICTION_KEYS = frozenset({"output", "outputTokens", "latencyMs", "error"})


class ScoreError(ValueError):
    """Unusable input; str() names the file (and line) and what is allowed."""


def parse_prediction(row: Any, path: str, line: int) -> Prediction:
    where = f"{path}:{line}"
    if not isinstance(row, dict):
        raise ScoreError(f"{where}: a prediction must be a JSON object, got {type(row).__name__}")
    unknown = sorted(set(row) - PREDICTION_KEYS)
    if unknown:
        raise ScoreError(
            f"{where}: unknown field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(PREDICTION_KEYS))}"
        )
    if "output" not in row:
        raise ScoreError(f"{where}: missing required field 'output'")
    output, error = row["output"], row.get("error")
    if output is None and not isinstance(error, str):
        raise ScoreError(f"{where}: 'output' is null; give 'error' (a string) for a failed call")
    if output is not None and not isinstance(output, str):
        raise ScoreError(f"{where}: 'output' must be a string, got {type(output).__name__}")
    tokens = row.get("outputTokens")
    if tokens is not None and (type(tokens) is not int or tokens < 0):
        raise ScoreError(f"{where}: 'outputTokens' must be a non-negative integer, got {tokens!r}")
    latency = row.get("latencyMs")
    if latency is not None and (
        type(latency) not in (int, float) or not math.isfinite(latency) or latency < 0
    ):
        raise ScoreError(f"{where}: 'latencyMs' must be a non-negative number, got {latency!r}")
    if output is None:
        return Prediction(None, error=error)
    return Prediction(output, tokens, None if latency is None else float(latency))


def load_predictions(path: Path, expected: int) -> list[Prediction]:
    with path.open("rb") as stream:
        predictions = [
            parse_prediction(row, str(path), line) for line, row in iter_jsonl(stream, str(path))
        ]
    if len(predictions) != expected:
        raise ScoreError(
            f"{path}:{len(predictions) + 1 if len(predictions) < expected else expected + 1}: "
            f"{len(predictions)} predictions for {expected} test records; "
            "give one line per test record, in test-set order"
        )
    return predictions


def _name_and_path(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep or not path or not MODEL_NAME.match(name):
        raise ScoreError(
            f"--predictions {spec!r}: expected NAME=PATH, NAME of letters, digits, '.', '_', '-'"
        )
    return name, Path(path)


def score(args: argparse.Namespace) -> dict[str, Any]:
    """Build the report and write the files; returns the report."""
    with Path(args.test).open("rb") as stream:
        records = load_eval_records(stream, str(args.test))
    predictions: dict[str, list[Prediction]] = {}
    for spec in args.predictions:
        name, path = _name_and_path(spec)
        if name in predictions:
            raise ScoreError(f"--predictions: model name {name!r} given twice")
        predictions[name] = load_predictions(path, len(records))
    names = list(predictions)
    baseline = args.baseline or ("base" if "base" in predictions else names[0])
    others = [n for n in names if n != baseline]
    candidate = args.candidate or ("custom" if "custom" in predictions else (others or [""])[-1])
    for flag, name in (("--baseline", baseline), ("--candidate", candidate)):
        if name not in predictions:
            raise ScoreError(f"{flag} {name!r}: not among the --predictions names {names}")
    if candidate == baseline:
        raise ScoreError(f"--candidate and --baseline are both {candidate!r}; give two models")
    report = build_report(
        [[r.reference] for r in records],
        predictions,
        candidate=candidate,
        baseline=baseline,
        questions=[r.question for r in records],
        example_count=args.examples,
    )
    if args.min_f1_gain is not None:
        report["decision"] = decide(
            report, args.min_f1_gain, args.max_error_rate, args.decision_metric
        ).as_dict()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for file_name, (data, _) in render_files(report).items():
        (out / file_name).write_bytes(data)
    return report


def run(args: argparse.Namespace) -> int:
    if len(args.predictions) < 2:
        return error("score", "give at least two --predictions NAME=PATH (baseline and candidate)")
    try:
        report = score(args)
    except OSError as exc:
        return error("score", os_error_message(exc))
    except (ScoreError, FormatError) as exc:
        return error("score", str(exc))
    decision = report.get("decision")
    code = 0 if not decision or decision["decision"] == "promoted" else 1
    if output_kind(args) == "json":
        files = [str(Path(args.out) / name) for name in ("report.json", "report.md", "report.png")]
        summary = {"models": report["models"], "decision": decision, "files": files}
        sys.stdout.write(dump_json(summary))
        return code
    for name, m in report["models"].items():
        tokens = m["outputTokens"]["mean"]
        print(
            f"{name}: answer score {m['answerScore']:.1%}  F1 {m['f1']:.1%}  "
            f"EM {m['exactMatch']:.1%}  "
            f"output tokens {'n/a' if tokens is None else f'{tokens:.1f}'}  errors {m['errors']}"
        )
    print(f"wrote {Path(args.out) / 'report.json'}, report.md, report.png")
    if decision:
        print(f"{decision['decision']}: {decision['reason']}")
    return code


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "score",
        help="compute the evaluation report (F1, EM, output tokens) from saved predictions",
        description=__doc__,
        formatter_class=RawHelpFormatter,
    )
    add_output_option(parser)
    parser.add_argument("--test", required=True, help="test set JSONL (any supported format)")
    parser.add_argument(
        "--predictions",
        action="append",
        default=[],
        metavar="NAME=PRED.jsonl",
        help="one model's outputs, one line per test record; repeat for each model",
    )
    parser.add_argument("--out", required=True, help="directory for report.json/.md/.png")
    parser.add_argument(
        "--baseline", help="model to compare against (default: base, else the first)"
    )
    parser.add_argument("--candidate", help="the customized model (default: custom, else the last)")
    parser.add_argument(
        "--min-f1-gain",
        type=float,
        default=None,
        help="apply the promotion gate: gain of the decision metric needed (fraction, "
        "0.01 = one point); exit 1 when not met",
    )
    parser.add_argument(
        "--decision-metric",
        choices=DECISION_METRICS,
        default=DEFAULT_DECISION_METRIC,
        help="metric the gate compares (default: %(default)s)",
    )
    parser.add_argument(
        "--max-error-rate", type=float, default=DEFAULT_MAX_ERROR_RATE, help=argparse.SUPPRESS
    )
    parser.add_argument("--examples", type=int, default=5, help="example answers in report.md")
    parser.set_defaults(func=run)
