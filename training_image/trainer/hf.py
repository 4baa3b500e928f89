"""Typed access to the parts of a transformers causal LM the trainer uses.

``nn.Module.__getattr__`` is typed to return ``Tensor | Module``, so to a type checker every
attribute a transformers class adds (``config``, ``get_decoder``, ``rope_init_fn``) looks like
one of those. These accessors check at run time what the trainer relies on and return it typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig


def config_of(lm: nn.Module) -> PretrainedConfig:
    """The model's ``PretrainedConfig`` (``lm.config``)."""
    config = lm.config
    if not isinstance(config, PretrainedConfig):
        raise TypeError(f"{type(lm).__name__}.config is not a transformers PretrainedConfig")
    return config


def method_of(module: nn.Module, name: str) -> Callable[..., Any]:
    """A method a transformers class defines on top of ``nn.Module``."""
    method = getattr(module, name)
    if not callable(method):
        raise TypeError(f"{type(module).__name__}.{name} is not callable")
    return method


def decoder_of(lm: nn.Module) -> nn.Module:
    """The decoder stack without the head (``LlamaModel`` inside ``LlamaForCausalLM``)."""
    decoder = method_of(lm, "get_decoder")()
    if not isinstance(decoder, nn.Module):
        raise TypeError(f"{type(lm).__name__}.get_decoder() returned no module")
    return decoder


def decoder_layers_of(lm: nn.Module) -> nn.ModuleList:
    """The decoder layers, in order (``model.layers``): the unit of checkpointing and sharding."""
    layers = decoder_of(lm).layers
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(f"{type(lm).__name__}'s decoder has no ModuleList of layers")
    return layers


def output_weight_of(lm: nn.Module) -> torch.Tensor:
    """``lm_head.weight``: the projection from hidden states to the vocabulary."""
    head = method_of(lm, "get_output_embeddings")()
    weight = getattr(head, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{type(lm).__name__} has no output embedding weight")
    return weight
