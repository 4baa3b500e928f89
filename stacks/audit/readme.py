"""The README's security section lives between two markers; only its inside is generated."""

from __future__ import annotations

from pathlib import Path

BEGIN = "<!-- BEGIN security -->"
END = "<!-- END security -->"


def security_section(readme: str) -> str:
    """The text between the markers (without them)."""
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[start:end].strip("\n") + "\n" if readme[start:end].strip() else ""


def update_readme(path: Path, section: str) -> bool:
    """Replace the inside of the security markers; True when the file changed."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path}: markers {BEGIN} / {END} not found")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + section.rstrip("\n") + "\n" + text[end:]
    if new == text:
        return False
    path.write_text(new)
    return True
