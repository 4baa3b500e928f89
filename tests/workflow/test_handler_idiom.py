"""Every function follows one idiom: an instrumented entry point, a typed environment parsed
once, and clients from the one factory with the botocore settings its retry layer needs."""

from __future__ import annotations

import importlib
from typing import Any

import boto3
import pytest
from botocore.config import Config
from pydantic import ValidationError

from lambdas.common import observability
from lambdas.common.environment import FunctionEnvironment, parse_environment

HANDLERS = ["api", "jobs", "validate", "evaluate", "notify"]
HANDLERS_BY_CLIENT = ["jobs", "notify", "api", "evaluate", "validate"]


def _module(name: str) -> Any:
    return importlib.import_module(f"lambdas.{name}.handler")


@pytest.mark.parametrize("name", HANDLERS)
def test_every_entry_point_is_instrumented_the_same_way(name: str) -> None:
    module = _module(name)
    assert getattr(module.handler, "__instrumented__", None) is not None, name
    # One Logger, Tracer and Metrics for all: no handler makes its own.
    for value in vars(module).values():
        if type(value).__name__ in ("Logger", "Tracer", "Metrics"):
            assert value in (observability.logger, observability.tracer, observability.metrics)


@pytest.mark.parametrize("name", HANDLERS)
def test_the_environment_is_parsed_once(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _module(name)
    model = module._environment.__wrapped__.__annotations__["return"]
    env = module._environment
    for field, info in module.__dict__[model].model_fields.items():
        if info.is_required():
            monkeypatch.setenv(field, "1" if field.startswith(("POLL_", "MIN_")) else "x-y1")
    monkeypatch.setenv("MIN_F1_GAIN", "0.02")
    monkeypatch.setenv("POLL_TIMEOUT_S", "3600")
    env.cache_clear()
    first = env()
    monkeypatch.setenv(next(iter(type(first).model_fields)), "changed")
    assert env() is first


def test_a_missing_variable_is_named() -> None:
    class Needs(FunctionEnvironment):
        TOPIC_ARN: str

    with pytest.raises(ValidationError, match="TOPIC_ARN"):
        parse_environment(Needs, {"OTHER": "1"})
    assert parse_environment(Needs, {"TOPIC_ARN": "t", "AWS_REGION": "r"}).TOPIC_ARN == "t"


def _config(client: Any) -> tuple[Any, Any, Any]:
    config = client.meta.config
    return config.retries, config.connect_timeout, config.read_timeout


def _as_configured(service: str, config: Config | None) -> tuple[Any, Any, Any]:
    """What botocore makes of a literal configuration (it normalizes ``max_attempts``, which
    counts retries, into ``total_max_attempts``)."""
    if config is None:
        return _config(boto3.client(service))
    return _config(boto3.client(service, config=config))


def test_clients_keep_their_botocore_settings() -> None:
    """The settings each client had before the factory, literally."""
    own_retries = Config(
        retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=30
    )
    jobs, notify, api, evaluate, validate = (_module(n) for n in HANDLERS_BY_CLIENT)
    for module in (jobs, notify, api, evaluate, validate):
        for cached in ("_clients", "_sfn", "_runtime", "_s3"):
            if hasattr(module, cached):
                getattr(module, cached).cache_clear()
    for name, client in jobs._clients().items():
        assert _config(client) == _as_configured(name, own_retries), name
    for name, client in zip(("sns", "events"), notify._clients(), strict=True):
        assert _config(client) == _as_configured(name, own_retries), name
    assert _config(api._sfn()) == _as_configured(
        "stepfunctions",
        Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=3, read_timeout=10),
    )
    assert _config(evaluate._runtime(42.0)) == _as_configured(
        "bedrock-runtime",
        Config(read_timeout=42.0, connect_timeout=10, retries={"max_attempts": 1}),
    )
    # Plain S3 reads and writes keep botocore's defaults (no config of ours).
    for module in (validate, evaluate):
        assert _config(module._s3()) == _as_configured("s3", None)
    for module in (jobs, notify, api, evaluate, validate):
        for cached in ("_clients", "_sfn", "_runtime", "_s3"):
            if hasattr(module, cached):
                getattr(module, cached).cache_clear()
