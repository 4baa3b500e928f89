"""The SageMaker training-container contract: where inputs are, where outputs go, which host.

SageMaker provides files, not environment: /opt/ml/input/config/{hyperparameters,resourceconfig}
.json and one directory per channel under /opt/ml/input/data/. The SM_* variables exist only when
the sagemaker-training toolkit is installed; they are honoured when set (the local run sets them
to point at a scratch directory) and otherwise derived from the files, so the image needs no
toolkit. TRAINER_CHECKPOINT_DIR overrides /opt/ml/checkpoints (CheckpointConfig.LocalPath),
TRAINER_BEST_DIR the local directory of full fine-tuning's best weights (/tmp/trainer-best);
TRAINER_NPROC_PER_NODE and TRAINER_MASTER_PORT override the worker count and rendezvous port.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bedrock_pipeline.training_contract import (
    CHANNEL_BASE_MODEL,
    CHANNEL_IMAGES,
    CHANNEL_TRAIN,
    CHANNEL_VALIDATION,
)

OPT_ML = Path("/opt/ml")
MASTER_PORT = 29500
WORKER_MODULE = "training_image.trainer.worker"


class ContractError(ValueError):
    """A required input of the training job is missing; names it and where it was looked for."""


def channel_dir(name: str, env: Mapping[str, str] | None = None) -> Path:
    """Where the job finds channel ``name``: ``SM_CHANNEL_<NAME>`` where set, else SageMaker's
    ``/opt/ml/input/data/<name>`` (this image does not install the toolkit that sets
    SM_CHANNEL_*)."""
    env = os.environ if env is None else env
    return Path(env.get(f"SM_CHANNEL_{name.upper()}", OPT_ML / "input" / "data" / name))


@dataclass(frozen=True)
class Paths:
    hyperparameters: Path
    train: Path
    validation: Path | None
    base_model: Path
    model: Path
    checkpoints: Path
    output: Path  # SageMaker reads `failure` here as the job's FailureReason
    # Best weights of full fine-tuning: local disk, not synced to S3 (TRAINER_BEST_DIR).
    best_local: Path = Path("/tmp/trainer-best")
    images: Path | None = None  # the images of image records, each at its S3 key

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if env is None else env

        def channel(name: str) -> Path:
            return channel_dir(name, env)

        config_dir = Path(env.get("SM_INPUT_CONFIG_DIR", OPT_ML / "input" / "config"))
        validation = channel(CHANNEL_VALIDATION)
        images = channel(CHANNEL_IMAGES)
        return cls(
            hyperparameters=config_dir / "hyperparameters.json",
            train=channel(CHANNEL_TRAIN),
            validation=validation if validation.is_dir() else None,
            base_model=channel(CHANNEL_BASE_MODEL),
            model=Path(env.get("SM_MODEL_DIR", OPT_ML / "model")),
            checkpoints=Path(env.get("TRAINER_CHECKPOINT_DIR", OPT_ML / "checkpoints")),
            output=Path(env.get("SM_OUTPUT_DIR", OPT_ML / "output")),
            best_local=Path(env.get("TRAINER_BEST_DIR", "/tmp/trainer-best")),
            images=images if images.is_dir() else None,
        )

    def check(self) -> None:
        for name, path in ((CHANNEL_TRAIN, self.train), (CHANNEL_BASE_MODEL, self.base_model)):
            if not path.is_dir():
                raise ContractError(
                    f"required input channel '{name}' is missing (looked in {path}); "
                    f"CreateTrainingJob must define channels: {CHANNEL_TRAIN}, {CHANNEL_BASE_MODEL}"
                    f" (optional: {CHANNEL_VALIDATION}, {CHANNEL_IMAGES})"
                )
        if not (self.base_model / "config.json").exists():
            raise ContractError(
                f"channel '{CHANNEL_BASE_MODEL}' ({self.base_model}) has no config.json: it must "
                "hold a transformers checkpoint (config.json, *.safetensors, tokenizer files)"
            )


def read_hyperparameters(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ContractError(f"{path}: hyperparameters must be a JSON object")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


@dataclass(frozen=True)
class Cluster:
    hosts: tuple[str, ...]
    current_host: str
    network_interface: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Cluster:
        env = os.environ if env is None else env
        if "SM_HOSTS" in env:
            hosts = tuple(json.loads(env["SM_HOSTS"]))
            return cls(
                hosts, env.get("SM_CURRENT_HOST", hosts[0]), env.get("SM_NETWORK_INTERFACE_NAME")
            )
        config_dir = Path(env.get("SM_INPUT_CONFIG_DIR", OPT_ML / "input" / "config"))
        resource = config_dir / "resourceconfig.json"
        if resource.exists():
            data = json.loads(resource.read_text())
            return cls(
                tuple(data["hosts"]), data["current_host"], data.get("network_interface_name")
            )
        return cls(("localhost",), "localhost")

    @property
    def node_rank(self) -> int:
        # SageMaker names hosts algo-1..algo-N; sorting keeps every node's view identical.
        return sorted(self.hosts).index(self.current_host)

    @property
    def master(self) -> str:
        return sorted(self.hosts)[0]


def torchrun_command(cluster: Cluster, nproc_per_node: int, port: int = MASTER_PORT) -> list[str]:
    """One torchrun per node, one worker process per GPU, static rendezvous on the first host."""
    master = "127.0.0.1" if len(cluster.hosts) == 1 else cluster.master
    return [
        sys.executable, "-m", "torch.distributed.run",
        f"--nnodes={len(cluster.hosts)}",
        f"--node-rank={cluster.node_rank}",
        f"--nproc-per-node={nproc_per_node}",
        f"--master-addr={master}",
        f"--master-port={port}",
        "-m", WORKER_MODULE,
    ]  # fmt: skip


OUTPUT_DIRS = ("model", "checkpoints", "output")


def check_writable(paths: Paths) -> None:
    """Fail in seconds, not at the first checkpoint or at export, on an unwritable output.

    SageMaker mounts /opt/ml/model, /opt/ml/checkpoints and /opt/ml/output from the host; the
    image runs as a non-root user, so a root-owned mount would otherwise surface as a generic
    error after hours of training. Each is created if missing and a file is written and removed.
    """
    for name in OUTPUT_DIRS:
        path: Path = getattr(paths, name)
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
                pass
        except OSError as exc:
            raise ContractError(
                f"{path} ({name} output) is not writable by uid {os.getuid()} "
                f"(gid {os.getgid()}): {exc.strerror or exc}; the training image runs as a "
                "non-root user: the directory must be writable by it"
            ) from None


def write_failure(output_dir: Path, message: str) -> bool:
    """Write `failure` unless it exists: the first writer (the root cause) wins. True if written.

    SageMaker shows the first 1024 characters of this file as the job's FailureReason. Any rank
    may write it; on a failure every other rank fails soon after (collectives time out, torchrun
    stops them), and those later messages must not replace the first.
    """
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with (output_dir / "failure").open("x") as f:
            f.write(message[:1024])
    except FileExistsError:
        return False
    except OSError:
        return False  # not on SageMaker and no writable /opt/ml: the message is in the log anyway
    return True
