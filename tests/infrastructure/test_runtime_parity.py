"""The Lambda layer ships the dependencies the tests run with, boto3 and botocore included, and
their whole closure (the layer is installed with pip --no-deps)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
# The Lambda environment the layer is built for (Makefile: --platform manylinux2014_aarch64).
LAMBDA_MARKERS = {
    "python_version": "3.14",
    "python_full_version": "3.14.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "extra": "",
}


def layer_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "lambdas" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"lambdas/requirements.txt: {line} is not an exact pin"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_layer_ships_the_sdk_instead_of_the_runtime_copy() -> None:
    pins = layer_pins()
    assert {"boto3", "botocore", "s3transfer"} <= pins.keys()


def test_every_layer_pin_is_the_version_the_tests_run_with() -> None:
    for name, version in layer_pins().items():
        assert metadata.version(name) == version, f"{name}: tested {metadata.version(name)}"


def test_the_layer_lists_its_whole_closure() -> None:
    pins = layer_pins()
    for name in pins:
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(LAMBDA_MARKERS):
                continue
            assert canonicalize_name(requirement.name) in pins, f"{name} needs {requirement}"
