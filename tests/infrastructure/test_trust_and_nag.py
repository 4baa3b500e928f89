"""Properties that hold across every stack: confused-deputy conditions on service trust, and the
cdk-nag gate (zero open findings, every acknowledgment explained)."""

from __future__ import annotations

import pytest

from tests.support.assembly import Assembly, synthesize
from tools.summary import NAG_PACK_PREFIXES, read_acknowledgments

# Services whose trust needs no source condition: Lambda functions and the Step Functions
# state machine are invoked by this account's own resources only.
NO_SOURCE_CONDITION_NEEDED = {"lambda.amazonaws.com"}


def test_service_trust_policies_carry_confused_deputy_conditions(dev_assembly: Assembly) -> None:
    checked = 0
    for stack in dev_assembly.templates.values():
        for name, res in stack["Resources"].items():
            if res["Type"] != "AWS::IAM::Role":
                continue
            for s in res["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                services = s.get("Principal", {}).get("Service", [])
                services = services if isinstance(services, list) else [services]
                for service in services:
                    if service in NO_SOURCE_CONDITION_NEEDED:
                        continue
                    cond = s.get("Condition", {})
                    keys = {k for block in cond.values() for k in block}
                    assert "aws:SourceAccount" in keys, (
                        f"{name}: {service} trust lacks SourceAccount"
                    )
                    checked += 1
    assert checked >= 1


def test_nag_packs_cover_the_five_packs() -> None:
    from stacks.nag import PACKS

    assert len(PACKS) == len(NAG_PACK_PREFIXES) == 5


@pytest.mark.parametrize("fixture", ["dev_assembly", "prod_assembly"])
def test_every_acknowledgment_names_one_rule_and_gives_a_reason(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    assembly: Assembly = request.getfixturevalue(fixture)
    acks = read_acknowledgments(assembly.outdir)
    nag_acks = [a for a in acks if a.rule.startswith(NAG_PACK_PREFIXES)]
    assert nag_acks, "expected the documented acknowledgments"
    for ack in nag_acks:
        assert len(ack.reason) >= 60, f"{ack.path} {ack.rule}: reason too thin"
        assert " " not in ack.rule


def test_synthesis_fails_on_an_unacknowledged_finding(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate can fail: without the compliance acknowledgments, synthesis must stop."""
    import stacks.nag

    monkeypatch.setattr(stacks.nag, "acknowledge_compliance", lambda *a, **k: None)
    with pytest.raises(Exception, match="ValidationFailed"):
        synthesize("dev", tmp_path)  # type: ignore[arg-type]
