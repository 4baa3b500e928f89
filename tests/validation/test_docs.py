"""docs/validation.md lists every error code the validator can emit, with its severity."""

from __future__ import annotations

from pathlib import Path

from bedrock_pipeline.validation_report import CODES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "validation.md"


def test_validation_page_lists_every_code_with_its_severity() -> None:
    text = PAGE.read_text()
    for code, info in CODES.items():
        assert f"| `{code}` | {info.severity} |" in text, code
