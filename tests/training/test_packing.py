"""Packing must not change what is learned: a packed row's loss is the sum of its documents'.

The oracle is transformers' own model (eager attention, plain causal mask) run on each document
alone; the packed path (document-masked attention, fused chunked loss) must agree to float
tolerance, in value and in gradient.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

from bedrock_pipeline.formats import to_conversation
from tests.support.training import sample_records
from training_image.trainer.attention import PACKED
from training_image.trainer.chat import IGNORE, Example, encode
from training_image.trainer.model import CausalLMWithLoss
from training_image.trainer.packing import Rows, Schedule, collate, pack


@pytest.fixture(scope="module")
def examples(tokenizer: Any) -> list[Example]:
    records = sample_records("train", 24)
    return [encode(tokenizer, to_conversation(r), "chat") for r in records]


def oracle_loss(model: Any, example: Example) -> torch.Tensor:
    ids = torch.tensor([example.input_ids])
    labels = torch.tensor(example.labels)
    logits = model(ids).logits[0, :-1].float()
    return F.cross_entropy(logits, labels[1:], ignore_index=IGNORE, reduction="sum")


def load(base: Path, attn: str, **overrides: Any) -> Any:
    return AutoModelForCausalLM.from_pretrained(
        base, torch_dtype=torch.float32, attn_implementation=attn, **overrides
    )


def test_pack_fills_rows_without_overflow_or_loss() -> None:
    lengths = [50, 70, 30, 100, 20, 60, 10, 90]
    rows = pack(lengths, 128)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 128 for row in rows)
    assert len(rows) == 4  # 430 tokens need at least 4 rows of 128; best-fit finds 4
    with pytest.raises(ValueError, match="exceeds the row length"):
        pack([129], 128)


def test_collate_restarts_positions_and_separates_documents() -> None:
    a = Example((1, 2, 3), (IGNORE, 2, 3))
    b = Example((4, 5), (IGNORE, 5))
    batch = collate([[a, b]], row_len=8, pad_id=0)
    assert batch.position_ids[0].tolist() == [0, 1, 2, 0, 1, 0, 1, 2]
    assert batch.doc_ids[0].tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert batch.labels[0].tolist() == [IGNORE, 2, 3, IGNORE, 5, IGNORE, IGNORE, IGNORE]
    assert batch.seq_lens == [[3, 2, 3]] and batch.real_tokens == 5
    # label t+1 is predicted at t: 3 labels, none of them across the a|b boundary
    assert batch.label_tokens == 3


@pytest.mark.parametrize("arch", ["llama", "mistral", "qwen2"])
def test_packed_loss_equals_sum_of_document_losses(
    base_models: dict[str, Path], examples: list[Example], arch: str
) -> None:
    # Mistral with an 8-token sliding window: the document mask must also honour the window.
    extra = {"sliding_window": 8} if arch == "mistral" else {}
    oracle = load(base_models[arch], "eager", **extra)
    model = CausalLMWithLoss(load(base_models[arch], PACKED, **extra), "sdpa")
    rows = Rows.build(examples, 128, packing=True)
    assert any(len(r) > 2 for r in rows.rows)  # rows really hold several documents
    with torch.no_grad():
        expected = sum(oracle_loss(oracle, e) for e in examples)
        packed = sum(model(rows.batch([i], 0, True)) for i in range(len(rows.rows)))
        padded_rows = Rows.build(examples, 128, packing=False)
        padded = model(padded_rows.batch(range(len(examples)), 0, False))
    assert float(packed) == pytest.approx(float(expected), rel=1e-5)
    assert float(padded) == pytest.approx(float(expected), rel=1e-5)


def test_packed_gradients_equal_document_gradients(
    base_models: dict[str, Path], examples: list[Example]
) -> None:
    oracle = load(base_models["llama"], "eager")
    model = CausalLMWithLoss(load(base_models["llama"], PACKED), "sdpa")
    sum((oracle_loss(oracle, e) for e in examples[:8]), torch.zeros(())).backward()
    model(collate([examples[:8]], 512, 0)).backward()
    for name in ("model.layers.0.self_attn.q_proj.weight", "lm_head.weight", "model.norm.weight"):
        got = model.lm.get_parameter(name).grad
        want = oracle.get_parameter(name).grad
        # fp32 sums in another order: error relative to the gradient's scale, not per element
        # (an element near zero carries the rounding of its whole row's sum).
        scale = want.abs().max()
        assert (got - want).abs().max() <= 1e-5 * scale, name


def test_cross_contamination_would_be_caught(
    base_models: dict[str, Path], examples: list[Example]
) -> None:
    # The same row with one document id everywhere (the ConcatDataset mistake): the loss moves.
    model = CausalLMWithLoss(load(base_models["llama"], PACKED), "sdpa")
    batch = collate([examples[:6]], 512, 0)
    with torch.no_grad():
        right = float(model(batch))
        batch.doc_ids.zero_()
        wrong = float(model(batch))
    assert abs(right - wrong) > 1e-3 * abs(right)


def test_schedule_reads_every_row_once_per_epoch_over_ranks() -> None:
    plan = Schedule(num_rows=16, batch_size=8, micro_batch=2, world_size=2, seed=3)
    assert plan.steps_per_epoch == 2 and plan.accumulation == 2
    seen = [
        i
        for step in range(plan.steps_per_epoch)
        for rank in range(2)
        for micro in plan.rows_for(step, rank)
        for i in micro
    ]
    assert sorted(seen) == list(range(16))
    assert plan.rows_for(2, 0) != plan.rows_for(0, 0)  # epoch 2 is reshuffled
    assert plan.rows_for(1, 1) == Schedule(16, 8, 2, 2, 3).rows_for(1, 1)  # deterministic
