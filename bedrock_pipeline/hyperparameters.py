"""Hyperparameters: validated and defaulted per model, rendered as Bedrock's string map.

CreateModelCustomizationJob takes `hyperParameters` as string -> string. Users (and the
workflow's JSON input) give numbers or strings; both are parsed, checked against the
registry's type and inclusive range, and written back in one canonical form, so the job, the
validation report and the training container all see the same values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bedrock_pipeline import training_contract
from bedrock_pipeline.model_spec import HyperparameterSpec, ModelSpec, Trainer


class HyperparameterCode:
    UNKNOWN = "UNKNOWN_HYPERPARAMETER"
    TYPE = "HYPERPARAMETER_TYPE"
    RANGE = "HYPERPARAMETER_RANGE"


@dataclass(frozen=True)
class HyperparameterIssue:
    key: str
    code: str
    message: str


def _fmt(value: float) -> str:
    """Plain decimal, never exponent notation: '0.000005', not '5e-06'."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value)) if isinstance(value, int) else f"{value:.1f}"
    text = format(Decimal(repr(float(value))), "f")
    return text


def _parse(spec: HyperparameterSpec, raw: object) -> int | float:
    """Parse one value for `spec`; raises ValueError with what is allowed."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError(f"must be a {_kind(spec)} number or string, got {type(raw).__name__}")
    if spec.type == "int":
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ValueError(f"must be an integer, got {raw!r}")
            return int(raw)
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"must be an integer, got {raw!r}") from None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {raw!r}")
    return value


def _kind(spec: HyperparameterSpec) -> str:
    return "integer" if spec.type == "int" else "decimal"


def _range(spec: HyperparameterSpec) -> str:
    if spec.min == spec.max:
        return f"only {_fmt(spec.min)}"
    return f"{_fmt(spec.min)} to {_fmt(spec.max)} ({_kind(spec)})"


def resolve_hyperparameters(
    model: ModelSpec, given: Mapping[str, object] | None
) -> tuple[dict[str, str], list[HyperparameterIssue]]:
    """Defaults overlaid with `given`, as strings; plus every problem found (never only the first).

    The map is complete (every key of the model, defaults filled in) so a report shows exactly
    what the job will run with. Invalid entries fall back to the default in the map and are
    listed as issues.
    """
    if model.trainer is Trainer.CONTAINER:
        return _resolve_container(model, dict(given or {}))
    issues: list[HyperparameterIssue] = []
    given = dict(given or {})
    allowed = ", ".join(h.key for h in model.hyperparameters)
    for key in given:
        if model.hyperparameter(key) is None:
            issues.append(
                HyperparameterIssue(
                    key,
                    HyperparameterCode.UNKNOWN,
                    f"unknown hyperparameter '{key}' for {model.model_id}; allowed: {allowed}",
                )
            )
    resolved: dict[str, str] = {}
    for spec in model.hyperparameters:
        value: int | float = int(spec.default) if spec.type == "int" else float(spec.default)
        if spec.key in given:
            raw = given[spec.key]
            try:
                parsed = _parse(spec, raw)
            except ValueError as exc:
                issues.append(
                    HyperparameterIssue(
                        spec.key, HyperparameterCode.TYPE, f"{spec.key}={raw!r}: {exc}"
                    )
                )
            else:
                if spec.min <= parsed <= spec.max:
                    value = parsed
                else:
                    issues.append(
                        HyperparameterIssue(
                            spec.key,
                            HyperparameterCode.RANGE,
                            f"{spec.key}={raw!r} is out of range for {model.model_id}; "
                            f"allowed: {_range(spec)}, default {_fmt(spec.default)}",
                        )
                    )
        resolved[spec.key] = _fmt(value)
    return resolved, issues


def _container_value(raw: object) -> str:
    """SageMaker passes hyperparameters as strings; the container parses these forms back."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return _fmt(raw)
    if isinstance(raw, list | tuple):
        return ",".join(str(item) for item in raw)
    return str(raw)


def _resolve_container(
    model: ModelSpec, given: dict[str, object]
) -> tuple[dict[str, str], list[HyperparameterIssue]]:
    """Our training container's knobs are the fields of its own config model
    (``training_contract.TrainConfig``), non-numeric ones included (method, packing, target
    modules): check every given key against that one table, never a copy of it."""
    issues: list[HyperparameterIssue] = []
    valid: dict[str, str] = {}
    for key, raw in given.items():
        try:
            training_contract.parse_hyperparameters({key: raw})
        except training_contract.HyperparameterError as exc:
            unknown = key not in training_contract.TrainConfig.model_fields
            code = HyperparameterCode.UNKNOWN if unknown else HyperparameterCode.RANGE
            issues.append(HyperparameterIssue(key, code, f"{exc} (for {model.model_id})"))
        else:
            valid[key] = _container_value(raw)
    if not issues:  # each key is fine alone; now the rules that relate several keys
        try:
            training_contract.parse_hyperparameters(valid)
        except training_contract.HyperparameterError as exc:
            issues.append(HyperparameterIssue(exc.name, HyperparameterCode.RANGE, str(exc)))
    resolved = {spec.key: _fmt(spec.default) for spec in model.hyperparameters}
    resolved.update(valid)
    return resolved, issues
