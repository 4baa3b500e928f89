"""`bedrock-pipeline` console script.

Each subcommand lives in its own module under ``bedrock_pipeline.client.commands`` and exposes
``register(subparsers)``; the module sets ``func`` on its parser, a callable that takes the parsed
arguments and returns the process exit code. Exit codes: 0 success, 1 the checked thing failed
(invalid dataset or run document, model not importable, run failed), 2 usage or environment
(bad argument, missing file, no credentials, access denied). Errors are one line on stderr,
``bedrock-pipeline COMMAND: error: MESSAGE``; a traceback means a bug.

After ``make setup`` the script is ``.venv/bin/bedrock-pipeline``; ``source .venv/bin/activate``
puts it on PATH (``make help`` prints the full path).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence
from types import ModuleType

from bedrock_pipeline.aws.errors import environment_problem
from bedrock_pipeline.client.commands import (
    check_import,
    check_run,
    local,
    runs,
    score,
    validate_data,
)
from bedrock_pipeline.client.output import HelpFormatter, error, os_error_message

# One entry per subcommand module; order is the order in --help.
COMMAND_MODULES: tuple[ModuleType, ...] = (
    validate_data,
    check_run,
    check_import,
    score,
    runs,
    local,
)
DISTRIBUTION = "bedrock-customization-pipeline"


def version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bedrock-pipeline",
        description="Validate datasets and run documents, check model exports, score "
        "evaluations and drive runs.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file the command was pointed at: never "[Errno N]"
        return error(args.command, os_error_message(exc))
    except Exception as exc:
        problem = environment_problem(exc)
        if problem is None:
            raise
        return error(args.command, problem)
    return code


if __name__ == "__main__":
    sys.exit(main())
