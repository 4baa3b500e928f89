"""The per-line loop of the dataset validator: parse, check and forget each record.

Kept apart from the orchestration (bedrock_pipeline.validation) because it is the hot path: locals
instead of attribute lookups, one `json.loads`, hand-written dict checks, a character count and
one keyed SipHash digest per line (``bedrock_pipeline.digests``). A rule that fails raises
`_Reject` (free on the happy path in Python 3.11) so the loop body stays short.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

from bedrock_pipeline.converse import MEDIA_KINDS
from bedrock_pipeline.digests import DigestIndex, record_digest
from bedrock_pipeline.file_sniff import SNIFF_BYTES, oversize_first_line, sniff
from bedrock_pipeline.format_fastpath import record_texts
from bedrock_pipeline.formats import (
    Conversation,
    DatasetFormat,
    FormatCode,
    FormatError,
    detect_format,
    parse_line,
    to_conversation,
)
from bedrock_pipeline.image_manifest import ManifestError, object_location
from bedrock_pipeline.model_spec import DatasetLimits, ModelSpec, TokenEstimator
from bedrock_pipeline.sources import DataSource, parse_s3_uri
from bedrock_pipeline.validation_report import FileStats, Issue, IssueLog, MediaRef, TokenStats

# No model accepts a record near this size (32K tokens at most, images by reference), so a
# longer line is reported and skipped without being held in memory.
MAX_LINE_BYTES = 16 << 20
DEADLINE_CHECK_EVERY = 4096  # lines between clock reads
PROGRESS_EVERY = 4096  # lines between progress callbacks
_MISMATCH_HINTS = (FormatCode.UNKNOWN_FIELD, FormatCode.MISSING_FIELD, FormatCode.UNKNOWN_FORMAT)


def estimate_tokens(texts: list[str], estimator: TokenEstimator) -> int:
    """The registry's estimator over a record's texts (one text per turn, plus the system)."""
    overhead = estimator.turn_overhead * len(texts)
    chars = sum(map(len, texts))
    if all(map(str.isascii, texts)):
        return -int(-chars // estimator.chars_per_token) + overhead
    other = chars - sum(len(t.encode("ascii", "ignore")) for t in texts)
    return -int(-(chars - other) // estimator.chars_per_token) + other + overhead


class _Reject(Exception):
    def __init__(self, code: str, message: str, field: str = "") -> None:
        self.code, self.message, self.field = code, message, field


def _media_refs(record: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(kind, uri, field, declared format) of each media block of a parsed Converse record."""
    return [
        (
            kind,
            block[kind]["source"]["s3Location"]["uri"],
            f"messages[{i}].content[{j}].{kind}",
            str(block[kind].get("format", "")),
        )
        for i, message in enumerate(record["messages"])
        for j, block in enumerate(message["content"])
        for kind in MEDIA_KINDS
        if kind in block
    ]


