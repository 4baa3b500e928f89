# ruff: noqa: E501  (one misuse per row reads better than wrapped rows)
"""Nova 2 tool calling and reasoning: accepted as the Nova 2 guide writes them, and every misuse
rejected with its field; the other dialects refuse the blocks they do not take."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bedrock_pipeline.formats import FormatError, to_conversation
from bedrock_pipeline.model_spec import DatasetLimits
from bedrock_pipeline.registry import CustomizationType, get_model


def _fine_tuning(model_id: str) -> DatasetLimits:
    limits = get_model(model_id).limits(CustomizationType.FINE_TUNING)
    assert limits is not None, model_id
    return limits


NOVA2 = _fine_tuning("amazon.nova-2-lite-v1:0:256k")
NOVA_LITE = _fine_tuning("amazon.nova-lite-v1:0:300k")
V = "bedrock-conversation-2024"
TOOL = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
}
TOOLS: dict[str, Any] = {
    "schemaVersion": V,
    "system": [{"text": "Use the tools."}],
    "toolConfig": {"tools": [TOOL]},
    "messages": [
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"reasoningContent": {"reasoningText": {"text": "I need the weather tool."}}},
                {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "t1",
                        "content": [{"json": {"c": 18}}],
                        "status": "success",
                    }
                }
            ],
        },
        {"role": "assistant", "content": [{"text": "It is 18 degrees in Paris."}]},
    ],
}


def _nova2(record: dict[str, Any]) -> Any:
    return to_conversation(
        record, require_answer=True, dialect=NOVA2.converse, path="t.jsonl", line=3
    )


def test_tool_calling_with_reasoning_is_read_with_every_text() -> None:
    conv = _nova2(TOOLS)
    assert conv.uses_tools and not conv.has_images
    assert conv.reference_answer == "It is 18 degrees in Paris."  # reasoning is not the answer
    assert "I need the weather tool." in conv.extra_texts
    assert any('"get_weather"' in t for t in conv.extra_texts)  # toolConfig and toolUse count


def _changed(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    record = copy.deepcopy(TOOLS)
    target = record
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return record


M = "messages"
USE = (M, 1, "content", 1)
RESULT = (M, 2, "content", 0)


@pytest.mark.parametrize(
    ("path", "value", "code", "field"),
    [
        # toolUse in a user turn, toolResult in an assistant turn, reasoning in a user turn
        ((M, 0, "content", 0), TOOLS[M][1]["content"][1], "BLOCK_NOT_ALLOWED", "messages[0].content[0].toolUse"),
        ((M, 3, "content", 0), TOOLS[M][2]["content"][0], "BLOCK_NOT_ALLOWED", "messages[3].content[0].toolResult"),
        ((M, 0, "content", 0), TOOLS[M][1]["content"][0], "BLOCK_NOT_ALLOWED", "messages[0].content[0].reasoningContent"),
        # the call names a tool the configuration lacks; no configuration at all
        ((*USE, "toolUse", "name"), "get_time", "TOOL_USE", "messages[1].content[1].toolUse.name"),
        (("toolConfig",), KeyError, "TOOL_USE", "messages[1].content[1].toolUse.name"),
        # the result answers no call; ids and inputs of the wrong shape
        ((*RESULT, "toolResult", "toolUseId"), "t2", "TOOL_USE", "messages[2].content[0].toolResult.toolUseId"),
        ((*USE, "toolUse", "toolUseId"), "", "EMPTY_CONTENT", "messages[1].content[1].toolUse.toolUseId"),
        ((*USE, "toolUse", "input"), "Paris", "WRONG_TYPE", "messages[1].content[1].toolUse.input"),
        ((*RESULT, "toolResult", "content"), [], "EMPTY_CONTENT", "messages[2].content[0].toolResult.content"),
        ((*RESULT, "toolResult", "content", 0), {"text": "a", "json": {}}, "INVALID_CONTENT_BLOCK", "messages[2].content[0].toolResult.content[0]"),
        ((*RESULT, "toolResult", "status"), "done", "WRONG_TYPE", "messages[2].content[0].toolResult.status"),
        # the tool configuration
        (("toolConfig", "tools"), [], "EMPTY_CONTENT", "toolConfig.tools"),
        (("toolConfig", "tools"), [TOOL, TOOL], "TOOL_USE", "toolConfig.tools[1].toolSpec.name"),
        (("toolConfig", "tools", 0, "toolSpec", "description"), KeyError, "MISSING_FIELD", "toolConfig.tools[0].toolSpec.description"),
        (("toolConfig", "tools", 0, "toolSpec", "inputSchema", "json"), {"properties": {}}, "MISSING_FIELD", "toolConfig.tools[0].toolSpec.inputSchema.json.type"),
        # reasoning: text required and non-empty; redacted reasoning is not training data
        ((M, 1, "content", 0, "reasoningContent", "reasoningText", "text"), " ", "EMPTY_CONTENT", "messages[1].content[0].reasoningContent.reasoningText.text"),
        ((M, 1, "content", 0, "reasoningContent"), {"redactedContent": "eA=="}, "UNKNOWN_FIELD", "messages[1].content[0].reasoningContent.redactedContent"),
    ],
)  # fmt: skip
def test_misuse_names_line_and_field(
    path: tuple[Any, ...], value: Any, code: str, field: str
) -> None:
    with pytest.raises(FormatError) as err:
        _nova2(_changed(path, value))
    assert (err.value.code, err.value.field, err.value.line) == (code, field, 3), err.value.message
    assert str(err.value).startswith(f"t.jsonl:3: {code}: ")


def test_nova_1_takes_no_tools_or_reasoning() -> None:
    with pytest.raises(FormatError) as err:
        to_conversation(TOOLS, dialect=NOVA_LITE.converse)
    assert (err.value.code, err.value.field) == ("BLOCK_NOT_ALLOWED", "toolConfig")
    no_tools = {k: v for k, v in TOOLS.items() if k != "toolConfig"}
    no_tools["messages"] = [no_tools["messages"][0], TOOLS["messages"][1]]
    with pytest.raises(FormatError) as err:
        to_conversation(no_tools, dialect=NOVA_LITE.converse)
    assert err.value.field == "messages[1].content[0].reasoningContent"


def test_reasoning_signature_is_allowed() -> None:
    record = _changed((M, 1, "content", 0, "reasoningContent", "reasoningText", "signature"), "sig")
    assert _nova2(record).uses_tools


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        found += _paths(child, (*prefix, key))
    return found


@settings(max_examples=300, deadline=None)
@given(st.data(), JSON)
def test_any_value_anywhere_is_a_verdict_never_a_crash(data: st.DataObject, value: Any) -> None:
    """Every dialect's parser answers with a record or a FormatError, whatever the shape."""
    path = data.draw(st.sampled_from(_paths(TOOLS)))
    record = _changed(path, value)
    dialect = data.draw(st.sampled_from([NOVA2.converse, NOVA_LITE.converse]))
    try:
        to_conversation(record, dialect=dialect)
    except FormatError as err:
        assert err.code and err.message
