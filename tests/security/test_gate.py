"""The security gate on the templates of every stage: what `make test` (and so CI) fails on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stacks.checkov_skips import CHECKOV_SKIPS
from tests.support.security import CANARY
from tools.audit.report import StageReport, gate_failures
from tools.audit.security_doc import SECURITY_DOC, render_section, security_section
from tools.audit.tools import NO_REASON, ToolFinding

ROOT = Path(__file__).resolve().parents[2]
MIN_REASON = 40  # characters: a reason a reviewer can check names what and why


def _listing(items: Sequence[object]) -> str:
    return "\n".join(map(str, items))


def test_cfn_lint_reports_no_error(stage_reports: list[StageReport]) -> None:
    errors = [f for r in stage_reports for f in r.cfn_lint if f.blocking]
    assert not errors, "cfn-lint errors:\n" + _listing(errors)


def test_checkov_failures_are_all_skipped_with_a_reason(stage_reports: list[StageReport]) -> None:
    blocking = [f for r in stage_reports for f in r.checkov if f.blocking]
    assert not blocking, (
        "checkov failures without a reasoned skip; fix the resource or add a row to "
        "CHECKOV_SKIPS in stacks/checkov_skips.py:\n" + _listing(blocking)
    )


def test_iam_wildcards_and_managed_policies_are_acknowledged(
    stage_reports: list[StageReport],
) -> None:
    missing = [
        (r.stage, w.rule, w.policy)
        for r in stage_reports
        for s in r.stacks
        for p in s.iam
        for w in p.unacknowledged
    ]
    hint = "acknowledge beside the construct (stacks/nag.py helpers), with a reason:\n"
    assert not missing, hint + _listing(missing)


def test_whole_gate_passes(stage_reports: list[StageReport]) -> None:
    """Also: every data store and log on a rotating CMK, no unaccepted network exposure, every
    acknowledgment with a reason."""
    failures = gate_failures(stage_reports)
    assert not failures, _listing(failures)


def test_the_canary_fails_both_tools(
    checkov_findings: list[ToolFinding], cfn_lint_findings: list[ToolFinding]
) -> None:
    """The same runs that pass the stacks fail a template that must fail: the gate can fail."""
    canary_checkov = [f for f in checkov_findings if f.template == CANARY and f.blocking]
    assert {"OpenBucket", "UnreasonedSkip"} <= {f.resource for f in canary_checkov}
    unreasoned = [f for f in canary_checkov if f.resource == "UnreasonedSkip"]
    assert [(f.level, f.skip_reason) for f in unreasoned] == [("SKIPPED", NO_REASON)]
    canary_lint = [f for f in cfn_lint_findings if f.template == CANARY and f.blocking]
    assert any(f.resource == "UnreasonedSkip" for f in canary_lint), canary_lint


def test_every_checkov_skip_in_the_templates_has_a_specific_reason(
    stage_reports: list[StageReport],
) -> None:
    skipped = [f for r in stage_reports for f in r.checkov if f.level == "SKIPPED"]
    assert skipped, "the stacks are expected to carry the skips of CHECKOV_SKIPS"
    vague = [f for f in skipped if len(f.skip_reason or "") < MIN_REASON]
    assert not vague, _listing(vague)


def test_no_checkov_skip_row_is_stale(stage_reports: list[StageReport]) -> None:
    """Every row of CHECKOV_SKIPS skips a check on some resource of some stage."""
    applied = {
        (f.rule, f.skip_reason) for r in stage_reports for f in r.checkov if f.level == "SKIPPED"
    }
    stale = [s for s in CHECKOV_SKIPS if (s.check_id, s.reason) not in applied]
    assert not stale, "remove rows that match no resource:\n" + _listing(stale)


def test_every_acknowledgment_has_a_specific_reason(stage_reports: list[StageReport]) -> None:
    acks = [a for r in stage_reports for a in r.acknowledgments]
    assert acks
    vague = [a for a in acks if len(a.reason.strip()) < MIN_REASON]
    assert not vague, _listing(vague)


def test_security_doc_is_current(stage_reports: list[StageReport]) -> None:
    page = SECURITY_DOC.read_text()
    assert security_section(page) == render_section(stage_reports), (
        "docs/security.md's generated part is out of date: run `make audit` to regenerate it"
    )
