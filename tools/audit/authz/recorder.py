"""Records every AWS API call that Lambda handler code makes while tests run.

Installed as the outermost wrapper of ``botocore.client.BaseClient._make_api_call``: botocore's
own event hooks (``provide-client-params``, ``before-call``) fire only for calls that reach
botocore's request pipeline, and the workflow emulator answers the operations moto lacks (model
import, provisioned throughput) before that point. The calling handler is read from the Python
stack: the innermost frame in a ``lambdas.<name>`` package names the function that the templates
run with that package's handler, and the call site (``module:function:line``). Calls made by
test code, the emulator or moto itself are counted, not checked.

Emulated names differ from deployed ones; ``aliases`` (emulated text -> deployed text) rewrites
the recorded parameters into the deployment's names before they are checked.
"""

from __future__ import annotations

import copy
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any

from botocore.client import BaseClient

from tools.audit.authz.calls import Call

# Modules between handler code and the SDK call: the SDK, the project's AWS adapters, threads.
PASS_THROUGH = (
    "botocore",
    "boto3",
    "s3transfer",
    "bedrock_pipeline",
    "concurrent",
    "threading",
    "functools",
    "contextlib",
    "aws_lambda_powertools",
)
# The emulator (local mode's and the workflow tests'): a call it makes answers for AWS, as a
# service does (a training job writing its model), and is never a handler's.
EMULATION = "bedrock_pipeline.local"


class CallRecorder:
    """``handlers``: handler package (``lambdas.jobs``) -> (stack, logical id) of its function."""

    def __init__(self, handlers: Mapping[str, tuple[str, str]]) -> None:
        self.handlers = dict(handlers)
        self.calls: list[Call] = []
        self.not_handler = 0
        self.scenario = "unnamed"
        self._aliases: dict[str, str] = {}
        self._alias_re: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def alias(self, aliases: Mapping[str, str]) -> None:
        self._aliases.update({k: v for k, v in aliases.items() if k and k != v})
        keys = sorted(self._aliases, key=len, reverse=True)
        self._alias_re = re.compile("|".join(map(re.escape, keys))) if keys else None

    def rename(self, value: Any) -> Any:
        if isinstance(value, str) and self._alias_re is not None:
            return self._alias_re.sub(lambda m: self._aliases[m.group(0)], value)
        if isinstance(value, dict):
            return {k: self.rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.rename(v) for v in value]
        return value

    def install(self, monkeypatch: Any) -> None:
        inner = BaseClient._make_api_call
        recorder = self

        def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            recorder.record(client.meta.service_model.service_name, operation, params)
            return inner(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)

    def _caller(self) -> tuple[str, str] | None:
        """The handler package and call site, or None when the first frame outside the AWS
        SDK, the project's adapters and the standard library is not handler code (a test, the
        emulator answering for AWS, moto)."""
        frame: Any = sys._getframe(2)
        while frame is not None:
            module = str(frame.f_globals.get("__name__", ""))
            if module == EMULATION or module.startswith(EMULATION + "."):
                return None
            if not module.startswith(PASS_THROUGH) and module != __name__:
                package = ".".join(module.split(".")[:2])
                if package not in self.handlers:
                    return None
                return package, f"{module}:{frame.f_code.co_name}:{frame.f_lineno}"
            frame = frame.f_back
        return None

    def record(self, service: str, operation: str, params: dict[str, Any]) -> None:
        found = self._caller()
        with self._lock:
            if found is None:
                self.not_handler += 1
                return
            package, where = found
            self.calls.append(
                Call(
                    self.scenario,
                    self.handlers[package],
                    where,
                    service,
                    operation,
                    self.rename(copy.deepcopy({k: v for k, v in params.items() if k != "Body"})),
                )
            )

    def take(self) -> list[Call]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


def handler_packages(
    resources: Mapping[tuple[str, str], dict[str, Any]],
) -> dict[str, tuple[str, str]]:
    """Handler package -> function, from (stack, logical id) -> Lambda function properties."""
    out: dict[str, tuple[str, str]] = {}
    for key, props in resources.items():
        handler = str(props.get("Handler", ""))
        if handler.startswith("lambdas."):
            out[".".join(handler.split(".")[:2])] = key
    return out
