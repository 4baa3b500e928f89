"""EMULATION. A tiny Llama export written byte by byte (safetensors header JSON + zero data).

What an emulated training job leaves in S3 (``emulator.py``): a ``config.json`` and a
``model.safetensors`` whose header agrees with it, so the import check passes on it. Independent
of the safetensors library on purpose: the import-check tests reuse ``shard_bytes`` to write what
a broken exporter writes (wrong offsets, cut files, adapter keys) as well as what a good one does.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from typing import Any

from bedrock_pipeline.safetensors_header import DTYPE_BYTES

Spec = Mapping[str, tuple[str, tuple[int, ...]]]  # name -> (safetensors dtype, shape)


def shard_bytes(tensors: Spec) -> bytes:
    """A safetensors file: 8-byte little-endian header length, header JSON, zeroed data."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = int(math.prod(shape) * DTYPE_BYTES[dtype])
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def llama_tensors(config: Mapping[str, Any], dtype: str = "BF16") -> dict[str, Any]:
    """Every tensor LlamaForCausalLM saves for ``config`` (hidden, heads, layers, vocab...)."""
    h, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    heads, kv = config["num_attention_heads"], config.get("num_key_value_heads", 0)
    hd = h // heads
    out: dict[str, Any] = {"model.embed_tokens.weight": (dtype, (vocab, h))}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out |= {
            p + "input_layernorm.weight": (dtype, (h,)),
            p + "post_attention_layernorm.weight": (dtype, (h,)),
            p + "self_attn.q_proj.weight": (dtype, (heads * hd, h)),
            p + "self_attn.k_proj.weight": (dtype, ((kv or heads) * hd, h)),
            p + "self_attn.v_proj.weight": (dtype, ((kv or heads) * hd, h)),
            p + "self_attn.o_proj.weight": (dtype, (h, heads * hd)),
            p + "mlp.gate_proj.weight": (dtype, (inter, h)),
            p + "mlp.up_proj.weight": (dtype, (inter, h)),
            p + "mlp.down_proj.weight": (dtype, (h, inter)),
        }
    out["model.norm.weight"] = (dtype, (h,))
    if not config.get("tie_word_embeddings", False):
        out["lm_head.weight"] = (dtype, (vocab, h))
    return out


TINY_LLAMA = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "max_position_embeddings": 4096,
    "torch_dtype": "bfloat16",
    "hidden_size": 8,
    "intermediate_size": 16,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "num_hidden_layers": 1,
    "vocab_size": 16,
    "tie_word_embeddings": True,
}


def tiny_llama_files(**config: Any) -> dict[str, bytes]:
    """config.json and a model.safetensors whose header agrees with it (an importable export)."""
    merged = TINY_LLAMA | config
    return {
        "config.json": json.dumps(merged).encode(),
        "model.safetensors": shard_bytes(llama_tensors(merged)),
    }
