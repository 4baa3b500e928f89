"""Read a SageMaker data channel (JSONL files in any Bedrock format) into tokenized examples.

Parsing is `bedrock_pipeline.formats` only: the container accepts exactly what the dataset
validator accepts and reports errors the same way (PATH:LINE: CODE: message).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bedrock_pipeline.formats import (
    Conversation,
    DatasetFormat,
    FormatError,
    detect_format,
    iter_jsonl,
    to_conversation,
)
from bedrock_pipeline.training_contract import ENV_SOURCE_PREFIX
from training_image.trainer.chat import IGNORE, Example, encode
from training_image.trainer.sagemaker import channel_dir

DATA_SUFFIXES = (".jsonl",)


class DataError(ValueError):
    """The channel cannot be trained on; names the file (and line) and what is expected."""


@dataclass(frozen=True)
class ChannelData:
    examples: tuple[Example, ...]
    fmt: DatasetFormat
    records: int
    truncated: int  # chat records cut at maxSequenceLength
    split: int  # pre-training records split into several maxSequenceLength pieces

    def require_examples(self, directory: Path) -> None:
        if not self.examples:
            raise DataError(f"{directory}: the channel holds no record with tokens to train on")

    @property
    def label_tokens(self) -> int:
        return sum(sum(1 for x in e.labels if x != IGNORE) for e in self.examples)


def source_name(path: Path) -> str:
    """What errors call a channel file: its S3 object when the job names the channel's source
    (``TRAINER_SOURCE_<CHANNEL>``; SageMaker copies an object to ``<channel>/<its file name>``
    and a prefix's objects to their paths under it), else the path in the job. The channel's
    folder is ``sagemaker.channel_dir``'s."""
    for variable, uri in os.environ.items():
        if not variable.startswith(ENV_SOURCE_PREFIX) or not uri.startswith("s3://"):
            continue
        root = channel_dir(variable.removeprefix(ENV_SOURCE_PREFIX).lower())
        if not path.is_relative_to(root):
            continue
        relative = path.relative_to(root).as_posix()
        if uri.endswith("/"):
            return uri + relative
        folder, _, file_name = uri.rpartition("/")
        return uri if relative == file_name else f"{folder}/{relative}"
    return str(path)


def channel_files(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
    if not files:
        raise DataError(f"{directory}: no {'/'.join(DATA_SUFFIXES)} files in the data channel")
    return files


def _kind(fmt: DatasetFormat, prompt_completion: str) -> Literal["chat", "raw", "pretrain"]:
    if fmt is DatasetFormat.CONTINUED_PRETRAINING:
        return "pretrain"
    if fmt is DatasetFormat.PROMPT_COMPLETION and prompt_completion == "raw":
        return "raw"
    return "chat"


def _fit(example: Example, max_len: int, kind: str) -> tuple[list[Example], bool]:
    """Cut an example to max_len: pre-training text is split into pieces, a chat is truncated."""
    if len(example.input_ids) <= max_len:
        return [example], False
    if kind != "pretrain":
        cut = Example(example.input_ids[:max_len], example.labels[:max_len])
        return [cut], True
    pieces = []
    for start in range(0, len(example.input_ids), max_len):
        ids = example.input_ids[start : start + max_len]
        labels = (IGNORE, *example.labels[start + 1 : start + max_len])
        if len(ids) > 1:
            pieces.append(Example(ids, labels))
    return pieces, True


def load_channel(
    directory: Path,
    tokenizer: Any,
    max_len: int,
    prompt_completion: str = "chat",
    share: tuple[int, int] = (0, 1),
) -> ChannelData:
    """Tokenize the records of every JSONL file in the channel. One format per channel.

    `share` (k, n): tokenize only records whose index is k modulo n (the rest are only counted),
    so n ranks split the work; `merge_shares` puts the n results back together in file order.
    """
    shard, shards = share
    examples: list[Example] = []
    fmt: DatasetFormat | None = None
    records = truncated = split = 0
    for path in channel_files(directory):
        name = source_name(path)
        with path.open("rb") as stream:
            for line, record in iter_jsonl(stream, name):
                if fmt is None:
                    fmt = _detected(record, name, line)
                records += 1
                if (records - 1) % shards != shard:
                    continue
                conv = _conversation(record, fmt, name, line)
                kind = _kind(fmt, prompt_completion)
                pieces, cut = _fit(encode(tokenizer, conv, kind), max_len, kind)
                truncated += cut and kind != "pretrain"
                split += cut and kind == "pretrain"
                kept = [p for p in pieces if any(x != IGNORE for x in p.labels)]
                examples.extend(Example(p.input_ids, p.labels, records - 1) for p in kept)
    if fmt is None:
        raise DataError(f"{directory}: the channel holds no record with tokens to train on")
    data = ChannelData(tuple(examples), fmt, records, truncated, split)
    if shards == 1:
        data.require_examples(directory)
    return data


def merge_shares(directory: Path, parts: list[ChannelData]) -> ChannelData:
    """The n shares of one channel as if one process had read it (examples in file order)."""
    examples = sorted((e for part in parts for e in part.examples), key=lambda e: e.record)
    first = parts[0]
    data = ChannelData(
        tuple(examples), first.fmt, first.records, sum(p.truncated for p in parts),
        sum(p.split for p in parts),
    )  # fmt: skip
    data.require_examples(directory)
    return data


def _detected(record: Any, path: str, line: int) -> DatasetFormat:
    try:
        return detect_format(record)
    except FormatError as exc:
        raise FormatError(path, line, exc.code, exc.field, exc.message) from None


def _conversation(record: Any, fmt: DatasetFormat, path: str, line: int) -> Conversation:
    conv = to_conversation(record, fmt, path=path, line=line)
    if conv.has_images:
        raise DataError(
            f"{path}:{line}: images are not supported by this text-only base model; remove the "
            "image blocks, or train a Llama 3.2 Vision base model (container/llama3-vision)"
        )
    return conv
