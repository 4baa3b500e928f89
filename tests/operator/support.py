"""Run the installed `bedrock-pipeline` console script (or the module when it is not
installed) as a user would: a subprocess, this checkout first on PYTHONPATH, no AWS credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "training_image" / "sample_data"
EXAMPLES = ROOT / "docs" / "examples"
SCRIPT = Path(sys.executable).parent / "bedrock-pipeline"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def environment(**extra: str) -> dict[str, str]:
    """This checkout first; every source of AWS credentials switched off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
        AWS_CONFIG_FILE="/nonexistent/config",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-west-2",
        COLUMNS="80",
    )
    env.update(extra)
    return env


def run(*args: str, cwd: Path = ROOT, stdin: str | None = None, **env: str) -> Result:
    command = (
        [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "bedrock_pipeline.client.cli"]
    )
    done = subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=environment(**env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def run_module(module: str, *args: str, cwd: Path = ROOT, **env: str) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def one_error_line(result: Result, command: str) -> str:
    """The single error line of `command`; fails on a traceback or any other stderr output."""
    assert "Traceback" not in result.err, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"bedrock-pipeline {command}: error: "), lines[0]
    return lines[0]
