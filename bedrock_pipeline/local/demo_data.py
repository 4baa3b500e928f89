"""A generated TAT-QA-style finance QA set: a small table and a passage per record, a question
whose answer is a number (with its scale or a percent) or a short span, in two answer styles.

TAT-QA (Zhu et al., 2021) asks questions over the tables and paragraphs of annual reports; its
answers are spans or numbers with a scale (thousand, million, percent). Nothing is downloaded:
company names, line items and values come from a seeded generator, so every run of ``make
demo`` sees the same data. Each record is a ``messages`` record (Claude 3 Haiku's format, which
the container reads too) with the concise reference answer; ``verbose`` gives the same answer as
the answer followed by a sentence that explains it, the style the demo's base model is first
trained to use (a chat model's answer: right, but in many words).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEM = "Answer the question from the table and the passage."
COMPANIES = ("Acme", "Borealis", "Cobalt", "Dunmore", "Everline", "Fairhaven", "Granite", "Helix")
ITEMS = ("Revenue", "Cost of sales", "Gross profit", "Operating expenses", "Net income")
SEGMENTS = ("Cloud", "Devices", "Services", "Retail")
YEARS = ("2019", "2018")
SCALES = ("thousand", "million")


@dataclass(frozen=True)
class QA:
    user: str
    concise: str
    verbose: str
    kind: str  # number | percent | span


def _money(rng: random.Random) -> str:
    return f"{rng.randint(1, 99)},{rng.randint(0, 999):03d}"


def _record(rng: random.Random) -> QA:
    company, scale = rng.choice(COMPANIES), rng.choice(SCALES)
    items = rng.sample(ITEMS, 2)
    values = {(item, year): _money(rng) for item in items for year in YEARS}
    margin = {year: f"{rng.randint(10, 60)}.{rng.randint(0, 9)}" for year in YEARS}
    segments = rng.sample(SEGMENTS, 3)
    top = segments[0]
    rows = [
        f"{item}: {YEARS[0]} {values[(item, YEARS[0])]}; {YEARS[1]} {values[(item, YEARS[1])]}"
        for item in items
    ]
    rows.append(f"Gross margin: {YEARS[0]} {margin[YEARS[0]]}%; {YEARS[1]} {margin[YEARS[1]]}%")
    table = f"{company} (in {scale}s)\n" + "\n".join(rows)
    passage = (
        f"In {YEARS[0]} the {top} segment was {company}'s largest, ahead of "
        f"{segments[1]} and {segments[2]}."
    )
    kind = rng.choice(("number", "percent", "span"))
    if kind == "number":
        item, year = rng.choice(items), rng.choice(YEARS)
        question = f"What was {item.lower()} in {year}?"
        concise = values[(item, year)]
        verbose = (
            f"{concise} {scale}s. According to the table, {company} reported "
            f"{item.lower()} of {concise} {scale}s in {year}."
        )
    elif kind == "percent":
        year = rng.choice(YEARS)
        question = f"What was the gross margin in {year}?"
        concise = f"{margin[year]}%"
        verbose = (
            f"{concise}. According to the table, {company}'s gross margin in {year} was "
            f"{concise}, up or down from the year before as the table shows."
        )
    else:
        question = f"Which segment was the largest in {YEARS[0]}?"
        concise = top
        verbose = (
            f"{top}. According to the passage, the largest segment of {company} in "
            f"{YEARS[0]} was the {top} segment, ahead of the other two."
        )
    user = f"Table:\n{table}\n\nPassage: {passage}\n\nQuestion: {question}"
    return QA(user, concise, verbose, kind)


def generate(count: int, seed: int) -> list[QA]:
    rng = random.Random(seed)
    return [_record(rng) for _ in range(count)]


def as_record(qa: QA, *, verbose: bool = False) -> dict[str, Any]:
    answer = qa.verbose if verbose else qa.concise
    return {
        "system": SYSTEM,
        "messages": [
            {"role": "user", "content": qa.user},
            {"role": "assistant", "content": answer},
        ],
    }


def write_jsonl(path: Path, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Splits:
    pretrain: list[QA]  # the base model's verbose training set
    train: list[QA]
    validation: list[QA]
    test: list[QA]


def splits(train: int, validation: int, test: int, pretrain: int, seed: int = 7) -> Splits:
    """Disjoint record sets (different seeds per split; duplicates across splits are dropped)."""
    seen: set[str] = set()
    out: list[list[QA]] = []
    for offset, count in enumerate((pretrain, train, validation, test)):
        rng = random.Random(seed * 1000 + offset)
        rows: list[QA] = []
        while len(rows) < count:
            qa = _record(rng)
            if qa.user not in seen:
                seen.add(qa.user)
                rows.append(qa)
        out.append(rows)
    return Splits(*out)
