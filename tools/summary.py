"""Prints what a synthesis produced: stacks, resource counts, and the validation packs' verdicts.

Usage: ``python -m tools.summary cdk.out``
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Rule prefixes of the packs registered in stacks/nag.py (kept here so that reading a cloud
# assembly does not start the jsii runtime).
NAG_PACK_PREFIXES = (
    "AwsSolutions",
    "HIPAA.Security",
    "NIST.800.53.R5",
    "PCI.DSS.321",
    "Serverless",
)
ACK_METADATA = "aws:cdk:acknowledged-rules"


@dataclass(frozen=True)
class Ack:
    """One acknowledged finding as recorded in the cloud assembly's stack metadata."""

    stack: str
    path: str
    rule: str  # e.g. "HIPAA.Security-S3BucketReplicationEnabled"
    reason: str


def read_acknowledgments(outdir: Path) -> list[Ack]:
    acks: list[Ack] = []
    for meta_file in sorted(outdir.glob("*.metadata.json")):
        stack = meta_file.name.removesuffix(".metadata.json")
        for path, entries in json.loads(meta_file.read_text()).items():
            for entry in entries:
                if entry.get("type") != ACK_METADATA:
                    continue
                for rule, reason in entry["data"].items():
                    acks.append(Ack(stack, path, rule.removeprefix("Annotation::"), reason))
    return acks


def summarize(outdir: Path) -> list[str]:
    manifest = json.loads((outdir / "manifest.json").read_text())
    lines: list[str] = []
    for name, artifact in sorted(manifest["artifacts"].items()):
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template_file = artifact["properties"]["templateFile"]
        template = json.loads((outdir / template_file).read_text())
        resources = template.get("Resources", {})
        top = Counter(r["Type"] for r in resources.values()).most_common(4)
        kinds = ", ".join(f"{n} {t.split('::', 1)[1]}" for t, n in top)
        lines.append(f"stack {name}: {len(resources)} resources ({kinds}, ...) -> {template_file}")
    lines.extend(_validation_lines(outdir / "validation-report.json"))
    # Synthesis fails on any open finding, so reaching this point means every pack passed.
    acks = Counter(a.rule.split("-", 1)[0] for a in read_acknowledgments(outdir))
    for prefix in NAG_PACK_PREFIXES:
        lines.append(f"cdk-nag {prefix}: passed, 0 open findings, {acks[prefix]} acknowledged")
    return lines


def _validation_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    report: dict[str, Any] = json.loads(path.read_text())
    lines = []
    for plugin in report.get("pluginReports", []):
        findings = sum(len(v["violatingConstructs"]) for v in plugin.get("violations", []))
        acknowledged = sum(
            len(v["violatingConstructs"]) for v in plugin.get("suppressedViolations", [])
        )
        verdict = "passed" if plugin.get("conclusion") == "success" else "FAILED"
        lines.append(
            f"validation {plugin['pluginName']}: {verdict}, {findings} open findings, "
            f"{acknowledged} acknowledged"
        )
    return lines


def main(argv: list[str]) -> int:
    outdir = Path(argv[1] if len(argv) > 1 else "cdk.out")
    for line in summarize(outdir):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
