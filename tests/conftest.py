"""Shared fixtures. Synthesis is the expensive part (~15 s): each stage is synthesized once per
test session and every template test reads the same cloud assembly."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from tests.support.assembly import Assembly, synthesize

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "20")
# Tests never reach AWS: boto3 clients made outside moto get fake credentials and a region.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


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
