"""The Bedrock JSONL dataset formats: detection and one parser into a common `Conversation`.

Every reader of training data (validator, training container, evaluation) goes through this
module, so a record accepted here is read the same way everywhere. The checks are hand-written
dict/type tests rather than pydantic models because the validator runs them once per record on
files of up to 10 GB and must stay close to bare `json.loads` speed.

Formats (user guide, "Prepare your training datasets", model-customization-prepare.html):
  messages                   Claude 3 Haiku   {"system"?, "messages": [{"role", "content": str}]}
  prompt-completion          Llama 3.1, Titan {"prompt": str, "completion": str}
  bedrock-conversation-2024  Converse (Llama 3.2/3.3, Nova, distillation)
  input                      continued pre-training {"input": str}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, BinaryIO, Literal

from bedrock_pipeline.patterns import S3_OBJECT_URI

CONVERSE_SCHEMA_VERSION = "bedrock-conversation-2024"
IMAGE_FORMATS: frozenset[str] = frozenset({"png", "jpeg", "gif", "webp"})
ROLES: frozenset[str] = frozenset({"user", "assistant"})
_S3_URI = re.compile(S3_OBJECT_URI)
_ACCOUNT_ID = re.compile(r"^\d{12}$")


class DatasetFormat(StrEnum):
    MESSAGES = "messages"
    PROMPT_COMPLETION = "prompt-completion"
    CONVERSE = "bedrock-conversation-2024"
    CONTINUED_PRETRAINING = "input"


class FormatCode(StrEnum):
    """Record-level error codes raised by this module (dataset-level ones live in validation)."""

    INVALID_UTF8 = "INVALID_UTF8"
    INVALID_JSON = "INVALID_JSON"
    BLANK_LINE = "BLANK_LINE"
    NOT_AN_OBJECT = "NOT_AN_OBJECT"
    UNKNOWN_FORMAT = "UNKNOWN_FORMAT"
    MISSING_FIELD = "MISSING_FIELD"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    WRONG_TYPE = "WRONG_TYPE"
    EMPTY_CONTENT = "EMPTY_CONTENT"
    INVALID_ROLE = "INVALID_ROLE"
    ROLE_ORDER = "ROLE_ORDER"
    SCHEMA_VERSION = "SCHEMA_VERSION"
    INVALID_CONTENT_BLOCK = "INVALID_CONTENT_BLOCK"
    IMAGE_NOT_ALLOWED = "IMAGE_NOT_ALLOWED"
    IMAGE_FORMAT = "IMAGE_FORMAT"
    IMAGE_URI = "IMAGE_URI"


class FormatError(ValueError):
    """A record (or line) that does not match its format; str() is `PATH:LINE: CODE: message`."""

    def __init__(self, path: str, line: int, code: str, field: str, message: str) -> None:
        self.path = path
        self.line = line
        self.code = code
        self.field = field
        self.message = message
        super().__init__(f"{path}:{line}: {code}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:  # keep picklable (multiprocessing, Lambda errors)
        return (type(self), (self.path, self.line, self.code, self.field, self.message))


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class Conversation:
    system: str | None
    turns: tuple[Turn, ...]  # CPT: a single assistant turn holding `input` (train on all of it)
    has_images: bool = False

    @property
    def reference_answer(self) -> str | None:
        """Text of the last assistant turn (the completion for prompt/completion)."""
        for turn in reversed(self.turns):
            if turn.role == "assistant":
                return turn.text
        return None


class _Bad(Exception):
    """Internal: raised deep in a record, turned into FormatError with path/line by the caller."""

    def __init__(self, code: FormatCode, field: str, message: str) -> None:
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


_ALLOWED_KEYS: dict[DatasetFormat, frozenset[str]] = {
    DatasetFormat.MESSAGES: frozenset({"system", "messages"}),
    DatasetFormat.PROMPT_COMPLETION: frozenset({"prompt", "completion"}),
    DatasetFormat.CONVERSE: frozenset({"schemaVersion", "system", "messages"}),
    DatasetFormat.CONTINUED_PRETRAINING: frozenset({"input"}),
}


def allowed_keys(fmt: DatasetFormat) -> frozenset[str]:
    return _ALLOWED_KEYS[fmt]


def _keys(allowed: frozenset[str]) -> str:
    return ", ".join(sorted(allowed))


def _check_keys(obj: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in obj:
        if key not in allowed:
            field = f"{where}.{key}" if where else key
            raise _Bad(
                FormatCode.UNKNOWN_FIELD,
                field,
                f"unknown field '{field}'; allowed: {_keys(allowed)}",
            )


def _text(value: Any, field: str) -> str:
    if type(value) is not str:
        raise _Bad(FormatCode.WRONG_TYPE, field, f"'{field}' must be a string, got {_tname(value)}")
    if not value or value.isspace():
        raise _Bad(FormatCode.EMPTY_CONTENT, field, f"'{field}' is empty")
    return value


def _tname(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _require(obj: Mapping[str, Any], key: str, field: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise _Bad(FormatCode.MISSING_FIELD, field, f"missing required field '{field}'") from None


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
) -> Conversation:
    """Parse one record of format `fmt` (detected when None) into a Conversation.

    `require_answer=False` accepts a conversation that ends on the user turn: distillation
    prompts, where the teacher writes the answer.
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
        return _PARSERS[fmt](record, require_answer)
    except _Bad as bad:
        raise FormatError(path, line, bad.code, bad.field, bad.message) from None


