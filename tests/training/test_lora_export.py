"""LoRA merges exactly, and the export is a plain transformers checkpoint (sharded or not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, GenerationConfig

from training_image.trainer.export import export, merged_tensors
from training_image.trainer.lora import LoRALinear, apply_lora
from training_image.trainer.loss import linear_cross_entropy_sum


def adapted(base: Path, targets: tuple[str, ...] = ("all-linear",)) -> Any:
    lm = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    apply_lora(lm, targets, rank=4, alpha=16.0, dropout=0.0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in lm.modules():
            if isinstance(module, LoRALinear):  # B starts at zero: give it values to merge
                module.lora_b.weight.normal_(0, 0.05, generator=gen)
    return lm.eval()


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_merged_logits_equal_base_plus_adapter(base_models: dict[str, Path], arch: str) -> None:
    lm = adapted(base_models[arch])
    ids = torch.randint(
        0, lm.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(1)
    )
    merged = AutoModelForCausalLM.from_pretrained(base_models[arch], torch_dtype=torch.float32)
    plain = merged(ids).logits.detach()
    # Qwen2 ties lm_head to the embeddings: the export has no lm_head entry, like HF's own.
    state = dict(merged_tensors(lm, torch.float32))
    missing, unexpected = merged.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    with torch.no_grad():
        want = lm(ids).logits
        got = merged.eval()(ids).logits
    assert not torch.allclose(plain, want, atol=1e-3)  # the adapter does change the model
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)


def test_lora_targets(base_models: dict[str, Path]) -> None:
    lm = AutoModelForCausalLM.from_pretrained(base_models["llama"])
    wrapped = apply_lora(lm, ("q_proj", "v_proj"), 4, 8.0, 0.0)
    assert len(wrapped) == 2 * lm.config.num_hidden_layers
    assert all(n.endswith(("q_proj", "v_proj")) for n in wrapped)
    trainable = {n for n, p in lm.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n for n in trainable)
    everything = AutoModelForCausalLM.from_pretrained(base_models["llama"])
    assert len(apply_lora(everything, ("all-linear",), 4, 8.0, 0.0)) == 7 * 2  # not lm_head
    with pytest.raises(ValueError, match=r"loraTargetModules.*qkv_proj.*available"):
        apply_lora(
            AutoModelForCausalLM.from_pretrained(base_models["llama"]), ("qkv_proj",), 4, 8, 0
        )


def test_sharded_export_loads_and_matches(
    base_models: dict[str, Path], tokenizer: Any, tmp_path: Path, world_of_one: None
) -> None:
    lm = adapted(base_models["llama"])
    files = export(lm, tokenizer, tmp_path, base_models["llama"], shard_bytes=60_000)
    assert len(files) > 2
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(files)
    with safe_open(str(tmp_path / files[0]), "pt") as f:
        assert f.metadata() == {"format": "pt"}
        assert all(f.get_tensor(k).dtype == torch.bfloat16 for k in f.keys())  # noqa: SIM118
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, torch_dtype=torch.float32).eval()
    ids = torch.randint(
        0, lm.config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(2)
    )
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, lm(ids).logits, atol=0.05)  # bf16 rounding
    generation = GenerationConfig.from_pretrained(tmp_path)
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    assert eot in ([generation.eos_token_id] if isinstance(generation.eos_token_id, int)
                   else generation.eos_token_id)  # fmt: skip


def test_fused_cross_entropy_matches_the_plain_one() -> None:
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 40, 16, generator=gen, requires_grad=True)
    weight = torch.randn(50, 16, generator=gen, requires_grad=True)
    labels = torch.randint(0, 50, (3, 40), generator=gen)
    labels[:, ::3] = -100
    got = linear_cross_entropy_sum(hidden, weight, labels, chunk=7)
    got.backward()
    assert hidden.grad is not None and weight.grad is not None
    gh, gw = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    logits = hidden[:, :-1] @ weight.t()
    want = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 50), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum"
    )
    want.backward()
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    want_h, want_w = hidden.grad, weight.grad
    assert want_h is not None and want_w is not None
    assert torch.allclose(gh, want_h, atol=1e-5) and torch.allclose(gw, want_w, atol=1e-5)
    with torch.no_grad():  # evaluation path: no gradient bookkeeping, same value
        assert float(linear_cross_entropy_sum(hidden, weight, labels)) == pytest.approx(float(got))
