"""`make audit`: synthesize every stage, run cfn-lint and checkov, write the security report.

    python -m tools.audit [--out cdk.out] [--stage NAME ...] [--no-docs]

Writes ``<out>/<stage>/`` (one cloud assembly per stage), ``<out>/security-report.md`` and
``.json``, and refreshes the generated part of docs/security.md. Exits 1 when the gate
fails (the same gate as ``tests/security``), after writing the report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from tools.audit.render import render_markdown
from tools.audit.report import StageReport, gate_failures, stage_report, to_json
from tools.audit.security_doc import SECURITY_DOC, render_section, update_section
from tools.audit.tools import ROOT, run_cfn_lint, run_checkov, versions


def synthesize(stage: str, outdir: Path) -> str:
    """Synthesize one stage (cdk-nag runs as part of it); returns the stage's region."""
    from stacks.pipeline_app import build_app

    if outdir.exists():
        shutil.rmtree(outdir)
    pipeline = build_app(stage, outdir=str(outdir))
    pipeline.app.synth()
    return pipeline.config.region


def audit(stages: list[str], out: Path) -> list[StageReport]:
    reports = []
    for stage in stages:
        outdir = out / stage
        print(f"synthesizing {stage} into {outdir}", flush=True)
        region = synthesize(stage, outdir)
        reports.append(stage_report(stage, region, outdir))
    templates = [t for r in reports for t in r.templates]
    print(f"cfn-lint and checkov over {len(templates)} templates", flush=True)
    checkov = run_checkov(templates)
    for r in reports:
        r.cfn_lint = run_cfn_lint(r.templates, [r.region])
        names = {t.name for t in r.templates}
        r.checkov = [f for f in checkov if f.template in names]
    return reports


def main(argv: list[str] | None = None) -> int:
    from stacks.config import stage_names

    parser = argparse.ArgumentParser(
        prog="python -m tools.audit", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=ROOT / "cdk.out")
    parser.add_argument("--stage", action="append", help="default: every stage in config/")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/security.md as it is")
    args = parser.parse_args(argv)
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

    reports = audit(args.stage or stage_names(), args.out)
    tool_versions = versions()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "security-report.json").write_text(
        json.dumps(to_json(reports, tool_versions), indent=2, default=str) + "\n"
    )
    (args.out / "security-report.md").write_text(render_markdown(reports, tool_versions))
    print(f"wrote {args.out / 'security-report.md'} and .json")
    if not args.no_docs and update_section(SECURITY_DOC, render_section(reports)):
        print(f"updated the generated part of {SECURITY_DOC.relative_to(ROOT)}")
    failures = gate_failures(reports)
    for f in failures:
        print(f"GATE {f.stage} {f.kind} {f.where}: {f.what}", file=sys.stderr)
    print("gate: " + ("PASSED" if not failures else f"FAILED ({len(failures)})"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