def _roles_in_order(roles: list[str], require_answer: bool) -> None:
    for i, role in enumerate(roles):
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            raise _Bad(
                FormatCode.ROLE_ORDER,
                f"messages[{i}].role",
                f"messages[{i}] is '{role}' but must be '{expected}': turns start with user "
                "and alternate user/assistant",
            )
    if not roles:
        raise _Bad(FormatCode.EMPTY_CONTENT, "messages", "'messages' is empty")
    if require_answer and roles[-1] != "assistant":
        raise _Bad(
            FormatCode.ROLE_ORDER,
            f"messages[{len(roles) - 1}].role",
            "the last message must be from the assistant",
        )


def _role(message: Mapping[str, Any], i: int) -> str:
    role = _require(message, "role", f"messages[{i}].role")
    if type(role) is not str or role not in ROLES:  # unhashable values must not crash `in`
        raise _Bad(
            FormatCode.INVALID_ROLE,
            f"messages[{i}].role",
            f"messages[{i}].role is {json.dumps(role)}; allowed: assistant, user",
        )
    return str(role)


def _message_list(record: Mapping[str, Any]) -> list[Any]:
    messages = _require(record, "messages", "messages")
    if type(messages) is not list:
        raise _Bad(
            FormatCode.WRONG_TYPE, "messages", f"'messages' must be a list, got {_tname(messages)}"
        )
    return messages


_MESSAGE_KEYS = frozenset({"role", "content"})


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
    _check_keys(record, _ALLOWED_KEYS[DatasetFormat.PROMPT_COMPLETION], "")
    prompt = _text(_require(record, "prompt", "prompt"), "prompt")
    completion = _text(_require(record, "completion", "completion"), "completion")
    return Conversation(None, (Turn("user", prompt), Turn("assistant", completion)))


def _parse_input(record: Mapping[str, Any], require_answer: bool) -> Conversation:
    _check_keys(record, _ALLOWED_KEYS[DatasetFormat.CONTINUED_PRETRAINING], "")
    text = _text(_require(record, "input", "input"), "input")
    return Conversation(None, (Turn("assistant", text),))


_BLOCK_KEYS = frozenset({"text", "image"})
_IMAGE_KEYS = frozenset({"format", "source"})
_S3_LOCATION_KEYS = frozenset({"uri", "bucketOwner"})


