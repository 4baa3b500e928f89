"""Dashboard and alarms of the workflow: failed and timed-out runs, Lambda errors and
throttles, and dead letters, each alarm notifying the run topic."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constructs.function import PipelineFunction

PERIOD = Duration.minutes(5)


class WorkflowMonitoring(Construct):
    """Alarms and a dashboard over the workflow. ``prefix``: the stage prefix (alarm and
    dashboard names); ``functions``: by short name (alarm ids); ``extra_queues``: dead-letter
    queues to watch besides the functions' own, by name; ``topic``: where alarms notify."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        state_machine: sfn.StateMachine,
        functions: Mapping[str, PipelineFunction],
        extra_queues: Mapping[str, sqs.IQueue],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        action = actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(
            construct_id: str, metric: cloudwatch.Metric, description: str
        ) -> cloudwatch.Alarm:
            created = metric.create_alarm(
                self,
                construct_id,
                alarm_description=description,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            self.alarms.append(created)
            return created

        runs = {
            "Failed": state_machine.metric_failed(period=PERIOD, statistic="Sum"),
            "TimedOut": state_machine.metric_timed_out(period=PERIOD, statistic="Sum"),
        }
        for name, metric in runs.items():
            alarm(f"Runs{name}", metric, f"A customization run ended {name} in {prefix}")
        for name, fn in functions.items():
            f = fn.function
            alarm(
                f"{name}Errors",
                f.metric_errors(period=PERIOD, statistic="Sum"),
                f"The {name} function raised errors (a run step or notification failed)",
            )
            alarm(
                f"{name}Throttles",
                f.metric_throttles(period=PERIOD, statistic="Sum"),
                f"The {name} function hit its reserved concurrency",
            )
            alarm(
                f"{name}DeadLetters",
                fn.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                ),
                f"Asynchronous {name} events failed every attempt",
            )
        for name, queue in extra_queues.items():
            alarm(
                f"{name}Messages",
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                ),
                f"{name}: events that could not be delivered",
            )

        # The topic's own policy replaces SNS's default one, so CloudWatch (a service principal)
        # needs an Allow to publish: only for these alarms of this account (SNS Developer Guide,
        # "Amazon SNS access control: publish from an AWS service", aws:SourceArn and
        # aws:SourceAccount). The data key's policy lets cloudwatch.amazonaws.com use the key for
        # this account (stacks/constructs/encryption.py).
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStack",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                    "ArnLike": {"aws:SourceArn": [a.alarm_arn for a in self.alarms]},
                },
            )
        )

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"{prefix}-customization-runs"
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Runs",
                left=[
                    state_machine.metric_started(period=PERIOD, statistic="Sum"),
                    state_machine.metric_succeeded(period=PERIOD, statistic="Sum"),
                    *runs.values(),
                    state_machine.metric_aborted(period=PERIOD, statistic="Sum"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Run duration",
                left=[state_machine.metric_time(period=Duration.hours(1), statistic="Maximum")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Lambda errors and throttles",
                left=[
                    fn.function.metric_errors(period=PERIOD, statistic="Sum")
                    for fn in functions.values()
                ],
                right=[
                    fn.function.metric_throttles(period=PERIOD, statistic="Sum")
                    for fn in functions.values()
                ],
                width=24,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24),
        )
