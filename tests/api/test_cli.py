"""`bedrock-pipeline start | status | list | stop | wait` against the local gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline.client.cli import main
from bedrock_pipeline.client.commands.runs import Progress
from bedrock_pipeline.client.models import Run
from tests.api.gateway import Gateway
from tests.support.api import (
    API_KEY,
    KEY_ID,
    SECRET,
    bedrock_doc,
    container_doc,
    evaluated_doc,
    import_doc,
    unique,
)

FAST_POLL = ["--poll", "0.01", "--poll-max", "0.02"]


@pytest.fixture
def cli(gateway: Gateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("BEDROCK_PIPELINE_API_URL", gateway.url)
    monkeypatch.setenv("BEDROCK_PIPELINE_API_KEY", API_KEY)
    gateway.throttle_next = gateway.fail_next = 0

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write(tmp_path: Path, doc: Any) -> str:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_start_status_list_stop(cli, tmp_path, stepfunctions):
    name = unique("cli")
    code, out, err = cli("start", write(tmp_path, bedrock_doc(name)))
    assert code == 0 and json.loads(out)["runName"] == name and "started" in err
    code, out, err = cli("start", write(tmp_path, bedrock_doc(name)))
    assert code == 0 and "already exists" in err
    code, out, _ = cli("status", name)
    assert code == 0 and json.loads(out)["status"] == "RUNNING"
    code, out, _ = cli("list", "--status", "RUNNING", "--limit", "100")
    assert code == 0 and name in out
    code, out, _ = cli("list", "--json", "--limit", "1")
    assert code == 0 and len(json.loads(out)) == 1
    stepfunctions.settle(name)
    code, out, _ = cli("stop", name)
    assert code == 0 and json.loads(out)["runName"] == name


def test_wait_exits_0_on_success_and_1_on_failure(cli, tmp_path):
    ok, bad = unique("cli-ok"), unique("cli-bad")
    code, out, err = cli("start", write(tmp_path, import_doc(ok)), "--wait", *FAST_POLL)
    assert code == 0 and json.loads(out.split("\n}\n", 1)[1])["status"] == "SUCCEEDED"
    assert f"{ok}: SUCCEEDED" in err
    cli("start", write(tmp_path, container_doc(bad)))
    code, out, err = cli("wait", bad, *FAST_POLL)
    assert code == 1
    assert json.loads(out)["error"] == "TrainingJobFailed"
    assert f"{bad}: FAILED" in err


def test_wait_exits_1_when_the_evaluation_did_not_promote(cli, tmp_path):
    name = unique("cli-gate")
    cli("start", write(tmp_path, evaluated_doc(name)))
    code, out, err = cli("wait", name, *FAST_POLL)
    assert code == 1
    assert json.loads(out)["outcome"] == "NOT_PROMOTED"
    assert "not promoted: F1 gain" in err


def test_wait_timeout_exits_1(cli, tmp_path):
    name = unique("cli-slow")
    cli("start", write(tmp_path, bedrock_doc(name)))
    code, _, err = cli("wait", name, "--timeout", "0.05", *FAST_POLL)
    assert code == 1 and "still RUNNING" in err


def test_usage_errors_exit_2(cli, tmp_path):
    code, _, err = cli("start", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err
    (tmp_path / "broken.json").write_text('{"runName": ')
    code, _, err = cli("start", str(tmp_path / "broken.json"))
    assert code == 2 and "broken.json:1: invalid JSON" in err
    code, _, err = cli("start", write(tmp_path, {"runName": "x", "trainer": "tpu"}))
    assert code == 2 and "baseModelId" in err and "trainer" in err
    code, _, err = cli("status", "never-started")
    assert code == 2 and "RUN_NOT_FOUND" in err


def test_refused_access_exits_1(cli, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    code, _, err = cli("list")
    assert code == 1 and "ACCESS_DENIED" in err


def test_progress_prints_a_line_per_change(capsys):
    import io

    stream = io.StringIO()
    progress = Progress(stream)
    for status, step in [("RUNNING", "A"), ("RUNNING", "A"), ("RUNNING", "B"), ("SUCCEEDED", None)]:
        progress(Run(run_name="r", status=status, current_step=step))
    lines = stream.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "r: RUNNING - A",
        "r: RUNNING - B",
        "r: SUCCEEDED",
    ]


def test_failed_wait_says_why_in_one_line_and_tables_on_request(cli, tmp_path):
    name = unique("cli-why")
    cli("start", write(tmp_path, container_doc(name)))
    code, _, err = cli("wait", name, *FAST_POLL, "--output", "table")
    reason = [line for line in err.splitlines() if line.startswith("bedrock-pipeline wait: ")]
    assert code == 1 and len(reason) == 1
    assert f"run {name} ended FAILED" in reason[0] and "TrainingJobFailed" in reason[0]
    code, out, _ = cli("status", name, "--output", "table")
    assert code == 0 and f"runName: {name}" in out and "status: FAILED" in out
    code, out, _ = cli("list", "--output", "json", "--limit", "1")
    assert code == 0 and isinstance(json.loads(out), list)
