"""The Converse dataset format (`bedrock-conversation-2024`) and its per-model dialects.

One parser reads every Converse record; a `ConverseDialect` (a registry row's choice) says
which content blocks, media formats and counts the model takes, so a block the model does not
take fails here with its exact field. Block shapes follow the Converse API
(API_runtime_ContentBlock.html): `text`, `image`, `video`, `document`, `reasoningContent`
(`reasoningText.text`), `toolUse` (`toolUseId`, `name`, `input`), `toolResult` (`toolUseId`,
`content` of `text`/`json` blocks), plus the record's top-level `toolConfig`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bedrock_pipeline.converse_tools import (
    RecordState,
    only_in,
    reasoning,
    tool_config,
    tool_result,
    tool_use,
)
from bedrock_pipeline.format_base import (
    _MESSAGE_KEYS,
    CONVERSE_SCHEMA_VERSION,
    Conversation,
    FormatCode,
    ImageRef,
    Turn,
    _Bad,
    _check_keys,
    _keys,
    _message_list,
    _object,
    _require,
    _role,
    _roles_in_order,
    _text,
    _tname,
)
from bedrock_pipeline.patterns import S3_OBJECT_URI

IMAGE_FORMATS: frozenset[str] = frozenset({"png", "jpeg", "gif", "webp"})
MEDIA_KINDS = ("image", "video", "document")
_S3_URI = re.compile(S3_OBJECT_URI)
# Nova: after s3:// only letters, digits, '_', '-', '/' and '.' (Python's \w, so letters of
# any script), as AWS's Nova dataset validator checks (is_valid_path).
_NOVA_PATH = re.compile(r"^[\w\-/.]+$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_S3_LOCATION_KEYS = frozenset({"uri", "bucketOwner"})


@dataclass(frozen=True)
class ConverseDialect:
    """What one model reads of the Converse format. None: no documented limit.

    `schema_versions` None accepts any non-empty string (Nova: "schemaVersion can be any
    string value"). `media` are the media block kinds the model takes (user turns only).
    """

    source: str
    schema_versions: frozenset[str] | None = frozenset({CONVERSE_SCHEMA_VERSION})
    media: frozenset[str] = frozenset()
    image_formats: frozenset[str] = IMAGE_FORMATS
    video_formats: frozenset[str] = frozenset()
    document_formats: frozenset[str] = frozenset()
    max_images_per_turn: int | None = None
    max_videos_per_record: int | None = None
    max_documents_per_record: int | None = None
    video_alone: bool = False  # no image or document in a record that holds a video
    nova_uri: bool = False  # media URIs limited to letters, digits, _ - / .
    reasoning: bool = False
    tools: bool = False
    max_system_blocks: int | None = None
    max_blocks_per_message: int | None = None

    @property
    def block_kinds(self) -> frozenset[str]:
        kinds = {"text", *self.media}
        if self.reasoning:
            kinds.add("reasoningContent")
        if self.tools:
            kinds |= {"toolUse", "toolResult"}
        return frozenset(kinds)


# Text and images (png/jpeg/gif/webp), exact schema version: the readers outside the validator.
DEFAULT_DIALECT = ConverseDialect("model-customization-prepare.html", media=frozenset({"image"}))
_ALL_BLOCKS = frozenset(
    {"text", "image", "video", "document", "reasoningContent", "toolUse", "toolResult"}
)


def parse_converse(
    record: Mapping[str, Any], require_answer: bool, dialect: ConverseDialect = DEFAULT_DIALECT
) -> Conversation:
    allowed = {"schemaVersion", "system", "messages"}
    if "toolConfig" in record and not dialect.tools:
        raise _Bad(
            FormatCode.BLOCK_NOT_ALLOWED, "toolConfig", "toolConfig: this model takes no tool use"
        )
    if dialect.tools:
        allowed.add("toolConfig")
    _check_keys(record, frozenset(allowed), "")
    _schema_version(_require(record, "schemaVersion", "schemaVersion"), dialect)
    state = RecordState(dialect)
    if "toolConfig" in record:
        state.tool_names = tool_config(record["toolConfig"])
        state.extra.append(json.dumps(record["toolConfig"], ensure_ascii=False))
    system = _system(record["system"], dialect) if "system" in record else None
    turns = []
    for i, message in enumerate(_message_list(record)):
        if type(message) is not dict:
            raise _Bad(FormatCode.WRONG_TYPE, f"messages[{i}]", f"messages[{i}] must be an object")
        _check_keys(message, _MESSAGE_KEYS, f"messages[{i}]")
        role = _role(message, i)
        content = _require(message, "content", f"messages[{i}].content")
        where = f"messages[{i}].content"
        if type(content) is not list:
            raise _Bad(
                FormatCode.WRONG_TYPE,
                where,
                f"{where} must be a list of content blocks, got {_tname(content)}",
            )
        if not content:
            raise _Bad(FormatCode.EMPTY_CONTENT, where, f"{where} is empty")
        most = dialect.max_blocks_per_message
        if most is not None and len(content) > most:
            raise _Bad(
                FormatCode.INVALID_CONTENT_BLOCK, where, f"{where} holds {len(content)} blocks; "
                f"this customization takes {most} text block per message",
            )  # fmt: skip
        texts: list[str] = []
        parts: list[str | ImageRef] = []
        images = 0
        for j, block in enumerate(content):
            kind = _block_kind(block, f"{where}[{j}]", dialect)
            if kind == "text":
                texts.append(_text(block["text"], f"{where}[{j}].text"))
                parts.append(texts[-1])
                continue
            _BLOCKS[kind](state, block[kind], role, f"{where}[{j}].{kind}")
            if kind == "image":
                images += 1
                image = block["image"]
                location = image["source"]["s3Location"]
                parts.append(
                    ImageRef(image["format"], location["uri"], location.get("bucketOwner"))
                )
            most_images = dialect.max_images_per_turn
            if kind == "image" and most_images is not None and images > most_images:
                message = f"{images} images in messages[{i}]; at most {most_images} per turn"
                raise _Bad(FormatCode.MEDIA_LIMIT, f"{where}[{j}].image", message)
        # The blocks are kept, in order, only where a model needs more than the text.
        blocks = tuple(parts) if images else ()
        turns.append(Turn(role, "\n".join(texts), blocks))  # type: ignore[arg-type]
    _roles_in_order([t.role for t in turns], require_answer)
    media = frozenset(state.media)
    return Conversation(
        system,
        tuple(turns),
        has_images=bool(media),
        media=media,
        extra_texts=tuple(state.extra),
        uses_tools=state.tool_names is not None or bool(state.tool_uses),
    )


def _schema_version(version: Any, dialect: ConverseDialect) -> None:
    allowed = dialect.schema_versions
    if allowed is None:
        if type(version) is not str or not version:
            raise _Bad(
                FormatCode.SCHEMA_VERSION,
                "schemaVersion",
                f"schemaVersion is {json.dumps(version)}; any non-empty string is allowed",
            )
    elif type(version) is not str or version not in allowed:
        raise _Bad(
            FormatCode.SCHEMA_VERSION,
            "schemaVersion",
            f"schemaVersion is {json.dumps(version)}; allowed: {_keys(allowed)}",
        )


def _system(blocks: Any, dialect: ConverseDialect) -> str | None:
    if type(blocks) is not list:
        raise _Bad(
            FormatCode.WRONG_TYPE, "system", f"'system' must be a list of {{\"text\"}}, got "
            f"{_tname(blocks)}",
        )  # fmt: skip
    most = dialect.max_system_blocks
    if most is not None and len(blocks) > most:
        raise _Bad(
            FormatCode.INVALID_CONTENT_BLOCK, "system",
            f"'system' holds {len(blocks)} blocks; this model takes {most}",
        )  # fmt: skip
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
    return "\n".join(parts) or None


def _block_kind(block: Any, field: str, dialect: ConverseDialect) -> str:
    kinds = dialect.block_kinds
    if type(block) is not dict or len(block) != 1:
        raise _Bad(
            FormatCode.INVALID_CONTENT_BLOCK,
            field,
            f"{field} must hold exactly one of {', '.join(sorted(kinds))}",
        )
    (kind,) = block
    if kind in kinds:
        return str(kind)
    if kind in MEDIA_KINDS:
        raise _Bad(
            FormatCode.MEDIA_NOT_SUPPORTED,
            f"{field}.{kind}",
            f"{field}: this model takes no {kind} blocks; media it takes: "
            f"{', '.join(sorted(dialect.media)) or 'none (text only)'}",
        )
    if kind in _ALL_BLOCKS:
        raise _Bad(
            FormatCode.BLOCK_NOT_ALLOWED,
            f"{field}.{kind}",
            f"{field}: this model takes no {kind} blocks; blocks it takes: {_keys(kinds)}",
        )
    _check_keys(block, kinds, field)
    raise AssertionError("unreachable")  # pragma: no cover


def _media(state: RecordState, value: Any, role: str, field: str, kind: str) -> None:
    dialect = state.dialect
    only_in(role, "user", kind, field)
    obj = _object(value, field)
    allowed_keys = {"format", "source"} | ({"name"} if kind == "document" else set())
    _check_keys(obj, frozenset(allowed_keys), field)
    formats = {
        "image": dialect.image_formats,
        "video": dialect.video_formats,
        "document": dialect.document_formats,
    }[kind]
    fmt = _require(obj, "format", f"{field}.format")
    if type(fmt) is not str or fmt not in formats:
        code = FormatCode.IMAGE_FORMAT if kind == "image" else FormatCode.MEDIA_FORMAT
        raise _Bad(
            code, f"{field}.format", f"{kind} format {json.dumps(fmt)}; allowed: {_keys(formats)}"
        )
    source = _object(_require(obj, "source", f"{field}.source"), f"{field}.source")
    _check_keys(source, frozenset({"s3Location"}), f"{field}.source")
    where = f"{field}.source.s3Location"
    location = _object(_require(source, "s3Location", where), where)
    _check_location(location, where, kind, dialect.nova_uri)
    state.media[kind] = count = state.media.get(kind, 0) + 1
    most = {"video": dialect.max_videos_per_record, "document": dialect.max_documents_per_record}
    limit = most.get(kind)
    if limit is not None and count > limit:
        raise _Bad(FormatCode.MEDIA_LIMIT, field, f"{count} {kind}s in one record; at most {limit}")
    if dialect.video_alone and "video" in state.media and len(state.media) > 1:
        raise _Bad(
            FormatCode.MEDIA_LIMIT, field,
            f"{field}: a record with a video holds no images or documents",
        )  # fmt: skip


def _check_location(location: Mapping[str, Any], where: str, kind: str, nova_uri: bool) -> None:
    code = FormatCode.IMAGE_URI if kind == "image" else FormatCode.MEDIA_URI
    _check_keys(location, _S3_LOCATION_KEYS, where)
    uri = _require(location, "uri", f"{where}.uri")
    if type(uri) is not str or not _S3_URI.match(uri):
        raise _Bad(
            code,
            f"{where}.uri",
            f"{kind} uri {json.dumps(uri)} is not s3://BUCKET/KEY with a valid bucket name",
        )
    if nova_uri and not _NOVA_PATH.match(uri[5:]):
        raise _Bad(
            code,
            f"{where}.uri",
            f"{kind} uri {json.dumps(uri)}: only letters, digits, '_', '-', '/' and '.' are "
            "allowed after s3://",
        )
    owner = location.get("bucketOwner")
    if "bucketOwner" in location and (type(owner) is not str or not _ACCOUNT_ID.match(owner)):
        raise _Bad(
            code,
            f"{where}.bucketOwner",
            f"bucketOwner {json.dumps(owner)} must be a 12-digit account id",
        )


_BLOCKS = {
    "image": lambda s, v, r, f: _media(s, v, r, f, "image"),
    "video": lambda s, v, r, f: _media(s, v, r, f, "video"),
    "document": lambda s, v, r, f: _media(s, v, r, f, "document"),
    "reasoningContent": reasoning,
    "toolUse": tool_use,
    "toolResult": tool_result,
}
