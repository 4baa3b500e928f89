"""The defect corpus: every file holds one defect; the validator must report exactly it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline.registry import CustomizationType, distillation_teachers, get_model
from bedrock_pipeline.sources import LocalFile
from bedrock_pipeline.validation import validate_dataset
from bedrock_pipeline.validation_report import Report
from tests.validation.data import build_corpus

DATA = Path(__file__).parent / "data"
MANIFEST: dict[str, Any] = json.loads((DATA / "manifest.json").read_text())


def _validate(folder: str, name: str, entry: dict[str, Any]) -> Report:
    val = entry.get("validation")
    model = get_model(entry["model"])
    customization = CustomizationType(entry["customization"])
    # The corpus is about data: a distillation run names a valid teacher, as runs must.
    teachers = distillation_teachers(model.model_id)
    distil = customization == CustomizationType.DISTILLATION and teachers
    return validate_dataset(
        LocalFile(str(DATA / folder / f"{name}.jsonl")),
        model=model,
        customization=customization,
        validation=LocalFile(str(DATA / folder / val)) if val else None,
        teacher_id=teachers[0] if distil else None,
    )


def test_corpus_is_large_and_distinct() -> None:
    defects = MANIFEST["defects"]
    assert len(defects) >= 40
    contents = {(DATA / "defects" / f"{n}.jsonl").read_bytes() for n in defects}
    assert len(contents) == len(defects)  # no two files hold the same bytes


@pytest.mark.parametrize("name", sorted(MANIFEST["defects"]))
def test_defect_reported_exactly(name: str) -> None:
    entry = MANIFEST["defects"][name]
    report = _validate("defects", name, entry)
    errors = [(i.code, i.line) for i in report.issues("error", limit=1000)]
    assert errors == [(entry["code"], entry["line"])], [str(i) for i in report.issues("error")]
    assert report.log.counts[entry["code"]] == 1
    assert not report.valid


@pytest.mark.parametrize("name", sorted(MANIFEST["valid"]))
def test_valid_file_passes(name: str) -> None:
    report = _validate("valid", name, MANIFEST["valid"][name])
    assert report.valid, [str(i) for i in report.issues("error")]
    train = report.files[0]
    assert train.records == train.valid_records > 0
    assert train.tokens.count == train.records


def test_committed_corpus_matches_builder(tmp_path: Path) -> None:
    manifest = build_corpus.build(tmp_path)
    assert manifest == MANIFEST
    for sub in ("defects", "valid"):
        for path in sorted((tmp_path / sub).iterdir()):
            assert path.read_bytes() == (DATA / sub / path.name).read_bytes(), path.name
