"""Stateless stack: the customization workflow, its functions, service roles, notifications and
monitoring. Only composition lives here; each part is a construct with its own grants."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from constructs import Construct

from stacks.config import StageConfig
from stacks.constructs.api import TriggerApi
from stacks.constructs.function import DependenciesLayer, PipelineFunction
from stacks.constructs.monitoring import WorkflowMonitoring
from stacks.constructs.notifications import RunNotifications
from stacks.constructs.service_roles import ServiceRoles
from stacks.constructs.training_image import training_image
from stacks.constructs.workflow import CustomizationWorkflow
from stacks.constructs.workflow_functions import (
    EvaluateFunction,
    FunctionDefaults,
    JobsFunction,
    NotifyFunction,
    ValidateFunction,
)
from stacks.data_stack import DataStack, log_retention, removal_policy


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
        defaults = FunctionDefaults.for_stage(config, data, layer)
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
        self.jobs = JobsFunction(
            self,
            "Jobs",
            defaults=defaults,
            config=config,
            roles=self.roles,
            buckets=buckets,
            model_key=keys.model_key,
            subnets=subnets,
            image_uri=self.image.image_uri,
        )
        self.validate = ValidateFunction(self, "Validate", defaults=defaults, buckets=buckets)
        self.evaluate = EvaluateFunction(
            self, "Evaluate", defaults=defaults, buckets=buckets, model_key=keys.model_key
        )
        self.notify = NotifyFunction(
            self, "Notify", defaults=defaults, notifications=self.notifications
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
