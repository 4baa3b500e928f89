"""Dataset validator throughput and peak memory, side by side with a bare `json.loads` loop.

    .venv/bin/python benchmarks/validate_dataset.py [--large-gb 1.0] [--repeat 2] [--keep]

Cases (generated into build/bench/, deleted afterwards unless --keep):
  small     10,000 Claude 3 Haiku `messages` records (~1 KB each), for Haiku fine-tuning
  large     >= 1 GB of continued pre-training `{"input"}` records (~7 KB each), Titan Express
  many-N    N tiny `{"input"}` records (~90 B each): more records than the validator keeps
            exact digests for (1M), so its memory must stop growing (same RSS for 2.5M and 5M)

Each measurement runs in its own subprocess so peak RSS (ru_maxrss) belongs to that case alone;
"bare" reads the same file line by line and calls `json.loads` on each line, nothing else. The
best of --repeat runs is kept (the machine may be shared). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "build" / "bench"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"
TITAN = "amazon.titan-text-express-v1:0:8k"
TEXT = "the model answers questions about invoices contracts and quarterly revenue with short"
WORDS = TEXT.split()

CHILD = r"""
import json, resource, sys, time
mode, path, model, ctype = sys.argv[1:5]
if mode != "bare":  # imports (botocore via the S3 reader) are not per-line work: before the clock
    sys.path.insert(0, sys.argv[5])
    from bedrock_pipeline.registry import CustomizationType, get_model
    from bedrock_pipeline.sources import LocalFile
    from bedrock_pipeline.validation import validate_dataset
start = time.perf_counter()
if mode == "bare":
    records = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for line in f:
            json.loads(line)
            records += 1
    errors = 0
else:
    report = validate_dataset(
        LocalFile(path), model=get_model(model), customization=CustomizationType(ctype)
    )
    records, errors = report.files[0].records, report.error_count
elapsed = time.perf_counter() - start
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = {"seconds": elapsed, "records": records, "errors": errors, "rss_mb": rss_kb / 1024}
print(json.dumps(result))
"""


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make_small(path: Path, records: int = 10_000) -> None:
    rng = random.Random(1)
    with path.open("w") as f:
        for i in range(records):
            turns = []
            for _ in range(rng.choice((1, 2))):
                turns.append({"role": "user", "content": f"#{i} " + sentence(rng, 30)})
                turns.append({"role": "assistant", "content": sentence(rng, 60)})
            f.write(
                json.dumps({"system": "You are a finance assistant.", "messages": turns}) + "\n"
            )


def make_large(path: Path, target_bytes: int) -> None:
    rng = random.Random(2)
    # ~7,600 characters: under Titan's 4,096 tokens at the registry's 2 characters per token.
    paragraphs = [sentence(rng, 1200) for _ in range(64)]
    written, i = 0, 0
    with path.open("w") as f:
        while written < target_bytes:
            text = f"Doc {i}. " + paragraphs[i % 64][: 7000 + (i * 37) % 600]
            line = json.dumps({"input": text}) + "\n"
            f.write(line)
            written += len(line)
            i += 1


def make_many(path: Path, records: int) -> None:
    with path.open("w") as f:
        for i in range(records):
            f.write(
                json.dumps({"input": f"Line {i}: revenue grew by {i % 97} percent this quarter."})
                + "\n"
            )


def measure(mode: str, path: Path, model: str, ctype: str, repeat: int) -> dict[str, float]:
    best: dict[str, float] | None = None
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, mode, str(path), model, ctype, str(ROOT)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out)
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    best["mb_s"] = path.stat().st_size / 1e6 / best["seconds"]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large-gb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--many", type=int, nargs="*", default=[2_500_000, 5_000_000])
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    cases = [
        ("small", BENCH_DIR / "small.jsonl", HAIKU, "FINE_TUNING", lambda p: make_small(p)),
        (
            "large",
            BENCH_DIR / "large.jsonl",
            TITAN,
            "CONTINUED_PRE_TRAINING",
            lambda p: make_large(p, int(args.large_gb * 1024**3)),
        ),
    ] + [
        (
            f"many-{n / 1e6:g}M",
            BENCH_DIR / f"many-{n}.jsonl",
            TITAN,
            "CONTINUED_PRE_TRAINING",
            lambda p, n=n: make_many(p, n),
        )
        for n in args.many
    ]
    rows = []
    try:
        for name, path, model, ctype, make in cases:
            t0 = time.perf_counter()
            make(path)
            took = time.perf_counter() - t0
            print(
                f"{name}: {path.stat().st_size / 1e6:.0f} MB made in {took:.0f} s", file=sys.stderr
            )
            repeat = 1 if name.startswith("many") else args.repeat  # memory cases: one run
            bare = measure("bare", path, model, ctype, repeat)
            val = measure("validate", path, model, ctype, repeat)
            assert val["errors"] == 0 and val["records"] == bare["records"], (val, bare)
            rows.append((name, path.stat().st_size, bare, val))
            if not args.keep:
                path.unlink()  # before the next case: never two large files on disk
    finally:
        if not args.keep:
            for _, path, *_ in cases:
                path.unlink(missing_ok=True)
    print(f"cpu: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end")
    print(
        "| case | file | records | bare json.loads | validator | ratio "
        "| bare peak RSS | validator peak RSS |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, size, bare, val in rows:
        cells = [
            name,
            f"{size / 1e6:,.0f} MB",
            f"{int(val['records']):,}",
            f"{bare['mb_s']:.0f} MB/s",
            f"{val['mb_s']:.0f} MB/s",
            f"{val['mb_s'] / bare['mb_s']:.0%}",
            f"{bare['rss_mb']:.0f} MB",
            f"{val['rss_mb']:.0f} MB",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
