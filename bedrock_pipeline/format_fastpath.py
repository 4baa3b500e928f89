"""Happy-path accelerator for the validator: the texts of a well-formed, text-only record.

`formats.to_conversation` builds Turn/Conversation objects and names the exact field of any
fault; on 10 GB files that costs more than `json.loads` itself. `record_texts` only answers
"is this a plain, valid record, and what are its texts?" with the fewest Python operations, and
returns None for anything else (images, any fault, anything unusual), in which case the caller
runs `to_conversation` for the authoritative verdict and message. So this is not a second
parser: it can only say "valid" where `to_conversation` says valid too, and yields the same
texts (tests/validation/test_properties.py checks both on random and mutated records).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

from bedrock_pipeline.formats import CONVERSE_SCHEMA_VERSION, DEFAULT_DIALECT, DatasetFormat
from bedrock_pipeline.formats import ConverseDialect as Dialect

_MESSAGES_KEYS = frozenset({"system", "messages"})
_CONVERSE_KEYS = frozenset({"schemaVersion", "system", "messages"})


def _ok(text: Any) -> TypeGuard[str]:
    return type(text) is str and text != "" and not text.isspace()


def _turns(
    messages: Any, require_answer: bool, text_of: Callable[[Any], str | None]
) -> list[str] | None:
    """The texts of strictly alternating user/assistant turns (each message exactly ``role`` and
    ``content``, ``text_of`` reading the content), or None for anything the full parser must
    judge; ``require_answer``: the last turn must be the assistant's."""
    if type(messages) is not list or not messages:
        return None
    texts = []
    expected = "user"
    for message in messages:
        if type(message) is not dict or len(message) != 2 or message.get("role") != expected:
            return None
        text = text_of(message.get("content"))
        if text is None:
            return None
        texts.append(text)
        expected = "assistant" if expected == "user" else "user"
    if require_answer and expected == "assistant":  # last turn was the user's
        return None
    return texts


def _messages(record: dict[str, Any], require_answer: bool) -> list[str] | None:
    if not _MESSAGES_KEYS.issuperset(record):
        return None
    texts = _turns(record.get("messages"), require_answer, lambda c: c if _ok(c) else None)
    if texts is None:
        return None
    system = record.get("system")
    if system is not None:
        if type(system) is not str:
            return None
        if system:
            texts.append(system)
    return texts


def _block_text(blocks: Any, most: int | None) -> str | None:
    if type(blocks) is not list or not blocks or (most is not None and len(blocks) > most):
        return None
    parts = []
    for block in blocks:
        if type(block) is not dict or len(block) != 1:
            return None
        text = block.get("text")
        if not _ok(text):
            return None  # an image, or a fault: the full parser decides
        parts.append(text)
    return parts[0] if len(parts) == 1 else "\n".join(parts)


def _converse(record: dict[str, Any], require_answer: bool, dialect: Dialect) -> list[str] | None:
    if (
        not _CONVERSE_KEYS.issuperset(record)
        or record.get("schemaVersion") != CONVERSE_SCHEMA_VERSION
    ):
        return None
    most = dialect.max_blocks_per_message
    texts = _turns(record.get("messages"), require_answer, lambda c: _block_text(c, most))
    if texts is None:
        return None
    if "system" in record:
        system = _block_text(record["system"], dialect.max_system_blocks)
        if system is None:
            return None
        texts.append(system)
    return texts


def record_texts(
    record: Any, fmt: DatasetFormat, require_answer: bool, dialect: Dialect = DEFAULT_DIALECT
) -> tuple[list[str], int] | None:
    """(texts in turn order with the system prompt last, number of turns), or None: unsure."""
    if type(record) is not dict:
        return None
    if fmt is DatasetFormat.PROMPT_COMPLETION:
        prompt, completion = record.get("prompt"), record.get("completion")
        if len(record) == 2 and _ok(prompt) and _ok(completion):
            return [prompt, completion], 2
        return None
    if fmt is DatasetFormat.CONTINUED_PRETRAINING:
        text = record.get("input")
        return ([text], 1) if len(record) == 1 and _ok(text) else None
    if fmt is DatasetFormat.MESSAGES:
        texts = _messages(record, require_answer)
    else:
        texts = _converse(record, require_answer, dialect)
    if texts is None:
        return None
    turns = len(record["messages"])
    return texts, turns
