"""A held-out test set as the evaluation sees it: prompt turns and the reference answer.

Records are read through ``bedrock_pipeline.formats`` (any supported dataset format). The reference
answer is the last assistant turn; everything before it is what the model is asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from bedrock_pipeline.formats import Conversation, FormatError, Turn, iter_jsonl, to_conversation

NO_PROMPT = "NO_PROMPT"


@dataclass(frozen=True)
class EvalRecord:
    index: int  # 0-based position in the test set; the key of every result
    line: int  # 1-based line in the file, for messages
    conversation: Conversation

    @property
    def prompt_turns(self) -> tuple[Turn, ...]:
        return self.conversation.turns[:-1]

    @property
    def reference(self) -> str:
        return self.conversation.turns[-1].text

    @property
    def question(self) -> str:
        return self.prompt_turns[-1].text


def iter_eval_records(
    stream: BinaryIO, path: str, limit: int | None = None
) -> Iterator[EvalRecord]:
    """Parse a test (or few-shot) JSONL; raises FormatError naming path and line.

    A record needs at least one user turn before its final assistant turn: continued
    pre-training records (``{"input"}``) hold no question, so they cannot be evaluated.
    """
    if limit is not None and limit <= 0:
        return
    for index, (line, obj) in enumerate(iter_jsonl(stream, path)):
        conversation = to_conversation(obj, path=path, line=line)
        if len(conversation.turns) < 2:
            raise FormatError(
                path,
                line,
                NO_PROMPT,
                "",
                "record has no user turn before its answer (continued pre-training data?); "
                "evaluation needs prompt/completion, messages or Converse records",
            )
        yield EvalRecord(index, line, conversation)
        # Stop before reading the next line: a line past the limit is not ours to judge.
        if limit is not None and index + 1 >= limit:
            return


def load_eval_records(stream: BinaryIO, path: str) -> list[EvalRecord]:
    records = list(iter_eval_records(stream, path))
    if not records:
        raise FormatError(path, 1, "EMPTY_FILE", "", "the test set holds no records")
    return records
