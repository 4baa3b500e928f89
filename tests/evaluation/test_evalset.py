"""Reading test and few-shot records."""

from __future__ import annotations

import io

import pytest

from bedrock_pipeline.evalset import iter_eval_records
from bedrock_pipeline.formats import FormatError

GOOD = b'{"prompt": "q1", "completion": "a1"}\n{"prompt": "q2", "completion": "a2"}\n'


def test_a_limit_stops_before_reading_the_next_line() -> None:
    """Few shots come from the head of the training set; what lies past them is not read."""
    stream = io.BytesIO(GOOD + b"{not json\n")
    shots = list(iter_eval_records(stream, "train.jsonl", limit=2))
    assert [s.reference for s in shots] == ["a1", "a2"]
    assert list(iter_eval_records(io.BytesIO(b"{not json\n"), "train.jsonl", limit=0)) == []


def test_without_a_limit_a_bad_line_names_file_and_line() -> None:
    with pytest.raises(FormatError, match=r"^train.jsonl:3: INVALID_JSON"):
        list(iter_eval_records(io.BytesIO(GOOD + b"{not json\n"), "train.jsonl"))
