"""Typed, frozen configuration of one deployment stage, read once in ``app.py``.

Stages live in ``config/<name>.json``. Constructs receive the model; they never read the
environment, and synthesis never calls AWS. Loading checks the stage against the model
registry too (every allowed base model known and customizable in the stage's region), so a
wrong stage fails here with ``StageConfigError`` (file, field, what is allowed), before any
construct or context lookup runs.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bedrock_pipeline.model_spec import did_you_mean
from bedrock_pipeline.poll_schedule import PollSchedule
from bedrock_pipeline.promotion import DecisionMetric
from bedrock_pipeline.registry import (
    CUSTOMIZATION_REGIONS,
    MODELS,
    UnknownModelError,
    get_model,
    model_regions,
)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy), by the names of
# aws_logs.RetentionDays.
LOG_RETENTION_NAMES: dict[int, str] = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip


class StageCheckError(ValueError):
    """Problems of one stage, each as (field, message); all of them, not only the first."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


class StageConfigError(ValueError):
    """A stage file that cannot be used: one line per problem, each starting with the file."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.path, self.problems = path, problems
        # As the user would type it: relative to the working directory when inside it.
        with contextlib.suppress(ValueError):
            path = path.resolve().relative_to(Path.cwd())
        super().__init__(
            "\n".join(f"{path}: {f}: {m}" if f else f"{path}: {m}" for f, m in problems)
        )


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApiConfig(_Frozen):
    endpoint_type: Literal["REGIONAL", "PRIVATE"] = "REGIONAL"
    throttle_rate_limit: float = Field(10, gt=0)
    throttle_burst_limit: int = Field(20, gt=0)
    quota_per_day: int = Field(1000, gt=0)
    # Resource policy: callers must belong to one of these accounts (empty = this account only).
    allowed_account_ids: tuple[str, ...] = ()
    waf_enabled: bool = True

    @field_validator("allowed_account_ids")
    @classmethod
    def _accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for account in value:
            if not re.fullmatch(r"\d{12}", account):
                raise ValueError(
                    f"api.allowed_account_ids: {account!r} is not a 12-digit account id"
                )
        return value

    @model_validator(mode="after")
    def _waf_needs_regional(self) -> ApiConfig:
        if self.waf_enabled and self.endpoint_type == "PRIVATE":
            raise ValueError("api.waf_enabled applies to REGIONAL endpoints only; set it to false")
        return self


class StageConfig(_Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")
    # Every stage names its environment: the VPC's AZs and the S3 prefix list come from lookups
    # committed in cdk.context.json, so synthesis needs no credentials.
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    vpc_cidr: str = Field("10.40.0.0/16", pattern=r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])$")
    az_count: int = Field(2, ge=2, le=3)
    allowed_base_models: tuple[str, ...] = Field(min_length=1)
    log_retention_days: int = 365
    removal_policy: Literal["retain", "destroy"] = "retain"
    termination_protection: bool = True
    # Who receives run results and alarms: an email subscription to the run topic (SNS sends a
    # confirmation first). Without it the topic has no subscriber: alarms fire and are kept in
    # CloudWatch, but nobody is told; subscribe another endpoint to the topic by hand instead.
    notification_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # Principals exempt from the "data only through the VPC endpoint" bucket policy, so that
    # deployment and operators are never locked out. CDK's deploy and CloudFormation execution
    # roles (exact names, qualifier from the CDK context) are always exempt.
    admin_principal_arns: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    poll: PollSchedule = PollSchedule()
    api: ApiConfig = ApiConfig()
    # Decision gate of the evaluation step: promote only when the decision metric improves at
    # least this much (absolute, as a fraction). answerScore compares numbers by value; a run
    # document's evaluation.decisionMetric overrides the stage's choice.
    min_f1_gain: float = Field(0.02, ge=0, le=1)
    decision_metric: DecisionMetric = "answerScore"
    lambda_reserved_concurrency: int = Field(10, ge=1, le=1000)

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_NAMES:
            raise ValueError(
                f"log_retention_days={value} is not a CloudWatch Logs retention; "
                f"allowed: {sorted(LOG_RETENTION_NAMES)}"
            )
        return value

    @field_validator("admin_principal_arns")
    @classmethod
    def _arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/*-]+", arn):
                raise ValueError(f"admin_principal_arns: {arn!r} is not an IAM role or user ARN")
        return value

    @model_validator(mode="after")
    def _models_in_region(self) -> StageConfig:
        problems = model_region_problems(self.region, self.allowed_base_models)
        if problems:
            raise StageCheckError(problems)
        return self

    @property
    def prefix(self) -> str:
        """Name prefix of every named resource (roles included: key policies match on it)."""
        return f"bcp-{self.name}"


def model_region_problems(region: str, model_ids: tuple[str, ...]) -> list[tuple[str, str]]:
    """(field, message) for each allowed base model the registry does not know or that cannot
    be customized in `region` (registry: custom-model-supported.html), and for a region where
    no model can be customized at all."""
    problems: list[tuple[str, str]] = []
    if region not in CUSTOMIZATION_REGIONS:
        allowed = ", ".join(sorted(CUSTOMIZATION_REGIONS))
        hint = did_you_mean(region, CUSTOMIZATION_REGIONS)
        message = f"no base model can be customized in {region!r}{hint}; allowed: {allowed}"
        problems.append(("region", message))
        return problems
    # The list names Bedrock base models (container runs name registry architectures).
    fits = sorted(
        m for m, spec in MODELS.items() if spec.trainer == "bedrock" and region in model_regions(m)
    )
    for index, model_id in enumerate(model_ids):
        field = f"allowed_base_models[{index}]"
        try:
            spec = get_model(model_id)
        except UnknownModelError as exc:
            problems.append((field, f"unknown base model {model_id!r}{exc.suggestion}"))
            continue
        regions = model_regions(spec.model_id)
        if region not in regions:
            problems.append(
                (
                    field,
                    f"{spec.name} ({model_id}) is customized only in {', '.join(sorted(regions))}, "
                    f"not in the stage's region {region}; models for {region}: {', '.join(fits)}",
                )
            )
    return problems


def stage_names(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in config_dir.glob("*.json"))


def load_stage(name: str, config_dir: Path = CONFIG_DIR) -> StageConfig:
    """The stage ``config_dir/<name>.json``; StageConfigError (a ValueError) lists every
    problem with the file and field."""
    path = config_dir / f"{name}.json"
    if not path.is_file():
        available = ", ".join(stage_names(config_dir)) or "none"
        raise StageConfigError(
            path,
            [("", f"no such stage {name!r}{did_you_mean(name, stage_names(config_dir))}; "
                  f"available stages: {available}")],
        )  # fmt: skip
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StageConfigError(
            path, [("", f"line {exc.lineno}: invalid JSON: {exc.msg}")]
        ) from None
    try:
        return StageConfig.model_validate(document)
    except ValidationError as exc:
        problems = _problems(exc)
        # Another field failed first, so the model validator did not run: check the models too.
        fields = document if isinstance(document, dict) else {}
        region, models = fields.get("region"), fields.get("allowed_base_models")
        if (
            isinstance(region, str)
            and isinstance(models, list)
            and all(isinstance(m, str) for m in models)
        ):
            problems += [
                p for p in model_region_problems(region, tuple(models)) if p not in problems
            ]
        raise StageConfigError(path, problems) from None


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, StageCheckError):
            problems.extend(ctx_error.problems)
            continue
        loc = error["loc"]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            known = _known_fields(loc[:-1])
            message = (
                f"unknown field{did_you_mean(str(loc[-1]), known)}; allowed: {', '.join(known)}"
            )
        elif error["type"] == "missing":
            message = "required field missing"  # its input is the whole parent object
        elif error["type"] != "value_error":
            message = f"{message} (got {error.get('input')!r})"
        problems.append((field, message))
    return problems


def _known_fields(parent: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = StageConfig
    for part in parent:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
