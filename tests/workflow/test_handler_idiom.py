"""Every function follows one idiom: an instrumented entry point, a typed environment parsed
once, and clients from the one factory with the botocore settings its retry layer needs."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
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


ONE_REQUEST = {"total_max_attempts": 1, "mode": "standard"}


def test_clients_send_each_request_once_with_their_timeouts() -> None:
    """Every handler call goes through call_with_retry, so botocore makes one attempt per call
    (what botocore makes of the configuration: ``total_max_attempts`` 1, not ``max_attempts``,
    which it counts as retries); the timeouts are each call path's own."""
    jobs, notify, api, evaluate, validate = (_module(n) for n in HANDLERS_BY_CLIENT)
    modules = (jobs, notify, api, evaluate, validate)
    for module in modules:
        for cached in ("_clients", "_sfn", "_runtime", "_s3"):
            if hasattr(module, cached):
                getattr(module, cached).cache_clear()
    for name, client in jobs._clients().items():
        assert _config(client) == (ONE_REQUEST, 10, 30), name
    for name, client in zip(("sns", "events"), notify._clients(), strict=True):
        assert _config(client) == (ONE_REQUEST, 10, 30), name
    assert _config(api._sfn()) == (ONE_REQUEST, 3, 10)  # inside API Gateway's 29 s
    assert _config(evaluate._runtime(42.0)) == (ONE_REQUEST, 10, 42.0)
    for module in (validate, evaluate):  # S3: botocore's default timeouts
        assert _config(module._s3()) == (ONE_REQUEST, 60, 60)
    for module in modules:
        for cached in ("_clients", "_sfn", "_runtime", "_s3"):
            if hasattr(module, cached):
                getattr(module, cached).cache_clear()
