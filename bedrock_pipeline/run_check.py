"""The offline check of a run document against a stage: every problem at once, plus what the
run will cost where that is known. Behind ``bedrock-pipeline check-run``; no AWS.

It applies, in one pass, the rules the API and the workflow apply one at a time: the document's
schema and cross-field rules (``run_spec``), the stage's allowed base models (the API's and the
workflow's first check), the registry (model known, trainer, customization type, region of the
stage, distillation teacher), the hyperparameters of the model or of the container, and the
container's batch layout over the GPUs of the chosen instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bedrock_pipeline.hyperparameters import resolve_hyperparameters
from bedrock_pipeline.model_spec import CustomizationType, Trainer, did_you_mean
from bedrock_pipeline.registry import (
    IMPORT,
    UnknownModelError,
    customization_regions,
    distillation_teachers,
    get_model,
)
from bedrock_pipeline.run_spec import RunSpec, RunSpecError, cross_field_issues, inference_model_id
from bedrock_pipeline.training_contract import GPUS_PER_INSTANCE, batch_layout_problem


@dataclass(frozen=True)
class Stage:
    """What the check needs of a stage (``config/<name>.json``)."""

    name: str
    region: str
    allowed_base_models: tuple[str, ...]


@dataclass
class RunCheck:
    problems: list[RunSpecError] = field(default_factory=list)
    estimate: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems

    def add(self, field_name: str, message: str) -> None:
        self.problems.append(RunSpecError(field_name, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "problems": [{"field": p.field, "message": p.message} for p in self.problems],
            "estimate": self.estimate,
        }


def check_run(document: object, stage: Stage) -> RunCheck:
    """Every problem of `document` for `stage`; never raises for a bad document."""
    check = RunCheck()
    try:
        spec = RunSpec.model_validate(document, context={"collect": True})
    except ValidationError as exc:
        _schema_problems(check, exc)
        # The rest of the document still gets the other checks: drop the fields that failed.
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        if not isinstance(document, dict) or not bad:
            return check
        try:
            spec = RunSpec.model_validate(
                {k: v for k, v in document.items() if k not in bad}, context={"collect": True}
            )
        except ValidationError:
            return check
    else:
        bad = set()
    check.problems.extend(p for p in cross_field_issues(spec) if p.field.split(".")[0] not in bad)
    _check_stage(check, spec, stage)
    return check


def _schema_problems(check: RunCheck, exc: ValidationError) -> None:
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"]) or "<document>"
        message = str(error["msg"]).removeprefix("Value error, ")
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, RunSpecError):
            check.add(ctx_error.field, ctx_error.message)
        elif error["type"] == "extra_forbidden":
            known = _fields_at(error["loc"][:-1])
            hint = did_you_mean(str(error["loc"][-1]), known)
            check.add(path, f"unknown field{hint}; allowed: {', '.join(known)}")
        else:
            check.add(path, f"{message} (got {_short(error.get('input'))})")


def _check_stage(check: RunCheck, spec: RunSpec, stage: Stage) -> None:
    if spec.trainer == Trainer.IMPORT:
        if stage.region not in IMPORT.regions:
            check.add(
                "trainer",
                f"Custom Model Import is not available in {stage.region}; "
                f"regions: {', '.join(sorted(IMPORT.regions))}",
            )
        return
    try:
        model = get_model(spec.base_model_id)
    except UnknownModelError as exc:
        check.add("baseModelId", f"unknown base model {spec.base_model_id!r}{exc.suggestion}")
        return
    allowed = stage.allowed_base_models
    if spec.trainer == Trainer.BEDROCK and allowed:
        enabled = {inference_model_id(m) for m in allowed}
        if inference_model_id(spec.base_model_id) not in enabled:
            check.add(
                "baseModelId",
                f"{spec.base_model_id!r} is not enabled in stage "
                f"{stage.name!r}; allowed: {', '.join(allowed)}",
            )
    if spec.trainer != model.trainer:
        check.add(
            "trainer", f"{model.model_id} is trained by '{model.trainer}', not '{spec.trainer}'"
        )
        return
    customization = CustomizationType(spec.customization_type)
    if model.limits(customization) is None:
        supported = ", ".join(model.customizations)
        check.add(
            "customizationType",
            f"{model.model_id} does not support {customization}; supported: {supported}",
        )
    else:
        regions = customization_regions(model.model_id, customization)
        if stage.region not in regions:
            check.add(
                "baseModelId",
                f"{model.name} {customization} runs only in {', '.join(sorted(regions))}; "
                f"stage {stage.name!r} is in {stage.region}",
            )
    if spec.teacher_model_id is not None:
        teachers = distillation_teachers(model.model_id)
        if spec.teacher_model_id not in teachers:
            hint = did_you_mean(spec.teacher_model_id, teachers)
            check.add(
                "teacherModelId",
                f"{spec.teacher_model_id!r} cannot distil into "
                f"{model.model_id}{hint}; teachers: {', '.join(teachers) or 'none'}",
            )
    given = spec.container.hyper_parameters if spec.container else spec.hyper_parameters
    where = "container.hyperParameters" if spec.container else "hyperParameters"
    resolved, issues = resolve_hyperparameters(model, given)
    for issue in issues:
        check.add(f"{where}.{issue.key}", issue.message)
    epochs = int(resolved.get("epochCount", "1"))
    check.estimate["epochCount"] = epochs
    if spec.container is not None:
        _check_container(check, spec, resolved, {i.key for i in issues}, where)


def _check_container(
    check: RunCheck, spec: RunSpec, resolved: dict[str, str], bad: set[str], where: str
) -> None:
    container = spec.container
    assert container is not None
    gpus = GPUS_PER_INSTANCE.get(container.instance_type)
    if gpus is None:
        hint = did_you_mean(container.instance_type, GPUS_PER_INSTANCE)
        check.add(
            "container.instanceType",
            f"{container.instance_type!r} is not a GPU training "
            f"instance this project knows{hint}; known: {', '.join(GPUS_PER_INSTANCE)}",
        )
        return
    world = gpus * container.instance_count
    if not bad & {"batchSize", "microBatchSize"}:
        problem = batch_layout_problem(
            int(resolved["batchSize"]), int(resolved["microBatchSize"]), world
        )
        if problem:
            check.add(
                f"{where}.batchSize",
                f"{resolved['batchSize']}: {problem} "
                f"({container.instance_count} x {container.instance_type})",
            )
    hours = container.max_runtime_s / 3600 * container.instance_count
    check.estimate.update(
        {
            "instanceType": container.instance_type,
            "instanceCount": container.instance_count,
            "gpus": world,
            # SageMaker bills the time the job runs; maxRuntimeS bounds it.
            "instanceHoursAtMost": round(hours, 2),
            "spot": container.use_spot,
        }
    )


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The JSON field names of the object at `loc` (for "did you mean")."""
    model: Any = RunSpec
    for part in loc:
        info = model.model_fields.get(str(part)) if isinstance(part, str) else None
        if info is None:
            by_alias = {f.alias: f for f in model.model_fields.values()}
            info = by_alias.get(str(part))
        annotation = getattr(info, "annotation", None)
        inner = [a for a in getattr(annotation, "__args__", ()) if hasattr(a, "model_fields")]
        model = inner[0] if inner else annotation
        if not hasattr(model, "model_fields"):
            return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
