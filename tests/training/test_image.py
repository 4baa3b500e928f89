"""The image definition stays in step with the project (it cannot be built here: no Docker)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "training_image"


def pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            out[name.lower().replace("_", "-")] = version
    return out


def test_requirements_pin_exactly_what_pyproject_pins() -> None:
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    required = pins((IMAGE / "requirements.txt").read_text().splitlines())
    assert pins(extra["training"]).items() <= required.items()
    base = pins(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    for name in ("pydantic", "matplotlib"):  # the pure domain and the loss curve run in the image
        assert required[name] == base[name]


def test_dockerfile_is_pinned_non_root_and_offline() -> None:
    text = (IMAGE / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)$", text, re.M)
    assert base and re.fullmatch(r"pytorch/pytorch:2\.13\.0-cuda[\d.]+-cudnn\d+-runtime", base[1])
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "HF_HUB_OFFLINE=1" in text
    for src in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (REPO / src).exists(), src
    assert re.search(r"^CMD \[\"train\"\]$", text, re.M)


def test_dockerfile_installs_efa_for_multi_node_nccl() -> None:
    text = (IMAGE / "Dockerfile").read_text()
    version = re.search(r"^ARG EFA_INSTALLER_VERSION=(\d+\.\d+\.\d+)$", text, re.M)
    assert version, "the EFA installer version is pinned"
    # AWS's flags for containers: no kernel module, no ulimit configuration, no device check
    assert "./efa_installer.sh -y --skip-kmod --skip-limit-conf --no-verify" in text
    assert "/opt/amazon/ofi-nccl/lib" in text  # NCCL finds the aws-ofi-nccl plugin
