"""`bedrock-pipeline score`: same report as the step, errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline.client.cli import main
from bedrock_pipeline.metrics import Prediction
from bedrock_pipeline.report import build_report, render_files
from tests.support.evaluation import TEST_RECORDS, jsonl

CUSTOM = ["Paris", "1234", "Eiffel Tower", "blue", "12.5"]
BASE = ["It is Paris", "The total is 1,234", "A tower", "Blue!", "about 12%"]


def _write(tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> str:
    path = tmp_path / name
    path.write_bytes(jsonl(rows))
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return {
        "test": _write(tmp_path, "test.jsonl", TEST_RECORDS),
        "custom": _write(
            tmp_path, "custom.jsonl", [{"output": o, "outputTokens": 2} for o in CUSTOM]
        ),
        "base": _write(tmp_path, "base.jsonl", [{"output": o, "outputTokens": 6} for o in BASE]),
    }


def _score(files: dict[str, str], out: Path, *extra: str) -> int:
    return main(
        [
            "score",
            "--test",
            files["test"],
            "--predictions",
            f"base={files['base']}",
            "--predictions",
            f"custom={files['custom']}",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_writes_the_same_report_files_as_the_step(files: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert _score(files, out) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["candidate"] == "custom" and report["baseline"] == "base"
    assert report["models"]["custom"]["f1"] == 1.0
    assert report["models"]["custom"]["outputTokens"]["mean"] == 2.0
    assert set(report["models"]["base"]["outputTokens"]) >= {"mean", "median", "std", "min", "max"}
    # the step's renderer on the same predictions gives byte-identical files
    expected = render_files(
        build_report(
            [[r] for r in ["Paris", "1,234", "the Eiffel Tower", "blue", "12.5%"]],
            {
                "base": [Prediction(o, 6) for o in BASE],
                "custom": [Prediction(o, 2) for o in CUSTOM],
            },
            candidate="custom",
            baseline="base",
            questions=[
                "Capital of France?",
                "Total revenue?",
                "Tallest tower in Paris?",
                "Colour of the sky?",
                "Growth in 2020?",
            ],
        )
    )
    for name, (data, _) in expected.items():
        assert (out / name).read_bytes() == data, name


def test_gate_sets_the_exit_code(files: dict[str, str], tmp_path: Path, capsys: Any) -> None:
    assert _score(files, tmp_path / "a", "--min-f1-gain", "0.05") == 0
    assert "promoted: answer score 100.0% (custom)" in capsys.readouterr().out
    assert _score(files, tmp_path / "b", "--min-f1-gain", "0.9") == 1
    assert json.loads((tmp_path / "b" / "report.json").read_text())["decision"]["decision"] == (
        "not-promoted"
    )


def test_prediction_count_mismatch_names_file_and_line(
    files: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    short = _write(tmp_path, "short.jsonl", [{"output": "Paris"}] * 3)
    files["custom"] = short
    assert _score(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"{short}:4: 3 predictions for 5 test records" in err


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"text": "Paris"},
            "unknown field(s) text; allowed: error, latencyMs, output, outputTokens",
        ),
        ({"output": 3}, "'output' must be a string, got int"),
        ({"output": "x", "outputTokens": -1}, "'outputTokens' must be a non-negative integer"),
        ({"output": None}, "'output' is null; give 'error'"),
    ],
)
def test_bad_prediction_lines_name_file_and_line(
    files: dict[str, str], tmp_path: Path, capsys: Any, row: dict[str, Any], message: str
) -> None:
    rows: list[dict[str, Any]] = [{"output": "Paris"}, row, *[{"output": "x"}] * 3]
    files["custom"] = _write(tmp_path, "bad.jsonl", rows)
    assert _score(files, tmp_path / "out") == 2
    assert f"{files['custom']}:2: {message}" in capsys.readouterr().err


def test_bad_json_and_bad_test_record_name_file_and_line(
    files: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"output": "a"}\n{"output": \n')
    files["custom"] = str(broken)
    assert _score(files, tmp_path / "out") == 2
    assert f"{broken}:2: INVALID_JSON" in capsys.readouterr().err
    files["test"] = _write(tmp_path, "t.jsonl", [{"prompt": "q"}])
    assert _score(files, tmp_path / "out") == 2
    assert "t.jsonl:1: MISSING_FIELD" in capsys.readouterr().err


def test_optional_tokens_and_explicit_roles(files: dict[str, str], tmp_path: Path) -> None:
    files["base"] = _write(tmp_path, "b.jsonl", [{"output": o} for o in BASE])
    out = tmp_path / "out"
    assert _score(files, out, "--baseline", "custom", "--candidate", "base") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["candidate"] == "base"
    assert report["models"]["base"]["outputTokens"]["count"] == 0
    assert "| `base` | n/a | n/a | n/a | n/a | n/a |  |" in (out / "report.md").read_text()


def test_usage_errors(files: dict[str, str], tmp_path: Path, capsys: Any) -> None:
    assert (
        main(
            [
                "score",
                "--test",
                files["test"],
                "--predictions",
                f"base={files['base']}",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "at least two --predictions" in capsys.readouterr().err
    assert _score(files, tmp_path, "--baseline", "nope") == 2
    assert "--baseline 'nope': not among" in capsys.readouterr().err
    assert (
        main(
            [
                "score",
                "--test",
                files["test"],
                "--predictions",
                "bad name=x",
                "--predictions",
                f"base={files['base']}",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "expected NAME=PATH" in capsys.readouterr().err
