"""The generated part of docs/security.md: written from the synthesized templates by `make audit`,
so its lists of acknowledgments and checkov skips stay true (tests/security checks it is
current). Only the text between the two markers is ever written; the rest of the page is prose."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from tools.audit.assembly import Acknowledgment, load_assembly
from tools.audit.render import table
from tools.audit.report import StageReport

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
BEGIN = "<!-- BEGIN security -->"
END = "<!-- END security -->"

# What each checker covers in this project (rendered as a table).
CHECKER_COVERAGE: tuple[tuple[str, str], ...] = (
    (
        "cdk-nag AwsSolutions",
        "AWS best practice per L1 construct: IAM wildcards (IAM5, one id per `*`) and AWS managed "
        "policies (IAM4), bucket TLS and logging, VPC flow logs, Lambda runtime, Step Functions "
        "logging and tracing, API Gateway authorization, logging, validation and WAF, SNS/SQS TLS",
    ),
    (
        "cdk-nag HIPAA Security, NIST 800-53 R5, PCI DSS 3.2.1",
        "compliance controls: KMS encryption of buckets, logs, queues, topics and state machines; "
        "key rotation; log retention; bucket versioning and replication; inline policies; "
        "Lambda in a VPC, with a DLQ and reserved concurrency; public access",
    ),
    (
        "cdk-nag Serverless",
        "Lambda DLQ, tracing and settings; API Gateway and Step Functions tracing and logging; "
        "SQS redrive",
    ),
    (
        "cfn-lint",
        "the templates against the CloudFormation resource specification of the stage's region: "
        "property names and types, allowed values, references, ARN formats",
    ),
    (
        "checkov",
        "its CloudFormation policies over the synthesized JSON, including resources that cdk-nag's "
        "`instanceof` rules never see (CDK's own custom-resource providers are plain "
        "`CfnResource` objects)",
    ),
    (
        "`tests/security` (this project)",
        "every data store and log on a rotating customer managed key, no network exposure but "
        "IAM-authorized APIs, every IAM `*` and AWS managed policy acknowledged (also in roles "
        "cdk-nag skips), every acknowledgment and skip with a reason, no stale skip",
    ),
)

GAP = """\
**What none of them covers**: the parameters of the Bedrock and SageMaker jobs. To every checker
above a state machine's `DefinitionString` is an opaque string, and a job request built at run time
is not in a template at all: which KMS key encrypts a custom or imported model
(`customModelKmsKeyId`, `importedModelKmsKeyId`, SageMaker `OutputDataConfig.KmsKeyId`), which
subnets and security groups a job runs in (`vpcConfig`), which role it is passed, where it writes
and which base models it may use. The project's own tests cover that gap
(`tests/security/test_job_parameters.py`): any Bedrock or SageMaker task in a state machine
definition must name the model key and a VPC config; every function allowed to create jobs gets
the model key, the isolated subnets and the workload security group from the data stack (its
environment, resolved through the cross-stack references); each role it may pass is one of the
stack's job roles (`iam:PassRole` with `iam:PassedToService`) that trusts only its service with
`aws:SourceAccount` and `aws:SourceArn` conditions; and the job driver's requests, built from
those deployed settings, carry the key (`customModelKmsKeyId`, `importedModelKmsKeyId`, SageMaker
`OutputDataConfig.KmsKeyId` and `VolumeKmsKeyId`) and the VPC config.
"""


def security_section(page: str) -> str:
    """The text between the markers (without them)."""
    start, end = page.index(BEGIN) + len(BEGIN), page.index(END)
    return page[start:end].strip("\n") + "\n" if page[start:end].strip() else ""


def update_section(path: Path, section: str) -> bool:
    """Replace the inside of the security markers; True when the file changed."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path}: markers {BEGIN} / {END} not found")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + section.rstrip("\n") + "\n" + text[end:]
    if new == text:
        return False
    path.write_text(new)
    return True


def _per_stage(counts: Counter[str]) -> str:
    return ", ".join(f"{n} in {stage}" for stage, n in sorted(counts.items()))


def _ack_label(acks: list[Acknowledgment]) -> str:
    """The rules one reason justifies, e.g. `HIPAA.Security-X`, `PCI.DSS.321-X`; granular ids
    that differ per resource (they embed logical ids) collapse to `Rule[...]`."""
    rules = sorted({a.rule if len({b.rule for b in acks if b.base_rule == a.base_rule}) == 1
                    else f"{a.base_rule}[...]" for a in acks})  # fmt: skip
    packs = sorted({a.pack for a in acks})
    return f"{', '.join(f'`{r}`' for r in rules)} ({', '.join(packs)})"


def render_section(stages: list[StageReport]) -> str:
    lines = [
        "<!-- generated by `make audit` from the synthesized templates; do not edit by hand -->",
        "`make audit` writes the security report to `cdk.out/security-report.md` and `.json` "
        "(generated here, not committed; `make synth` keeps it) listing, for every stage in "
        "`config/`: resources by type, encryption of every data store, log and key (CMK and "
        "rotation), network exposure (expected: none), every VPC endpoint with its policy, an "
        "IAM matrix (who may assume each role, with conditions, and which actions on which "
        "resources, each `*` with the acknowledgment that justifies it), every cdk-nag "
        "acknowledgment, and the cfn-lint and checkov results. `make test` fails on a cfn-lint "
        "error, on a checkov failure not skipped on the resource with a reason, and on an IAM "
        "wildcard without an acknowledgment.",
        "",
        *table(["checker", "what it covers here"], [list(row) for row in CHECKER_COVERAGE]),
        GAP,
    ]
    by_reason: dict[str, list[Acknowledgment]] = defaultdict(list)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for st in stages:
        for ack in st.acknowledgments:
            by_reason[ack.reason].append(ack)
            counts[ack.reason][st.stage] += 1
    totals = ", ".join(f"{len(st.acknowledgments)} in `{st.stage}`" for st in stages)
    lines += [f"**Acknowledgments** ({totals}; made beside each construct with "
              "`stacks/nag.py`'s helpers, except those CDK makes itself for its built-in "
              "validator), grouped by reason:", ""]  # fmt: skip
    for reason, acks in sorted(by_reason.items(), key=lambda item: _ack_label(item[1])):
        lines.append(f"- {_ack_label(acks)}, {_per_stage(counts[reason])}: {reason}")
    skips: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for st in stages:
        for check, reason in _skips_in(st):
            skips[(check, reason)][st.stage] += 1
    totals = ", ".join(
        f"{sum(c[st.stage] for c in skips.values())} in `{st.stage}`" for st in stages
    )
    lines += ["", f"**checkov skips** ({totals}; table `CHECKOV_SKIPS` in "
              "`stacks/checkov_skips.py`):", ""]  # fmt: skip
    for (check, reason), per_stage in sorted(skips.items()):
        lines.append(f"- `{check}`, {_per_stage(per_stage)}: {reason}")
    return "\n".join(lines).rstrip() + "\n"


def _skips_in(stage: StageReport) -> list[tuple[str, str]]:
    """(check id, reason) of every checkov skip in the stage's templates."""
    found = []
    for stack in load_assembly(Path(stage.outdir)).stacks.values():
        for res in stack.resources.values():
            for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
                found.append((str(skip.get("id")), str(skip.get("comment", ""))))
    return found
