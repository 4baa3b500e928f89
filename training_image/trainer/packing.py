"""Rows of tokens for the model: packed without cross-contamination, or padded.

Packing puts several examples in one row of exactly maxSequenceLength tokens (best-fit
decreasing, so little is padding). Examples must not see each other: position ids restart at 0
for every example and `doc_ids` tells the attention kernel where each example begins (varlen /
block-causal attention, see attention.py). Each example's first label is IGNORE, so the last
token of one example is never trained to predict the first token of the next after the usual
label shift.
The padded fallback puts one example per row; padding is just one more "document" that nothing
attends to, so both layouts share the same attention path and loss.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from training_image.trainer.chat import IGNORE, Example


@dataclass
class Batch:
    input_ids: torch.Tensor  # [B, S]
    labels: torch.Tensor  # [B, S], IGNORE where no loss
    position_ids: torch.Tensor  # [B, S], restart at 0 per document
    doc_ids: torch.Tensor  # [B, S], distinct per document (padding is its own document)
    seq_lens: list[list[int]]  # per row, the length of each document (padding included)
    real_tokens: int  # tokens that are not padding

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.input_ids.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.position_ids.to(device, non_blocking=True),
            self.doc_ids.to(device, non_blocking=True),
            self.seq_lens,
            self.real_tokens,
        )

    @property
    def label_tokens(self) -> int:
        """Tokens that carry loss after the shift (label at position t+1 is predicted at t)."""
        return int((self.labels[:, 1:] != IGNORE).sum())


def pack(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit decreasing: indices of examples per row, each row's total <= capacity."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    # (remaining capacity, row index), kept sorted so the tightest fit is a bisect away.
    free: list[tuple[int, int]] = []
    for i in order:
        need = lengths[i]
        if need > capacity:
            raise ValueError(f"example of {need} tokens exceeds the row length {capacity}")
        k = bisect.bisect_left(free, (need, -1))
        if k == len(free):
            rows.append([i])
            bisect.insort(free, (capacity - need, len(rows) - 1))
        else:
            room, row = free.pop(k)
            rows[row].append(i)
            bisect.insort(free, (room - need, row))
    return rows


def collate(examples: Sequence[Sequence[Example]], row_len: int, pad_id: int) -> Batch:
    """One row per inner sequence: its examples back to back, then padding up to row_len."""
    n = len(examples)
    input_ids = torch.full((n, row_len), pad_id, dtype=torch.long)
    labels = torch.full((n, row_len), IGNORE, dtype=torch.long)
    position_ids = torch.zeros((n, row_len), dtype=torch.long)
    doc_ids = torch.zeros((n, row_len), dtype=torch.int32)
    seq_lens: list[list[int]] = []
    real = 0
    for r, row in enumerate(examples):
        at, lens = 0, []
        for d, ex in enumerate(row):
            size = len(ex.input_ids)
            if at + size > row_len:
                raise ValueError(f"row {r} holds {at + size} tokens, more than {row_len}")
            input_ids[r, at : at + size] = torch.tensor(ex.input_ids)
            labels[r, at : at + size] = torch.tensor(ex.labels)
            position_ids[r, at : at + size] = torch.arange(size)
            doc_ids[r, at : at + size] = d
            at += size
            lens.append(size)
        real += at
        if at < row_len:
            position_ids[r, at:] = torch.arange(row_len - at)
            doc_ids[r, at:] = len(row)
            lens.append(row_len - at)
        seq_lens.append(lens)
    return Batch(input_ids, labels, position_ids, doc_ids, seq_lens, real)


@dataclass(frozen=True)
class Rows:
    """The training set as rows: each a tuple of examples that share one sequence."""

    rows: tuple[tuple[Example, ...], ...]
    row_len: int  # packed: maxSequenceLength; padded: the most a micro-batch's rows are cut to

    @classmethod
    def build(cls, examples: Sequence[Example], max_len: int, packing: bool) -> Rows:
        if packing:
            groups = pack([len(e.input_ids) for e in examples], max_len)
            rows = tuple(tuple(examples[i] for i in sorted(g)) for g in groups)
            return cls(rows, max_len)
        return cls(tuple((e,) for e in examples), max_len)

    def batch(self, indices: Sequence[int], pad_id: int, packing: bool) -> Batch:
        chosen = [self.rows[i] for i in indices]
        if packing:
            return collate(chosen, self.row_len, pad_id)
        longest = max(sum(len(e.input_ids) for e in row) for row in chosen)
        return collate(chosen, padded_length(longest, self.row_len), pad_id)


def padded_length(longest: int, row_len: int, smallest: int = 128) -> int:
    """Padded row length: the next power of two from `smallest`, at most `row_len`.

    A compiled layer is compiled once per shape, so rows are cut to a few lengths (at most 11
    up to 131,072) rather than to each micro-batch's longest; the cost is at most 2x padding.
    """
    bucket = smallest
    while bucket < longest:
        bucket *= 2
    return min(bucket, row_len)


@dataclass(frozen=True)
class Schedule:
    """Which rows each rank reads at each (optimizer step, micro step); deterministic by seed.

    Rows are shuffled once per epoch; the last step of an epoch wraps around to the epoch's first
    rows so every rank always has the same number of micro-batches (collectives stay in step).
    """

    num_rows: int
    batch_size: int  # rows per optimizer step over all ranks
    micro_batch: int
    world_size: int
    seed: int

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.num_rows // self.batch_size)

    @property
    def accumulation(self) -> int:
        return self.batch_size // (self.micro_batch * self.world_size)

    def rows_for(self, step: int, rank: int) -> list[list[int]]:
        """Row indices of each micro-batch of global optimizer step `step` (0-based) on `rank`."""
        epoch, in_epoch = divmod(step, self.steps_per_epoch)
        gen = torch.Generator().manual_seed(self.seed + epoch)
        perm = torch.randperm(self.num_rows, generator=gen).tolist()
        start = in_epoch * self.batch_size
        flat = [perm[(start + k) % self.num_rows] for k in range(self.batch_size)]
        out = []
        for a in range(self.accumulation):
            base = (a * self.world_size + rank) * self.micro_batch
            out.append(flat[base : base + self.micro_batch])
        return out
