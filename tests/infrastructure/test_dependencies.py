"""requirements.lock is the one pinned set; the layer's and the image's files follow from it."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import lock

PYPROJECT = tomllib.loads((lock.ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def locked() -> dict[str, lock.Locked]:
    return lock.parse_lock(lock.LOCK.read_text())


def test_generated_requirement_files_are_current(locked: dict[str, lock.Locked]) -> None:
    for target in lock.TARGETS:
        assert target.output.read_text() == lock.render(target, locked), (
            f"{target.output.relative_to(lock.ROOT)} is stale: run `make lock`"
        )


def test_lock_holds_every_pin_of_pyproject(locked: dict[str, lock.Locked]) -> None:
    pins = [*PYPROJECT["dependencies"]]
    for extra in PYPROJECT["optional-dependencies"].values():
        pins += extra
    for line in pins:
        requirement = Requirement(line)
        (spec,) = requirement.specifier  # exact pins only
        assert spec.operator == "==", line
        entry = locked.get(canonicalize_name(requirement.name))
        assert entry and entry.version == spec.version, f"{line}: lock has {entry}; `make lock`"


def test_layer_closure_holds_the_sdk_and_the_plotting_stack() -> None:
    layer = {canonicalize_name(line.partition("==")[0]) for line in _pins(lock.TARGETS[0])}
    # boto3's and matplotlib's requirements and powertools' tracer extra come through the graph
    assert {"boto3", "botocore", "s3transfer", "urllib3", "jmespath"} <= layer
    assert {"matplotlib", "numpy", "pillow", "kiwisolver", "six", "aws-xray-sdk"} <= layer
    assert not any(name.startswith("nvidia-") for name in layer)
    assert not layer & {"torch", "moto", "aws-cdk-lib"}  # nothing of the tests or the CDK


def test_image_pins_the_training_extra_and_leaves_torchs_closure_to_the_base_image() -> None:
    image = dict(line.split("==") for line in _pins(lock.TARGETS[1]))
    for line in PYPROJECT["optional-dependencies"]["training"]:
        name, _, version = line.partition("==")
        assert image[name] == version
    assert "triton" not in image and not any(n.startswith("nvidia-") for n in image)
    assert "boto3" not in image  # the container imports only the pure domain


def test_closure_follows_markers_for_the_platform() -> None:
    text = (
        "a==1\n    # via -r x.in\n"
        "b==2 ; platform_machine == 'x86_64'\n    # via a\n"
        "c==3\n    # via\n    #   a\n    #   b\n"
        "d==4\n    # via b\n"
    )
    graph = lock.parse_lock(text)
    arm = lock.closure(graph, [Requirement("a")], {"platform_machine": "aarch64"})
    x86 = lock.closure(graph, [Requirement("a")], {"platform_machine": "x86_64"})
    assert sorted(arm) == ["a", "c"] and sorted(x86) == ["a", "b", "c", "d"]
    provided = lock.closure(
        graph, [Requirement("a")], {"platform_machine": "x86_64"}, frozenset("b")
    )
    assert sorted(provided) == ["a", "c"]
    with pytest.raises(KeyError, match="make lock"):
        lock.closure(graph, [Requirement("z")], {})


def _pins(target: lock.Target) -> list[str]:
    return [line for line in target.output.read_text().splitlines() if "==" in line]
