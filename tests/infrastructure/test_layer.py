"""The Lambda layer as `make setup` builds it: the pinned packages, within Lambda's size limit."""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name

from stacks.constructs.function import DOMAIN_DIR, LAMBDAS_DIR, LAYER_DIR

# "Deployment package (.zip file archive) size: 250 MB (unzipped)", including layers:
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
# (GetAccountSettings reports it as CodeSizeUnzipped = 262,144,000 bytes).
UNZIPPED_LIMIT = 262_144_000
REQUIREMENTS = LAMBDAS_DIR / "requirements.txt"


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name.split("[")[0])] = version
    return pins


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_layer_holds_exactly_the_pinned_versions() -> None:
    installed: dict[str, str] = {}
    for info in (LAYER_DIR / "python").glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        installed[canonicalize_name(name)] = version
    assert installed == _pins(), f"rebuild the layer: rm -rf {LAYER_DIR} && make setup"


def test_layer_and_function_code_fit_lambdas_unzipped_limit() -> None:
    code = _size(LAMBDAS_DIR) + _size(DOMAIN_DIR)  # an upper bound of what each function ships
    total = _size(LAYER_DIR / "python") + code
    assert total < UNZIPPED_LIMIT, f"{total:,} bytes unzipped > {UNZIPPED_LIMIT:,}"
    assert not list((LAYER_DIR / "python").rglob("*.pyc")), "bytecode of the build's Python"
