"""``bedrock-pipeline start | status | list | stop | wait``: drive runs through the trigger API.

The API URL comes from ``--api-url``, else ``$BEDROCK_PIPELINE_API_URL``, else the outputs of
the stage's workflow stack (``--stage``, ``$BEDROCK_PIPELINE_STAGE``, default ``dev``); the usage
plan's API key likewise from ``--api-key``, ``$BEDROCK_PIPELINE_API_KEY`` or the stack.
Credentials: the usual AWS chain (``--profile`` picks a profile).

Exit codes: 0 done (``wait``: the run succeeded and, if evaluated, the model was promoted); 1 the
run failed, was stopped or timed out, or its evaluation did not promote the model, or the API
could not be reached or refused access; 2 usage or environment: bad arguments or document,
unknown run, a run name taken by another document, no API URL, no AWS credentials.
Output: ``--output json`` (default, except ``list``) or ``--output table``; errors are one line,
``bedrock-pipeline COMMAND: error: ...``. A ``wait`` that ends without a promoted model says why
in one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bedrock_pipeline.aws.errors import environment_problem
from bedrock_pipeline.client.api import Client, ConfigurationError, WaitSchedule, resolve_from_stack
from bedrock_pipeline.client.models import (
    ApiError,
    BadRequestError,
    ConflictError,
    Run,
    RunNotFoundError,
    WaitTimeoutError,
)
from bedrock_pipeline.client.output import (
    HelpFormatter,
    dump_json,
    error,
    key_values,
    table,
)
from bedrock_pipeline.contract import ENV_API_KEY, ENV_API_URL, ENV_STAGE, RunStatus

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Errors the caller fixes by changing the command or the document.
USAGE_ERRORS = (BadRequestError, RunNotFoundError, ConflictError)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("API")
    group.add_argument("--api-url", help=f"API base URL (default ${ENV_API_URL}, else the stack)")
    group.add_argument(
        "--api-key", help=f"usage plan API key (default ${ENV_API_KEY}, else the stack)"
    )
    group.add_argument(
        "--stage",
        default=os.environ.get(ENV_STAGE, "dev"),
        help=f"stage whose stack outputs name the API (default ${ENV_STAGE} or dev)",
    )
    group.add_argument("--profile", help="AWS profile for credentials")
    group.add_argument(
        "--region", help="AWS Region of the API (default: from --api-url, else the profile's)"
    )

    def add(
        name: str, help_: str, func: Callable[[argparse.Namespace, Client], int]
    ) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(
            name, parents=[common], help=help_, description=help_, formatter_class=HelpFormatter
        )
        default = "table" if name == "list" else "json"
        parser.add_argument(
            "--output",
            choices=["json", "table"],
            default=default,
            help=f"json for scripts, table for people (default {default})",
        )
        parser.set_defaults(func=lambda args: _run(args, func), command=name)
        return parser

    start = add("start", "start a run from a run document (JSON file, '-' for stdin)", _start)
    start.add_argument("document", metavar="RUN.json")
    start.add_argument("--wait", action="store_true", help="then wait for it like `wait`")
    _wait_options(start)
    add("status", "show one run: status, current step, outputs or failure", _status).add_argument(
        "run_name", metavar="RUN"
    )
    listing = add("list", "list recent runs, newest first", _list)
    listing.add_argument("--status", choices=[s.value for s in RunStatus])
    listing.add_argument("--limit", type=int, default=20, help="runs to show (default 20)")
    listing.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    add("stop", "stop a run; the workflow stops the jobs it started", _stop).add_argument(
        "run_name", metavar="RUN"
    )
    wait = add(
        "wait",
        "wait for a run to end, showing its progress; exit 1 unless it succeeded and was promoted",
        _wait,
    )
    wait.add_argument("run_name", metavar="RUN")
    _wait_options(wait)


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, help="give up after this many seconds (exit 1)")
    parser.add_argument(
        "--poll", type=float, default=5.0, help="first poll interval, s (default 5)"
    )
    parser.add_argument(
        "--poll-max", type=float, default=60.0, help="longest interval, s (default 60)"
    )


def _run(args: argparse.Namespace, func: Callable[[argparse.Namespace, Client], int]) -> int:
    command = args.command
    try:
        return func(args, make_client(args))
    except USAGE_ERRORS as exc:
        return error(command, str(exc))
    except (ConfigurationError, UsageError) as exc:
        return error(command, str(exc))
    except (BotoCoreError, ClientError) as exc:
        problem = environment_problem(exc)
        if problem is not None:
            return error(command, problem)
        error(command, str(exc))
        return EXIT_FAILED
    except (ApiError, WaitTimeoutError) as exc:
        error(command, str(exc))
        return EXIT_FAILED


class UsageError(ValueError):
    pass


def make_client(args: argparse.Namespace) -> Client:
    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    url = args.api_url or os.environ.get(ENV_API_URL)
    key = args.api_key or os.environ.get(ENV_API_KEY)
    if not url:
        try:
            url, stack_key = resolve_from_stack(args.stage, session)
        except (BotoCoreError, ClientError) as exc:
            raise ConfigurationError(
                f"no API URL: pass --api-url, set ${ENV_API_URL}, or deploy stage "
                f"{args.stage!r} and have cloudformation:DescribeStacks ({exc})"
            ) from exc
        key = key or stack_key
    return Client(url, session, api_key=key, region=args.region)


def _start(args: argparse.Namespace, client: Client) -> int:
    document = _read_document(args.document)
    result = client.start(document)
    verb = "started" if result.created else "already exists (same document)"
    print(f"run {result.run.run_name} {verb}", file=sys.stderr)
    _print_run(args, result.run)
    if args.wait:
        return _wait_for(client, result.run.run_name, args)
    return EXIT_OK


def _status(args: argparse.Namespace, client: Client) -> int:
    _print_run(args, client.get(args.run_name))
    return EXIT_OK


def _list(args: argparse.Namespace, client: Client) -> int:
    if not 1 <= args.limit <= 1000:
        raise UsageError("--limit must be 1-1000")
    runs: list[Run] = []
    for run in client.iter_runs(status=args.status, page_size=min(args.limit, 100)):
        runs.append(run)
        if len(runs) == args.limit:
            break
    if args.json or args.output == "json":
        _print_json([run_json(r) for r in runs])
        return EXIT_OK
    rows = [
        {
            "run": run.run_name,
            "status": run.status,
            "started": run.started_at.isoformat(timespec="seconds") if run.started_at else None,
            "elapsed": _duration(run.elapsed_s()),
        }
        for run in runs
    ]
    sys.stdout.write(table(rows, ["run", "status", "started", "elapsed"]))
    return EXIT_OK


def _stop(args: argparse.Namespace, client: Client) -> int:
    run = client.stop(args.run_name)
    print(f"run {run.run_name}: stop requested ({run.status})", file=sys.stderr)
    _print_run(args, run)
    return EXIT_OK


def _wait(args: argparse.Namespace, client: Client) -> int:
    return _wait_for(client, args.run_name, args)


def _wait_for(client: Client, run_name: str, args: argparse.Namespace) -> int:
    if args.poll <= 0 or args.poll_max < args.poll:
        raise UsageError("--poll must be > 0 and --poll-max >= --poll")
    progress = Progress(sys.stderr)
    run = client.wait(
        run_name,
        timeout_s=args.timeout,
        schedule=WaitSchedule(initial_s=args.poll, max_s=args.poll_max),
        on_progress=progress,
    )
    progress.close()
    _print_run(args, run)
    if not run.promoted:
        print(f"{PROG_PREFIX} wait: {failure_line(run)}", file=sys.stderr)
    return EXIT_OK if run.promoted else EXIT_FAILED


PROG_PREFIX = "bedrock-pipeline"


def failure_line(run: Run) -> str:
    """Why a run that ended did not give a promoted model, in one line."""
    if run.succeeded:
        return (
            f"run {run.run_name} succeeded, model not promoted: {run.reason or 'no reason given'}"
        )
    where = f" in step {run.current_step}" if run.current_step else ""
    detail = run.reason or ": ".join(p for p in (run.error, _first_line(run.cause)) if p)
    return f"run {run.run_name} ended {run.status}{where}: {detail or 'no reason given'}"


def _first_line(cause: str | None) -> str | None:
    """A Step Functions cause is often JSON ({"errorMessage": ...}); keep its message, 200 chars."""
    if not cause:
        return None
    text = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = str(
            parsed.get("errorMessage") or parsed.get("Cause") or parsed.get("message") or cause
        )
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


class Progress:
    """Live progress: one line per change of status or step; on a terminal the elapsed time
    ticks in place between changes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last: tuple[str, str | None] | None = None

    def __call__(self, run: Run) -> None:
        state = (run.status, run.current_step)
        line = f"[{_duration(run.elapsed_s())}] {run.run_name}: {run.status}"
        if run.current_step:
            line += f" - {run.current_step}"
        if self.tty:
            end = "\n" if state != self.last and self.last is not None else ""
            self.stream.write(f"{end}\r\x1b[K{line}")
        elif state != self.last:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last = state

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def run_json(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {
        "runName": run.run_name,
        "status": run.status,
        "currentStep": run.current_step,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "stoppedAt": run.stopped_at.isoformat() if run.stopped_at else None,
        "elapsedS": None if run.elapsed_s() is None else round(run.elapsed_s() or 0.0, 1),
        "executionArn": run.execution_arn,
    }
    if run.outcome is not None:
        out["outcome"] = run.outcome
    if run.reason:
        out["reason"] = run.reason
    if run.outputs is not None:
        out["outputs"] = run.outputs
    if run.error or run.cause:
        out["error"], out["cause"] = run.error, run.cause
    return out


def _read_document(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _print_json(value: Any) -> None:
    sys.stdout.write(dump_json(value))


def _print_run(args: argparse.Namespace, run: Run) -> None:
    if args.output == "table":
        sys.stdout.write(key_values(run_json(run)))
    else:
        _print_json(run_json(run))
