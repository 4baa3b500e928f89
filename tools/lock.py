"""The Lambda layer's and the training image's requirement files, derived from requirements.lock.

``requirements.lock`` is the one pinned, transitive set (``uv pip compile --universal``, with
``# via`` annotations). Each deployable names its roots in a ``requirements.in``; this tool walks
the lock's dependency graph from those roots, for the deployable's platform, and writes every
package it reaches with the lock's version. Packages the platform already provides are pinned
where they are roots and not followed (the base image's torch).

    python -m tools.lock           # rewrite both requirements.txt files
    python -m tools.lock --check   # exit 1 when either file differs from what the lock gives
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_PIN = re.compile(rf"^(?P<name>{_NAME})==(?P<version>[^\s;]+)(?:\s*;\s*(?P<marker>.+))?$")
# "# via NAME" or, one per line after "# via", "#   NAME"; "-r FILE" and "NAME (pyproject.toml)"
# name the inputs, which are roots anyway.
_VIA = re.compile(rf"^#(?: via|   )\s*(?P<parent>{_NAME})$")


@dataclass(frozen=True)
class Locked:
    name: str  # as the lock spells it
    version: str
    marker: Marker | None
    parents: frozenset[str]  # canonical names of the packages that require it


@dataclass(frozen=True)
class Target:
    """A deployable: its roots, its platform (PEP 508 environment) and what that provides."""

    requirements_in: Path
    output: Path
    environment: Mapping[str, str]
    provided: frozenset[str]
    header: str


def _environment(machine: str, python: str) -> dict[str, str]:
    return {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "python_version": python,
        "python_full_version": f"{python}.0",
    }


TARGETS = (
    Target(
        requirements_in=ROOT / "lambdas" / "requirements.in",
        output=ROOT / "lambdas" / "requirements.txt",
        environment=_environment("aarch64", "3.14"),
        provided=frozenset(),
        header=(
            "# Runtime dependencies of every Lambda function (arm64, Python 3.14), installed\n"
            "# into a layer by `make setup` with pip --no-deps, so the whole closure is listed.\n"
            "# boto3 and botocore are shipped here rather than taken from the runtime, whose\n"
            "# copy changes without notice (tests/infrastructure/test_runtime_parity.py checks\n"
            "# the pins against the test environment). Generated from requirements.lock by\n"
            "# `make lock` (tools/lock.py); do not edit.\n"
        ),
    ),
    Target(
        requirements_in=ROOT / "training_image" / "requirements.in",
        output=ROOT / "training_image" / "requirements.txt",
        environment=_environment("x86_64", "3.11"),
        provided=frozenset({"torch"}),
        header=(
            "# Python packages of the training image, installed on top of the base image's torch.\n"
            "# Generated from requirements.lock by `make lock` (tools/lock.py); do not edit.\n"
            "# torch and its own dependencies come from the base image (CUDA build); the torch\n"
            "# pin only asserts its version.\n"
        ),
    ),
)


def parse_lock(text: str) -> dict[str, Locked]:
    """Packages of a ``uv pip compile`` output by canonical name, with who requires each."""
    entries: dict[str, Locked] = {}
    current: tuple[str, str, Marker | None] | None = None
    parents: set[str] = set()

    def flush() -> None:
        if current:
            name, version, marker = current
            entries[canonicalize_name(name)] = Locked(name, version, marker, frozenset(parents))

    for raw in text.splitlines():
        line = raw.strip()
        if pin := _PIN.match(line):
            flush()
            marker = Marker(pin["marker"]) if pin["marker"] else None
            current, parents = (pin["name"], pin["version"], marker), set()
        elif current and raw.startswith("    #") and (via := _VIA.match(line)):
            parents.add(canonicalize_name(via["parent"]))
    flush()
    return entries


def roots(requirements_in: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in requirements_in.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def closure(
    lock: Mapping[str, Locked],
    start: Iterable[Requirement],
    environment: Mapping[str, str],
    provided: frozenset[str] = frozenset(),
) -> dict[str, Locked]:
    """Every package reachable from ``start`` in the lock's graph, on the given platform.
    ``provided`` packages are kept when they are roots, but their dependencies are not followed
    and they are never added as someone else's dependency."""
    children: dict[str, set[str]] = {}
    for name, entry in lock.items():
        for parent in entry.parents:
            children.setdefault(parent, set()).add(name)
    found: dict[str, Locked] = {}
    todo: list[str] = []
    for requirement in start:
        name = canonicalize_name(requirement.name)
        if name not in lock:
            raise KeyError(f"{requirement} is not in {LOCK.name}: run `make lock`")
        found[name] = lock[name]
        if name not in provided:
            todo.append(name)
    while todo:
        for child in sorted(children.get(todo.pop(), ())):
            entry = lock[child]
            if child in found or child in provided:
                continue
            if entry.marker is not None and not entry.marker.evaluate(dict(environment)):
                continue
            found[child] = entry
            todo.append(child)
    return found


def render(target: Target, lock: Mapping[str, Locked]) -> str:
    packages = closure(lock, roots(target.requirements_in), target.environment, target.provided)
    pins = [f"{packages[name].name}=={packages[name].version}" for name in sorted(packages)]
    return target.header + "\n".join(pins) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.lock", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    lock = parse_lock(LOCK.read_text())
    stale = []
    for target in TARGETS:
        text = render(target, lock)
        if target.output.read_text() == text:
            continue
        stale.append(target.output.relative_to(ROOT))
        if not args.check:
            target.output.write_text(text)
            print(f"wrote {target.output.relative_to(ROOT)}")
    if args.check and stale:
        print(f"stale: {', '.join(map(str, stale))}; run `make lock`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
