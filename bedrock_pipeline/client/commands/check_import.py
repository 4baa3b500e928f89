"""`bedrock-pipeline check-import`: is a model directory ready for Bedrock Custom Model Import?

    bedrock-pipeline check-import DIR|s3://BUCKET/PREFIX [--output table|json]

Checks the architecture, required and tokenizer files, weights (< 200 GB) and context length,
then reads each shard's safetensors header (by seek, or by ranged GET on S3; never the tensor
data): offsets inside the file, the architecture's tensor names, layer count, shapes against
config.json, one dtype equal to torch_dtype, the index. Adapter-only folders, unmerged LoRA
tensors and model.tar.gz archives are named with their fix.
Exit codes: 0 ready, 1 not ready (reasons printed), 2 usage or environment (no such directory,
no credentials, access denied, no such bucket).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Any, TextIO

from bedrock_pipeline.aws.errors import environment_problem
from bedrock_pipeline.aws.import_check import check_s3_prefix
from bedrock_pipeline.aws.s3 import client as s3_client
from bedrock_pipeline.client.output import (
    RawHelpFormatter,
    add_output_option,
    error,
    output_kind,
)
from bedrock_pipeline.import_check import check_directory

EXIT_READY, EXIT_NOT_READY, EXIT_USAGE = 0, 1, 2
COMMAND = "check-import"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check-import",
        help="check that a model directory or S3 prefix can be imported into Bedrock",
        description=__doc__,
        formatter_class=RawHelpFormatter,
    )
    parser.add_argument("location", metavar="DIR", help="local directory or s3://bucket/prefix")
    add_output_option(parser)
    parser.add_argument("--profile", help="AWS profile for s3:// locations")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None, s3: Any = None) -> int:
    out = out or sys.stdout
    if args.location.startswith("s3://"):
        if s3 is None:
            s3 = s3_client(getattr(args, "profile", None))
        try:
            result = check_s3_prefix(s3, args.location)
        except ValueError as exc:
            return error(COMMAND, str(exc))
        except Exception as exc:
            problem = environment_problem(exc)
            if problem is None:
                raise
            return error(COMMAND, f"{args.location}: {problem}")
    elif not os.path.isdir(args.location):
        return error(COMMAND, f"no such directory: {args.location}")
    else:
        result = check_directory(args.location)
    if output_kind(args) == "json":
        print(json.dumps(asdict(result), indent=2), file=out)
    else:
        print(result.summary(), file=out)
    return EXIT_READY if result.ready else EXIT_NOT_READY