def _parse_converse(record: Mapping[str, Any], require_answer: bool) -> Conversation:
    _check_keys(record, _ALLOWED_KEYS[DatasetFormat.CONVERSE], "")
    version = _require(record, "schemaVersion", "schemaVersion")
    if version != CONVERSE_SCHEMA_VERSION:
        raise _Bad(
            FormatCode.SCHEMA_VERSION,
            "schemaVersion",
            f"schemaVersion is {json.dumps(version)}; allowed: {CONVERSE_SCHEMA_VERSION}",
        )
    system = None
    if "system" in record:
        blocks = record["system"]
        if type(blocks) is not list:
            raise _Bad(
                FormatCode.WRONG_TYPE,
                "system",
                f"'system' must be a list of {{\"text\"}}, got {_tname(blocks)}",
            )
        parts = []
        for j, block in enumerate(blocks):
            if type(block) is not dict or "image" in block:
                raise _Bad(
                    FormatCode.INVALID_CONTENT_BLOCK,
                    f"system[{j}]",
                    f'system[{j}] must be {{"text": str}}',
                )
            _check_keys(block, frozenset({"text"}), f"system[{j}]")
            parts.append(_text(_require(block, "text", f"system[{j}].text"), f"system[{j}].text"))
        system = "\n".join(parts) or None
    turns = []
    has_images = False
    for i, message in enumerate(_message_list(record)):
        if type(message) is not dict:
            raise _Bad(FormatCode.WRONG_TYPE, f"messages[{i}]", f"messages[{i}] must be an object")
        _check_keys(message, _MESSAGE_KEYS, f"messages[{i}]")
        role = _role(message, i)
        content = _require(message, "content", f"messages[{i}].content")
        if type(content) is not list:
            raise _Bad(
                FormatCode.WRONG_TYPE,
                f"messages[{i}].content",
                f"messages[{i}].content must be a list of content blocks, got {_tname(content)}",
            )
        if not content:
            raise _Bad(
                FormatCode.EMPTY_CONTENT,
                f"messages[{i}].content",
                f"messages[{i}].content is empty",
            )
        texts = []
        for j, block in enumerate(content):
            field = f"messages[{i}].content[{j}]"
            if type(block) is not dict or len(block) != 1:
                raise _Bad(
                    FormatCode.INVALID_CONTENT_BLOCK,
                    field,
                    f"{field} must hold exactly one of 'text' or 'image'",
                )
            if "text" in block:
                texts.append(_text(block["text"], f"{field}.text"))
            elif "image" in block:
                if role != "user":
                    raise _Bad(
                        FormatCode.IMAGE_NOT_ALLOWED,
                        f"{field}.image",
                        f"{field}: images are allowed only in user turns",
                    )
                _check_image(block["image"], f"{field}.image")
                has_images = True
            else:
                _check_keys(block, _BLOCK_KEYS, field)
        turns.append(Turn(role, "\n".join(texts)))  # type: ignore[arg-type]
    _roles_in_order([t.role for t in turns], require_answer)
    return Conversation(system, tuple(turns), has_images)


def _check_image(image: Any, field: str) -> None:
    if type(image) is not dict:
        raise _Bad(FormatCode.WRONG_TYPE, field, f"'{field}' must be an object")
    _check_keys(image, _IMAGE_KEYS, field)
    fmt = _require(image, "format", f"{field}.format")
    if type(fmt) is not str or fmt not in IMAGE_FORMATS:
        raise _Bad(
            FormatCode.IMAGE_FORMAT,
            f"{field}.format",
            f"image format {json.dumps(fmt)}; allowed: {_keys(IMAGE_FORMATS)}",
        )
    source = _require(image, "source", f"{field}.source")
    if type(source) is not dict:
        raise _Bad(FormatCode.WRONG_TYPE, f"{field}.source", f"'{field}.source' must be an object")
    _check_keys(source, frozenset({"s3Location"}), f"{field}.source")
    location = _require(source, "s3Location", f"{field}.source.s3Location")
    where = f"{field}.source.s3Location"
    if type(location) is not dict:
        raise _Bad(FormatCode.WRONG_TYPE, where, f"'{where}' must be an object")
    _check_keys(location, _S3_LOCATION_KEYS, where)
    uri = _require(location, "uri", f"{where}.uri")
    if type(uri) is not str or not _S3_URI.match(uri):
        raise _Bad(
            FormatCode.IMAGE_URI,
            f"{where}.uri",
            f"image uri {json.dumps(uri)} is not s3://BUCKET/KEY with a valid bucket name",
        )
    owner = location.get("bucketOwner")
    if owner is not None and (type(owner) is not str or not _ACCOUNT_ID.match(owner)):
        raise _Bad(
            FormatCode.IMAGE_URI,
            f"{where}.bucketOwner",
            f"bucketOwner {json.dumps(owner)} must be a 12-digit account id",
        )


_PARSERS = {
    DatasetFormat.MESSAGES: _parse_messages,
    DatasetFormat.PROMPT_COMPLETION: _parse_prompt_completion,
    DatasetFormat.CONVERSE: _parse_converse,
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
