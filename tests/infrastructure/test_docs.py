"""README.md stays a short entry page: the two commands, the pages it links, no dead links."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = (
    "validation", "workflow", "training", "evaluation", "local", "api", "security", "benchmarks",
)  # fmt: skip
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_gives_the_two_commands_and_links_every_page() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 210
    assert re.search(r"^make synth\s+#", text, re.M) and re.search(r"^make test\s+#", text, re.M)
    for page in PAGES:
        assert f"](docs/{page}.md)" in text, page
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_relative_links_resolve() -> None:
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(doc.read_text()):
            if "://" in target or target.startswith("../cdk.out"):
                continue  # web pages; the audit's report exists after `make audit`
            assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)}: dead link {target}"
