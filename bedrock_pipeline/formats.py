"""The Bedrock JSONL dataset formats: detection and one parser into a common `Conversation`.

Every reader of training data (validator, training container, evaluation) goes through this
module, so a record accepted here is read the same way everywhere. The checks are hand-written
dict/type tests rather than pydantic models because the validator runs them once per record on
files of up to 10 GB and must stay close to bare `json.loads` speed.

Formats (user guide, "Prepare your training datasets", model-customization-prepare.html):
  messages                   Claude 3 Haiku   {"system"?, "messages": [{"role", "content": str}]}
  prompt-completion          Llama 3.1, Titan {"prompt": str, "completion": str}
  bedrock-conversation-2024  Converse (Llama 3.2/3.3, Nova, Nova 2, distillation): parsed by
                             bedrock_pipeline.converse under the model's ConverseDialect
  input                      continued pre-training {"input": str}

docs/validation.md lists every format, dialect and limit with its source page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, BinaryIO

from bedrock_pipeline.converse import (
    DEFAULT_DIALECT,
    IMAGE_FORMATS,
    ConverseDialect,
    parse_converse,
)
from bedrock_pipeline.format_base import (
    _MESSAGE_KEYS,
    CONVERSE_SCHEMA_VERSION,
    ROLES,
    Conversation,
    FormatCode,
    FormatError,
    ImageRef,
    Turn,
    _Bad,
    _check_keys,
    _message_list,
    _require,
    _role,
    _roles_in_order,
    _text,
    _tname,
)

__all__ = [
    "CONVERSE_SCHEMA_VERSION",
    "DEFAULT_DIALECT",
    "IMAGE_FORMATS",
    "ROLES",
    "Conversation",
    "ConverseDialect",
    "DatasetFormat",
    "FormatCode",
    "FormatError",
    "ImageRef",
    "Turn",
    "allowed_keys",
    "detect_format",
    "iter_jsonl",
    "parse_line",
    "to_conversation",
]


class DatasetFormat(StrEnum):
    MESSAGES = "messages"
    PROMPT_COMPLETION = "prompt-completion"
    CONVERSE = "bedrock-conversation-2024"
    CONTINUED_PRETRAINING = "input"


_ALLOWED_KEYS: dict[DatasetFormat, frozenset[str]] = {
    DatasetFormat.MESSAGES: frozenset({"system", "messages"}),
    DatasetFormat.PROMPT_COMPLETION: frozenset({"prompt", "completion"}),
    DatasetFormat.CONVERSE: frozenset({"schemaVersion", "system", "messages"}),
    DatasetFormat.CONTINUED_PRETRAINING: frozenset({"input"}),
}


def allowed_keys(fmt: DatasetFormat) -> frozenset[str]:
    return _ALLOWED_KEYS[fmt]


def detect_format(record: Mapping[str, Any]) -> DatasetFormat:
    """Which format a record is written in, judged from its top-level keys."""
    try:
        return _detect(record)
    except _Bad as bad:
        raise FormatError("<record>", 0, bad.code, bad.field, bad.message) from None


def _detect(record: Any) -> DatasetFormat:
    if not isinstance(record, Mapping):
        raise _Bad(
            FormatCode.NOT_AN_OBJECT, "", f"a record must be a JSON object, got {_tname(record)}"
        )
    if "schemaVersion" in record:
        return DatasetFormat.CONVERSE
    if "messages" in record:
        messages = record["messages"]
        # Converse content is a list of blocks; the Haiku format's content is a plain string.
        first = messages[0] if isinstance(messages, list) and messages else None
        if isinstance(first, dict) and isinstance(first.get("content"), list):
            return DatasetFormat.CONVERSE
        return DatasetFormat.MESSAGES
    if "prompt" in record or "completion" in record:
        return DatasetFormat.PROMPT_COMPLETION
    if "input" in record:
        return DatasetFormat.CONTINUED_PRETRAINING
    keys = ", ".join(sorted(record)) or "none"
    raise _Bad(
        FormatCode.UNKNOWN_FORMAT,
        "",
        f"record matches no dataset format (keys: {keys}); expected 'messages' (+'system'), "
        "'prompt'+'completion', 'schemaVersion'+'messages' (Converse) or 'input'",
    )


def to_conversation(
    record: Mapping[str, Any],
    fmt: DatasetFormat | None = None,
    *,
    require_answer: bool = True,
    path: str = "<record>",
    line: int = 0,
    dialect: ConverseDialect = DEFAULT_DIALECT,
) -> Conversation:
    """Parse one record of format `fmt` (detected when None) into a Conversation.

    `require_answer=False` accepts a conversation that ends on the user turn: distillation
    prompts, where the teacher writes the answer. `dialect` is what the model reads of the
    Converse format (blocks, media, schema versions; `registry` rows name theirs); the
    default takes text and images. Raises FormatError naming path, line and field.
    """
    try:
        if fmt is None:
            fmt = _detect(record)
        elif not isinstance(record, Mapping):
            raise _Bad(
                FormatCode.NOT_AN_OBJECT,
                "",
                f"a record must be a JSON object, got {_tname(record)}",
            )
        if fmt is DatasetFormat.CONVERSE:
            return parse_converse(record, require_answer, dialect)
        return _PARSERS[fmt](record, require_answer)
    except _Bad as bad:
        raise FormatError(path, line, bad.code, bad.field, bad.message) from None


def _parse_messages(record: Mapping[str, Any], require_answer: bool) -> Conversation:
    _check_keys(record, _ALLOWED_KEYS[DatasetFormat.MESSAGES], "")
    system = record.get("system")
    if system is not None and type(system) is not str:
        raise _Bad(
            FormatCode.WRONG_TYPE, "system", f"'system' must be a string, got {_tname(system)}"
        )
    turns = []
    for i, message in enumerate(_message_list(record)):
        if type(message) is not dict:
            raise _Bad(FormatCode.WRONG_TYPE, f"messages[{i}]", f"messages[{i}] must be an object")
        _check_keys(message, _MESSAGE_KEYS, f"messages[{i}]")
        role = _role(message, i)
        text = _text(
            _require(message, "content", f"messages[{i}].content"), f"messages[{i}].content"
        )
        turns.append(Turn(role, text))  # type: ignore[arg-type]
    _roles_in_order([t.role for t in turns], require_answer)
    return Conversation(system or None, tuple(turns))


def _parse_prompt_completion(record: Mapping[str, Any], require_answer: bool) -> Conversation:
    # Other top-level keys (an "id", a label) are kept out of training, not refused: AWS's
    # Llama validator allows them (additionalProperties) and no guide page forbids them.
    allowed = _ALLOWED_KEYS[DatasetFormat.PROMPT_COMPLETION]
    ignored = tuple(str(k) for k in record if k not in allowed)
    prompt = _text(_require(record, "prompt", "prompt"), "prompt")
    completion = _text(_require(record, "completion", "completion"), "completion")
    turns = (Turn("user", prompt), Turn("assistant", completion))
    return Conversation(None, turns, ignored_fields=ignored)


def _parse_input(record: Mapping[str, Any], require_answer: bool) -> Conversation:
    _check_keys(record, _ALLOWED_KEYS[DatasetFormat.CONTINUED_PRETRAINING], "")
    text = _text(_require(record, "input", "input"), "input")
    return Conversation(None, (Turn("assistant", text),))


_PARSERS: dict[DatasetFormat, Any] = {
    DatasetFormat.MESSAGES: _parse_messages,
    DatasetFormat.PROMPT_COMPLETION: _parse_prompt_completion,
    DatasetFormat.CONTINUED_PRETRAINING: _parse_input,
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for the whole process: json.loads(**kw) would build a new one per line.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# Its C scanner, called directly for the common line that starts with its value and ends with
# at most a newline (set by JSONDecoder.__init__, not in the stubs); anything else goes
# through `decode` for the exact error.
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]


def parse_line(raw: bytes, path: str, line: int) -> Any:
    """Decode one JSONL line (strict UTF-8, strict JSON); raises FormatError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            path,
            line,
            FormatCode.INVALID_UTF8,
            "",
            f"invalid UTF-8 at byte {exc.start}: {raw[exc.start : exc.start + 4]!r}",
        ) from None
    try:
        value, end = _SCAN(text, 0)
        if end == len(text) or not text[end:].strip():
            return value
    except (StopIteration, ValueError):
        pass
    try:
        return _DECODER.decode(text)
    except ValueError as exc:
        if not text.strip():
            raise FormatError(
                path, line, FormatCode.BLANK_LINE, "", "blank line; JSONL needs one record per line"
            ) from None
        if text.startswith("\ufeff"):
            raise FormatError(
                path,
                line,
                FormatCode.INVALID_JSON,
                "",
                "file starts with a UTF-8 byte-order mark; save it without BOM",
            ) from None
        raise FormatError(path, line, FormatCode.INVALID_JSON, "", f"invalid JSON: {exc}") from None


def iter_jsonl(stream: BinaryIO, path: str) -> Iterator[tuple[int, Any]]:
    """Yield (1-based line, parsed JSON) for each line; raises FormatError on the first bad one.

    A final newline is not a blank line. Readers that must continue past errors (the validator)
    call `parse_line` themselves.
    """
    for number, raw in enumerate(stream, start=1):
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        yield number, parse_line(raw, path, number)
