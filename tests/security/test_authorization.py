"""The templates' own proofs: every delivery path on which AWS writes for the project is
allowed, and every policy document passes parliament (AWS's IAM definitions) or is explained in
the one ignore table. The calls proof runs inside the workflow and API scenarios
(tests/authorization.py)."""

from __future__ import annotations

import pytest

from tests.support.assembly import Assembly
from tools.audit.authz.calls import Authorizer
from tools.audit.authz.delivery import Deliveries
from tools.audit.authz.deployment import Deployment
from tools.audit.authz.lint import Finding, lint, unused_ignores
from tools.audit.authz.lint_ignores import IGNORES

KINDS = {
    "alarm action",
    "EventBridge target",
    "EventBridge target dead-letter queue",
    "Lambda async dead-letter queue",
    "S3 server access logs",
    "VPC flow logs",
    "CloudWatch Logs encryption",
    "Step Functions execution logs",
    "API Gateway access logs",
}


def deployment(assembly: Assembly) -> Deployment:
    config = assembly.pipeline.config
    return Deployment(assembly.templates, config.account, config.region)


@pytest.fixture(scope="module")
def lint_findings(assemblies: dict[str, Assembly]) -> dict[str, list[Finding]]:
    return {stage: lint(deployment(a))[1] for stage, a in assemblies.items()}


def test_every_delivery_path_is_deliverable(assemblies: dict[str, Assembly]) -> None:
    report = []
    for stage, assembly in assemblies.items():
        paths = Deliveries(Authorizer(deployment(assembly))).paths()
        assert {p.kind for p in paths} >= KINDS, f"{stage}: {KINDS - {p.kind for p in paths}}"
        for p in paths:
            if not p.deliverable:
                report.append(f"{stage}: {p.kind} {p.source} -> {p.destination}")
                report += [f"    {problem}" for problem in p.problems]
    assert not report, "undeliverable:\n" + "\n".join(report)


def test_every_policy_finding_is_explained(lint_findings: dict[str, list[Finding]]) -> None:
    unexplained = [
        f"{stage}: {f.issue} ({f.severity}) in {f.document.stack}/{f.text}"
        for stage, findings in lint_findings.items()
        for f in findings
        if f.ignore is None
    ]
    assert not unexplained, "parliament findings without a reason in lint_ignores.py:\n" + (
        "\n".join(unexplained)
    )


def test_every_ignore_is_used_and_reasoned(lint_findings: dict[str, list[Finding]]) -> None:
    every = [f for findings in lint_findings.values() for f in findings]
    stale = [f"{i.issue} {i.match!r}" for i in unused_ignores(every)]
    assert not stale, "ignores that match no finding any more (remove them):\n" + "\n".join(stale)
    for row in IGNORES:
        assert len(row.reason) > 60, row
        assert ".html" in row.reason or not row.false_positive, f"name the AWS page: {row}"
