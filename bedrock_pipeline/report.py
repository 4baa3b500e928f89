"""report.json and report.md: the quality table, the output-token table and example answers.

One builder serves the evaluation step and `bedrock-pipeline score`, so the offline report is
byte-for-byte what the workflow writes for the same answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bedrock_pipeline.chart import render_chart
from bedrock_pipeline.metrics import (
    Prediction,
    RecordScore,
    aggregate_scores,
    compare,
    numeric_references,
    score_record,
)

SCHEMA_VERSION = 1
EXAMPLE_CHARS = 300  # answers are cut in the examples so one rambling model cannot drown the page
DISAGREEMENTS_KEPT = 50  # per model in report.json; report.md shows the first 20 of all
DISAGREEMENTS_SHOWN = 20


def model_order(candidate: str, baseline: str, names: Sequence[str]) -> list[str]:
    return [candidate, baseline, *(n for n in names if n not in (candidate, baseline))]


def build_report(
    references: Sequence[Sequence[str]],
    predictions: Mapping[str, Sequence[Prediction]],
    *,
    candidate: str,
    baseline: str,
    questions: Sequence[str] | None = None,
    example_count: int = 5,
) -> dict[str, Any]:
    """Aggregate every model's predictions (in test-set order) into the report dictionary."""
    for name in (candidate, baseline):
        if name not in predictions:
            raise ValueError(f"model {name!r} has no predictions; have {sorted(predictions)}")
    if candidate == baseline:
        raise ValueError(f"candidate and baseline are the same model {candidate!r}")
    order = model_order(candidate, baseline, list(predictions))
    numeric = [numeric_references(refs) for refs in references]  # parsed once for all models
    scores: dict[str, list[RecordScore]] = {}
    for name in order:
        if len(predictions[name]) != len(references):
            raise ValueError(
                f"model {name!r}: {len(predictions[name])} predictions for "
                f"{len(references)} references"
            )
        scores[name] = [
            score_record(p, refs, nums)
            for p, refs, nums in zip(predictions[name], references, numeric, strict=True)
        ]
    models = {name: aggregate_scores(scores[name], predictions[name]) for name in order}
    return {
        "schemaVersion": SCHEMA_VERSION,
        "records": len(references),
        "numericRecords": sum(1 for nums in numeric if nums),
        "candidate": candidate,
        "baseline": baseline,
        "models": models,
        "comparisons": {
            name: compare(models[candidate], models[name]) for name in order if name != candidate
        },
        "examples": _examples(
            references, predictions, scores, candidate, baseline, questions, example_count
        ),
        "disagreements": _disagreements(references, predictions, scores),
    }


def _disagreements(
    references: Sequence[Sequence[str]],
    predictions: Mapping[str, Sequence[Prediction]],
    scores: Mapping[str, Sequence[RecordScore]],
) -> dict[str, Any]:
    """Numeric records where SQuAD F1 and the comparison by value land on opposite sides of
    0.5: "10" for "1.0" (F1 1, value wrong), "1" for "1.0" (F1 0, value right)."""
    out: dict[str, Any] = {"count": {}, "records": []}
    for name, per_record in scores.items():
        hits = [
            i
            for i, s in enumerate(per_record)
            if s.numeric_match is not None
            and predictions[name][i].output is not None
            and abs(s.f1 - s.numeric_match) >= 0.5
        ]
        out["count"][name] = len(hits)
        out["records"] += [
            {
                "index": i,
                "model": name,
                "references": list(references[i]),
                "output": _cut(predictions[name][i].output),
                "f1": per_record[i].f1,
                "exactMatch": per_record[i].exact_match,
                "numericMatch": per_record[i].numeric_match,
            }
            for i in hits[:DISAGREEMENTS_KEPT]
        ]
    return out


def _examples(
    references: Sequence[Sequence[str]],
    predictions: Mapping[str, Sequence[Prediction]],
    scores: Mapping[str, Sequence[RecordScore]],
    candidate: str,
    baseline: str,
    questions: Sequence[str] | None,
    count: int,
) -> list[dict[str, Any]]:
    """The records where candidate and baseline differ most: biggest wins, plus the worst loss.

    Showing only wins would make the page an advertisement; one regression keeps it honest.
    """
    if count <= 0 or not references:
        return []
    f1 = {name: [score.f1 for score in per_record] for name, per_record in scores.items()}
    gains = sorted(range(len(references)), key=lambda i: (f1[baseline][i] - f1[candidate][i], i))
    chosen = gains[:count]
    worst = gains[-1]
    if f1[candidate][worst] < f1[baseline][worst] and worst not in chosen:
        chosen = [*chosen[: count - 1], worst]
    return [
        {
            "index": i,
            "question": _cut(questions[i]) if questions else None,
            "references": list(references[i]),
            "answers": {
                name: {
                    "output": _cut(predictions[name][i].output),
                    "error": predictions[name][i].error,
                    "f1": f1[name][i],
                }
                for name in scores
            },
        }
        for i in chosen
    ]


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= EXAMPLE_CHARS:
        return text
    return text[: EXAMPLE_CHARS - 1] + "\u2026"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.1f}"


