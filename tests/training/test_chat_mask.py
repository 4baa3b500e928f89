"""Loss only on what the model must write: the labelled tokens are exactly the assistant turns."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_pipeline.formats import FormatError, to_conversation
from tests.support.training import write_channel
from training_image.trainer.chat import (
    CHATML_TEMPLATE,
    IGNORE,
    MISTRAL_TEMPLATE,
    TemplateError,
    encode,
    ensure_chat_template,
)
from training_image.trainer.data import DataError, load_channel, source_name

MESSAGES = {
    "system": "Answer briefly.",
    "messages": [
        {"role": "user", "content": "What is the capital of Peru?"},
        {"role": "assistant", "content": "The capital of Peru is Lima."},
        {"role": "user", "content": "What is 3 plus 4?"},
        {"role": "assistant", "content": "3 plus 4 is 7."},
    ],
}


def labelled_spans(tokenizer: Any, ids: tuple[int, ...], labels: tuple[int, ...]) -> list[str]:
    """Decoded runs of consecutive labelled tokens."""
    spans, run = [], []
    for tok, lab in zip(ids, labels, strict=True):
        if lab != IGNORE:
            assert lab == tok  # labels are the input ids themselves (shifted by the loss)
            run.append(tok)
        elif run:
            spans.append(tokenizer.decode(run))
            run = []
    if run:
        spans.append(tokenizer.decode(run))
    return spans


@pytest.mark.parametrize(
    ("template", "end"),
    [(None, "<|eot_id|>"), (CHATML_TEMPLATE, "<|im_end|>\n"), (MISTRAL_TEMPLATE, "<|eot_id|>")],
    ids=["llama3", "chatml", "mistral"],
)
def test_mask_covers_exactly_the_assistant_turns(
    tokenizer: Any, template: str | None, end: str
) -> None:
    tok = copy.deepcopy(tokenizer)
    if template:
        tok.chat_template = template
        if "<|im_end|>" in template:
            tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    ex = encode(tok, to_conversation(MESSAGES), "chat")
    assert len(ex.input_ids) == len(ex.labels)
    assert labelled_spans(tok, ex.input_ids, ex.labels) == [
        "The capital of Peru is Lima." + end,
        "3 plus 4 is 7." + end,
    ]
    unlabelled = tok.decode(
        [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab == IGNORE]
    )
    for text in ("Answer briefly.", "What is the capital of Peru?", "What is 3 plus 4?"):
        assert text in unlabelled


def test_converse_and_prompt_completion_formats(tokenizer: Any) -> None:
    converse = {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Be brief."}],
        "messages": [
            {"role": "user", "content": [{"text": "Opposite of hot?"}]},
            {"role": "assistant", "content": [{"text": "Cold."}]},
        ],
    }
    ex = encode(tokenizer, to_conversation(converse), "chat")
    assert labelled_spans(tokenizer, ex.input_ids, ex.labels) == ["Cold.<|eot_id|>"]
    pc = to_conversation({"prompt": "2 plus 2 is", "completion": " 4."})
    chat = encode(tokenizer, pc, "chat")
    # The Llama 3 template trims turn content; the raw layout keeps the text as written.
    assert labelled_spans(tokenizer, chat.input_ids, chat.labels) == ["4.<|eot_id|>"]
    raw = encode(tokenizer, pc, "raw")
    assert tokenizer.decode(raw.input_ids) == "<|begin_of_text|>2 plus 2 is 4.<|eot_id|>"
    assert labelled_spans(tokenizer, raw.input_ids, raw.labels) == [" 4.<|eot_id|>"]


def test_continued_pretraining_trains_on_all_text(tokenizer: Any) -> None:
    ex = encode(tokenizer, to_conversation({"input": "Snow is white. Coal is black."}), "pretrain")
    assert ex.labels[0] == IGNORE  # the BOS: nothing predicts it
    assert labelled_spans(tokenizer, ex.input_ids, ex.labels) == [
        "Snow is white. Coal is black.<|eot_id|>"
    ]


def test_template_that_rewrites_history_is_rejected(tokenizer: Any) -> None:
    tok = copy.deepcopy(tokenizer)
    # Puts the turn count first: every added turn changes the text before it.
    tok.chat_template = (
        "{{ messages|length }}{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}"
        "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
    )
    with pytest.raises(TemplateError, match="prefix-stable"):
        encode(tok, to_conversation(MESSAGES), "chat")


def test_missing_template_gets_the_family_default(tokenizer: Any) -> None:
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    ensure_chat_template(tok, "qwen2")
    assert tok.chat_template == CHATML_TEMPLATE
    tok.chat_template = None
    with pytest.raises(TemplateError, match="defaults exist for"):
        ensure_chat_template(tok, "gpt2")


def test_channel_errors_name_file_and_line(tmp_path: Path, tokenizer: Any) -> None:
    bad = write_channel(tmp_path / "bad", [MESSAGES, {"prompt": "x", "completion": "y"}])
    with pytest.raises(FormatError) as err:
        load_channel(bad, tokenizer, 128)
    assert err.value.line == 2 and str(err.value).startswith(str(bad / "data.jsonl") + ":2:")
    converse = {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            {"role": "user", "content": [{"image": {"format": "png", "source": {
                "s3Location": {"uri": "s3://bucket/a.png"}}}}, {"text": "What is it?"}]},
            {"role": "assistant", "content": [{"text": "A cat."}]},
        ],
    }  # fmt: skip
    with pytest.raises(DataError, match=r"data.jsonl:1: images are not supported"):
        load_channel(write_channel(tmp_path / "img", [converse]), tokenizer, 128)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.jsonl files"):
        load_channel(tmp_path / "empty", tokenizer, 128)


def test_channel_errors_name_the_datasets_s3_object_when_the_job_gives_it(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SageMaker copies s3://team-data/support/train.jsonl into the channel as train.jsonl; the
    # job driver names the source in TRAINER_SOURCE_TRAIN (lambdas/jobs/requests.py).
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "train.jsonl").write_text(
        json.dumps(MESSAGES) + "\n" + json.dumps({"prompt": "x", "completion": "y"}) + "\n"
    )
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(channel))
    monkeypatch.setenv("TRAINER_SOURCE_TRAIN", "s3://team-data/support/train.jsonl")
    with pytest.raises(FormatError) as err:
        load_channel(channel, tokenizer, 128)
    assert str(err.value).startswith("s3://team-data/support/train.jsonl:2:")
    # A prefix source: each file under its own key; another channel's files keep their path.
    monkeypatch.setenv("TRAINER_SOURCE_TRAIN", "s3://team-data/support/")
    assert source_name(channel / "part" / "a.jsonl") == "s3://team-data/support/part/a.jsonl"
    assert source_name(tmp_path / "validation" / "v.jsonl") == str(tmp_path / "validation/v.jsonl")
    # A SageMaker job sets no SM_CHANNEL_*: the channel is /opt/ml/input/data/<name>.
    monkeypatch.delenv("SM_CHANNEL_TRAIN")
    monkeypatch.setenv("TRAINER_SOURCE_TRAIN", "s3://team-data/support/train.jsonl")
    job_copy = Path("/opt/ml/input/data/train/train.jsonl")
    assert source_name(job_copy) == "s3://team-data/support/train.jsonl"


def test_long_records_are_truncated_or_split(tmp_path: Path, tokenizer: Any) -> None:
    full = len(encode(tokenizer, to_conversation(MESSAGES), "chat").input_ids)
    cut = full - 3  # the second answer loses its end; the first stays whole
    chats = load_channel(write_channel(tmp_path / "chat", [MESSAGES] * 2), tokenizer, cut)
    assert chats.truncated == 2 and len(chats.examples) == 2
    assert all(len(e.input_ids) == cut for e in chats.examples)
    text = {"input": " ".join(["Snow is white and coal is black."] * 20)}
    pieces = load_channel(write_channel(tmp_path / "cpt", [text]), tokenizer, 40)
    assert pieces.split == 1 and len(pieces.examples) > 2
    assert all(len(e.input_ids) <= 40 and e.labels[0] == IGNORE for e in pieces.examples)


def test_ranks_tokenize_a_share_each_and_merge_to_the_whole(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.training import sample_records
    from training_image.trainer import data

    channel = write_channel(tmp_path / "train", sample_records("train", 12))
    whole = load_channel(channel, tokenizer, 128)
    encoded: list[int] = []
    real = data.encode

    def counted(*args: Any) -> Any:
        encoded.append(1)
        return real(*args)

    monkeypatch.setattr(data, "encode", counted)
    parts = [load_channel(channel, tokenizer, 128, share=(k, 3)) for k in range(3)]
    assert len(encoded) == 12  # every record tokenized once over the 3 ranks, not 3 times
    assert [len(p.examples) for p in parts] == [4, 4, 4]
    merged = data.merge_shares(channel, parts)
    assert merged == whole  # same examples in the same order, same counts
    assert [e.record for e in merged.examples] == list(range(12))
