"""The weights each Custom Model Import architecture expects: tensor names, shapes, layer counts.

Pure data, read by `bedrock_pipeline.import_check` (the CLI, the workflow's readiness step and
the training container) and re-exported by the registry. Source:
  [import] Bedrock user guide, model-customization-import-model.html ("Supported
           architectures", "Import source"): the architectures, Hugging Face safetensors weights,
           FP32/FP16/BF16 precision (quantized weights are not listed); the precision list is
           to be re-confirmed against the live page.
  [hf]     transformers 4.51.3 (the version [import] names): the parameter names and shapes of
           modeling_llama/mistral/mixtral/qwen2/qwen3/qwen3_moe/t5/gpt_bigcode.py.

A shape is a tuple of dimension expressions over the names in ``ArchitectureRule.dims``:
``"heads*head_dim"``, ``"hidden+2*kv_heads*head_dim"``. ``{i}`` in a pattern is a layer index
(every layer must have every required per-layer tensor), ``{e}`` an expert index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class TensorRule:
    pattern: str
    shape: tuple[str, ...] | None  # None: the name is checked, the shape is not
    required: bool = True


@dataclass(frozen=True)
class ArchitectureRule:
    architecture: str
    family: str
    # Dimension name -> config.json keys to try in order (the first present wins).
    dims: Mapping[str, tuple[str, ...]]
    # (layer prefix with {i}, config key(s) holding the number of layers)
    layers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tensors: tuple[TensorRule, ...] = ()
    embed: str | None = "model.embed_tokens.weight"  # what a tied lm_head shares
    lm_head: str | None = "lm_head.weight"
    tie_default: bool = False  # the config class's default for tie_word_embeddings
    # Multimodal architectures: only the checks that hold for any layout (adapter keys,
    # offsets, dtype, index) run; their vision towers are not described here.
    names_checked: bool = True


# [import] Precision of the weights: FP32, FP16 and BF16 import. float32 doubles the bytes
# served and billed (Custom Model Units scale with size), so it is reported, not refused.
WEIGHT_DTYPES: Mapping[str, str] = MappingProxyType(
    {"bfloat16": "ok", "float16": "ok", "float32": "warning"}
)

# LoRA tensors a PEFT model saves before merge_and_unload(); no import loader reads them.
ADAPTER_MARKERS = (".lora_A.", ".lora_B.", ".base_layer.", ".lora_embedding_A", ".lora_magnitude")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")

_DECODER_DIMS = {
    "hidden": ("hidden_size",),
    "intermediate": ("intermediate_size",),
    "heads": ("num_attention_heads",),
    "kv_heads": ("num_key_value_heads", "num_attention_heads"),
    "head_dim": ("head_dim",),  # absent or null: hidden / heads
    "vocab": ("vocab_size",),
    "experts": ("num_local_experts", "num_experts"),
    "moe_intermediate": ("moe_intermediate_size",),
}
_L = "model.layers.{i}."


def _t(pattern: str, *shape: str, required: bool = True) -> TensorRule:
    return TensorRule(pattern, shape or None, required)


def _attention(bias: bool, qk_norm: bool = False) -> tuple[TensorRule, ...]:
    rules = [
        _t(_L + "input_layernorm.weight", "hidden"),
        _t(_L + "post_attention_layernorm.weight", "hidden"),
        _t(_L + "self_attn.q_proj.weight", "heads*head_dim", "hidden"),
        _t(_L + "self_attn.k_proj.weight", "kv_heads*head_dim", "hidden"),
        _t(_L + "self_attn.v_proj.weight", "kv_heads*head_dim", "hidden"),
        _t(_L + "self_attn.o_proj.weight", "hidden", "heads*head_dim"),
        # Llama's attention_bias=True adds biases; Qwen2 always has q/k/v biases.
        _t(_L + "self_attn.q_proj.bias", "heads*head_dim", required=bias),
        _t(_L + "self_attn.k_proj.bias", "kv_heads*head_dim", required=bias),
        _t(_L + "self_attn.v_proj.bias", "kv_heads*head_dim", required=bias),
        _t(_L + "self_attn.o_proj.bias", "hidden", required=False),
        _t(_L + "self_attn.rotary_emb.inv_freq", required=False),  # older exports kept it
        _t("model.embed_tokens.weight", "vocab", "hidden"),
        _t("model.norm.weight", "hidden"),
        _t("lm_head.weight", "vocab", "hidden", required=False),  # see tie_word_embeddings
    ]
    if qk_norm:
        rules += [
            _t(_L + "self_attn.q_norm.weight", "head_dim"),
            _t(_L + "self_attn.k_norm.weight", "head_dim"),
        ]
    return tuple(rules)


def _dense_mlp(required: bool = True, layer: str = _L) -> tuple[TensorRule, ...]:
    return (
        _t(layer + "mlp.gate_proj.weight", "intermediate", "hidden", required=required),
        _t(layer + "mlp.up_proj.weight", "intermediate", "hidden", required=required),
        _t(layer + "mlp.down_proj.weight", "hidden", "intermediate", required=required),
        _t(layer + "mlp.gate_proj.bias", "intermediate", required=False),  # Llama mlp_bias
        _t(layer + "mlp.up_proj.bias", "intermediate", required=False),
        _t(layer + "mlp.down_proj.bias", "hidden", required=False),
    )


def _decoder(
    arch: str, family: str, tensors: tuple[TensorRule, ...], **kw: object
) -> ArchitectureRule:
    return ArchitectureRule(
        arch,
        family,
        _DECODER_DIMS,
        ((_L, ("num_hidden_layers",)),),
        tensors,
        **kw,  # type: ignore[arg-type]
    )


_MIXTRAL_MOE = (
    _t(_L + "block_sparse_moe.gate.weight", "experts", "hidden"),
    _t(_L + "block_sparse_moe.experts.{e}.w1.weight", "intermediate", "hidden", required=False),
    _t(_L + "block_sparse_moe.experts.{e}.w3.weight", "intermediate", "hidden", required=False),
    _t(_L + "block_sparse_moe.experts.{e}.w2.weight", "hidden", "intermediate", required=False),
)
# Qwen3-MoE: sparse layers (every decoder_sparse_step-th, minus mlp_only_layers) have a router
# and experts, the others a dense MLP; which is which is config, so none is required per layer.
_QWEN3_MOE = (
    _t(_L + "mlp.gate.weight", "experts", "hidden", required=False),
    _t(_L + "mlp.experts.{e}.gate_proj.weight", "moe_intermediate", "hidden", required=False),
    _t(_L + "mlp.experts.{e}.up_proj.weight", "moe_intermediate", "hidden", required=False),
    _t(_L + "mlp.experts.{e}.down_proj.weight", "hidden", "moe_intermediate", required=False),
)


def _t5_attention(block: str, kind: str) -> tuple[TensorRule, ...]:
    p = f"{block}.{kind}."
    return (
        _t(p + "q.weight", "heads*head_dim", "hidden"),
        _t(p + "k.weight", "heads*head_dim", "hidden"),
        _t(p + "v.weight", "heads*head_dim", "hidden"),
        _t(p + "o.weight", "hidden", "heads*head_dim"),
        _t(p + "relative_attention_bias.weight", required=False),  # first block only
    )


def _t5_ff(block: str) -> tuple[TensorRule, ...]:
    return (  # Flan-T5 (gated-gelu): wi_0, wi_1; original T5: wi
        _t(block + ".DenseReluDense.wi_0.weight", "intermediate", "hidden", required=False),
        _t(block + ".DenseReluDense.wi_1.weight", "intermediate", "hidden", required=False),
        _t(block + ".DenseReluDense.wi.weight", "intermediate", "hidden", required=False),
        _t(block + ".DenseReluDense.wo.weight", "hidden", "intermediate"),
        _t(block + ".layer_norm.weight", "hidden"),
    )


_T5 = ArchitectureRule(
    "T5ForConditionalGeneration",
    "Flan-T5",
    {
        "hidden": ("d_model",),
        "intermediate": ("d_ff",),
        "heads": ("num_heads",),
        "head_dim": ("d_kv",),
        "vocab": ("vocab_size",),
    },
    (
        ("encoder.block.{i}.", ("num_layers",)),
        ("decoder.block.{i}.", ("num_decoder_layers", "num_layers")),
    ),
    (
        _t("shared.weight", "vocab", "hidden"),
        _t("encoder.embed_tokens.weight", "vocab", "hidden", required=False),
        _t("decoder.embed_tokens.weight", "vocab", "hidden", required=False),
        _t("encoder.final_layer_norm.weight", "hidden"),
        _t("decoder.final_layer_norm.weight", "hidden"),
        _t("lm_head.weight", "vocab", "hidden", required=False),
        *_t5_attention("encoder.block.{i}.layer.0", "SelfAttention"),
        _t("encoder.block.{i}.layer.0.layer_norm.weight", "hidden"),
        *_t5_ff("encoder.block.{i}.layer.1"),
        *_t5_attention("decoder.block.{i}.layer.0", "SelfAttention"),
        _t("decoder.block.{i}.layer.0.layer_norm.weight", "hidden"),
        *_t5_attention("decoder.block.{i}.layer.1", "EncDecAttention"),
        _t("decoder.block.{i}.layer.1.layer_norm.weight", "hidden"),
        *_t5_ff("decoder.block.{i}.layer.2"),
    ),
    embed="shared.weight",
    tie_default=True,
)

_H = "transformer.h.{i}."
_GPT_BIGCODE = ArchitectureRule(
    "GPTBigCodeForCausalLM",
    "GPTBigCode",
    # kv_heads: 1 when multi_query is true (the default), else heads.
    {
        "hidden": ("n_embd",),
        "intermediate": ("n_inner",),
        "heads": ("n_head",),
        "vocab": ("vocab_size",),
        "positions": ("n_positions",),
    },
    ((_H, ("n_layer",)),),
    (
        _t("transformer.wte.weight", "vocab", "hidden"),
        _t("transformer.wpe.weight", "positions", "hidden"),
        _t("transformer.ln_f.weight", "hidden"),
        _t("transformer.ln_f.bias", "hidden"),
        _t("lm_head.weight", "vocab", "hidden", required=False),
        *(_t(_H + f"{ln}.{p}", "hidden") for ln in ("ln_1", "ln_2") for p in ("weight", "bias")),
        _t(_H + "attn.c_attn.weight", "hidden+2*kv_heads*head_dim", "hidden"),
        _t(_H + "attn.c_attn.bias", "hidden+2*kv_heads*head_dim"),
        _t(_H + "attn.c_proj.weight", "hidden", "hidden"),
        _t(_H + "attn.c_proj.bias", "hidden"),
        _t(_H + "mlp.c_fc.weight", "intermediate", "hidden"),
        _t(_H + "mlp.c_fc.bias", "intermediate"),
        _t(_H + "mlp.c_proj.weight", "hidden", "intermediate"),
        _t(_H + "mlp.c_proj.bias", "hidden"),
    ),
    embed="transformer.wte.weight",
    tie_default=True,
)


# Mllama (modeling_mllama.py [hf]): the text decoder under language_model. (self-attention
# layers, and cross-attention layers at text_config.cross_attention_layers: cross_attn.*, its
# q/k norms and two tanh gates), the vision tower under vision_model. (a local encoder and a
# gated global encoder), the projector from the vision output to the text hidden size.
# embed_tokens holds vocab_size + 8 rows (the image token and reserved ids); lm_head does not.
_TL = "language_model.model.layers.{i}."
_VL = "vision_model.transformer.layers.{i}."
_GL = "vision_model.global_transformer.layers.{i}."
_V = "vision_config."


def _vision_layer(prefix: str) -> tuple[TensorRule, ...]:
    rules = [_t(prefix + f"self_attn.{p}_proj.weight", "v_hidden", "v_hidden") for p in "qkvo"]
    rules += [
        _t(prefix + "mlp.fc1.weight", "v_intermediate", "v_hidden"),
        _t(prefix + "mlp.fc1.bias", "v_intermediate"),
        _t(prefix + "mlp.fc2.weight", "v_hidden", "v_intermediate"),
        _t(prefix + "mlp.fc2.bias", "v_hidden"),
    ]
    for norm in ("input_layernorm", "post_attention_layernorm"):
        rules += [
            _t(prefix + f"{norm}.weight", "v_hidden"),
            _t(prefix + f"{norm}.bias", "v_hidden"),
        ]
    return tuple(rules)


_MLLAMA = ArchitectureRule(
    "MllamaForConditionalGeneration",
    "Llama 3.2 vision",
    {
        **_DECODER_DIMS,
        "v_hidden": (_V + "hidden_size",),
        "v_intermediate": (_V + "intermediate_size",),
        "v_output": (_V + "vision_output_dim",),
        "channels": (_V + "num_channels",),
        "patch": (_V + "patch_size",),
    },
    (
        (_TL, ("num_hidden_layers",)),
        (_VL, (_V + "num_hidden_layers",)),
        (_GL, (_V + "num_global_layers",)),
    ),
    (
        _t("language_model.model.embed_tokens.weight", "vocab+8", "hidden"),
        _t("language_model.model.norm.weight", "hidden"),
        _t("language_model.lm_head.weight", "vocab", "hidden", required=False),
        _t(_TL + "input_layernorm.weight", "hidden"),
        _t(_TL + "post_attention_layernorm.weight", "hidden"),
        *(
            _t(_TL + f"{kind}.{p}_proj.weight", *shape, required=False)
            for kind in ("self_attn", "cross_attn")
            for p, shape in (
                ("q", ("heads*head_dim", "hidden")),
                ("k", ("kv_heads*head_dim", "hidden")),
                ("v", ("kv_heads*head_dim", "hidden")),
                ("o", ("hidden", "heads*head_dim")),
            )
        ),
        _t(_TL + "cross_attn.q_norm.weight", "head_dim", required=False),
        _t(_TL + "cross_attn.k_norm.weight", "head_dim", required=False),
        _t(_TL + "cross_attn_attn_gate", "1", required=False),
        _t(_TL + "cross_attn_mlp_gate", "1", required=False),
        *_dense_mlp(layer=_TL),
        _t("multi_modal_projector.weight", "hidden", "v_output"),
        _t("multi_modal_projector.bias", "hidden"),
        _t("vision_model.patch_embedding.weight", "v_hidden", "channels", "patch", "patch"),
        _t("vision_model.class_embedding", "v_hidden"),
        _t("vision_model.gated_positional_embedding.embedding"),
        _t("vision_model.gated_positional_embedding.gate", "1"),
        _t("vision_model.gated_positional_embedding.tile_embedding.weight"),
        *(
            _t(f"vision_model.{tile}_tile_positional_embedding.{leaf}")
            for tile in ("pre", "post")
            for leaf in ("embedding.weight", "gate")
        ),
        *(
            _t(f"vision_model.layernorm_{where}.{leaf}", "v_hidden")
            for where in ("pre", "post")
            for leaf in ("weight", "bias")
        ),
        *_vision_layer(_VL),
        *_vision_layer(_GL),
        _t(_GL + "gate_attn", "1"),
        _t(_GL + "gate_ffn", "1"),
    ),
    embed="language_model.model.embed_tokens.weight",
    lm_head="language_model.lm_head.weight",
)


def _multimodal(arch: str, family: str) -> ArchitectureRule:
    return ArchitectureRule(arch, family, {}, embed=None, lm_head=None, names_checked=False)


IMPORT_RULES: Mapping[str, ArchitectureRule] = MappingProxyType(
    {
        rule.architecture: rule
        for rule in (
            _decoder(
                "LlamaForCausalLM", "Llama 2/3/3.1/3.2/3.3", _attention(bias=False) + _dense_mlp()
            ),
            _decoder("MistralForCausalLM", "Mistral", _attention(bias=False) + _dense_mlp()),
            _decoder("MixtralForCausalLM", "Mixtral", _attention(bias=False) + _MIXTRAL_MOE),
            _decoder("Qwen2ForCausalLM", "Qwen2/2.5", _attention(bias=True) + _dense_mlp()),
            _decoder(
                "Qwen3ForCausalLM", "Qwen3", _attention(bias=False, qk_norm=True) + _dense_mlp()
            ),
            _decoder(
                "Qwen3MoeForCausalLM",
                "Qwen3-MoE",
                _attention(bias=False, qk_norm=True) + _dense_mlp(False) + _QWEN3_MOE,
            ),
            _T5,
            _GPT_BIGCODE,
            _MLLAMA,
            _multimodal("Qwen2VLForConditionalGeneration", "Qwen2-VL"),
            _multimodal("Qwen2_5_VLForConditionalGeneration", "Qwen2.5-VL"),
        )
    }
)
