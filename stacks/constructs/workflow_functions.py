"""The workflow's four functions, each with its environment, its grants and its acknowledgments.

Each class is a ``PipelineFunction`` (same construct ids, so logical ids are stable) whose
environment is exactly its handler's environment model (``contract.JobsEnv``, ``ValidateEnv``,
``EvaluateEnv``, ``NotifyEnv``), written from the stage configuration and the resources it names.
``FunctionDefaults`` carries what every function of a stage shares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from bedrock_pipeline.contract import EvaluateEnv, JobsEnv, NotifyEnv, Service, ValidateEnv
from stacks.config import StageConfig
from stacks.constructs.function import PipelineFunction
from stacks.constructs.grants import grant_objects
from stacks.constructs.job_permissions import grant_evaluate, grant_jobs
from stacks.constructs.notifications import RunNotifications
from stacks.constructs.service_roles import ServiceRoles
from stacks.constructs.storage import ProjectBuckets
from stacks.data_stack import DataStack, log_retention, removal_policy
from stacks.nag import (
    RUN_OBJECTS,
    TRAINING_OBJECTS,
    acknowledge,
    acknowledge_wildcard_resources,
    bedrock_reason,
)


@dataclass(frozen=True)
class FunctionDefaults:
    """What every function of a stage shares: the dependencies layer, the isolated subnets of
    ``vpc`` behind ``security_group``, ``key`` (environment, logs and dead-letter queue),
    ``log_retention``, ``reserved_concurrency`` (concurrent executions per function) and the
    ``removal_policy`` of its log group and queue."""

    layer: lambda_.ILayerVersion
    vpc: ec2.IVpc
    security_group: ec2.ISecurityGroup
    key: kms.IKey
    log_retention: logs.RetentionDays
    reserved_concurrency: int
    removal_policy: RemovalPolicy

    @classmethod
    def for_stage(
        cls, config: StageConfig, data: DataStack, layer: lambda_.ILayerVersion
    ) -> FunctionDefaults:
        """The stage's: the data stack's network and data key, the configured retention,
        concurrency and removal policy."""
        return cls(
            layer=layer,
            vpc=data.network.vpc,
            security_group=data.network.workload_security_group,
            key=data.keys.data_key,
            log_retention=log_retention(config),
            reserved_concurrency=config.lambda_reserved_concurrency,
            removal_policy=removal_policy(config),
        )

    def kwargs(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "vpc": self.vpc,
            "security_group": self.security_group,
            "key": self.key,
            "log_retention": self.log_retention,
            "reserved_concurrency": self.reserved_concurrency,
            "removal_policy": self.removal_policy,
        }


class JobsFunction(PipelineFunction):
    """The job driver (``lambdas.jobs``): 2-minute timeout, 512 MB. May create, describe and
    stop the stage's Bedrock and SageMaker jobs, pass the three service roles, and read the
    training data and the run artifacts (the import-readiness check)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        config: StageConfig,
        roles: ServiceRoles,
        buckets: ProjectBuckets,
        model_key: kms.IKey,
        subnets: Sequence[ec2.ISubnet],
        image_uri: str,
    ) -> None:
        poll = config.poll
        super().__init__(
            scope,
            construct_id,
            handler="lambdas.jobs.handler.handler",
            description=(
                "Prepares runs; starts, polls and stops their Bedrock and SageMaker jobs; cleans up"
            ),
            environment={
                JobsEnv.STAGE_PREFIX: config.prefix,
                JobsEnv.BEDROCK_CUSTOMIZATION_ROLE_ARN: roles.customization.role_arn,
                JobsEnv.BEDROCK_IMPORT_ROLE_ARN: roles.model_import.role_arn,
                JobsEnv.SAGEMAKER_ROLE_ARN: roles.training.role_arn,
                JobsEnv.SUBNET_IDS: ",".join(s.subnet_id for s in subnets),
                JobsEnv.SECURITY_GROUP_IDS: defaults.security_group.security_group_id,
                JobsEnv.MODEL_KEY_ARN: model_key.key_arn,
                JobsEnv.ARTIFACTS_BUCKET: buckets.artifacts.bucket_name,
                JobsEnv.TRAINING_IMAGE_URI: image_uri,
                JobsEnv.POLL_INITIAL_S: str(poll.initial_s),
                JobsEnv.POLL_MAX_S: str(poll.max_s),
                JobsEnv.POLL_TIMEOUT_S: str(poll.timeout_s),
                JobsEnv.POLL_GROWTH: str(poll.growth),
                JobsEnv.MIN_F1_GAIN: str(config.min_f1_gain),
                JobsEnv.DECISION_METRIC: config.decision_metric,
                JobsEnv.ALLOWED_BASE_MODELS: ",".join(config.allowed_base_models),
            },
            timeout=Duration.minutes(2),
            service_name=Service.JOBS,
            **defaults.kwargs(),
        )
        grant_jobs(
            self.function,
            prefix=config.prefix,
            roles=roles,
            buckets=buckets,
            data_key=defaults.key,
            model_key=model_key,
        )
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "Resource '*' only where the Service Authorization Reference gives the action no "
            "resource type: bedrock:CreateModelImportJob (bound to the stage's region and to "
            "requests tagged with the stage), Lambda's ec2 Describe* and X-Ray's "
            "PutTraceSegments/PutTelemetryRecords.",
        )
        acknowledge_wildcard_resources(
            self.role,
            [
                TRAINING_OBJECTS,
                RUN_OBJECTS,
                (r":model-customization-job/\*$", bedrock_reason("Customization job")),
                (r":custom-model/\*$", bedrock_reason("Custom model")),
                (r":model-import-job/\*$", bedrock_reason("Import job")),
                (r":imported-model/\*$", bedrock_reason("Imported model")),
                (r":provisioned-model/\*$", bedrock_reason("Provisioned model")),
                (
                    r"::foundation-model/\*$",
                    "Base models are chosen per run from the stage's allowed list, which the "
                    "prepare step enforces; foundation-model ARNs have no account.",
                ),
                (
                    rf":training-job/{re.escape(config.prefix)}-\*$",
                    "Training jobs are named <stage prefix>-<run>-train at run time; the prefix "
                    "keeps other stages' and teams' jobs out of reach.",
                ),
            ],
        )


