"""Shared fixtures. Synthesis is the expensive part (~15 s): each stage is synthesized once per
test session and every template test reads the same cloud assembly."""

from __future__ import annotations

import os

import pytest

from tests.support.assembly import Assembly, synthesize

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "20")
# Tests never reach AWS: boto3 clients made outside moto get fake credentials and a region.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def dev_assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synthesize("dev", tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod_assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synthesize("prod", tmp_path_factory.mktemp("cdk-prod"))
