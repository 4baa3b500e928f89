from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from stacks.config import load_stage, stage_names


def test_every_committed_stage_loads() -> None:
    assert {"dev", "prod"} <= set(stage_names())
    for name in stage_names():
        assert load_stage(name).name == name
        assert load_stage(name).decision_metric == "answerScore"


def _write(tmp_path: Path, body: Mapping[str, object]) -> Path:
    (tmp_path / "bad.json").write_text(json.dumps(body))
    return tmp_path


BASE = {"name": "bad", "account": "123456789012", "region": "us-east-1",
        "allowed_base_models": ["meta.llama3-1-8b-instruct-v1:0:128k"]}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"log_retention_days": 42}, "log_retention_days=42 is not a CloudWatch Logs retention"),
        ({"account": "12"}, "account"),
        ({"vpc_cidr": "10.0.0.0/8"}, "vpc_cidr"),
        ({"admin_principal_arns": ["bob"]}, "'bob' is not an IAM role or user ARN"),
        ({"poll": {"initial_s": 100, "max_s": 10}}, "poll.max_s (10) must be >= poll.initial_s"),
        ({"api": {"endpoint_type": "PRIVATE"}}, "waf_enabled applies to REGIONAL"),
        ({"unknown": 1}, "unknown"),
        ({"decision_metric": "bleu"}, "decision_metric"),
    ],
)
def test_bad_stage_config_names_the_file_and_field(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    config_dir = _write(tmp_path, {**BASE, **change})
    with pytest.raises(ValueError) as err:
        load_stage("bad", config_dir)
    assert str(config_dir / "bad.json") in str(err.value)
    assert message in str(err.value)


def test_unknown_stage_lists_the_available_ones(tmp_path: Path) -> None:
    _write(tmp_path, BASE)
    with pytest.raises(ValueError, match="available stages: bad"):
        load_stage("nope", tmp_path)
