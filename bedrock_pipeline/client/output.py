"""What every `bedrock-pipeline` command shares: the error line, `--output json|table`,
output files written whole or not at all, and the help formatter.

Errors: one line, ``bedrock-pipeline COMMAND: error: MESSAGE``, on stderr; no traceback. Exit
codes: 0 ok, 1 the checked thing failed, 2 usage or environment (bad argument, missing file,
no credentials, access denied).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

PROG = "bedrock-pipeline"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class HelpFormatter(argparse.HelpFormatter):
    """Wraps help text at spaces only, so model ids (``meta.llama3-1-8b-instruct-v1:0:128k``)
    are never split at their hyphens."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        text = " ".join(text.split())
        return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(
            " ".join(text.split()),
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
            break_long_words=False,
        )


class RawHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """Keeps the description's own line breaks (usage blocks); wraps the rest like above."""


def error(command: str, message: str) -> int:
    """Print the one error line of `command` and return the usage/environment exit code."""
    print(f"{PROG} {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def os_error_message(exc: OSError) -> str:
    """``PATH: what is wrong`` for a file-system error, without ``[Errno N]``."""
    reason = (exc.strerror or str(exc)).lower()
    hints = {
        "file exists": "exists and is not a directory",
        "not a directory": "a part of the path is a file, not a directory",
        "is a directory": "is a directory; give a file",
    }
    reason = hints.get(reason, reason)
    where = exc.filename if exc.filename is not None else "?"
    return f"{where}: {reason}"


def add_output_option(parser: argparse.ArgumentParser, default: str = "table") -> None:
    """``--output json|table`` (``--format text|json`` is kept as an alias: text = table)."""
    parser.add_argument(
        "--output",
        choices=["json", "table"],
        default=default,
        help=f"json for scripts, table for people (default {default})",
    )
    parser.add_argument(
        "--format", choices=["text", "json"], dest="output_alias", help=argparse.SUPPRESS
    )


def output_kind(args: argparse.Namespace) -> str:
    alias = getattr(args, "output_alias", None)
    if alias is not None:
        return "json" if alias == "json" else "table"
    return str(args.output)


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename: the
    file is whole or absent, never half-written."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain fixed-width table; None prints as '-'."""
    cells = [[("-" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def key_values(value: dict[str, Any], indent: str = "") -> str:
    """A mapping as ``key: value`` lines, nested mappings indented."""
    lines: list[str] = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{indent}{key}:")
            lines.append(key_values(item, indent + "  ").rstrip("\n"))
        elif item is not None:
            shown = json.dumps(item) if isinstance(item, list) else item
            lines.append(f"{indent}{key}: {shown}")
    return "\n".join(line for line in lines if line) + "\n"
