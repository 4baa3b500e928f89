"""The authorization proofs of one stage for the audit report: delivery paths, parliament's
findings, what SageMaker does with the training role for a vision run, and (for the stage the
scenarios run against) the calls checked and the granted actions that no scenario exercised,
each with its reason from ``unexercised.REASONS``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.audit.authz.calls import Authorizer
from tools.audit.authz.delivery import Deliveries
from tools.audit.authz.delivery import Path as DeliveryPath
from tools.audit.authz.deployment import Deployment
from tools.audit.authz.jobs import training_job_check, vision_run_request
from tools.audit.authz.lint import Finding, lint
from tools.audit.authz.policy import as_list, wildcard
from tools.audit.authz.unexercised import reason_for

ROOT = Path(__file__).resolve().parents[3]
LEDGER = ROOT / "build" / "authorization" / "exercised.json"


@dataclass(frozen=True)
class Grant:
    function: str  # logical id of the Lambda function whose role holds it
    action: str  # as granted (may hold a wildcard)
    statement: str
    reason: str | None


@dataclass
class Proofs:
    paths: list[DeliveryPath]
    documents: int
    findings: list[Finding]
    calls: dict[str, Any] | None = None  # the scenarios' ledger, for the stage they ran on
    unexercised: list[Grant] = field(default_factory=list)
    # SageMaker's requests with the training role for a vision run (jobs.vision_run_request):
    # how many were decided, and why each denied one is.
    training_job: tuple[int, list[str]] = (0, [])

    @property
    def undeliverable(self) -> list[DeliveryPath]:
        return [p for p in self.paths if not p.deliverable]

    @property
    def unexplained(self) -> list[Finding]:
        return [f for f in self.findings if f.ignore is None]

    def to_json(self) -> dict[str, Any]:
        return {
            "delivery_paths": len(self.paths),
            "undeliverable": [
                {"kind": p.kind, "source": p.source, "problems": p.problems}
                for p in self.undeliverable
            ],
            "policy_documents_linted": self.documents,
            "linter_findings": len(self.findings),
            "linter_false_positives": sum(
                1 for f in self.findings if f.ignore and f.ignore.false_positive
            ),
            "linter_kept_with_reason": sum(
                1 for f in self.findings if f.ignore and not f.ignore.false_positive
            ),
            "linter_unexplained": [f.text for f in self.unexplained],
            "calls": self.calls,
            "unexercised_grants": [g.__dict__ for g in self.unexercised],
            "training_job_requests": self.training_job[0],
            "training_job_denied": self.training_job[1],
        }


def function_grants(deployment: Deployment, authorizer: Authorizer) -> list[Grant]:
    out = []
    for r in deployment.resources("AWS::Lambda::Function"):
        if not str(r.properties.get("Handler", "")).startswith("lambdas."):
            continue
        role = authorizer.model.function_role(r.stack, r.logical_id)
        for s in authorizer.model.identity(role):
            if s.effect != "Allow":
                continue
            for action in map(str, as_list(s.body.get("Action"))):
                out.append(Grant(r.logical_id, action, s.label(), None))
    return out


def unexercised(
    deployment: Deployment, authorizer: Authorizer, ledger: dict[str, Any]
) -> list[Grant]:
    """Granted actions of the handlers' roles that no recorded call requested."""
    used: dict[str, set[str]] = {}
    for role, action in ledger.get("exercised", []):
        used.setdefault(role, set()).add(action)
    out = []
    for g in function_grants(deployment, authorizer):
        function = next(
            r for r in deployment.resources("AWS::Lambda::Function") if r.logical_id == g.function
        )
        role = authorizer.model.function_role(function.stack, function.logical_id)
        if any(wildcard(g.action, a, case=False) for a in used.get(role, ())):
            continue
        out.append(Grant(g.function, g.action, g.statement, reason_for(g.action, g.statement)))
    return list({(g.function, g.action): g for g in out}.values())


def stage_proofs(deployment: Deployment, *, scenarios_stage: bool) -> Proofs:
    authorizer = Authorizer(deployment)
    documents, findings = lint(deployment)
    proofs = Proofs(Deliveries(authorizer).paths(), len(documents), findings)
    proofs.training_job = training_job_check(authorizer, *vision_run_request(deployment))
    if scenarios_stage and LEDGER.is_file():
        ledger = json.loads(LEDGER.read_text())
        proofs.calls = {k: v for k, v in ledger.items() if k != "exercised"}
        proofs.unexercised = unexercised(deployment, authorizer, ledger)
    return proofs
