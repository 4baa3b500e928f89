"""The answer score: numbers compared by value, text by token F1; the gate decides on it.

Each row is one kind of number users write, with the value it must get. SQuAD F1 is shown
beside it where the two differ, to keep the reason for the second score in view.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline.client.cli import main
from bedrock_pipeline.metrics import answer_score, f1_score
from bedrock_pipeline.promotion import DECISION_METRICS, decide

# (prediction, reference, answer score, SQuAD v1.1 F1)
TABLE = [
    # decimals against SQuAD's stripped punctuation
    ("10", "1.0", 0.0, 1.0),
    ("314", "3.14", 0.0, 1.0),
    ("1.0", "1", 1.0, 0.0),
    ("1", "1.0", 1.0, 0.0),
    ("3.1", "3.14", 0.0, 0.0),  # less precise than the reference
    # thousands separators: "," groups thousands, "." is the decimal point
    ("1234", "1,234", 1.0, 1.0),
    ("1,234", "1234", 1.0, 1.0),
    ("1.234", "1,234", 0.0, 1.0),  # one point two three four, not 1234
    ("1,234", "1.234", 0.0, 1.0),
    # percent against fraction
    ("0.125", "12.5%", 1.0, 0.0),
    ("12.5 percent", "12.5%", 1.0, 2 / 3),
    ("12.5", "12.5%", 1.0, 1.0),  # the sign dropped
    ("12.5%", "0.125", 1.0, 0.0),
    ("1.25", "12.5%", 0.0, 1.0),  # "125" both, to SQuAD
    # minus against accounting parentheses
    ("-1,234", "(1,234)", 1.0, 1.0),
    ("(1,234)", "-1234", 1.0, 1.0),
    ("1,234", "(1,234)", 0.0, 1.0),
    ("\u22125", "-5", 1.0, 0.0),  # unicode minus
    # scale words
    ("1.2 million", "1,200,000", 1.0, 0.0),
    ("1,200,000", "1.2 million", 1.0, 0.0),
    ("1.2 billion", "1.2 million", 0.0, 0.5),
    ("$3m", "3 million", 1.0, 0.0),
    ("5k", "5,000", 1.0, 0.0),
    # currency is not compared
    ("$1,234", "1,234", 1.0, 1.0),
    ("USD 1,234", "$1,234", 1.0, 2 / 3),
    ("1,234 dollars", "$1,234", 1.0, 2 / 3),
    # units are words: compared as tokens, the number by value
    ("5.0 kg", "5 kg", 1.0, 0.5),
    ("5kg", "5 kg", 1.0, 0.0),
    ("5 lb", "5 kg", 0.5, 0.5),
    ("50 kg", "5 kg", 0.5, 0.5),
    # years inside answers
    ("In 2019 the margin was 41.2%.", "41.2%", 1.0, 1 / 3),
    ("41.2% in 2019 and 40% in 2018", "41.2%", 0.0, 0.25),  # two values: a hedge
    ("2019", "2019", 1.0, 1.0),
    ("fiscal 2019", "fiscal 2019", 1.0, 1.0),
    ("fiscal 2018", "fiscal 2019", 0.5, 0.5),
    # text answers keep SQuAD's F1
    ("Eiffel Tower", "the Eiffel Tower", 1.0, 1.0),
    ("Paris, France", "Paris", 2 / 3, 2 / 3),
]


@pytest.mark.parametrize(("prediction", "reference", "score", "f1"), TABLE)
def test_answer_score_by_kind(prediction: str, reference: str, score: float, f1: float) -> None:
    assert answer_score(prediction, reference) == pytest.approx(score)
    assert f1_score(prediction, reference) == pytest.approx(f1)  # SQuAD v1.1 unchanged


def jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_the_candidate_right_by_value_is_promoted_where_f1_ties(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = jsonl(tmp_path / "test.jsonl", [{"prompt": "x?", "completion": "1.0"},
                                           {"prompt": "pi?", "completion": "3.14"}])  # fmt: skip
    base = jsonl(tmp_path / "base.jsonl", [{"output": "10"}, {"output": "314"}])
    custom = jsonl(tmp_path / "custom.jsonl", [{"output": "1.0"}, {"output": "3.14"}])
    args = ["score", "--test", test, "--predictions", f"base={base}",
            "--predictions", f"custom={custom}", "--min-f1-gain", "0.01"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "promoted: answer score 100.0% (custom) vs 0.0% (base)" in capsys.readouterr().out
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["models"]["base"]["f1"] == report["models"]["custom"]["f1"] == 1.0
    assert report["decision"]["metric"] == "answerScore" and report["decision"]["gain"] == 1.0
    # The report names the records where F1 and the comparison by value disagree.
    assert report["disagreements"]["count"] == {"custom": 0, "base": 2}
    assert [(r["model"], r["output"], r["f1"], r["numericMatch"])
            for r in report["disagreements"]["records"]] == [
        ("base", "10", 1.0, 0.0), ("base", "314", 1.0, 0.0)]  # fmt: skip
    md = (tmp_path / "a" / "report.md").read_text()
    assert "## Where F1 and the numeric comparison disagree" in md
    assert "| 1 | `base` | 1.0 | 10 | 1.00 | 0 |" in md
    # SQuAD F1 alone cannot tell them apart: the gate on f1 keeps the baseline.
    assert main([*args, "--out", str(tmp_path / "b"), "--decision-metric", "f1"]) == 1
    assert "not-promoted: F1 100.0% (custom) vs 100.0% (base)" in capsys.readouterr().out


def _report(numeric: float | None) -> dict[str, Any]:
    block = {"records": 10, "errors": 0, "f1": 0.5, "exactMatch": 0.5, "answerScore": 0.5}
    return {
        "candidate": "custom",
        "baseline": "base",
        "models": {
            "custom": block | {"answerScore": 0.7, "numericMatch": numeric},
            "base": block | {"numericMatch": numeric},
        },
    }


def test_gate_metrics() -> None:
    assert DECISION_METRICS == ("answerScore", "f1", "exactMatch", "numericMatch")
    assert decide(_report(None), 0.1).decision == "promoted"  # answerScore by default
    assert decide(_report(None), 0.1, metric="f1").decision == "not-promoted"
    undefined = decide(_report(None), 0.0, metric="numericMatch")
    assert undefined.decision == "not-promoted" and "no numeric reference" in undefined.reason
    with pytest.raises(ValueError, match="use one of answerScore, f1"):
        decide(_report(None), 0.1, metric="bleu")
