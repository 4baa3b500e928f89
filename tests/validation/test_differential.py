"""The differential corpus: each rule of AWS's dataset validators and the guide pages, with the
verdict it implies. Ours must give that verdict (with line and field), agree with AWS's
validator wherever the guide does, and name in docs/validation.md every case where the guide
decides against the validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline.registry import CustomizationType, distillation_teachers, get_model
from bedrock_pipeline.sources import LocalFile
from bedrock_pipeline.validation import validate_dataset
from bedrock_pipeline.validation_report import Report
from tests.validation.data import build_differential

DATA = Path(__file__).parent / "data"
MANIFEST: dict[str, Any] = json.loads((DATA / "differential.json").read_text())
CASES: dict[str, Any] = MANIFEST["cases"]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "validation.md"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("differential")
    assert build_differential.build(path) == MANIFEST  # the committed manifest is current
    return path


def _validate(folder: Path, name: str) -> Report:
    entry = CASES[name]
    val = entry.get("validation")
    model = get_model(entry["model"])
    customization = CustomizationType(entry["customization"])
    # The cases are about data: a distillation run names a valid teacher, as runs must.
    teachers = distillation_teachers(model.model_id)
    distil = customization == CustomizationType.DISTILLATION and teachers
    return validate_dataset(
        LocalFile(str(folder / f"{name}.jsonl")),
        model=model,
        customization=customization,
        validation=LocalFile(str(folder / val)) if val else None,
        teacher_id=teachers[0] if distil else None,
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict_of_each_rule(folder: Path, name: str) -> None:
    ours = CASES[name]["ours"]
    report = _validate(folder, name)
    errors = report.issues("error", limit=1000)
    if ours["verdict"] == "accept":
        assert report.valid, [str(i) for i in errors]
        warnings = {i.code for i in report.issues("warning", limit=1000)} - {"SMALL_DATASET"}
        assert warnings == ({ours["warning"]} if ours["warning"] else set())
    else:
        found = [(i.code, i.line, i.field) for i in errors]
        assert found == [(ours["code"], ours["line"], ours["field"])], [str(i) for i in errors]


@pytest.mark.parametrize("name", sorted(CASES))
def test_agrees_with_aws_validator_unless_the_guide_decides(name: str) -> None:
    entry = CASES[name]
    agree = entry["ours"]["verdict"] == entry["aws"]["verdict"]
    if entry["follows"] == "both":
        assert agree
    else:
        assert entry["follows"] == "guide" and not agree
        assert f"`{name}`" in DOCS.read_text(), "the docs must say why the guide decides"


def test_the_four_disagreements_are_covered_and_now_agree() -> None:
    kinds = MANIFEST["disagreements"]
    assert len(kinds) == 4
    for names in kinds.values():
        assert names and all(CASES[n]["follows"] == "both" for n in names)
        verdicts = {CASES[n]["ours"]["verdict"] for n in names}
        assert verdicts == {"accept", "reject"}  # the rule's edge from both sides


def test_committed_manifest_matches_builder(tmp_path: Path) -> None:
    manifest = build_differential.build(tmp_path)
    text = build_differential.manifest_text(manifest)
    assert (DATA / "differential.json").read_text() == text
    names = {p.name for p in tmp_path.iterdir()}
    assert {f"{n}.jsonl" for n in CASES} <= names
