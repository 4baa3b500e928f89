"""The job driver's environment (``contract.JobsEnv``), read once from the Lambda environment.

The stack writes every value (roles, keys, network, buckets, image, poll schedule); tests
build the model directly.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, model_validator

from bedrock_pipeline.patterns import STAGE_PREFIX
from bedrock_pipeline.poll_schedule import PollSchedule
from bedrock_pipeline.promotion import DecisionMetric
from lambdas.common.environment import CommaList, FunctionEnvironment, Ids, parse_environment


class Settings(FunctionEnvironment):
    STAGE_PREFIX: str = Field(pattern=STAGE_PREFIX)
    BEDROCK_CUSTOMIZATION_ROLE_ARN: str
    BEDROCK_IMPORT_ROLE_ARN: str
    SAGEMAKER_ROLE_ARN: str
    SUBNET_IDS: Ids
    SECURITY_GROUP_IDS: Ids
    MODEL_KEY_ARN: str
    ARTIFACTS_BUCKET: str
    TRAINING_IMAGE_URI: str
    # The stage's PollSchedule, field by field (seconds; growth a fraction of the job's age).
    POLL_INITIAL_S: int
    POLL_MAX_S: int
    POLL_TIMEOUT_S: int
    POLL_GROWTH: float = PollSchedule.model_fields["growth"].default
    MIN_F1_GAIN: float = Field(ge=0, le=1)
    DECISION_METRIC: DecisionMetric = "answerScore"
    # The stage's allowed_base_models (empty: any model the registry knows).
    ALLOWED_BASE_MODELS: CommaList = ()

    @model_validator(mode="after")
    def _schedule(self) -> Settings:
        self.schedule  # noqa: B018 -- PollSchedule checks the bounds and their order
        return self

    @property
    def schedule(self) -> PollSchedule:
        return PollSchedule(
            initial_s=self.POLL_INITIAL_S,
            max_s=self.POLL_MAX_S,
            timeout_s=self.POLL_TIMEOUT_S,
            growth=self.POLL_GROWTH,
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
        return parse_environment(cls, env)
