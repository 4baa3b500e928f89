"""`make synth`: synthesize one stage into ``cdk.out/<stage>/`` and touch nothing else.

    python -m tools.synth STAGE [--out cdk.out] [--config-dir config] [--cdk node_modules/.bin/cdk]

The stage file is checked first (``stacks.config.load_stage``: file, field, what is allowed;
exit 2). The CDK CLI then synthesizes into a scratch folder beside the stage's; only a
successful synthesis replaces ``cdk.out/<stage>/``, so other stages' assemblies and the security
report (``make audit``: ``cdk.out/<stage>/`` and ``cdk.out/security-report.*``) survive. A failed
synthesis leaves ``cdk.context.json`` byte for byte as it was. Exit status: 0, 2 for a bad stage,
else the CLI's own.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from stacks.config import CONFIG_DIR, StageConfigError, load_stage
from tools.summary import main as summary

ROOT = Path(__file__).resolve().parent.parent


def synthesize(
    stage: str, out: Path, cdk: str, context_file: Path, config_dir: Path = CONFIG_DIR
) -> int:
    try:
        load_stage(stage, config_dir)
    except StageConfigError as exc:
        print("\n".join(f"synth: error: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    final, scratch = out / stage, out / f".{stage}.partial"
    before = context_file.read_bytes() if context_file.is_file() else None
    shutil.rmtree(scratch, ignore_errors=True)
    command = [cdk, "synth", "--quiet", "-c", f"stage={stage}", "--output", str(scratch)]
    if config_dir != CONFIG_DIR:
        command += ["-c", f"config_dir={config_dir}"]
    code = subprocess.run(command, stdout=subprocess.DEVNULL, check=False).returncode
    if code != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        after = context_file.read_bytes() if context_file.is_file() else None
        if after != before:
            if before is None:
                context_file.unlink()
            else:
                context_file.write_bytes(before)
        print(
            f"synth: error: stage {stage!r} did not synthesize (above); {final} and "
            f"{context_file.name} are unchanged",
            file=sys.stderr,
        )
        return code
    shutil.rmtree(final, ignore_errors=True)
    scratch.rename(final)
    return summary(["summary", str(final)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("stage")
    parser.add_argument("--out", type=Path, default=ROOT / "cdk.out")
    parser.add_argument("--cdk", default=str(ROOT / "node_modules" / ".bin" / "cdk"))
    parser.add_argument("--context-file", type=Path, default=ROOT / "cdk.context.json")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR)
    args = parser.parse_args(argv)
    return synthesize(args.stage, args.out, args.cdk, args.context_file, args.config_dir)


if __name__ == "__main__":
    sys.exit(main())
