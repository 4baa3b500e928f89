"""Files that are not JSON Lines at all get one error, at line 1, naming the cause and the fix."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest

from bedrock_pipeline import scanner
from bedrock_pipeline.client.cli import main
from bedrock_pipeline.file_sniff import sniff
from bedrock_pipeline.registry import CustomizationType, get_model
from bedrock_pipeline.sources import LocalFile
from bedrock_pipeline.validation import validate_dataset

LLAMA31 = get_model("meta.llama3-1-8b-instruct-v1:0:128k")  # prompt-completion
RECORDS = [{"prompt": f"Question {i}: what is {i} + {i}?", "completion": str(2 * i)}
           for i in range(120)]  # fmt: skip
JSONL = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train.jsonl", JSONL)
    return buffer.getvalue()


def _csv(sep: str) -> bytes:
    rows = [f"prompt{sep}completion"] + [f'"{r["prompt"]}"{sep}{r["completion"]}' for r in RECORDS]
    return ("\n".join(rows) + "\n").encode()


KINDS = [
    ("array", json.dumps(RECORDS, indent=2).encode(), "a JSON array"),
    ("array-one-line", json.dumps(RECORDS).encode(), "a JSON array"),
    ("pretty-object", json.dumps(RECORDS[0], indent=2).encode(), "pretty-printed"),
    ("pretty-objects", b"\n".join(json.dumps(r, indent=4).encode() for r in RECORDS),
     "pretty-printed"),
    ("csv", _csv(","), "CSV with a header row (prompt,completion)"),
    ("tsv", _csv("\t"), "TSV with a header row"),
    ("gzip", gzip.compress(JSONL), "a gzip-compressed file"),
    ("zip", _zip(), "a zip archive"),
    ("parquet", b"PAR1" + bytes(64) + b"PAR1", "an Apache Parquet file"),
    ("utf-16", JSONL.decode().encode("utf-16"), "UTF-16 LE text (byte order mark)"),
    ("utf-16-be", JSONL.decode().encode("utf-16-be"), "it has NUL bytes"),
    ("utf-32", JSONL.decode().encode("utf-32"), "UTF-32 LE text (byte order mark)"),
    ("cr-only", JSONL.replace(b"\n", b"\r"), "lines ending in CR alone"),
]  # fmt: skip


def _issues(tmp_path: Path, body: bytes) -> list[tuple[int, str, str]]:
    path = tmp_path / "train.jsonl"
    path.write_bytes(body)
    report = validate_dataset(
        LocalFile(str(path)), model=LLAMA31, customization=CustomizationType.FINE_TUNING
    )
    return [
        (issue.line, issue.code, issue.message)
        for issues in report.log.examples.values()
        for issue in issues
        if issue.severity == "error"
    ]


@pytest.mark.parametrize(("kind", "body", "cause"), KINDS, ids=[k[0] for k in KINDS])
def test_one_error_at_line_1_names_the_cause(
    tmp_path: Path, kind: str, body: bytes, cause: str
) -> None:
    issues = _issues(tmp_path, body)
    assert len(issues) == 1, issues
    line, code, message = issues[0]
    assert (line, code) == (1, "NOT_JSON_LINES")
    assert cause in message and "one JSON object per line, UTF-8" in message


def test_a_pretty_printed_json_array_gives_exactly_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """120 prompt-completion records written as a pretty-printed JSON array (482 lines)."""
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(RECORDS, indent=2))
    assert len(path.read_text().splitlines()) == 482
    args = ["validate-data", str(path), "--base-model", LLAMA31.model_id, "--format", "json"]
    assert main(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["errorCount"] == 1 and report["countsByCode"] == {"NOT_JSON_LINES": 1}
    (error,) = report["examples"]["NOT_JSON_LINES"]
    assert error.startswith(f"{path}:1: NOT_JSON_LINES: the file is a JSON array")
    assert "jq -c '.[]' F > F.jsonl" in error
    assert report["files"][0]["bytes"] == path.stat().st_size


def test_a_line_with_no_break_is_one_whole_file_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner, "MAX_LINE_BYTES", 1 << 20)  # 1 MiB keeps the test small
    body = b'{"prompt": "' + b"x" * (3 << 20) + b'", "completion": "y"}'
    ((line, code, message),) = _issues(tmp_path, body)  # one error, not one per MiB
    assert (line, code) == (1, "NOT_JSON_LINES") and "one line of more than 1 MiB" in message


def test_json_lines_files_are_never_rejected_whole(tmp_path: Path) -> None:
    assert sniff(JSONL, complete=True) is None
    assert sniff(JSONL[:100], complete=False) is None  # a cut first line is not a verdict
    assert _issues(tmp_path, JSONL) == []
    # CRLF line endings are accepted, as LF (the CR is JSON whitespace).
    assert _issues(tmp_path, JSONL.replace(b"\n", b"\r\n")) == []
    # A broken first record is a line error, and the rest of the file is still read.
    broken = b'{"prompt": "a", "completion": \n' + JSONL
    issues = _issues(tmp_path, broken)
    assert [(line, code) for line, code, _ in issues] == [(1, "INVALID_JSON")]
