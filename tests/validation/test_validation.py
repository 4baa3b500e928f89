"""Dataset-level rules and the scanner's edge cases (the corpus covers one defect per record)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline import scanner
from bedrock_pipeline.digests import DigestIndex
from bedrock_pipeline.registry import CustomizationType, Trainer, get_model
from bedrock_pipeline.scanner import estimate_tokens
from bedrock_pipeline.sources import LocalFile
from bedrock_pipeline.validation import validate_dataset
from bedrock_pipeline.validation_report import Report, TokenStats

HAIKU = get_model("anthropic.claude-3-haiku-20240307-v1:0:200k")
LLAMA31 = get_model("meta.llama3-1-8b-instruct-v1:0:128k")
TITAN = get_model("amazon.titan-text-express-v1:0:8k")
FT = CustomizationType.FINE_TUNING


def haiku(i: int) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]
    }


def pc(i: int) -> dict[str, Any]:
    return {"prompt": f"p{i}", "completion": "c"}


def write(path: Path, records: list[Any], raw: list[bytes] | None = None) -> LocalFile:
    lines = [json.dumps(r).encode() for r in records] + (raw or [])
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return LocalFile(str(path))


def errors(report: Report) -> list[tuple[str, int]]:
    return [(i.code, i.line) for i in report.issues("error", 1000)]


def test_too_many_training_records(tmp_path: Path) -> None:
    report = validate_dataset(
        write(tmp_path / "t.jsonl", [haiku(i) for i in range(10_001)]),
        model=HAIKU,
        customization=FT,
    )
    assert errors(report) == [("TOO_MANY_RECORDS", 0)]
    assert "10001 training records" in str(report.issues("error")[0])


def test_too_many_total_records(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", [pc(i) for i in range(9_990)])
    val = write(tmp_path / "v.jsonl", [pc(i) for i in range(10_000, 10_020)])
    report = validate_dataset(train, model=LLAMA31, customization=FT, validation=val)
    assert [(i.code, i.path, i.line) for i in report.issues("error")] == [
        ("TOO_MANY_TOTAL_RECORDS", val.name, 0)
    ]


def test_never_stops_at_first_error_and_caps_examples(tmp_path: Path) -> None:
    bad = [b"{broken"] * 50 + [b'{"prompt": 1, "completion": "c"}'] * 7
    report = validate_dataset(
        write(tmp_path / "t.jsonl", [pc(1)], bad), model=TITAN, customization=FT, max_examples=3
    )
    assert {c: n for c, n in report.log.counts.items() if c != "SMALL_DATASET"} == {
        "INVALID_JSON": 50,
        "WRONG_TYPE": 7,
    }
    assert [i.line for i in report.log.examples["INVALID_JSON"]] == [2, 3, 4]
    assert report.error_count == 57 and report.files[0].records == 58


def test_line_endings_and_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(json.dumps(pc(1)).encode() + b"\r\n" + json.dumps(pc(2)).encode())
    report = validate_dataset(LocalFile(str(path)), model=TITAN, customization=FT)
    assert report.valid and report.files[0].records == 2


def test_overlong_line_is_skipped_without_losing_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner, "MAX_LINE_BYTES", 64)
    long_line = json.dumps({"prompt": "x" * 300, "completion": "c"}).encode()
    report = validate_dataset(
        write(tmp_path / "t.jsonl", [pc(1)], [long_line, b'{"prompt": "p"}']),
        model=TITAN,
        customization=FT,
    )
    assert errors(report) == [("RECORD_TOO_LARGE", 2), ("MISSING_FIELD", 3)]
    assert report.files[0].bytes == (tmp_path / "t.jsonl").stat().st_size


class _Huge(LocalFile):
    def size(self) -> int | None:
        return 2 * 1024**3


def test_file_too_large_is_reported_and_still_scanned(tmp_path: Path) -> None:
    write(tmp_path / "t.jsonl", [pc(1)], [b"{"])
    report = validate_dataset(_Huge(str(tmp_path / "t.jsonl")), model=TITAN, customization=FT)
    assert errors(report) == [("FILE_TOO_LARGE", 0), ("INVALID_JSON", 2)]


def test_deadline_stops_and_is_an_error(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", [pc(i) for i in range(10_000)])
    report = validate_dataset(train, model=TITAN, customization=FT, deadline=time.monotonic() - 1)
    assert errors(report) == [("VALIDATION_INCOMPLETE", scanner.DEADLINE_CHECK_EVERY)]


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    report = validate_dataset(
        LocalFile(str(tmp_path / "nope.jsonl")), model=TITAN, customization=FT
    )
    assert errors(report) == [("UNREADABLE", 0)]


def test_settings_errors_skip_nothing_they_need_not(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", [pc(1)])
    report = validate_dataset(train, model=TITAN, customization=CustomizationType.DISTILLATION)
    assert [(i.code, i.path) for i in report.issues("error")] == [
        ("UNSUPPORTED_CUSTOMIZATION", "customizationType")
    ]
    assert "supported: FINE_TUNING, CONTINUED_PRE_TRAINING" in str(report.issues("error")[0])
    report = validate_dataset(train, model=TITAN, customization=FT, trainer=Trainer.CONTAINER)
    assert errors(report) == [("TRAINER_MISMATCH", 0)]


def test_teacher_must_be_a_documented_pair(tmp_path: Path) -> None:
    record = {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [{"role": "user", "content": [{"text": "q"}]}],
    }
    records = [
        {**record, "messages": [{"role": "user", "content": [{"text": f"q{i}"}]}]}
        for i in range(100)
    ]
    train = write(tmp_path / "t.jsonl", records)
    ok = validate_dataset(
        train,
        model=HAIKU,
        customization=CustomizationType.DISTILLATION,
        teacher_id="anthropic.claude-3-5-sonnet-20241022-v2:0",
    )
    assert ok.valid
    bad = validate_dataset(
        train,
        model=HAIKU,
        customization=CustomizationType.DISTILLATION,
        teacher_id="meta.llama3-1-405b-instruct-v1:0",
    )
    assert errors(bad) == [("UNSUPPORTED_TEACHER", 0)]


def test_advice_warnings(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", [haiku(i) for i in range(40)])
    report = validate_dataset(
        train, model=HAIKU, customization=FT, hyperparameters={"epochCount": 3}
    )
    assert report.valid
    assert sorted(report.log.counts) == [
        "BATCH_SIZE_NOT_RECOMMENDED",
        "NO_VALIDATION_DATA",
        "SMALL_DATASET",
    ]
    assert report.recommended_batch_size == (4, 16)
    assert report.estimated_training_tokens == report.files[0].tokens.total * 3
    report = validate_dataset(
        train,
        model=HAIKU,
        customization=FT,
        hyperparameters={"batchSize": 8},
        validation=write(tmp_path / "v.jsonl", [haiku(i) for i in range(99, 131)]),
    )
    assert sorted(report.log.counts) == ["SMALL_DATASET"]


def test_probabilistic_duplicates_past_the_cap(tmp_path: Path) -> None:
    records = [pc(i) for i in range(5)] + [pc(0), pc(4)]
    report = validate_dataset(
        write(tmp_path / "t.jsonl", records), model=TITAN, customization=FT, digest_cap=2
    )
    assert errors(report) == [("DUPLICATE_RECORD", 6)]  # line 1 is in the exact part
    assert report.log.counts["POSSIBLE_DUPLICATE"] == 1
    assert report.log.examples["POSSIBLE_DUPLICATE"][0].line == 7
    assert report.duplicate_check.startswith("exact for the first 2")


def test_probabilistic_overlap_past_the_cap(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", [pc(i) for i in range(5)])
    val = write(tmp_path / "v.jsonl", [pc(1), pc(4), pc(9)])  # 1: exact part, 4: Bloom part
    report = validate_dataset(train, model=TITAN, customization=FT, validation=val, digest_cap=2)
    assert errors(report) == [("TRAIN_VALIDATION_OVERLAP", 1)]
    assert [i.line for i in report.log.examples["POSSIBLE_OVERLAP"]] == [2]


def test_digest_index_has_no_false_negatives() -> None:
    rng = random.Random(0)
    keys = [rng.getrandbits(64) - 2**63 for _ in range(1000)]  # like hash(): signed 64-bit
    index = DigestIndex(exact_cap=10, bloom_bits=1 << 16)
    for line, key in enumerate(keys, start=1):
        assert index.add(key, line) == 0 or line > 10  # past the cap a Bloom hit is possible
    assert all(index.contains(key) in (None, line) for line, key in enumerate(keys, start=1))
    assert index.contains(keys[3]) == 4 and len(index) == 1000 and index.probabilistic
    assert index.add(keys[500], 2000) is None  # seen, but only probably
    false_positives = sum(index.contains(rng.getrandbits(64) - 2**63) is None for _ in range(5000))
    assert false_positives < 25  # 1000 keys in 65,536 bits with 7 hashes: ~0.02%


def test_token_estimate() -> None:
    claude = HAIKU.estimator
    assert estimate_tokens(["abcdef"], claude) == 2 + claude.turn_overhead
    assert estimate_tokens(["abcd"], claude) == 2 + claude.turn_overhead  # rounds up
    assert estimate_tokens(["日本語ab"], claude) == 3 + 1 + claude.turn_overhead
    assert estimate_tokens(["a", "b"], claude) == 1 + 2 * claude.turn_overhead  # chars summed first


def test_token_percentiles() -> None:
    stats = TokenStats()
    for value in [*range(1, 101), 10**6]:
        stats.add(value)
    assert stats.to_dict() == {
        "min": 1,
        "median": 51,
        "p95": 96,
        "max": 10**6,
        "total": 5050 + 10**6,
    }
    assert TokenStats().to_dict()["median"] is None
