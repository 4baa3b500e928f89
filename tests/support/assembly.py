"""A synthesized stage as the tests read it: templates by stack, the validation report, the app."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Assembly:
    """A synthesized stage: templates by stack name, the validation report, the app objects."""

    outdir: Path
    pipeline: Any
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    validation_report: dict[str, Any] | None = None

    def template(self, suffix: str) -> dict[str, Any]:
        matches = [name for name in self.templates if name.endswith(suffix)]
        assert len(matches) == 1, f"no single stack ending in {suffix!r}: {list(self.templates)}"
        return self.templates[matches[0]]

    def resources(self, suffix: str, type_: str | None = None) -> dict[str, dict[str, Any]]:
        res: dict[str, dict[str, Any]] = self.template(suffix)["Resources"]
        return {k: v for k, v in res.items() if type_ is None or v["Type"] == type_}


def synthesize(stage: str, outdir: Path) -> Assembly:
    from stacks.pipeline_app import build_app

    pipeline = build_app(stage, outdir=str(outdir))
    pipeline.app.synth()  # raises when any nag pack has an unacknowledged finding
    assembly = Assembly(outdir=outdir, pipeline=pipeline)
    for path in outdir.glob("*.template.json"):
        assembly.templates[path.name.removesuffix(".template.json")] = json.loads(path.read_text())
    report = outdir / "validation-report.json"
    if report.is_file():
        assembly.validation_report = json.loads(report.read_text())
    return assembly
