"""Compares the CloudFormation templates of two cloud assemblies, asset hashes aside.

A refactoring that claims "templates unchanged" proves it with this: every template of the first
assembly is compared with its namesake in the second after each asset hash (64 hex digits, as
the asset manifest names it) is replaced by a placeholder. What remains is printed per stack as
JSON paths with both values; the exit code is 0 when nothing remains, 1 otherwise.

Usage: ``python -m tools.template_diff BEFORE/cdk.out AFTER/cdk.out [--allow-path REGEX ...]``

``--allow-path`` names paths (regular expressions over the printed path) whose differences are
expected, e.g. the ``Handler`` property of functions whose module moved; they are still printed,
marked as allowed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def _normalized(value: Any) -> Any:
    if isinstance(value, str):
        return ASSET_HASH.sub("<asset-hash>", value)
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, dict):
        return {ASSET_HASH.sub("<asset-hash>", k): _normalized(v) for k, v in value.items()}
    return value


def differences(before: Any, after: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Yields (JSON path, before, after) for every leaf that differs; missing keys as None."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            yield from differences(before.get(key), after.get(key), f"{path}/{key}")
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            yield from differences(b, a, f"{path}/{i}")
    elif before != after:
        yield path, before, after


def templates(assembly: Path) -> dict[str, Any]:
    return {
        p.name.removesuffix(".template.json"): _normalized(json.loads(p.read_text()))
        for p in sorted(assembly.glob("*.template.json"))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.template_diff", description=__doc__)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--allow-path", action="append", default=[], metavar="REGEX")
    args = parser.parse_args(argv)
    allowed = [re.compile(p) for p in args.allow_path]
    old, new = templates(args.before), templates(args.after)
    unexpected = 0
    if set(old) != set(new):
        print(f"stacks differ: {sorted(old)} vs {sorted(new)}")
        unexpected += 1
    for stack in sorted(set(old) & set(new)):
        found = list(differences(old[stack], new[stack]))
        print(f"{stack}: {len(found)} difference(s) besides asset hashes")
        for path, b, a in found:
            ok = any(p.search(path) for p in allowed)
            unexpected += not ok
            print(f"  {'allowed ' if ok else ''}{path}: {json.dumps(b)} -> {json.dumps(a)}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
