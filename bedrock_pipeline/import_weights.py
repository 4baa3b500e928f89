"""What the safetensors headers say about an export: names, layers, shapes, dtype, index.

``check_weights`` compares the shards' headers (``bedrock_pipeline.safetensors_header``) with
config.json and the index, under the architecture's rule from ``IMPORT_RULES``. Pure; the
callers read the headers (locally by seek, on S3 by ranged GET).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bedrock_pipeline.import_rules import (
    ADAPTER_MARKERS,
    WEIGHT_DTYPES,
    ArchitectureRule,
    TensorRule,
)
from bedrock_pipeline.safetensors_header import TORCH_DTYPES, ShardHeader

INDEX = "model.safetensors.index.json"
EXAMPLES = 3  # names quoted per reason; the count says how many more


@dataclass
class WeightsFindings:
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dtype: str | None = None  # torch name of the weights' one floating dtype
    tensors: int = 0


def _some(names: list[str] | set[str]) -> str:
    ordered = sorted(names)
    more = f" and {len(ordered) - EXAMPLES} more" if len(ordered) > EXAMPLES else ""
    return ", ".join(ordered[:EXAMPLES]) + more


def _scope(config: Mapping[str, Any]) -> Mapping[str, Any]:
    text = config.get("text_config")
    return text if isinstance(text, dict) and "architectures" not in text else config


def _with_sub_configs(scope: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The scope plus every sub-config key as "vision_config.hidden_size" (Mllama's towers)."""
    view = dict(scope)
    for sub in ("text_config", "vision_config"):
        if isinstance(config.get(sub), dict):
            view.update({f"{sub}.{k}": v for k, v in config[sub].items()})
    return view


