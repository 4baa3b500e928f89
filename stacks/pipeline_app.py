"""Builds the CDK app for one stage: the same code path for `cdk synth`, tests and the audit."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack, Tags

from stacks.checkov_skips import register_checkov_skips
from stacks.config import CONFIG_DIR, StageConfig, load_stage
from stacks.data_stack import DataStack
from stacks.nag import acknowledge_cdk_providers, register_nag_packs
from stacks.workflow_stack import WorkflowStack

ROOT = Path(__file__).resolve().parent.parent


def file_context() -> dict[str, Any]:
    """Feature flags from cdk.json and the committed lookups from cdk.context.json: what the CDK
    CLI would pass, for apps built outside it (tests, audit)."""
    context: dict[str, Any] = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    lookups = ROOT / "cdk.context.json"
    if lookups.is_file():
        context.update(json.loads(lookups.read_text()))
    return context


@dataclass(frozen=True)
class PipelineApp:
    app: App
    config: StageConfig
    data: DataStack
    workflow: WorkflowStack
    stacks: tuple[Stack, ...]


def build_app(
    stage: str | None = None, *, outdir: str | None = None, config_dir: Path = CONFIG_DIR
) -> PipelineApp:
    under_cli = "CDK_CONTEXT_JSON" in os.environ or "CDK_OUTDIR" in os.environ
    app = App() if under_cli else App(context=file_context(), outdir=outdir)
    stage_name = stage or str(app.node.try_get_context("stage") or "dev")
    config = load_stage(stage_name, config_dir)
    env = Environment(account=config.account, region=config.region)

    data = DataStack(app, f"{config.prefix}-data", config=config, env=env)
    workflow = WorkflowStack(app, f"{config.prefix}-workflow", config=config, data=data, env=env)

    for key, value in {**config.tags, "stage": config.name}.items():
        Tags.of(app).add(key, value)
    register_nag_packs(app)
    acknowledge_cdk_providers(app)
    register_checkov_skips(app)
    return PipelineApp(
        app=app, config=config, data=data, workflow=workflow, stacks=(data, workflow)
    )
