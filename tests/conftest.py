"""Shared fixtures. Synthesis is the expensive part (~15 s): each stage is synthesized once per
test session and every template test reads the same cloud assembly."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.authorization import Ledger, write_ledger
from tests.support.assembly import Assembly, synthesize
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


@pytest.fixture(autouse=True)
def fresh_function_environments() -> Iterator[None]:
    """Handlers parse their environment once per execution environment (a cached
    ``_environment``); a test that sets variables sees them, and leaves no parse behind."""

    def clear() -> None:
        for name, module in list(sys.modules.items()):
            if name.startswith("lambdas.") and name.endswith(".handler"):
                cached = getattr(module, "_environment", None)
                if cached is not None:
                    cached.cache_clear()

    clear()
    yield
    clear()


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
