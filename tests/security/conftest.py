"""Security gate fixtures: the audit report of every stage, built from the session's synthesized
assemblies, with cfn-lint and checkov run once over all templates (checkov's start-up is most of
its time). A canary template that must fail rides along in the same runs, so every session also
proves the gate can fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.config import stage_names
from tests.support.assembly import Assembly, synthesize
from tests.support.security import CANARY, canary_template
from tools.audit.report import StageReport, stage_report
from tools.audit.tools import ToolFinding, run_cfn_lint, run_checkov


@pytest.fixture(scope="session")
def assemblies(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Assembly]:
    """Every stage in config/: dev and prod from the shared fixtures, any other synthesized here."""
    found: dict[str, Assembly] = {}
    for stage in stage_names():
        if stage in ("dev", "prod"):
            found[stage] = request.getfixturevalue(f"{stage}_assembly")
        else:
            found[stage] = synthesize(stage, tmp_path_factory.mktemp(f"cdk-{stage}"))
    return found


@pytest.fixture(scope="session")
def canary_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("canary") / CANARY
    path.write_text(json.dumps(canary_template()))
    return path


@pytest.fixture(scope="session")
def checkov_findings(assemblies: dict[str, Assembly], canary_path: Path) -> list[ToolFinding]:
    templates = [p for a in assemblies.values() for p in sorted(a.outdir.glob("*.template.json"))]
    return run_checkov([*templates, canary_path])


@pytest.fixture(scope="session")
def cfn_lint_findings(assemblies: dict[str, Assembly], canary_path: Path) -> list[ToolFinding]:
    findings = run_cfn_lint([canary_path], ["us-east-1"])
    for assembly in assemblies.values():
        templates = sorted(assembly.outdir.glob("*.template.json"))
        findings += run_cfn_lint(templates, [assembly.pipeline.config.region])
    return findings


@pytest.fixture(scope="session")
def stage_reports(
    assemblies: dict[str, Assembly],
    checkov_findings: list[ToolFinding],
    cfn_lint_findings: list[ToolFinding],
) -> list[StageReport]:
    reports = []
    for stage, assembly in assemblies.items():
        report = stage_report(stage, assembly.pipeline.config.region, assembly.outdir)
        names = {t.name for t in report.templates}
        report.checkov = [f for f in checkov_findings if f.template in names]
        report.cfn_lint = [f for f in cfn_lint_findings if f.template in names]
        reports.append(report)
    return reports
