"""The job driver's deployment settings, read once from the Lambda environment.

The stack writes every value (roles, keys, network, buckets, image, poll schedule); tests
build the model directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bedrock_pipeline.promotion import DecisionMetric
from lambdas.jobs.schedule import PollSchedule


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part for part in value.split(",") if part)
    return value


Ids = Annotated[tuple[str, ...], BeforeValidator(_split), Field(min_length=1)]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    STAGE_PREFIX: str = Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")
    BEDROCK_CUSTOMIZATION_ROLE_ARN: str
    BEDROCK_IMPORT_ROLE_ARN: str
    SAGEMAKER_ROLE_ARN: str
    SUBNET_IDS: Ids
    SECURITY_GROUP_IDS: Ids
    MODEL_KEY_ARN: str
    ARTIFACTS_BUCKET: str
    TRAINING_IMAGE_URI: str
    POLL_INITIAL_S: int = Field(ge=0)
    POLL_MAX_S: int = Field(ge=0)
    POLL_TIMEOUT_S: int = Field(ge=1)
    POLL_GROWTH: float = Field(1.0, gt=0, le=1)
    MIN_F1_GAIN: float = Field(ge=0, le=1)
    DECISION_METRIC: DecisionMetric = "answerScore"
    # The stage's allowed_base_models (empty: any model the registry knows).
    ALLOWED_BASE_MODELS: Annotated[tuple[str, ...], BeforeValidator(_split)] = ()

    @property
    def schedule(self) -> PollSchedule:
        return PollSchedule(
            self.POLL_INITIAL_S, self.POLL_MAX_S, self.POLL_TIMEOUT_S, self.POLL_GROWTH
        )

    @property
    def vpc(self) -> dict[str, list[str]]:
        """Bedrock's ``vpcConfig`` (SageMaker's VpcConfig spells the keys differently)."""
        return {
            "subnetIds": list(self.SUBNET_IDS),
            "securityGroupIds": list(self.SECURITY_GROUP_IDS),
        }

    def artifacts_uri(self, run_name: str, *parts: str) -> str:
        return "/".join([f"s3://{self.ARTIFACTS_BUCKET}/runs/{run_name}", *parts]) + "/"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return cls.model_validate(dict(os.environ if env is None else env))
