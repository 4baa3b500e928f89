"""cfn-lint and checkov, run offline from their own virtual environment over given templates.

checkov pins an old boto3 that cannot share ``.venv`` with the project, so both tools live in
``.venv-audit`` (``make audit-setup``, pinned in ``tools/audit-requirements.txt``). Each tool runs
once over all templates of a run: checkov's start-up dominates its time.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NO_REASON = "No comment provided"  # what checkov records for a skip without a comment


class AuditToolMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class ToolFinding:
    tool: str  # "cfn-lint" | "checkov"
    template: str  # file name
    resource: str  # logical id ("" for template-level findings)
    rule: str
    level: str  # cfn-lint: Error | Warning | Informational; checkov: FAILED | SKIPPED
    message: str
    skip_reason: str | None = None

    @property
    def blocking(self) -> bool:
        """What the gate fails on: cfn-lint errors, checkov failures not skipped with a reason."""
        if self.tool == "cfn-lint":
            return self.level == "Error"
        if self.level == "SKIPPED":
            return not self.skip_reason or self.skip_reason == NO_REASON
        return self.level == "FAILED"


def audit_venv() -> Path:
    """``$AUDIT_VENV`` (the Makefile exports it; relative paths are from the repository root)."""
    return ROOT / os.environ.get("AUDIT_VENV", ".venv-audit")


def tool_path(name: str) -> Path:
    path = audit_venv() / "bin" / name
    if not path.is_file():
        raise AuditToolMissing(
            f"{path} is missing: run `make audit-setup` (installs tools/audit-requirements.txt "
            f"into {audit_venv()})"
        )
    return path


def versions() -> dict[str, str]:
    out = {}
    for name in ("cfn-lint", "checkov"):
        result = subprocess.run(
            [str(tool_path(name)), "--version"], capture_output=True, text=True, check=False
        )
        out[name] = result.stdout.strip().split()[-1] if result.stdout.strip() else "unknown"
    return out


def run_cfn_lint(templates: Sequence[Path], regions: Sequence[str]) -> list[ToolFinding]:
    if not templates:
        return []
    cmd = [
        str(tool_path("cfn-lint")),
        "--format",
        "json",
        "--regions",
        *regions,
        "--",
        *map(str, templates),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    # Exit codes are a bit mask of the levels found (2 error, 4 warning, 8 info); 1 is a crash.
    if result.returncode & 1 or not result.stdout.strip():
        if result.returncode == 0:
            return []
        raise RuntimeError(f"cfn-lint failed ({result.returncode}): {result.stderr[-2000:]}")
    return [_cfn_lint_finding(m) for m in json.loads(result.stdout)]


def _cfn_lint_finding(match: dict[str, Any]) -> ToolFinding:
    path = match.get("Location", {}).get("Path") or []
    resource = str(path[1]) if len(path) > 1 and path[0] == "Resources" else ""
    return ToolFinding(
        tool="cfn-lint",
        template=Path(match["Filename"]).name,
        resource=resource,
        rule=match["Rule"]["Id"],
        level=match["Level"],
        message=f"{match['Message']} (at {'/'.join(map(str, path))})",
    )


def run_checkov(templates: Sequence[Path]) -> list[ToolFinding]:
    """Failed and skipped checks (passed ones are only counted by checkov's summary)."""
    if not templates:
        return []
    cmd = [
        str(tool_path("checkov")),
        "--skip-download",
        "--framework",
        "cloudformation",
        "--output",
        "json",
        "--soft-fail",
    ]
    for template in templates:
        cmd += ["--file", str(template)]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(f"checkov failed ({result.returncode}): {result.stderr[-2000:]}")
    reports = json.loads(result.stdout)
    findings = []
    for report in reports if isinstance(reports, list) else [reports]:
        results = report.get("results", {})
        for check in results.get("failed_checks", []):
            findings.append(_checkov_finding(check, "FAILED"))
        for check in results.get("skipped_checks", []):
            findings.append(_checkov_finding(check, "SKIPPED"))
    return findings


def _checkov_finding(check: dict[str, Any], level: str) -> ToolFinding:
    # checkov names resources "<Type>.<LogicalId>"
    resource = str(check.get("resource", "")).rsplit(".", 1)[-1]
    return ToolFinding(
        tool="checkov",
        template=Path(check.get("file_path", "")).name,
        resource=resource,
        rule=check["check_id"],
        level=level,
        message=str(check.get("check_name", "")),
        skip_reason=check.get("check_result", {}).get("suppress_comment")
        if level == "SKIPPED"
        else None,
    )