class Scanner:
    """Checks the records of one (model, customization); state is shared across the files."""

    def __init__(
        self, model: ModelSpec, limits: DatasetLimits, log: IssueLog, deadline: float | None
    ) -> None:
        self.model, self.limits, self.log, self.deadline = model, limits, log, deadline
        self.fmt: DatasetFormat | None = limits.formats[0] if len(limits.formats) == 1 else None
        self.probabilistic = False
        self.media: dict[str, tuple[str, int]] = {}  # kind -> where it first appeared
        # limits.media_channel: every media URI the records name (the run's image manifest),
        # with where it is first named, and the one bucket they sit in (the first one named).
        self.media_uris: dict[str, MediaRef] = {}
        self.media_bucket: tuple[str, MediaRef] | None = None
        self.cautioned: set[str] = set()  # files already warned about tool use
        # Records of the current file found in another format than the model's, by format: the
        # report names the file's actual format, not only the expected one.
        self.mismatched: Counter[str] = Counter()
        # Called with (file name, lines, bytes) every PROGRESS_EVERY lines (a progress line).
        self.progress_to: Callable[[str, int, int], None] | None = None

    def _first_format(self, record: Any, path: str, line: int) -> Conversation:
        """Several formats allowed (container): the file's first valid record fixes the format."""
        fmt = detect_format(record)
        if fmt not in self.limits.formats:
            raise FormatError(path, line, FormatCode.UNKNOWN_FORMAT, "", "")
        conv = to_conversation(
            record, fmt, require_answer=self.limits.require_answer, dialect=self.limits.converse
        )
        self.fmt = fmt
        return conv

    def _format_error(self, err: FormatError, record: Any, path: str, line: int) -> None:
        """Report `err`, or FORMAT_MISMATCH when the record is simply another format."""
        if record is not None and err.code in _MISMATCH_HINTS:
            try:
                actual = detect_format(record)
            except FormatError as unknown:  # matches no format at all: say so, list them
                self.log.add(Issue(path, line, unknown.code, unknown.message, unknown.field))
                return
            if actual is not self.fmt:
                self.mismatched[str(actual)] += 1
                expected = self.fmt or " or ".join(self.limits.formats)
                message = (
                    f"record is in '{actual}' format; {self.model.model_id} expects '{expected}'"
                )
                self.log.add(Issue(path, line, "FORMAT_MISMATCH", message))
                return
        self.log.add(Issue(path, line, err.code, err.message, err.field))

    def _slow(self, record: Any, path: str, line: int, bucket: str | None) -> tuple[list[str], int]:
        """The authoritative parse (raises FormatError) and the media rules; returns the texts
        (turns, the system prompt, then reasoning and tool texts) and the number of turns."""
        limits = self.limits
        if self.fmt is None:
            conv = self._first_format(record, path, line)
        else:
            conv = to_conversation(
                record, self.fmt, require_answer=limits.require_answer, dialect=limits.converse
            )
        if conv.media:
            self._media_rules(conv.media, record, path, line, bucket)
            if limits.media_channel:
                self._channel_media(record, path, line)
        for key in conv.ignored_fields:
            message = f"field '{key}' is not part of the format; Bedrock does not train on it"
            self.log.add(Issue(path, line, "IGNORED_FIELD", message, key))
        if conv.uses_tools and limits.tools_caution and path not in self.cautioned:
            self.cautioned.add(path)
            self.log.add(Issue(path, line, "TOOL_USE_CAUTION", limits.tools_caution))
        texts = [t.text for t in conv.turns]
        if conv.system or conv.extra_texts:  # the system slot stays at index `turns`
            texts.append(conv.system or "")
        return [*texts, *conv.extra_texts], len(conv.turns)

    def _media_rules(
        self, media: frozenset[str], record: Any, path: str, line: int, bucket: str | None
    ) -> None:
        limits, model_id = self.limits, self.model.model_id
        if limits.homogeneous_media:
            for kind in sorted(media):
                clash = [k for k in self.media if (k == "video") != (kind == "video")]
                if clash:
                    where = self.media[clash[0]]
                    raise _Reject(
                        "MIXED_MEDIA",
                        f"{kind} in a dataset that already holds {clash[0]} ({where[0]} line "
                        f"{where[1]}); {model_id} takes images or videos, not both",
                    )
            for kind in media:
                self.media.setdefault(kind, (path, line))
        if limits.images_in_dataset_bucket and bucket:
            for kind, uri, field, _ in _media_refs(record):
                if parse_s3_uri(uri)[0] != bucket:
                    raise _Reject(
                        "IMAGE_BUCKET",
                        f"{field}: {kind} {uri} is outside the dataset's bucket s3://{bucket}; "
                        f"{model_id} reads media only from there",
                        field,
                    )

    def _channel_media(self, record: Any, path: str, line: int) -> None:
        """Media the training job reads through one manifest: each key a file path under the
        channel, all in one bucket (image_manifest)."""
        for kind, uri, field, declared in _media_refs(record):
            try:
                bucket, _ = object_location(uri)
            except ManifestError as exc:
                raise _Reject("IMAGE_KEY", f"{field}: {exc}", field) from None
            ref = MediaRef(path, line, field, kind, declared)
            if self.media_bucket is None:
                self.media_bucket = (bucket, ref)
            elif bucket != self.media_bucket[0]:
                first, where = self.media_bucket
                raise _Reject(
                    "IMAGE_BUCKET",
                    f"{field}: {kind} {uri} is in bucket {bucket}, the run's images in {first} "
                    f"(first named at {where.path}:{where.line}); the training job reads them "
                    "through one manifest, which names one bucket",
                    field,
                )
            self.media_uris.setdefault(uri, ref)

    def _rules(self, texts: list[str], turns: int) -> int:
        """The model's record rules beyond the schema; returns the token estimate."""
        limits, model_id = self.limits, self.model.model_id
        if limits.single_turn and turns > 2:
            raise _Reject(
                "MULTI_TURN_NOT_SUPPORTED",
                f"{turns} turns; {model_id} takes one user turn (and an optional "
                "assistant turn) for this customization",
            )
        if limits.reserved_keywords:
            self._reserved(texts, turns)
        tokens = estimate_tokens(texts, self.model.estimator)
        limit = limits.max_tokens_per_record
        if limit is not None and tokens > limit:
            raise _Reject(
                "TOKEN_LIMIT",
                f"about {tokens} tokens, {model_id} allows {limit} per record "
                f"(estimate: {self.model.estimator.describe()})",
            )
        return tokens

    def _reserved(self, texts: list[str], turns: int) -> None:
        # The rule is about prompts: user turns (even positions: roles alternate from the
        # user) and the system prompt (after the turns); answers too where the row says so.
        answers = self.limits.reserved_in_answers
        for i, text in enumerate(texts[: turns + 1]):
            if i < turns and i % 2 and not answers:
                continue
            for word in self.limits.reserved_keywords:
                if word in text:
                    where = "system prompt" if i == turns else f"turn {i + 1}"
                    raise _Reject(
                        "RESERVED_KEYWORD",
                        f"{where} contains the reserved keyword {word!r}; {self.model.model_id} "
                        f"fails on any of: {' '.join(self.limits.reserved_keywords)}",
                    )

    def _whole_file(self, stream: BinaryIO, path: str) -> bool:
        """A file that is not JSON Lines at all: one issue at line 1, True (read no further)."""
        head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]  # type: ignore[attr-defined]
        # peek returns what one buffered read gave: less than asked means the whole file.
        problem = sniff(head, complete=len(head) < SNIFF_BYTES)
        if problem is not None:
            self.log.add(Issue(path, 1, problem.code, problem.message))
        return problem is not None

    def scan(
        self, source: DataSource, stats: FileStats, own: DigestIndex, train: DigestIndex | None
    ) -> bool:
        """Read `source` to the end (or the deadline), filling `stats` and the issue log.

        False when the file as a whole is not JSON Lines (reported once, at line 1)."""
        path, log, deadline = source.name, self.log, self.deadline
        bucket = parse_s3_uri(path)[0] if path.startswith("s3://") else None
        require_answer, dialect = self.limits.require_answer, self.limits.converse
        parse, fast, rules, digest_of = parse_line, record_texts, self._rules, record_digest
        # Digest index and token histogram inlined: they run once per line.
        exact, exact_get, room = own.exact, own.exact.get, own.exact_cap - len(own.exact)
        hist, cap = stats.tokens.hist, TokenStats.CAP - 1
        line = records = valid = nbytes = total_tokens = max_tokens = 0
        progress = self.progress_to
        self.mismatched.clear()
        with source.open() as opened:
            # Sources give buffered streams; a bare one is wrapped so the head can be peeked.
            stream = opened if hasattr(opened, "peek") else io.BufferedReader(opened)  # type: ignore[type-var]
            if self._whole_file(stream, path):
                return False
            readline = stream.readline
            while raw := readline(MAX_LINE_BYTES):
                line += 1
                records += 1
                nbytes += len(raw)
                if progress is not None and not line % PROGRESS_EVERY:
                    progress(path, line, nbytes)
                if raw[-1] != 10 and len(raw) == MAX_LINE_BYTES:
                    if line == 1:  # no line break at all so far: the file is one huge line
                        problem = oversize_first_line(MAX_LINE_BYTES)
                        log.add(Issue(path, 1, problem.code, problem.message))
                        return False
                    nbytes += self._skip_rest(readline)
                    message = (
                        f"line over {MAX_LINE_BYTES >> 20} MiB; no model takes a record this big"
                    )
                    log.add(Issue(path, line, "RECORD_TOO_LARGE", message))
                    continue
                if (
                    deadline is not None
                    and line % DEADLINE_CHECK_EVERY == 0
                    and time.monotonic() > deadline
                ):
                    message = (
                        f"time ran out at line {line} (byte {nbytes}); the rest was not checked"
                    )
                    log.add(Issue(path, line, "VALIDATION_INCOMPLETE", message))
                    break
                if raw[-2:-1] == b"\r" or raw[-1] != 10:  # CRLF or the last line: same key as LF
                    raw = raw.rstrip(b"\r\n") + b"\n"
                record = None
                try:
                    record = parse(raw, path, line)
                    got = fast(record, self.fmt, require_answer, dialect) if self.fmt else None
                    texts, turns = got if got else self._slow(record, path, line, bucket)
                    tokens = rules(texts, turns)
                except FormatError as err:
                    self._format_error(err, record, path, line)
                    continue
                except _Reject as rej:
                    log.add(Issue(path, line, rej.code, rej.message, rej.field))
                    continue
                key = digest_of(raw)
                if train is not None:
                    self._overlap(train.contains(key), path, line)
                seen = exact_get(key)
                if seen is None:
                    if room > 0:
                        exact[key] = line
                        room -= 1
                    elif own.add(key, line) is None:
                        message = "probably the same record as an earlier line (Bloom filter)"
                        log.add(Issue(path, line, "POSSIBLE_DUPLICATE", message))
                else:
                    log.add(Issue(path, line, "DUPLICATE_RECORD", f"same record as line {seen}"))
                    continue
                valid += 1
                hist[tokens if tokens < cap else cap] += 1
                total_tokens += tokens
                if tokens > max_tokens:
                    max_tokens = tokens
        stats.bytes, stats.records, stats.valid_records = nbytes, records, valid
        stats.tokens.finish(valid, total_tokens, max_tokens)
        stats.format = str(self.fmt) if self.fmt else None
        if self.mismatched:
            actual, count = self.mismatched.most_common(1)[0]
            if count >= valid:
                stats.expected_format, stats.format = stats.format, actual
        self.probabilistic |= own.probabilistic
        return True

    def _overlap(self, first: int | None, path: str, line: int) -> None:
        if first:
            message = (
                f"same record as training line {first}: validation loss would be on training data"
            )
            self.log.add(Issue(path, line, "TRAIN_VALIDATION_OVERLAP", message))
        elif first is None:
            message = "probably also in the training file (Bloom filter)"
            self.log.add(Issue(path, line, "POSSIBLE_OVERLAP", message))

    @staticmethod
    def _skip_rest(readline: Any) -> int:
        skipped = 0
        while (more := readline(MAX_LINE_BYTES)) and more[-1] != 10:
            skipped += len(more)
        return skipped + len(more)
