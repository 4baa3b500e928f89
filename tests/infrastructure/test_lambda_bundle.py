"""What the handlers' asset holds: the handlers and the domain, not the workstation-only parts."""

from __future__ import annotations

from pathlib import Path

from stacks.constructs.function import _CopyPackage


def test_bundle_leaves_out_the_client_and_local_mode(tmp_path: Path) -> None:
    assert _CopyPackage().try_bundle(str(tmp_path))
    domain = tmp_path / "bedrock_pipeline"
    assert (domain / "metrics.py").is_file() and (domain / "aws").is_dir()
    assert (tmp_path / "lambdas" / "jobs").is_dir()
    assert not (domain / "client").exists()
    assert not (domain / "local").exists()  # moto and the emulator never ship in a Lambda