def _signed_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1%}"


def _cell(text: str | None) -> str:
    if text is None:
        return "*(no answer)*"
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>") or "*(empty)*"


def render_markdown(report: Mapping[str, Any], chart_file: str | None = "report.png") -> str:
    cand, base = report["candidate"], report["baseline"]
    models, comps = report["models"], report["comparisons"]
    lines = [
        "# Evaluation report",
        "",
        f"{report['records']} test records ({report['numericRecords']} with a numeric answer). "
        f"Candidate `{cand}`, baseline `{base}`. F1 and exact match as SQuAD v1.1 defines them; "
        "numeric match over the numeric answers only; answer score compares numbers by value "
        "and other answers by token F1.",
        "",
    ]
    if chart_file:
        lines += [f"![F1, exact match and output tokens per model]({chart_file})", ""]
    lines += [
        "## Quality",
        "",
        f"| Model | Answer score | F1 | Exact match | Numeric match (n={report['numericRecords']}) "
        f"| Errors | `{cand}` F1 gain |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in models.items():
        gain = ""
        if name != cand:
            rel = _signed_pct(comps[name]["f1RelativeImprovement"])
            gain = f"{comps[name]['f1Gain'] * 100:+.1f} pts ({rel})"
        lines.append(
            f"| `{name}` | {_pct(m.get('answerScore'))} | {_pct(m['f1'])} | "
            f"{_pct(m['exactMatch'])} | "
            f"{_pct(m['numericMatch'])} | {m['errors']} | {gain} |"
        )
    lines += [
        "",
        "## Output tokens",
        "",
        f"| Model | Mean | Median | Std | Min | Max | `{cand}` change |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in models.items():
        t = m["outputTokens"]
        red = comps.get(name, {}).get("outputTokenReduction")
        change = "" if name == cand else _signed_pct(None if red is None else -red)
        lines.append(
            f"| `{name}` | {_num(t['mean'])} | {_num(t['median'])} | {_num(t['std'])} | "
            f"{_num(t['min'])} | {_num(t['max'])} | {change} |"
        )
    if any(m["latencyMs"]["count"] for m in models.values()):  # saved outputs may have none
        lines += ["", "## Latency (ms)", "", "| Model | Mean | Median | Max |"]
        lines.append("|---|---:|---:|---:|")
        for name, m in models.items():
            lat = m["latencyMs"]
            lines.append(
                f"| `{name}` | {_num(lat['mean'])} | {_num(lat['median'])} | {_num(lat['max'])} |"
            )
    decision = report.get("decision")
    if decision:
        lines += ["", "## Decision", "", f"**{decision['decision']}**: {decision['reason']}"]
    lines += _disagreement_lines(report.get("disagreements") or {})
    if report["examples"]:
        lines += ["", "## Examples", ""]
    for ex in report["examples"]:
        lines += [f"### Record {ex['index'] + 1}", ""]
        if ex["question"] is not None:
            lines += [f"**Question:** {_cell(ex['question'])}", ""]
        lines += [
            f"**Reference:** {' / '.join(_cell(r) for r in ex['references'])}",
            "",
            "| Model | Answer | F1 |",
            "|---|---|---:|",
        ]
        for name, ans in ex["answers"].items():
            text = (
                _cell(ans["output"]) if ans["error"] is None else f"*error: {_cell(ans['error'])}*"
            )
            lines.append(f"| `{name}` | {text} | {ans['f1']:.2f} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _disagreement_lines(disagreements: Mapping[str, Any]) -> list[str]:
    records = disagreements.get("records") or []
    if not records:
        return []
    counts = ", ".join(f"`{n}` {c}" for n, c in disagreements["count"].items())
    lines = [
        "",
        "## Where F1 and the numeric comparison disagree",
        "",
        f"Numeric answers that SQuAD F1 and the comparison by value score on opposite sides of "
        f"0.5 ({counts}); the answer score follows the value.",
        "",
        "| Record | Model | Reference | Answer | F1 | Numeric match |",
        "|---:|---|---|---|---:|---:|",
    ]
    for r in records[:DISAGREEMENTS_SHOWN]:
        lines.append(
            f"| {r['index'] + 1} | `{r['model']}` | {' / '.join(_cell(x) for x in r['references'])}"
            f" | {_cell(r['output'])} | {r['f1']:.2f} | {r['numericMatch']:.0f} |"
        )
    return lines


def render_files(report: Mapping[str, Any]) -> dict[str, tuple[bytes, str]]:
    """report.json, report.md and report.png with their content types: one renderer for the
    workflow and `bedrock-pipeline score`, so both write the same bytes."""
    as_json = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    return {
        "report.json": (as_json.encode(), "application/json"),
        "report.md": (render_markdown(report).encode(), "text/markdown; charset=utf-8"),
        "report.png": (render_chart(report), "image/png"),
    }