class ValidateFunction(PipelineFunction):
    """The validate step (``lambdas.validate``): 15-minute timeout, 1769 MB (one full vCPU:
    the validator is CPU-bound on large files). Reads the training data, writes reports under
    runs/ of the artifacts bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        buckets: ProjectBuckets,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            handler="lambdas.validate.handler.handler",
            description="Validates the run's datasets and hyperparameters against the model "
            "registry",
            environment={
                ValidateEnv.ARTIFACTS_BUCKET: buckets.artifacts.bucket_name,
                ValidateEnv.ARTIFACTS_KMS_KEY_ID: defaults.key.key_arn,
            },
            timeout=Duration.minutes(15),
            memory_size=1769,
            service_name=Service.VALIDATE,
            **defaults.kwargs(),
        )
        grant_objects(self.function, buckets.training_data, defaults.key, sid="ReadDatasets")
        grant_objects(
            self.function,
            buckets.artifacts,
            defaults.key,
            prefix="runs/",
            write=True,
            sid="WriteReports",
        )
        acknowledge_wildcard_resources(self.role, [TRAINING_OBJECTS, RUN_OBJECTS])


class EvaluateFunction(PipelineFunction):
    """The evaluation step (``lambdas.evaluate``): 15-minute timeout, 1024 MB. Reads test sets,
    writes answers and reports under runs/, invokes base, custom and comparison models."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        buckets: ProjectBuckets,
        model_key: kms.IKey,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            handler="lambdas.evaluate.handler.handler",
            description="Evaluates base versus customized model on the held-out test set",
            environment={EvaluateEnv.ARTIFACTS_BUCKET: buckets.artifacts.bucket_name},
            timeout=Duration.minutes(15),
            memory_size=1024,
            service_name=Service.EVALUATE,
            **defaults.kwargs(),
        )
        grant_evaluate(self.function, buckets=buckets, data_key=defaults.key, model_key=model_key)
        acknowledge_wildcard_resources(
            self.role,
            [
                TRAINING_OBJECTS,
                RUN_OBJECTS,
                (
                    r":bedrock:\*::foundation-model/\*$",
                    "The evaluation compares the custom model with base and comparison models "
                    "chosen per run; cross-region inference profiles route to foundation models "
                    "in other regions.",
                ),
                (
                    r":inference-profile/\*$",
                    "System-defined (cross-region) inference profiles are named after the model "
                    "they serve (us.meta.llama3-2-11b-instruct-v1:0), and the evaluation's base "
                    "and comparison models are chosen per run; the region and account are fixed.",
                ),
                (
                    r":application-inference-profile/\*$",
                    bedrock_reason("Application inference profile"),
                ),
                (r":provisioned-model/\*$", bedrock_reason("Provisioned model")),
                (r":imported-model/\*$", bedrock_reason("Imported model")),
                (r":custom-model-deployment/\*$", bedrock_reason("Custom model deployment")),
            ],
        )


class NotifyFunction(PipelineFunction):
    """The notify step (``lambdas.notify``): 1-minute timeout, 512 MB. Publishes to the run
    topic and puts run events on the account's default event bus."""

    EVENT_BUS = "default"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        notifications: RunNotifications,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            handler="lambdas.notify.handler.handler",
            description="Publishes each run's result to EventBridge and SNS",
            environment={
                NotifyEnv.TOPIC_ARN: notifications.topic.topic_arn,
                NotifyEnv.EVENT_BUS_NAME: self.EVENT_BUS,
            },
            service_name=Service.NOTIFY,
            **defaults.kwargs(),
        )
        notifications.grant_publish(self.function, key=defaults.key)
        stack = Stack.of(self)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PutRunEvents",
                actions=["events:PutEvents"],
                resources=[
                    f"arn:{stack.partition}:events:{stack.region}:{stack.account}:"
                    f"event-bus/{self.EVENT_BUS}"
                ],
            )
        )
