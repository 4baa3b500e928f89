"""The rule table against transformers' own checkpoints of every other text architecture.

Tiny random models of Mixtral, Qwen3, Qwen3-MoE, Flan-T5 and GPTBigCode, saved by
``save_pretrained`` (the layout Custom Model Import reads), must be ready; the same folders with a
config that disagrees with the weights must not. Catches a rule whose names or shapes drift from
what transformers writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    GPTBigCodeConfig,
    MixtralConfig,
    PretrainedConfig,
    Qwen3Config,
    Qwen3MoeConfig,
    T5Config,
)

# From its module: the package root also names a placeholder class for installs without torch.
from transformers.models.t5.modeling_t5 import T5ForConditionalGeneration

from bedrock_pipeline.import_check import check_directory

DECODER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=512)  # fmt: skip
# name -> (config, a config change the weights contradict, the layer-count key)
CASES: dict[str, tuple[Any, dict[str, Any], str]] = {
    "mixtral": (
        lambda v: MixtralConfig(**DECODER, num_local_experts=4, num_experts_per_tok=2,
                                vocab_size=v),
        {"intermediate_size": 128}, "num_hidden_layers",
    ),
    "qwen3": (lambda v: Qwen3Config(**DECODER, head_dim=16, vocab_size=v),
              {"intermediate_size": 128}, "num_hidden_layers"),
    "qwen3-moe": (
        lambda v: Qwen3MoeConfig(**DECODER, head_dim=8, moe_intermediate_size=16, num_experts=4,
                                 num_experts_per_tok=2, mlp_only_layers=[1], vocab_size=v),
        {"moe_intermediate_size": 32}, "num_hidden_layers",
    ),
    "flan-t5": (
        lambda v: T5Config(d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=2,
                           num_decoder_layers=3, feed_forward_proj="gated-gelu",
                           tie_word_embeddings=False, vocab_size=v),
        {"d_ff": 128}, "num_decoder_layers",
    ),
    "gpt-bigcode": (
        lambda v: GPTBigCodeConfig(n_embd=32, n_layer=2, n_head=4, n_positions=512,
                                   multi_query=True, vocab_size=v),
        {"n_embd": 64}, "n_layer",
    ),
    "gpt-bigcode-mha": (
        lambda v: GPTBigCodeConfig(n_embd=32, n_layer=2, n_head=4, n_positions=512,
                                   multi_query=False, vocab_size=v),
        # n_head alone changes no shape when every head has its own key and value
        {"multi_query": True}, "n_layer",
    ),
}  # fmt: skip


def save(config: PretrainedConfig, tokenizer: Any, out: Path) -> Path:
    torch.manual_seed(0)
    if isinstance(config, T5Config):
        model = T5ForConditionalGeneration(config)
    else:
        model = AutoModelForCausalLM.from_config(config)
    model.bfloat16().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_transformers_checkpoints_pass_and_broken_configs_fail(
    name: str, tokenizer: Any, tmp_path: Path
) -> None:
    make, change, layers = CASES[name]
    folder = save(make(len(tokenizer)), tokenizer, tmp_path / name)
    result = check_directory(folder)
    assert result.ready, result.reasons
    assert result.dtype == "bfloat16" and not result.warnings
    config = json.loads((folder / "config.json").read_text())
    broken = ((change, "shapes disagree"), ({layers: config[layers] + 1}, " layers under "))
    for override, reason in broken:
        (folder / "config.json").write_text(json.dumps(config | override))
        reasons = check_directory(folder).reasons
        assert any(reason in r for r in reasons), (override, reasons)
