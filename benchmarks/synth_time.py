"""Wall time and peak memory of `cdk synth` (the CLI, the Python app and its jsii runtime).

Peak memory is the largest *sum* of RSS over the whole process tree, sampled every 50 ms from
/proc (ru_maxrss would report only the largest single process).

Usage: python benchmarks/synth_time.py [--stage dev] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            kids += [int(c) for c in (task / "children").read_text().split()]
    return kids


def _tree_rss(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError):
            continue
        stack += _children(pid)
    return total


def measure(stage: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            str(ROOT / "node_modules/.bin/cdk"),
            "synth",
            "--quiet",
            "-o",
            out,
            "-c",
            f"stage={stage}",
        ]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(
                f"cdk synth failed:\n{proc.stderr.read().decode() if proc.stderr else ''}"
            )
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    results = [measure(args.stage) for _ in range(args.runs)]
    walls = [r[0] for r in results]
    peaks = [r[1] for r in results]
    print(json.dumps({
        "stage": args.stage,
        "runs": args.runs,
        "wall_s_median": round(statistics.median(walls), 1),
        "wall_s_all": [round(w, 1) for w in walls],
        "peak_rss_mib_max": round(max(peaks) / 2**20),
        "cpus": os.cpu_count(),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
