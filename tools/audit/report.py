"""The security report of synthesized stages, and the gate that CI enforces on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tools.audit.assembly import Acknowledgment, CloudAssembly, load_assembly
from tools.audit.authz.proofs import Proofs
from tools.audit.iam import Principal, iam_matrix
from tools.audit.inventory import (
    Encryption,
    Endpoint,
    Exposure,
    encryption,
    endpoints,
    exposure,
    resources_by_type,
)
from tools.audit.tools import ToolFinding


@dataclass
class StackReport:
    name: str
    template: str
    resources_by_type: dict[str, int]
    encryption: list[Encryption]
    exposure: list[Exposure]
    endpoints: list[Endpoint]
    iam: list[Principal]


@dataclass
class StageReport:
    stage: str
    region: str
    outdir: str
    stacks: list[StackReport]
    acknowledgments: list[Acknowledgment]
    cfn_lint: list[ToolFinding] = field(default_factory=list)
    checkov: list[ToolFinding] = field(default_factory=list)
    proofs: Proofs | None = None  # authorization proofs (tools/audit/authz), when computed

    @property
    def templates(self) -> list[Path]:
        return [Path(s.template) for s in self.stacks]


def stage_report(stage: str, region: str, outdir: Path) -> StageReport:
    assembly: CloudAssembly = load_assembly(outdir)
    stacks = [
        StackReport(
            name=s.name,
            template=str(s.template_path),
            resources_by_type=resources_by_type(s),
            encryption=encryption(s, assembly),
            exposure=exposure(s),
            endpoints=endpoints(s),
            iam=iam_matrix(s, assembly),
        )
        for s in assembly.stacks.values()
    ]
    acks = [a for s in assembly.stacks.values() for a in s.acknowledgments()]
    return StageReport(stage, region, str(outdir), stacks, acks)


@dataclass(frozen=True)
class GateFailure:
    stage: str
    kind: str  # cfn-lint | checkov | wildcard | acknowledgment
    where: str
    what: str


def gate_failures(stages: list[StageReport]) -> list[GateFailure]:
    """What fails `make test` and `make audit`: cfn-lint errors, checkov failures without a
    reasoned skip, IAM wildcards without an acknowledgment, acknowledgments without a reason,
    anything stored unencrypted or under a key that does not rotate, and network exposure other
    than an IAM-authorized API. Stores on AWS owned keys are listed in the report, not gated."""
    out: list[GateFailure] = []
    for st in stages:
        for f in [*st.cfn_lint, *st.checkov]:
            if f.blocking:
                what = f"{f.rule} {f.level}: {f.message}"
                out.append(GateFailure(st.stage, f.tool, f"{f.template}:{f.resource}", what))
        for stack in st.stacks:
            for e in stack.encryption:
                if e.plaintext or e.rotation == "OFF":
                    what = f"{e.store}: {e.detail}, key {e.key or 'none'}, rotation {e.rotation}"
                    out.append(
                        GateFailure(st.stage, "encryption", f"{stack.name}:{e.resource}", what)
                    )
            for x in stack.exposure:
                if x.accepted_because is None:
                    out.append(
                        GateFailure(st.stage, "exposure", f"{stack.name}:{x.resource}", x.finding)
                    )
            for principal in stack.iam:
                for w in principal.unacknowledged:
                    out.append(
                        GateFailure(
                            st.stage,
                            "wildcard",
                            f"{stack.name}:{w.policy}",
                            f"{w.rule} on {principal.kind} {principal.logical_id} has no "
                            "acknowledgment",
                        )
                    )
        out += _proof_failures(st)
        for ack in st.acknowledgments:
            if len(ack.reason.strip()) < 20:
                out.append(
                    GateFailure(
                        st.stage,
                        "acknowledgment",
                        f"{ack.stack}:{ack.construct_path}",
                        f"{ack.rule}: reason too short to check: {ack.reason!r}",
                    )
                )
    return out


def _proof_failures(st: StageReport) -> list[GateFailure]:
    """Undeliverable paths, parliament findings without a reason, denied scenario calls and
    training-job requests."""
    proofs, out = st.proofs, []
    if proofs is None:
        return []
    for p in proofs.undeliverable:
        what = "; ".join(p.problems)
        out.append(GateFailure(st.stage, "delivery", f"{p.kind}: {p.source}", what))
    for f in proofs.unexplained:
        what = f"parliament {f.issue}: {f.detail}"
        out.append(
            GateFailure(st.stage, "iam-lint", f"{f.document.stack}:{f.document.resource}", what)
        )
    for line in proofs.training_job[1]:
        out.append(GateFailure(st.stage, "authorization", "training job", line))
    if proofs.calls and proofs.calls.get("denied"):
        what = f"{proofs.calls['denied']} recorded calls would be denied (see make test)"
        out.append(GateFailure(st.stage, "authorization", "scenarios", what))
    return out


def to_json(stages: list[StageReport], tool_versions: dict[str, str]) -> dict[str, Any]:
    failures = gate_failures(stages)
    return {
        "generated_by": "python -m tools.audit (make audit)",
        "tool_versions": tool_versions,
        "gate": {"passed": not failures, "failures": [asdict(f) for f in failures]},
        "stages": [
            {
                **{k: v for k, v in asdict(st).items() if k != "proofs"},
                "authorization_proofs": st.proofs.to_json() if st.proofs else None,
                "stacks": [
                    {
                        **asdict(s),
                        "iam": [
                            {**asdict(p), "unacknowledged": [asdict(w) for w in p.unacknowledged]}
                            for p in s.iam
                        ],
                    }
                    for s in st.stacks
                ],
            }
            for st in stages
        ],
    }
