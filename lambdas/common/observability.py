"""Logs, traces and metrics of every function: one Powertools Logger, Tracer and Metrics.

The service name comes from ``POWERTOOLS_SERVICE_NAME``, which the stack sets once per function
(``contract.Service``); the metrics namespace is the contract's. ``instrument`` applies the
three in one order to every handler:

    metrics (flushes last) -> tracer (the handler's segment) -> logger (context, cleared keys)

so a handler's own ``append_keys`` never leak into the next invocation, and its metrics are
flushed even when it raises.
"""

from __future__ import annotations

import functools
import os
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

    @functools.wraps(handler)
    def named(event: Any, context: Any) -> Any:
        # The service as the function's environment names it now: one process may host all
        # five handlers (local mode, the tests), where the import-time name is not theirs.
        logger.append_keys(service=os.environ.get("POWERTOOLS_SERVICE_NAME", logger.service))
        return handler(event, context)

    logged = logger.inject_lambda_context(log_event=False, clear_state=True)(named)
    traced = tracer.capture_lambda_handler(logged)
    instrumented = metrics.log_metrics(traced)
    instrumented.__instrumented__ = handler  # type: ignore[attr-defined]
    return cast(Handler, instrumented)
