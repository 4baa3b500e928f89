#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c stage=NAME` (default stage: dev, see config/)."""

from stacks.pipeline_app import build_app

build_app().app.synth()
