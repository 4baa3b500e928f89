"""Checks the API calls that the real handlers make in the workflow and API scenarios against
the synthesized templates (tools/audit/authz), and keeps the session's tally.

Each scenario fixture records the handlers' calls (``CallRecorder``) and, when the test ends,
``check_scenario`` decides them; a denied call fails the test with the scenario, the call site,
the role and what is missing. The tally (calls checked, scenarios, actions exercised per role)
is printed at the end of the session and written to ``build/authorization/exercised.json`` for
the audit report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tools.audit.authz.calls import Authorizer, Call, Decision
from tools.audit.authz.deployment import Deployment
from tools.audit.authz.recorder import CallRecorder, handler_packages

LEDGER_PATH = Path(__file__).resolve().parents[1] / "build" / "authorization" / "exercised.json"


@dataclass
class Ledger:
    calls: int = 0
    requests: int = 0
    denied: int = 0
    not_handler: int = 0
    scenarios: set[str] = field(default_factory=set)
    exercised: set[tuple[str, str]] = field(default_factory=set)  # (role ARN, action)

    def add(self, scenario: str, decisions: list[Decision], not_handler: int) -> None:
        self.scenarios.add(scenario)
        self.calls += len(decisions)
        self.not_handler += not_handler
        for d in decisions:
            self.requests += len(d.checked)
            self.denied += 0 if d.allowed else 1
            self.exercised |= {(d.role, c.split(" on ", 1)[0]) for c in d.checked}

    def to_json(self) -> dict[str, Any]:
        return {
            "calls_checked": self.calls,
            "requests_checked": self.requests,
            "denied": self.denied,
            "calls_by_tests_not_checked": self.not_handler,
            "scenarios": sorted(self.scenarios),
            "exercised": sorted([list(e) for e in self.exercised]),
        }


def recorder_for(deployment: Deployment) -> CallRecorder:
    functions = {
        (r.stack, r.logical_id): r.properties for r in deployment.resources("AWS::Lambda::Function")
    }
    return CallRecorder(handler_packages(functions))


def describe(decision: Decision) -> str:
    call: Call = decision.call
    function = call.function[1]
    lines = [
        f"DENIED in scenario {call.scenario}: {call.service}.{call.operation} "
        f"from {call.caller} (function {function}, role {decision.role})"
    ]
    lines += [f"    {reason}" for reason in decision.denials]
    return "\n".join(lines)


def check_scenario(
    recorder: CallRecorder, authorizer: Authorizer, ledger: Ledger, scenario: str
) -> None:
    """Decide the scenario's recorded calls; fail the test on the first denied ones."""
    decisions = [authorizer.check(c) for c in recorder.take()]
    ledger.add(scenario, decisions, recorder.not_handler)
    recorder.not_handler = 0
    denied = [d for d in decisions if not d.allowed]
    if denied:
        unique = {describe(d): None for d in denied}
        pytest.fail(
            f"{len(denied)} of {len(decisions)} AWS calls would be denied:\n" + "\n".join(unique),
            pytrace=False,
        )


def write_ledger(ledger: Ledger) -> None:
    LEDGER_PATH.parent.mkdir(parents=True, exist_ok=True)
    written = {**ledger.to_json(), "written_at": datetime.now(tz=UTC).isoformat(timespec="seconds")}
    LEDGER_PATH.write_text(json.dumps(written, indent=1) + "\n")
