"""Stateless stack: the customization workflow, its functions, service roles, notifications and
monitoring. Only composition and grants live here; each part is a construct."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import StageConfig
from stacks.constructs.api import TriggerApi
from stacks.constructs.function import DependenciesLayer, PipelineFunction
from stacks.constructs.grants import grant_objects
from stacks.constructs.job_permissions import grant_evaluate, grant_jobs
from stacks.constructs.monitoring import WorkflowMonitoring
from stacks.constructs.notifications import RunNotifications
from stacks.constructs.service_roles import ServiceRoles
from stacks.constructs.training_image import training_image
from stacks.constructs.workflow import CustomizationWorkflow
from stacks.data_stack import DataStack, log_retention, removal_policy
from stacks.nag import acknowledge_workflow_stack


class WorkflowStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: DataStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Bedrock customization pipeline: workflow, job drivers, notifications",
            **kwargs,
        )
        self.config = config
        keys, buckets, network = data.keys, data.buckets, data.network
        retention, policy = log_retention(config), removal_policy(config)
        layer = DependenciesLayer(self, "Dependencies").layer
        subnets = network.vpc.isolated_subnets

        def function(
            construct_id: str, handler: str, description: str, **extra: Any
        ) -> PipelineFunction:
            return PipelineFunction(
                self,
                construct_id,
                handler=handler,
                description=description,
                layer=layer,
                vpc=network.vpc,
                security_group=network.workload_security_group,
                key=keys.data_key,
                log_retention=retention,
                reserved_concurrency=config.lambda_reserved_concurrency,
                removal_policy=policy,
                **extra,
            )

        self.roles = ServiceRoles(
            self,
            "ServiceRoles",
            subnets=subnets,
            security_group=network.workload_security_group,
            training_data=buckets.training_data,
            artifacts=buckets.artifacts,
            data_key=keys.data_key,
            model_key=keys.model_key,
        )
        self.image = training_image(self, "TrainingImage")
        self.image.grant_pull(self.roles.training)

        self.notifications = RunNotifications(
            self,
            "Notifications",
            key=keys.data_key,
            email=config.notification_email,
            removal_policy=policy,
        )
        self.jobs = function(
            "Jobs",
            "lambdas.jobs.handler.handler",
            "Prepares runs; starts, polls and stops their Bedrock and SageMaker jobs; cleans up",
            environment={
                "STAGE_PREFIX": config.prefix,
                "BEDROCK_CUSTOMIZATION_ROLE_ARN": self.roles.customization.role_arn,
                "BEDROCK_IMPORT_ROLE_ARN": self.roles.model_import.role_arn,
                "SAGEMAKER_ROLE_ARN": self.roles.training.role_arn,
                "SUBNET_IDS": ",".join(s.subnet_id for s in subnets),
                "SECURITY_GROUP_IDS": network.workload_security_group.security_group_id,
                "MODEL_KEY_ARN": keys.model_key.key_arn,
                "ARTIFACTS_BUCKET": buckets.artifacts.bucket_name,
                "TRAINING_IMAGE_URI": self.image.image_uri,
                "POLL_INITIAL_S": str(config.poll.initial_s),
                "POLL_MAX_S": str(config.poll.max_s),
                "POLL_TIMEOUT_S": str(config.poll.timeout_s),
                "POLL_GROWTH": str(config.poll.growth),
                "MIN_F1_GAIN": str(config.min_f1_gain),
                "DECISION_METRIC": config.decision_metric,
                "ALLOWED_BASE_MODELS": ",".join(config.allowed_base_models),
                "POWERTOOLS_SERVICE_NAME": "jobs",
            },
            timeout=Duration.minutes(2),
        )
        self.validate = function(
            "Validate",
            "lambdas.validate.handler.handler",
            "Validates the run's datasets and hyperparameters against the model registry",
            environment={
                "ARTIFACTS_BUCKET": buckets.artifacts.bucket_name,
                "ARTIFACTS_KMS_KEY_ID": keys.data_key.key_arn,
                "POWERTOOLS_SERVICE_NAME": "validate",
            },
            timeout=Duration.minutes(15),
            memory_size=1769,  # one full vCPU: the validator is CPU-bound on large files
        )
        self.evaluate = function(
            "Evaluate",
            "lambdas.evaluate.handler.handler",
            "Evaluates base versus customized model on the held-out test set",
            environment={
                "ARTIFACTS_BUCKET": buckets.artifacts.bucket_name,
                "POWERTOOLS_SERVICE_NAME": "evaluate",
            },
            timeout=Duration.minutes(15),
            memory_size=1024,
        )
        self.notify = function(
            "Notify",
            "lambdas.notify.handler.handler",
            "Publishes each run's result to EventBridge and SNS",
            environment={
                "TOPIC_ARN": self.notifications.topic.topic_arn,
                "EVENT_BUS_NAME": "default",
                "POWERTOOLS_SERVICE_NAME": "notify",
            },
        )

        grant_jobs(
            self.jobs.role,
            prefix=config.prefix,
            roles=self.roles,
            buckets=buckets,
            data_key=keys.data_key,
            model_key=keys.model_key,
        )
        grant_objects(self.validate.role, buckets.training_data, keys.data_key, sid="ReadDatasets")
        grant_objects(
            self.validate.role,
            buckets.artifacts,
            keys.data_key,
            prefix="runs/",
            write=True,
            sid="WriteReports",
        )
        grant_evaluate(
            self.evaluate.role, buckets=buckets, data_key=keys.data_key, model_key=keys.model_key
        )
        self.notifications.grant_publish(self.notify.role, key=keys.data_key)
        self.notify.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PutRunEvents",
                actions=["events:PutEvents"],
                resources=[
                    f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/default"
                ],
            )
        )

        self.workflow = CustomizationWorkflow(
            self,
            "Workflow",
            jobs=self.jobs.function,
            validate=self.validate.function,
            evaluate=self.evaluate.function,
            notify=self.notify.function,
            job_timeout=Duration.seconds(config.poll.timeout_s),
            log_key=keys.data_key,
            log_retention=retention,
            removal_policy=policy,
        )
        self.cleanup_rule = self.notifications.on_uncaught_end(
            self.workflow.state_machine, cleanup=self.jobs.function, notify=self.notify.function
        )
        self.api = TriggerApi(
            self,
            "TriggerApi",
            config=config,
            state_machine=self.workflow.state_machine,
            layer=layer,
            network=network,
            key=keys.data_key,
            log_retention=retention,
            removal_policy=policy,
        )
        self.functions: dict[str, PipelineFunction] = {
            "Api": self.api.handler,
            "Jobs": self.jobs,
            "Validate": self.validate,
            "Evaluate": self.evaluate,
            "Notify": self.notify,
        }
        self.monitoring = WorkflowMonitoring(
            self,
            "Monitoring",
            prefix=config.prefix,
            state_machine=self.workflow.state_machine,
            functions=self.functions,
            extra_queues={
                "UndeliveredEvents": self.notifications.dead_letters,
                "UndeliveredMessages": self.notifications.undelivered_messages,
            },
            topic=self.notifications.topic,
        )
        acknowledge_workflow_stack(self)