def _dims(rule: ArchitectureRule, config: Mapping[str, Any]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for name, keys in rule.dims.items():
        value = next((config[k] for k in keys if isinstance(config.get(k), int)), None)
        if value is not None:
            dims[name] = int(value)
    hidden, heads = dims.get("hidden"), dims.get("heads")
    if "head_dim" not in dims and hidden and heads:
        dims["head_dim"] = hidden // heads
    if config.get("multi_query") is True:  # GPTBigCode: one shared key/value head
        dims["kv_heads"] = 1
    dims.setdefault("kv_heads", dims.get("heads", 0))
    if "intermediate" not in dims and hidden and rule.architecture == "GPTBigCodeForCausalLM":
        dims["intermediate"] = 4 * hidden  # n_inner null means 4 * n_embd
    return dims


def _evaluate(expression: str, dims: Mapping[str, int]) -> int | None:
    total = 0
    for term in expression.split("+"):
        product = 1
        for factor in term.split("*"):
            if factor.isdigit():
                product *= int(factor)
            elif factor in dims:
                product *= dims[factor]
            else:
                return None
        total += product
    return total


def _compile(rule: TensorRule) -> re.Pattern[str]:
    body = re.escape(rule.pattern).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{e\}", r"\d+")
    return re.compile(body + "$")


def _check_index(
    index: Mapping[str, Any] | None, headers: Mapping[str, ShardHeader], found: WeightsFindings
) -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for shard, header in headers.items():
        for name in header.tensors:
            where[name].append(shard)
    twice = {n for n, shards in where.items() if len(shards) > 1}
    if twice:
        found.reasons.append(f"tensors stored in more than one shard: {_some(twice)}")
    if index is None:
        if len(headers) > 1:
            found.reasons.append(f"{len(headers)} weight shards but no {INDEX} to map them")
        return
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        found.reasons.append(f"{INDEX} has no weight_map object")
        return
    listed, present = set(weight_map.values()), set(headers)
    if listed - present:
        found.reasons.append(f"{INDEX} names shards that are missing: {_some(listed - present)}")
    if present - listed:
        found.reasons.append(f"shards not in {INDEX}: {_some(present - listed)}")
    unlisted = set(where) - set(weight_map)
    if unlisted:
        found.reasons.append(f"tensors missing from {INDEX}: {_some(unlisted)}")
    ghosts = {n for n, s in weight_map.items() if s in present and n not in where}
    if ghosts:
        found.reasons.append(f"{INDEX} lists tensors no shard holds: {_some(ghosts)}")
    moved = {n for n, s in weight_map.items() if n in where and s not in where[n]}
    if moved:
        found.reasons.append(f"{INDEX} maps tensors to the wrong shard: {_some(moved)}")


def _check_dtype(
    config: Mapping[str, Any], headers: Mapping[str, ShardHeader], found: WeightsFindings
) -> None:
    per_shard = {s: Counter(t.dtype for t in h.tensors.values()) for s, h in headers.items()}
    total: Counter[str] = sum(per_shard.values(), Counter())
    floats = {d for d in total if d in TORCH_DTYPES}
    other = sorted(set(total) - floats)
    if other:
        found.reasons.append(
            f"{sum(total[d] for d in other)} tensors in {', '.join(other)}: quantized weights are "
            f"not imported; save the weights in {' or '.join(WEIGHT_DTYPES)}"
        )
    if len(floats) > 1:
        mix = ", ".join(f"{total[d]} {TORCH_DTYPES[d]}" for d in sorted(floats))
        found.reasons.append(f"mixed weight dtypes ({mix}): save every tensor in one dtype")
        return
    if not floats:
        return
    dtype = TORCH_DTYPES[floats.pop()]
    found.dtype = dtype
    declared = _scope(config).get("torch_dtype", config.get("torch_dtype"))
    if declared != dtype:
        found.reasons.append(
            f"weights are stored as {dtype} but config.json says torch_dtype {declared!r}: "
            f"set torch_dtype to {dtype!r} (or save the weights as {declared})"
        )
    policy = WEIGHT_DTYPES.get(dtype)
    if policy is None:
        found.reasons.append(
            f"{dtype} weights: Custom Model Import takes {', '.join(WEIGHT_DTYPES)}"
        )
    elif policy == "warning":
        found.warnings.append(
            f"{dtype} weights import, but at twice the size (and Custom Model Units) of bfloat16"
        )


def _check_names(
    rule: ArchitectureRule,
    config: Mapping[str, Any],
    names: Mapping[str, tuple[int, ...]],
    found: WeightsFindings,
) -> None:
    scope = _with_sub_configs(_scope(config), config)
    dims = _dims(rule, scope)
    compiled = [(r, _compile(r)) for r in rule.tensors]
    unknown, wrong, seen = [], [], defaultdict(set)
    for name, shape in names.items():
        hit = next(((r, m) for r, p in compiled if (m := p.match(name))), None)
        if hit is None:
            unknown.append(name)
            continue
        r, m = hit
        if "i" in m.groupdict():
            seen[r.pattern].add(int(m["i"]))
        else:
            seen[r.pattern].add(-1)
        if r.shape is not None:
            want = tuple(_evaluate(e, dims) for e in r.shape)
            if None not in want and want != shape:
                wrong.append(f"{name} {list(shape)} (config.json implies {list(want)})")
    if unknown:
        found.reasons.append(
            f"{len(unknown)} tensor names that {rule.architecture} does not have: "
            f"{_some(unknown)}; save with the model's own save_pretrained"
        )
    if wrong:
        found.reasons.append(f"{len(wrong)} shapes disagree with config.json: {_some(wrong)}")
    for prefix, keys in rule.layers:
        key = next((k for k in keys if isinstance(scope.get(k), int)), keys[0])
        count = scope.get(key) if isinstance(scope.get(key), int) else None
        layer = re.compile(re.escape(prefix).replace(r"\{i\}", r"(?P<i>\d+)"))
        indices = {int(m["i"]) for n in names if (m := layer.match(n))}
        if count is not None and indices != set(range(count)):
            found.reasons.append(
                f"{len(indices)} layers under {prefix.replace('{i}', 'N')} (indices "
                f"{_ranges(indices)}); config.json says {key} = {count}"
            )
            continue
        for r in rule.tensors:
            if r.required and r.pattern.startswith(prefix) and "{e}" not in r.pattern:
                absent = set(range(count or 0)) - seen[r.pattern]
                if absent:
                    found.reasons.append(
                        f"missing {r.pattern.replace('{i}', 'N')} in layers {_ranges(absent)}"
                    )
    for r in rule.tensors:
        if r.required and "{i}" not in r.pattern and r.pattern not in names:
            found.reasons.append(f"missing tensor {r.pattern}")
    _check_head(rule, scope, names, found)


def _check_head(
    rule: ArchitectureRule,
    scope: Mapping[str, Any],
    names: Mapping[str, tuple[int, ...]],
    found: WeightsFindings,
) -> None:
    if rule.lm_head is None:
        return
    tied = scope.get("tie_word_embeddings", rule.tie_default)
    if not tied and rule.lm_head not in names:
        shared = f" {rule.embed}" if rule.embed else " the embedding"
        found.reasons.append(
            f"no {rule.lm_head} and tie_word_embeddings is false in config.json: the output "
            f"layer is missing (save it, or set tie_word_embeddings if it shares{shared})"
        )


def _ranges(values: set[int]) -> str:
    if not values:
        return "none"
    ordered, spans, start = sorted(values), [], None
    for i, v in enumerate(ordered):
        start = v if start is None else start
        if i + 1 == len(ordered) or ordered[i + 1] != v + 1:
            spans.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(spans)


def check_weights(
    rule: ArchitectureRule | None,
    config: Mapping[str, Any],
    headers: Mapping[str, ShardHeader],
    index: Mapping[str, Any] | None,
) -> WeightsFindings:
    """Everything the headers can refute; ``rule`` None (unknown architecture): generic checks."""
    found = WeightsFindings()
    names = {n: t.shape for h in headers.values() for n, t in h.tensors.items()}
    found.tensors = len(names)
    adapter = [n for n in names if any(marker in n for marker in ADAPTER_MARKERS)]
    if adapter:
        found.reasons.append(
            f"{len(adapter)} unmerged LoRA adapter tensors ({_some(adapter)}): no import loader "
            "reads them; merge the adapter into the base weights (PEFT merge_and_unload()) and "
            "save_pretrained the merged model"
        )
        return found
    _check_index(index, headers, found)
    _check_dtype(config, headers, found)
    if rule is not None and rule.names_checked:
        _check_names(rule, config, names, found)
    return found
