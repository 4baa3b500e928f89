"""Synthesizes the trigger API alone for stage variants the committed stages do not cover
(a PRIVATE endpoint, no WAF): the data stack plus a stack holding only ``TriggerApi`` in front
of an imported state machine, under the same cdk-nag packs as the real app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_stepfunctions as sfn

from stacks.config import StageConfig
from stacks.constructs.api import TriggerApi
from stacks.constructs.function import DependenciesLayer
from stacks.data_stack import DataStack, log_retention, removal_policy
from stacks.nag import register_nag_packs
from stacks.pipeline_app import file_context


def synthesize_api(config: StageConfig, outdir: Path) -> dict[str, Any]:
    """The API stack's template; raises when a nag pack has an unacknowledged finding."""
    app = App(context=file_context(), outdir=str(outdir))
    env = Environment(account=config.account, region=config.region)
    data = DataStack(app, f"{config.prefix}-data", config=config, env=env)
    stack = Stack(app, f"{config.prefix}-api", env=env)
    machine = sfn.StateMachine.from_state_machine_arn(
        stack,
        "Workflow",
        f"arn:aws:states:{config.region}:{config.account}:stateMachine:{config.prefix}-workflow",
    )
    TriggerApi(
        stack,
        "TriggerApi",
        config=config,
        state_machine=machine,
        layer=DependenciesLayer(stack, "Dependencies").layer,
        network=data.network,
        key=data.keys.data_key,
        log_retention=log_retention(config),
        removal_policy=removal_policy(config),
    )
    register_nag_packs(app)
    app.synth()
    template: dict[str, Any] = json.loads(
        (outdir / f"{stack.stack_name}.template.json").read_text()
    )
    return template
