"""Turn a `Conversation` into token ids and labels, with loss only on what the model must write.

The chat template is the tokenizer's own (the one Bedrock applies to Converse calls on the
imported model), so training and inference see the same text. Assistant spans are found by
rendering growing prefixes of the conversation: the text the template adds for assistant turn i
is `render(turns[:i+1])` minus `render(turns[:i], add_generation_prompt=True)`, and it includes the
end-of-turn marker, which the model must learn to emit to stop. Tokens whose first character
lies in such a span are labelled; everything else gets IGNORE. Templates that rewrite earlier
text when a turn is added (not prefix-stable) are rejected rather than silently mis-masked.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Literal

from bedrock_pipeline.formats import Conversation

IGNORE = -100

# Used only when the base model's tokenizer ships no chat template (base, non-instruct
# checkpoints); written into the exported tokenizer_config.json so inference matches training.
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '[INST] ' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'user' %}"
    "{% if loop.index0 == 0 or messages[loop.index0 - 1]['role'] != 'system' %}{{ '[INST] ' }}"
    "{% endif %}{{ message['content'] + ' [/INST]' }}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)
# model_type -> template for tokenizers without one (one table, not scattered defaults).
DEFAULT_TEMPLATES: dict[str, str] = {
    "llama": LLAMA3_TEMPLATE,
    "qwen2": CHATML_TEMPLATE,
    "mistral": MISTRAL_TEMPLATE,
}


class TemplateError(ValueError):
    """The chat template cannot be used to mask assistant tokens."""


@dataclass(frozen=True)
class Example:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # IGNORE where no loss; the first token is always IGNORE
    record: int = field(default=0, compare=False)  # index of its record in the channel


def ensure_chat_template(tokenizer: Any, model_type: str) -> None:
    if getattr(tokenizer, "chat_template", None):
        return
    if model_type not in DEFAULT_TEMPLATES:
        raise TemplateError(
            f"tokenizer has no chat template and model_type '{model_type}' has no default; "
            f"defaults exist for: {', '.join(sorted(DEFAULT_TEMPLATES))}"
        )
    tokenizer.chat_template = DEFAULT_TEMPLATES[model_type]


def _messages(conv: Conversation) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": conv.system}] if conv.system else []
    return msgs + [{"role": t.role, "content": t.text} for t in conv.turns]


def render(tokenizer: Any, conv: Conversation) -> tuple[str, list[tuple[int, int]]]:
    """The templated text and the character spans of every assistant turn."""
    return render_messages(tokenizer, _messages(conv))


def render_messages(
    tokenizer: Any, messages: list[dict[str, Any]]
) -> tuple[str, list[tuple[int, int]]]:
    """`render` for template-ready messages (content a string or a list of typed entries)."""
    full: str = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(
            messages[:i], tokenize=False, add_generation_prompt=True
        )
        through = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (
            full.startswith(before) and full.startswith(through) and len(through) > len(before)
        ):
            raise TemplateError(
                "the chat template is not prefix-stable (adding a turn rewrites earlier text), "
                "so assistant tokens cannot be located; use a template without that behaviour"
            )
        spans.append((len(before), len(through)))
    return full, spans


def _label_spans(
    tokenizer: Any, text: str, spans: list[tuple[int, int]], add_special_tokens: bool
) -> Example:
    enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    ids: list[int] = enc["input_ids"]
    starts = [s for s, _ in spans]
    labels = []
    for tok, (start, end) in zip(ids, enc["offset_mapping"], strict=True):
        k = bisect.bisect_right(starts, start) - 1
        # Special tokens added by the tokenizer itself have an empty (0, 0) offset.
        inside = end > start and k >= 0 and start < spans[k][1]
        labels.append(tok if inside else IGNORE)
    if labels:
        labels[0] = IGNORE  # a document's first token is predicted by nothing in it (see packing)
    return Example(tuple(ids), tuple(labels))


def encode(
    tokenizer: Any,
    conv: Conversation,
    kind: Literal["chat", "raw", "pretrain"],
) -> Example:
    """Token ids and labels for one record.

    chat: the chat template, loss on assistant turns. raw: bos + prompt + completion + eos, loss on
    completion + eos. pretrain: bos + text + eos, loss on all of it (continued pre-training).
    """
    if kind == "chat":
        text, spans = render(tokenizer, conv)
        return _label_spans(tokenizer, text, spans, add_special_tokens=False)
    eos = tokenizer.eos_token or ""
    if kind == "pretrain":
        body = conv.turns[0].text
        return _label_spans(tokenizer, body + eos, [(0, len(body) + len(eos))], True)
    prompt, completion = conv.turns[0].text, conv.turns[-1].text
    text = prompt + completion + eos
    return _label_spans(tokenizer, text, [(len(prompt), len(text))], add_special_tokens=True)
