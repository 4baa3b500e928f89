"""Shared fixtures. Synthesis is the expensive part (~15 s): each stage is synthesized once per
test session and every template test reads the same cloud assembly."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.authorization import Ledger, write_ledger
from tools.audit.authz.calls import Authorizer
from tools.audit.authz.deployment import Deployment

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "20")
# Tests never reach AWS: boto3 clients made outside moto get fake credentials and a region.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
LEDGER = Ledger()


@dataclass
class Assembly:
    """A synthesized stage: templates by stack name, the validation report, the app objects."""

    outdir: Path
    pipeline: Any
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    validation_report: dict[str, Any] | None = None

    def template(self, suffix: str) -> dict[str, Any]:
        matches = [name for name in self.templates if name.endswith(suffix)]
        assert len(matches) == 1, f"no single stack ending in {suffix!r}: {list(self.templates)}"
        return self.templates[matches[0]]

    def resources(self, suffix: str, type_: str | None = None) -> dict[str, dict[str, Any]]:
        res: dict[str, dict[str, Any]] = self.template(suffix)["Resources"]
        return {k: v for k, v in res.items() if type_ is None or v["Type"] == type_}


def synthesize(stage: str, outdir: Path) -> Assembly:
    from stacks.pipeline_app import build_app

    pipeline = build_app(stage, outdir=str(outdir))
    pipeline.app.synth()  # raises when any nag pack has an unacknowledged finding
    assembly = Assembly(outdir=outdir, pipeline=pipeline)
    for path in outdir.glob("*.template.json"):
        assembly.templates[path.name.removesuffix(".template.json")] = json.loads(path.read_text())
    report = outdir / "validation-report.json"
    if report.is_file():
        assembly.validation_report = json.loads(report.read_text())
    return assembly


@pytest.fixture(scope="session")
def dev_assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synthesize("dev", tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod_assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synthesize("prod", tmp_path_factory.mktemp("cdk-prod"))


@pytest.fixture(scope="session")
def authorization_ledger() -> Ledger:
    return LEDGER


@pytest.fixture(scope="session")
def dev_authorizer(dev_assembly: Assembly) -> Authorizer:
    config = dev_assembly.pipeline.config
    return Authorizer(Deployment(dev_assembly.templates, config.account, config.region))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if LEDGER.calls:
        terminalreporter.write_line(
            f"authorization: {LEDGER.calls} AWS calls of the handlers checked against the "
            f"templates ({LEDGER.requests} IAM requests, {len(LEDGER.scenarios)} scenarios), "
            f"{LEDGER.denied} denied"
        )
        write_ledger(LEDGER)
