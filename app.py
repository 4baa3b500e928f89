#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c stage=NAME` (default stage: dev, see config/).

The stage file is checked first: one that cannot be used ends synthesis with one line per
problem (file, field, what is allowed) and exit status 2, before the CDK app, any construct or
any context lookup exists.
"""

import json
import os
import sys
from pathlib import Path

from stacks.config import CONFIG_DIR, StageConfigError, load_stage

# The CDK CLI passes `-c stage=NAME` (and `-c config_dir=PATH`) in CDK_CONTEXT_JSON.
context = json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}")
stage = str(context.get("stage") or "dev")
config_dir = Path(context.get("config_dir") or CONFIG_DIR)
try:
    load_stage(stage, config_dir)
except StageConfigError as exc:
    print("\n".join(f"error: {line}" for line in str(exc).splitlines()), file=sys.stderr)
    sys.exit(2)

from stacks.pipeline_app import build_app  # noqa: E402  (after the check: jsii starts here)

build_app(stage, config_dir=config_dir).app.synth()
