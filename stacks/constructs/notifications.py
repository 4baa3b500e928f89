"""Where runs report: an encrypted SNS topic (email subscription per stage) and the EventBridge
rule that cleans up after executions that ended without reaching the workflow's Catch."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constructs.secure_defaults import encrypted_queue
from stacks.nag import acknowledge

# StopExecution (the API's cancel) and the state machine's own timeout skip every Catch.
UNCAUGHT_STATUSES = ["ABORTED", "TIMED_OUT"]


class RunNotifications(Construct):
    """The run topic (encrypted with ``key``; an email subscription when ``email`` is set,
    default none), its undelivered-messages queue and the EventBridge dead-letter queue
    (``removal_policy`` for both queues)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        email: str | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Bedrock customization runs",
            master_key=key,
            enforce_ssl=True,
        )
        # Messages SNS could not deliver to a subscriber. SNS itself writes here: the data key's
        # policy admits sns.amazonaws.com for this account (stacks/constructs/encryption.py).
        self.undelivered_messages = encrypted_queue(
            self, "UndeliveredMessages", key=key, removal_policy=removal_policy
        )
        if email:
            self.topic.add_subscription(
                subscriptions.EmailSubscription(email, dead_letter_queue=self.undelivered_messages)
            )
        # Events EventBridge could not deliver to a target (after its retries) wait here.
        self.dead_letters = encrypted_queue(
            self, "UndeliveredEvents", key=key, removal_policy=removal_policy
        )
        for queue, user in (
            (self.dead_letters, "the EventBridge rule's targets (DeadLetterConfig)"),
            (self.undelivered_messages, "the topic's subscriptions (RedrivePolicy)"),
        ):
            for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
                acknowledge(
                    queue,
                    rule,
                    f"This queue is the dead-letter queue of {user}; a further queue would "
                    "move failed messages away from the alarm that watches this one.",
                )

    def grant_publish(self, grantee: iam.IGrantable, *, key: kms.IKey) -> None:
        """sns:Publish plus the two key actions SNS needs for an encrypted topic (CDK's
        grant_publish would add kms:GenerateDataKey*)."""
        stack = Stack.of(self)
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PublishRunNotifications",
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
            )
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptNotificationsThroughSns",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"sns.{stack.region}.amazonaws.com"}
                },
            )
        )

    def on_uncaught_end(
        self,
        state_machine: sfn.IStateMachine,
        *,
        cleanup: lambda_.IFunction,
        notify: lambda_.IFunction,
    ) -> events.Rule:
        """Executions that were stopped or timed out: stop their jobs and tell the team."""
        rule = events.Rule(
            self,
            "UncaughtEnd",
            description="Aborted or timed-out customization runs: clean up and notify",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [state_machine.state_machine_arn],
                    "status": UNCAUGHT_STATUSES,
                },
            ),
        )
        for function in (cleanup, notify):
            rule.add_target(
                targets.LambdaFunction(
                    function,
                    dead_letter_queue=self.dead_letters,
                    retry_attempts=4,
                    max_event_age=Duration.hours(6),
                )
            )
        return rule
