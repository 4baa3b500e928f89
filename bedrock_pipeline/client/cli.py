"""`bedrock-pipeline` console script.

Each subcommand lives in its own module under ``bedrock_pipeline.client.commands`` and exposes
``register(subparsers)``; the module sets ``func`` on its parser, a callable that takes the parsed
arguments and returns the process exit code. Exit codes: 0 success, 1 the checked thing failed
(invalid dataset, model not importable, run failed), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# One line per subcommand module; order is the order in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "bedrock_pipeline.client.commands.validate_data",
    "bedrock_pipeline.client.commands.check_import",
    "bedrock_pipeline.client.commands.score",
    "bedrock_pipeline.client.commands.runs",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bedrock-pipeline",
        description="Validate datasets, check model exports, score evaluations and drive runs.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module must surface
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
