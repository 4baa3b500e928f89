"""Tiny base models and a locally trained tokenizer: the CPU stand-ins for real checkpoints.

Nothing is downloaded. The tokenizer is a byte-level BPE trained on the dataset's own text with
Llama 3's pre-tokenizer split and special tokens, wrapped in PreTrainedTokenizerFast with a
Llama-3-style chat template; the models are randomly initialised Llama / Mistral / Qwen2 configs
of a few hundred thousand parameters, saved as a transformers checkpoint (the same layout the
container reads from its base-model channel).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    MistralConfig,
    PretrainedConfig,
    Qwen2Config,
)

# From its module: the package root also names a placeholder class for installs without tokenizers.
from transformers.tokenization_utils_fast import PreTrainedTokenizerFast

from bedrock_pipeline.formats import iter_jsonl, to_conversation
from training_image.trainer.chat import LLAMA3_TEMPLATE

BOS, EOS, EOT, PAD = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|finetune_right_pad_id|>",
)
SPECIAL_TOKENS = (BOS, EOS, "<|start_header_id|>", "<|end_header_id|>", EOT, PAD)
# Llama 3's pre-tokenizer pattern (tiktoken cl100k-style): words, 1-3 digit groups, punctuation,
# newline runs kept apart, so template markup and content never merge into one token.
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
ARCHITECTURES = ("llama", "mistral", "qwen2")


def jsonl_texts(paths: Iterable[Path]) -> Iterator[str]:
    """Every text of every record (read through the shared format parser)."""
    for path in paths:
        with path.open("rb") as stream:
            for line, record in iter_jsonl(stream, str(path)):
                conv = to_conversation(record, path=str(path), line=line)
                if conv.system:
                    yield conv.system
                yield from (turn.text for turn in conv.turns)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    # Like Llama 3: encoding with special tokens prepends <|begin_of_text|>.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOT,
        pad_token=PAD,
        model_max_length=2048,
        model_input_names=["input_ids", "attention_mask"],  # as Llama 3's tokenizer_config
        chat_template=LLAMA3_TEMPLATE,
    )
    return fast


def tiny_config(arch: str, tokenizer: Any, **overrides: Any) -> PretrainedConfig:
    """hidden 64, 2 layers, 4 heads (2 KV heads: GQA on), vocabulary of the tokenizer."""
    common: dict[str, Any] = dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        vocab_size=len(tokenizer),
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # With 0.02 (the default) a frozen random lm_head behind the final RMSNorm bounds every
        # logit to about +-1.3 at hidden 64, so LoRA could never push the loss far below
        # ln(vocab). Real checkpoints have far larger output norms; 0.1 gives the same headroom.
        initializer_range=0.1,
    )
    if arch == "llama":
        return LlamaConfig(**{**common, "tie_word_embeddings": False, **overrides})
    if arch == "mistral":
        return MistralConfig(**{**common, "sliding_window": 1024, **overrides})
    if arch == "qwen2":  # Qwen2 ties embeddings and has q/k/v biases: both paths get exercised
        return Qwen2Config(**{**common, "tie_word_embeddings": True, **overrides})
    raise ValueError(f"unknown tiny architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")


def write_base_model(
    out: Path, arch: str, tokenizer: Any, seed: int = 0, **overrides: Any
) -> PretrainedConfig:
    """A random-weight checkpoint + tokenizer in `out`, as the base-model channel holds one."""
    config = tiny_config(arch, tokenizer, **overrides)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return config
