#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c stage=NAME` (default stage: dev, see config/).

The stage file is checked first: one that cannot be used ends synthesis with one line per
problem (file, field, what is allowed) and exit status 2, before the CDK app, any construct or
any context lookup exists.
"""

import json
import os
import sys

from stacks.config import StageConfigError, load_stage

# The CDK CLI passes `-c stage=NAME` in CDK_CONTEXT_JSON.
stage = str(json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}").get("stage") or "dev")
try:
    load_stage(stage)
except StageConfigError as exc:
    print("\n".join(f"error: {line}" for line in str(exc).splitlines()), file=sys.stderr)
    sys.exit(2)

from stacks.pipeline_app import build_app  # noqa: E402  (after the check: jsii starts here)

build_app(stage).app.synth()
