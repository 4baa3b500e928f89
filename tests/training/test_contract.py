"""The SageMaker contract: hyperparameters from strings, channels, hosts, fail-fast launcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedrock_pipeline.training_contract import (
    TrainConfig,
    metric_definitions,
    metric_line,
    parse_metric_line,
    registry_specs,
)
from training_image.trainer import __main__ as launcher
from training_image.trainer.config import (
    HyperparameterError,
    check_batch_layout,
    parse_hyperparameters,
)
from training_image.trainer.sagemaker import Cluster, ContractError, Paths, torchrun_command
from training_image.trainer.schedule import EarlyStopping, lr_at


def test_sagemaker_strings_are_parsed() -> None:
    cfg = parse_hyperparameters(
        {
            "epochCount": "2",
            "learningRate": "1e-4",
            "packing": "false",
            "loraTargetModules": "q_proj, v_proj",
            "sagemaker_program": "ignored",  # added by SageMaker framework estimators
        }
    )
    assert cfg.epochCount == 2 and cfg.learningRate == 1e-4 and cfg.packing is False
    assert cfg.loraTargetModules == ("q_proj", "v_proj")
    assert parse_hyperparameters({"loraTargetModules": '["o_proj"]'}).loraTargetModules == (
        "o_proj",
    )
    assert parse_hyperparameters({}) == TrainConfig()


@pytest.mark.parametrize(
    ("raw", "name", "allowed"),
    [
        ({"earlyStoppingPatience": "0"}, "earlyStoppingPatience", ">= 1 and <= 10"),
        ({"earlyStoppingThreshold": "0.5"}, "earlyStoppingThreshold", ">= 0 and <= 0.1"),
        ({"loraRank": "two"}, "loraRank", "an integer >= 1"),
        ({"method": "qlora"}, "method", "'lora', 'full'"),
        ({"packing": "maybe"}, "packing", "true, false"),
        ({"epochs": "3"}, "epochs", "unknown hyperparameter; known: activationCheckpointing"),
        ({"loraTargetModules": "all-linear,q_proj"}, "loraTargetModules", "cannot be combined"),
    ],
)
def test_bad_hyperparameters_name_the_key_and_the_range(
    raw: dict[str, str], name: str, allowed: str
) -> None:
    with pytest.raises(HyperparameterError) as err:
        parse_hyperparameters(raw)
    assert err.value.name == name
    assert allowed in str(err.value) and f"'{name}'" in str(err.value)


def test_batch_must_split_over_the_cluster() -> None:
    cfg = parse_hyperparameters({"batchSize": "12", "microBatchSize": "2"})
    assert check_batch_layout(cfg, 2) == 3
    with pytest.raises(HyperparameterError, match=r"batchSize.*multiple of .* = 8"):
        check_batch_layout(cfg, 4)


def test_registry_rows_come_from_the_same_table() -> None:
    specs = {s.key: s for s in registry_specs()}
    assert specs["earlyStoppingPatience"].min == 1 and specs["earlyStoppingPatience"].max == 10
    assert specs["learningRate"].type == "float" and specs["loraRank"].type == "int"
    assert "packing" not in specs and "method" not in specs  # not numeric: not registry rows


def test_metric_lines_round_trip_through_sagemaker_regexes() -> None:
    line = metric_line(7, {"train_loss": 1.25, "lr": 2e-5, "grad_norm": 0.5, "tokens_per_s": 1e4})
    assert parse_metric_line(line) == {
        "train:loss": 1.25,
        "train:learning_rate": 2e-5,
        "train:grad_norm": 0.5,
        "train:tokens_per_second": 1e4,
    }
    assert {d["Name"] for d in metric_definitions()} >= {"train:loss", "validation:loss"}
    with pytest.raises(ValueError, match="not in METRIC_KEYS"):
        metric_line(1, {"loss": 1.0})


def test_early_stopping_semantics() -> None:
    stop = EarlyStopping(threshold=0.1, patience=2)
    assert not stop.update(2.0)  # first evaluation sets the reference
    assert not stop.update(1.95)  # improved, but by less than the threshold: miss 1
    assert not stop.update(1.85)  # improved by 0.15 on the reference 2.0: counts, misses reset
    assert not stop.update(1.80)  # miss 1
    assert stop.update(1.79)  # miss 2 = patience: stop
    resumed = EarlyStopping.from_state(0.1, 2, EarlyStopping(0.1, 2, 1.0, 1).state())
    assert resumed.update(0.95)  # the restored miss count carries over


def test_learning_rate_schedule() -> None:
    assert lr_at(0, 1.0, 4, 20, 0.1) == 0.25
    assert lr_at(3, 1.0, 4, 20, 0.1) == 1.0
    assert lr_at(4, 1.0, 4, 20, 0.1) == 1.0
    assert lr_at(12, 1.0, 4, 20, 0.1) == pytest.approx(0.55)  # cosine midpoint
    assert lr_at(20, 1.0, 4, 20, 0.1) == pytest.approx(0.1)


def test_paths_and_cluster_from_sagemaker_files(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-2", "hosts": ["algo-2", "algo-1"],
                    "network_interface_name": "eth0"})
    )  # fmt: skip
    cluster = Cluster.from_env({"SM_INPUT_CONFIG_DIR": str(config)})
    assert (cluster.node_rank, cluster.master, cluster.network_interface) == (1, "algo-1", "eth0")
    cmd = torchrun_command(cluster, 8)
    assert "--nnodes=2" in cmd and "--node-rank=1" in cmd and "--master-addr=algo-1" in cmd
    assert "--nproc-per-node=8" in cmd and cmd[-2:] == ["-m", "training_image.trainer.worker"]
    env_cluster = Cluster.from_env({"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1"})
    assert "--master-addr=127.0.0.1" in torchrun_command(env_cluster, 1)
    paths = Paths.from_env({})
    assert paths.train == Path("/opt/ml/input/data/train")
    assert paths.model == Path("/opt/ml/model") and paths.checkpoints == Path("/opt/ml/checkpoints")


def test_launcher_fails_fast_with_a_failure_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_models: dict[str, Path]
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "hyperparameters.json").write_text(json.dumps({"loraRank": "0"}))
    (tmp_path / "train").mkdir()
    env = {
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_CHANNEL_TRAIN": str(tmp_path / "train"),
        "SM_CHANNEL_BASE_MODEL": str(base_models["llama"]),
        "SM_OUTPUT_DIR": str(tmp_path / "output"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert launcher.main() == 1  # no torchrun started
    assert "hyperparameter 'loraRank'" in (tmp_path / "output" / "failure").read_text()
    (tmp_path / "output" / "failure").unlink()  # the first writer wins: clear it for the next
    monkeypatch.setenv("SM_CHANNEL_BASE_MODEL", str(tmp_path / "nowhere"))
    assert launcher.main() == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert "required input channel 'base_model' is missing" in failure
    with pytest.raises(ContractError):
        Paths.from_env(env | {"SM_CHANNEL_TRAIN": str(tmp_path / "none")}).check()


def test_launcher_checks_the_batch_against_the_whole_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_models: dict[str, Path]
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "hyperparameters.json").write_text(json.dumps({"batchSize": "6"}))
    (tmp_path / "train").mkdir()
    for key, value in {
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_CHANNEL_TRAIN": str(tmp_path / "train"),
        "SM_CHANNEL_BASE_MODEL": str(base_models["llama"]),
        "SM_OUTPUT_DIR": str(tmp_path / "output"),
        "SM_HOSTS": '["algo-1", "algo-2"]',
        "SM_CURRENT_HOST": "algo-2",
        "TRAINER_NPROC_PER_NODE": "2",
    }.items():
        monkeypatch.setenv(key, value)
    assert launcher.main() == 1  # 6 rows cannot split over 2 hosts x 2 GPUs
    assert "x GPUs (4) = 4" in (tmp_path / "output" / "failure").read_text()
