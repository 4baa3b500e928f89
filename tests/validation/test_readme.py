"""The README's validation section lists every error code the validator can emit."""

from __future__ import annotations

from pathlib import Path

from bedrock_pipeline.validation_report import CODES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_code_with_its_severity() -> None:
    text = README.read_text()
    section = text[text.index("<!-- BEGIN validation -->") : text.index("<!-- END validation -->")]
    for code, info in CODES.items():
        assert f"| `{code}` | {info.severity} |" in section, code
