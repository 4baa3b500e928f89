"""The shared format contract: detection, parsing into Conversation, strict JSONL reading."""

from __future__ import annotations

import io
import pickle
from typing import Any

import pytest

from bedrock_pipeline.formats import (
    Conversation,
    DatasetFormat,
    FormatError,
    Turn,
    detect_format,
    iter_jsonl,
    parse_line,
    to_conversation,
)

HAIKU = {
    "system": "Be brief.",
    "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye?"},
        {"role": "assistant", "content": "Bye"},
    ],
}
PC = {"prompt": "2+2?", "completion": "4"}
IMAGE = {
    "image": {
        "format": "png",
        "source": {
            "s3Location": {"uri": "s3://my-bucket/img/a.png", "bucketOwner": "123456789012"}
        },
    }
}
CONVERSE = {
    "schemaVersion": "bedrock-conversation-2024",
    "system": [{"text": "You describe images."}],
    "messages": [
        {"role": "user", "content": [{"text": "What is this?"}, IMAGE]},
        {"role": "assistant", "content": [{"text": "A cat."}]},
    ],
}
CPT = {"input": "Some long document."}


@pytest.mark.parametrize(
    ("record", "fmt"),
    [
        (HAIKU, DatasetFormat.MESSAGES),
        (PC, DatasetFormat.PROMPT_COMPLETION),
        (CONVERSE, DatasetFormat.CONVERSE),
        (CPT, DatasetFormat.CONTINUED_PRETRAINING),
        # Converse without schemaVersion is still recognised by its list content (then rejected).
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, DatasetFormat.CONVERSE),
    ],
)
def test_detect_format(record: dict[str, Any], fmt: DatasetFormat) -> None:
    assert detect_format(record) is fmt


def test_detect_unknown_and_non_object() -> None:
    with pytest.raises(FormatError) as err:
        detect_format({"question": "a", "answer": "b"})
    assert err.value.code == "UNKNOWN_FORMAT" and "answer, question" in err.value.message
    with pytest.raises(FormatError) as err:
        detect_format([1, 2])  # type: ignore[arg-type]
    assert err.value.code == "NOT_AN_OBJECT"


def test_to_conversation_each_format() -> None:
    haiku = to_conversation(HAIKU)
    assert haiku.system == "Be brief."
    assert [t.role for t in haiku.turns] == ["user", "assistant", "user", "assistant"]
    assert haiku.reference_answer == "Bye"
    assert to_conversation(PC) == Conversation(None, (Turn("user", "2+2?"), Turn("assistant", "4")))
    conv = to_conversation(CONVERSE)
    assert conv.has_images and conv.system == "You describe images."
    assert conv.turns[0].text == "What is this?" and conv.reference_answer == "A cat."
    cpt = to_conversation(CPT)
    assert cpt.turns == (Turn("assistant", "Some long document."),)


def test_distillation_prompt_only_needs_require_answer_false() -> None:
    record = {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [{"role": "user", "content": [{"text": "Summarise X"}]}],
    }
    assert to_conversation(record, require_answer=False).reference_answer is None
    with pytest.raises(FormatError) as err:
        to_conversation(record)
    assert err.value.code == "ROLE_ORDER" and err.value.field == "messages[0].role"


@pytest.mark.parametrize(
    ("record", "code", "field"),
    [
        ({"messages": [{"role": "user", "content": "x"}], "extra": 1}, "UNKNOWN_FIELD", "extra"),
        ({"prompt": "a"}, "MISSING_FIELD", "completion"),
        ({"prompt": "a", "completion": 3}, "WRONG_TYPE", "completion"),
        ({"prompt": "a", "completion": "  "}, "EMPTY_CONTENT", "completion"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "INVALID_ROLE", "messages[0].role"),
        # Unhashable values (found by the property tests) must be reported, not crash `in`.
        ({"messages": [{"role": {}, "content": "x"}]}, "INVALID_ROLE", "messages[0].role"),
        (
            {"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]},
            "ROLE_ORDER",
            "messages[0].role",
        ),
        ({**CONVERSE, "schemaVersion": "v1"}, "SCHEMA_VERSION", "schemaVersion"),
        (
            {
                **CONVERSE,
                "messages": [CONVERSE["messages"][0], {"role": "assistant", "content": [IMAGE]}],
            },
            "IMAGE_NOT_ALLOWED",
            "messages[1].content[0].image",
        ),
    ],
)
def test_schema_errors_name_field(record: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(FormatError) as err:
        to_conversation(record, path="d.jsonl", line=7)
    assert (err.value.code, err.value.field, err.value.line) == (code, field, 7)
    assert str(err.value).startswith(f"d.jsonl:7: {code}: ")


def test_prompt_completion_keeps_other_top_level_keys_out_of_training() -> None:
    conv = to_conversation({**PC, "id": "r-1"})
    assert conv.ignored_fields == ("id",)
    assert [t.text for t in conv.turns] == [PC["prompt"], PC["completion"]]


def test_explicit_format_mismatch_is_reported_against_that_format() -> None:
    with pytest.raises(FormatError) as err:
        to_conversation(PC, DatasetFormat.MESSAGES)
    assert err.value.code == "UNKNOWN_FIELD"


def test_iter_jsonl_lines_and_errors() -> None:
    data = b'{"input": "a"}\r\n{"input": "b"}\n'
    assert list(iter_jsonl(io.BytesIO(data), "f")) == [(1, {"input": "a"}), (2, {"input": "b"})]
    with pytest.raises(FormatError) as err:
        list(iter_jsonl(io.BytesIO(b'{"input": "a"}\n{"input": \n'), "f.jsonl"))
    assert (err.value.line, err.value.code) == (2, "INVALID_JSON")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"input": "\xff"}', "INVALID_UTF8"),
        (b"", "BLANK_LINE"),
        (b"   ", "BLANK_LINE"),
        (b'{"input": NaN}', "INVALID_JSON"),
        (b'\xef\xbb\xbf{"input": "a"}', "INVALID_JSON"),
        (b'{"input": "a"} {"input": "b"}', "INVALID_JSON"),
    ],
)
def test_parse_line_rejects(raw: bytes, code: str) -> None:
    with pytest.raises(FormatError) as err:
        parse_line(raw, "p", 3)
    assert err.value.code == code and err.value.line == 3


def test_format_error_pickles() -> None:
    err = FormatError("p", 1, "WRONG_TYPE", "x", "msg")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == "p:1: WRONG_TYPE: msg" and again.field == "x"
