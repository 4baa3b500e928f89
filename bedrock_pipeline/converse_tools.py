"""Converse blocks that span a record: reasoning, tool configuration, tool calls and results.

Shapes follow the Converse API (API_runtime_ReasoningContentBlock.html, API_runtime_ToolUseBlock
.html, API_runtime_ToolResultBlock.html, API_runtime_ToolConfiguration.html); the rules on them
are those of the Nova 2 SFT data page (nova-data-prep-sft-2.html) and AWS's Nova dataset
validator (aws-samples/amazon-nova-samples, `validate_tool_use_in_conversation`): toolUse only in
assistant turns and naming a configured tool, unique toolUseIds, each toolResult (user turns)
answering an earlier toolUse once; a tool needs a name, a description and a JSON Schema with a
`type`. Used by `bedrock_pipeline.converse`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bedrock_pipeline.format_base import (
    FormatCode,
    _Bad,
    _check_keys,
    _keys,
    _object,
    _require,
    _text,
)

if TYPE_CHECKING:
    from bedrock_pipeline.converse import ConverseDialect


class RecordState:
    """Per-record state: media counts and tool ids, for the rules that span blocks."""

    def __init__(self, dialect: ConverseDialect) -> None:
        self.dialect = dialect
        self.media: dict[str, int] = {}
        self.tool_names: frozenset[str] | None = None
        self.tool_uses: set[str] = set()
        self.tool_results: set[str] = set()
        self.extra: list[str] = []


def only_in(role: str, wanted: str, kind: str, field: str) -> None:
    if role != wanted:
        code = FormatCode.IMAGE_NOT_ALLOWED if kind == "image" else FormatCode.BLOCK_NOT_ALLOWED
        raise _Bad(code, field, f"{field}: {kind} blocks are allowed only in {wanted} turns")


def reasoning(state: RecordState, value: Any, role: str, field: str) -> None:
    only_in(role, "assistant", "reasoningContent", field)
    obj = _object(value, field)
    _check_keys(obj, frozenset({"reasoningText"}), field)
    where = f"{field}.reasoningText"
    reasoning = _object(_require(obj, "reasoningText", where), where)
    _check_keys(reasoning, frozenset({"text", "signature"}), where)
    state.extra.append(_text(_require(reasoning, "text", f"{where}.text"), f"{where}.text"))


def _id(obj: Mapping[str, Any], field: str) -> str:
    return _text(_require(obj, "toolUseId", f"{field}.toolUseId"), f"{field}.toolUseId")


def tool_use(state: RecordState, value: Any, role: str, field: str) -> None:
    only_in(role, "assistant", "toolUse", field)
    obj = _object(value, field)
    _check_keys(obj, frozenset({"toolUseId", "name", "input"}), field)
    use_id = _id(obj, field)
    name = _text(_require(obj, "name", f"{field}.name"), f"{field}.name")
    _object(_require(obj, "input", f"{field}.input"), f"{field}.input")
    if state.tool_names is None or name not in state.tool_names:
        known = _keys(state.tool_names) if state.tool_names else "none (no toolConfig)"
        raise _Bad(
            FormatCode.TOOL_USE, f"{field}.name",
            f"tool {json.dumps(name)} is not in toolConfig.tools; tools: {known}",
        )  # fmt: skip
    if use_id in state.tool_uses:
        raise _Bad(FormatCode.TOOL_USE, f"{field}.toolUseId", f"toolUseId {use_id!r} is used twice")
    state.tool_uses.add(use_id)
    state.extra.append(json.dumps(obj, ensure_ascii=False))


def tool_result(state: RecordState, value: Any, role: str, field: str) -> None:
    only_in(role, "user", "toolResult", field)
    obj = _object(value, field)
    _check_keys(obj, frozenset({"toolUseId", "content", "status"}), field)
    use_id = _id(obj, field)
    if use_id not in state.tool_uses or use_id in state.tool_results:
        raise _Bad(
            FormatCode.TOOL_USE, f"{field}.toolUseId",
            f"toolUseId {use_id!r} answers no earlier toolUse (or answers it twice)",
        )  # fmt: skip
    state.tool_results.add(use_id)
    status = obj.get("status")
    if status is not None and status not in ("success", "error"):
        raise _Bad(
            FormatCode.WRONG_TYPE,
            f"{field}.status",
            f"status {json.dumps(status)}; allowed: error, success",
        )
    content = _require(obj, "content", f"{field}.content")
    if type(content) is not list or not content:
        raise _Bad(
            FormatCode.EMPTY_CONTENT,
            f"{field}.content",
            f"{field}.content must be a non-empty list",
        )
    for k, item in enumerate(content):
        where = f"{field}.content[{k}]"
        if type(item) is not dict or len(item) != 1 or not {"text", "json"} >= set(item):
            raise _Bad(
                FormatCode.INVALID_CONTENT_BLOCK,
                where,
                f"{where} must hold exactly one of json, text",
            )
        if "text" in item:
            state.extra.append(_text(item["text"], f"{where}.text"))
        else:
            state.extra.append(
                json.dumps(_object(item["json"], f"{where}.json"), ensure_ascii=False)
            )


def tool_config(value: Any) -> frozenset[str]:
    obj = _object(value, "toolConfig")
    _check_keys(obj, frozenset({"tools", "toolChoice"}), "toolConfig")
    tools = _require(obj, "tools", "toolConfig.tools")
    if type(tools) is not list or not tools:
        raise _Bad(
            FormatCode.EMPTY_CONTENT,
            "toolConfig.tools",
            "toolConfig.tools must be a non-empty list",
        )
    names: set[str] = set()
    for t, tool in enumerate(tools):
        field = f"toolConfig.tools[{t}]"
        _check_keys(_object(tool, field), frozenset({"toolSpec"}), field)
        spec = _object(_require(tool, "toolSpec", f"{field}.toolSpec"), f"{field}.toolSpec")
        field += ".toolSpec"
        _check_keys(spec, frozenset({"name", "description", "inputSchema"}), field)
        name = _text(_require(spec, "name", f"{field}.name"), f"{field}.name")
        _text(_require(spec, "description", f"{field}.description"), f"{field}.description")
        schema = _object(
            _require(spec, "inputSchema", f"{field}.inputSchema"), f"{field}.inputSchema"
        )
        _check_keys(schema, frozenset({"json"}), f"{field}.inputSchema")
        body = _object(
            _require(schema, "json", f"{field}.inputSchema.json"), f"{field}.inputSchema.json"
        )
        if "type" not in body:
            raise _Bad(
                FormatCode.MISSING_FIELD, f"{field}.inputSchema.json.type",
                f"{field}.inputSchema.json needs a JSON Schema 'type'",
            )  # fmt: skip
        if name in names:
            raise _Bad(
                FormatCode.TOOL_USE, f"{field}.name", f"tool {json.dumps(name)} is defined twice"
            )
        names.add(name)
    return frozenset(names)
