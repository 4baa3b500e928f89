"""Logs, traces and metrics of every function: one Powertools Logger, Tracer and Metrics.

The service name comes from ``POWERTOOLS_SERVICE_NAME``, which the stack sets once per function
(``contract.Service``); the metrics namespace is the contract's. ``instrument`` applies the
three in one order to every handler:

    metrics (flushes last) -> tracer (the handler's segment) -> logger (context, cleared keys)

so a handler's own ``append_keys`` never leak into the next invocation, and its metrics are
flushed even when it raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

from bedrock_pipeline.contract import METRICS_NAMESPACE

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=METRICS_NAMESPACE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def instrument(handler: Handler) -> Handler:
    """The decorators of a Lambda entry point, always in the same order."""
    logged = logger.inject_lambda_context(log_event=False, clear_state=True)(handler)
    traced = tracer.capture_lambda_handler(logged)
    instrumented = metrics.log_metrics(traced)
    instrumented.__instrumented__ = handler  # type: ignore[attr-defined]
    return cast(Handler, instrumented)
