"""Typed, frozen configuration of one deployment stage, read once in ``app.py``.

Stages live in ``config/<name>.json``. Constructs receive the model; they never read the
environment, and synthesis never calls AWS.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bedrock_pipeline.promotion import DecisionMetric

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


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PollSchedule(_Frozen):
    """Wait-loop schedule for long jobs (lambdas/jobs/schedule.py): each wait is ``growth`` times
    the job's age so far, from ``initial_s`` up to ``max_s``. Polls grow with the logarithm of the
    duration; a finished job is noticed at most ``growth`` x its age (or ``max_s``) late."""

    initial_s: int = Field(60, ge=0, le=3600)
    growth: float = Field(0.25, gt=0, le=1)
    max_s: int = Field(1800, ge=0, le=86400)
    # Step Functions STANDARD executions may run up to one year; a job has at most this long.
    timeout_s: int = Field(7 * 86400, ge=60, le=30 * 86400)

    @model_validator(mode="after")
    def _ordered(self) -> PollSchedule:
        if self.max_s < self.initial_s:
            raise ValueError(
                f"poll.max_s ({self.max_s}) must be >= poll.initial_s ({self.initial_s})"
            )
        return self


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

    @property
    def prefix(self) -> str:
        """Name prefix of every named resource (roles included: key policies match on it)."""
        return f"bcp-{self.name}"


def stage_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_stage(name: str, config_dir: Path = CONFIG_DIR) -> StageConfig:
    path = config_dir / f"{name}.json"
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in config_dir.glob("*.json"))) or "none"
        raise ValueError(f"{path}: no such stage {name!r}; available stages: {available}")
    try:
        return StageConfig.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
