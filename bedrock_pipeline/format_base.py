"""What every dataset format shares: error codes, the error type, the parsed `Conversation`
and the small checks the format parsers are built from. `bedrock_pipeline.formats` re-exports
the public names; import them from there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

CONVERSE_SCHEMA_VERSION = "bedrock-conversation-2024"
ROLES: frozenset[str] = frozenset({"user", "assistant"})


class FormatCode(StrEnum):
    """Record-level error codes raised by the parsers (dataset-level ones live in validation)."""

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
    # Converse blocks beyond text and image (video, document, reasoning, tools)
    BLOCK_NOT_ALLOWED = "BLOCK_NOT_ALLOWED"
    MEDIA_NOT_SUPPORTED = "MEDIA_NOT_SUPPORTED"
    MEDIA_FORMAT = "MEDIA_FORMAT"
    MEDIA_URI = "MEDIA_URI"
    MEDIA_LIMIT = "MEDIA_LIMIT"
    TOOL_USE = "TOOL_USE"


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
class ImageRef:
    """An ``image`` block of a Converse user turn: its declared format and its S3 object."""

    format: str  # png | jpeg | gif | webp (converse.IMAGE_FORMATS)
    uri: str  # s3://BUCKET/KEY
    bucket_owner: str | None = None


@dataclass(frozen=True)
class Turn:
    """One turn. ``text`` joins its text blocks; ``content`` holds, only for a turn with
    images, its text blocks (str) and images in record order, as a model is sent them."""

    role: Literal["user", "assistant"]
    text: str
    content: tuple[str | ImageRef, ...] = ()

    @property
    def images(self) -> tuple[ImageRef, ...]:
        return tuple(part for part in self.content if isinstance(part, ImageRef))


@dataclass(frozen=True)
class Conversation:
    """One parsed record.

    `has_images` is true for any media block (image, video or document): readers that take
    text only refuse such records. `media` names the kinds present. `extra_texts` are texts the
    model reads or writes besides the turns and the system prompt (reasoning, tool
    configuration, tool calls and results, as JSON), counted for the token estimate.
    `ignored_fields` are top-level keys the format tolerates but Bedrock does not read.
    """

    system: str | None
    turns: tuple[Turn, ...]  # CPT: a single assistant turn holding `input` (train on all of it)
    has_images: bool = False
    media: frozenset[str] = frozenset()
    extra_texts: tuple[str, ...] = ()
    ignored_fields: tuple[str, ...] = ()
    uses_tools: bool = False

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


def _tname(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _text(value: Any, field: str) -> str:
    if type(value) is not str:
        raise _Bad(FormatCode.WRONG_TYPE, field, f"'{field}' must be a string, got {_tname(value)}")
    if not value or value.isspace():
        raise _Bad(FormatCode.EMPTY_CONTENT, field, f"'{field}' is empty")
    return value


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if type(value) is not dict:
        raise _Bad(
            FormatCode.WRONG_TYPE, field, f"'{field}' must be an object, got {_tname(value)}"
        )
    return value


def _require(obj: Mapping[str, Any], key: str, field: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise _Bad(FormatCode.MISSING_FIELD, field, f"missing required field '{field}'") from None


_MESSAGE_KEYS = frozenset({"role", "content"})


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
