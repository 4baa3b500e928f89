"""The customization workflow: one STANDARD state machine from run document to notification.

    Run (Parallel, one branch; its single Catch -> Clean up -> Notify failure -> Run failed)
      Prepare run -> [Validate dataset] -> trainer?
        bedrock:   customization loop -> [throughput loop]
        container: training loop -> import loop (readiness check first)
        import:    import loop (readiness check first)
      -> [evaluation: plan -> Map over batches -> report -> promoted?] -> [release throughput]
    -> Notify result -> Run succeeded

The Parallel exists for its Catch: any error in any step (invalid document, invalid dataset, a
job that failed, was stopped or timed out, a refused request) goes to one clean-up that stops
the jobs and deletes the throughput this run started, then to one notification. Executions
stopped from outside (StopExecution) or timed out never reach a Catch: the rule in
``notifications.py`` runs the same clean-up for them.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from bedrock_pipeline.contract import (
    EvaluateAction,
    JobKind,
    JobsAction,
    Outcome,
    StatePath,
    StepError,
)
from stacks.constructs.job_loop import JobLoop, lambda_step
from stacks.constructs.secure_defaults import encrypted_log_group
from stacks.nag import acknowledge_inline_policies, acknowledge_wildcard_resources

# Step Functions reuses a history data key this long before it calls GenerateDataKey again
# (EncryptionConfiguration.kmsDataKeyReusePeriodSeconds: 60-900; the API's default is 300).
HISTORY_DATA_KEY_REUSE_S = 300
# Batches evaluated at once; each batch itself calls the models `concurrency` at a time.
EVALUATION_MAP_CONCURRENCY = 4


class CustomizationWorkflow(Construct):
    """The state machine over the four functions (``jobs``, ``validate``, ``evaluate``,
    ``notify``; their events are ``contract``'s actions, the state ``run_state``'s models).

    ``job_timeout``: the stage's ``poll.timeout_s`` per job; the execution may run three jobs
    and an evaluation, so its own timeout is 3 x job_timeout + 1 day. ``log_key``,
    ``log_retention`` and ``removal_policy``: the execution log group's (logging ALL, with
    execution data)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        jobs: lambda_.IFunction,
        validate: lambda_.IFunction,
        evaluate: lambda_.IFunction,
        notify: lambda_.IFunction,
        job_timeout: Duration,
        log_key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self._jobs, self._evaluate, self._notify = jobs, evaluate, notify
        customized = sfn.Pass(
            self,
            "Customized",
            result=sfn.Result.from_string(Outcome.SUCCEEDED.value),
            result_path=StatePath.OUTCOME,
        )
        not_promoted = sfn.Pass(
            self,
            "Not promoted",
            result=sfn.Result.from_string(Outcome.NOT_PROMOTED.value),
            result_path=StatePath.OUTCOME,
        )
        evaluation = self._evaluation(customized, not_promoted)

        def model_is(state_name: str, path: str) -> sfn.Pass:
            # The model the evaluation calls: provisioned (Bedrock-trained) or imported.
            return sfn.Pass(
                self, state_name, parameters={"customModelId.$": path}, result_path=StatePath.MODEL
            )

        evaluate_or_finish = sfn.Choice(self, "Evaluate?")
        evaluate_or_finish.when(
            sfn.Condition.boolean_equals(StatePath.FLAG_EVALUATION, True), evaluation
        )
        evaluate_or_finish.otherwise(customized)

        def loop(construct_id: str, kind: JobKind, label: str) -> JobLoop:
            return JobLoop(self, construct_id, kind=kind.value, label=label, function=jobs)

        customization = loop("Customization", JobKind.CUSTOMIZATION, "customization job")
        throughput = loop("Throughput", JobKind.THROUGHPUT, "provisioned throughput")
        training = loop("Training", JobKind.TRAINING, "training job")
        model_import = loop("Import", JobKind.IMPORT, "import job")
        throughput.next(model_is("Provisioned model", StatePath.PROVISIONED_MODEL_ARN)).next(
            evaluate_or_finish
        )
        model_import.next(model_is("Imported model", StatePath.IMPORTED_MODEL_ARN)).next(
            evaluate_or_finish
        )
        training.next(model_import)
        provision = sfn.Choice(self, "Provision throughput?")
        provision.when(sfn.Condition.boolean_equals(StatePath.FLAG_THROUGHPUT, True), throughput)
        provision.otherwise(customized)
        customization.next(provision)

        trainer = sfn.Choice(self, "Which trainer?")
        trainer.when(sfn.Condition.string_equals(StatePath.TRAINER, "bedrock"), customization)
        trainer.when(sfn.Condition.string_equals(StatePath.TRAINER, "container"), training)
        trainer.otherwise(model_import)

        validate_step = lambda_step(
            self,
            "Validate dataset",
            validate,
            StatePath.VALIDATE_REQUEST,
            result_path=StatePath.VALIDATION,
        )
        valid = sfn.Choice(self, "Is the dataset valid?")
        valid.when(
            sfn.Condition.boolean_equals(StatePath.VALIDATION_VALID, False),
            sfn.Fail(
                self,
                "Dataset invalid",
                error=StepError.DATASET_INVALID.value,
                cause="The validate step reported the dataset invalid; see validation.reportUri",
            ),
        )
        valid.otherwise(trainer)
        validate_step.next(valid)
        needs_validation = sfn.Choice(self, "Validate?")
        needs_validation.when(
            sfn.Condition.boolean_equals(StatePath.FLAG_VALIDATE, True), validate_step
        )
        needs_validation.otherwise(trainer)

        prepare = lambda_step(
            self,
            "Prepare run",
            jobs,
            {
                "action": JobsAction.PREPARE.value,
                "document.$": StatePath.ROOT,
                "context": {
                    "executionName.$": "$$.Execution.Name",
                    "startTime.$": "$$.Execution.StartTime",
                },
            },
            result_path=StatePath.ROOT,
        )
        run = sfn.Parallel(self, "Run", output_path="$[0]")
        run.branch(prepare.next(needs_validation))
        run.add_catch(self._failure_path(), errors=["States.ALL"], result_path=StatePath.ERROR)

        notify_result = lambda_step(
            self,
            "Notify result",
            notify,
            {
                "outcome.$": StatePath.OUTCOME,
                "state.$": StatePath.ROOT,
                "executionArn.$": "$$.Execution.Id",
            },
            result_path=StatePath.ROOT,
        )
        succeeded = sfn.Succeed(self, "Run succeeded")
        # The model exists: a notification outage must not turn the run into a failure (the
        # notify function's error alarm reports it).
        notify_result.add_catch(
            sfn.Pass(self, "Result not notified").next(succeeded),
            result_path=StatePath.NOTIFY_ERROR,
        )
        definition = sfn.Chain.start(run).next(notify_result).next(succeeded)

        self.log_group = encrypted_log_group(
            self,
            "Logs",
            key=log_key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            # Training, then import or throughput, then evaluation: each job has job_timeout.
            timeout=Duration.seconds(job_timeout.to_seconds() * 3 + 86400),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            comment="Bedrock customization: validate, train, import, provision, evaluate, notify",
        )
        self._encrypt_history(log_key)
        self._acknowledge_findings()

    def _encrypt_history(self, key: kms.IKey) -> None:
        """Definition and execution history (run documents, S3 URIs, results) under the data key
        instead of an AWS owned key (Step Functions Developer Guide, "Data at rest encryption").
        Set on the CloudFormation resource: CDK's CustomerManagedEncryptionConfiguration would
        add an unconditioned log-delivery statement to the key policy; the conditioned one is
        in stacks/constructs/encryption.py. The execution role encrypts and decrypts the
        history through Step Functions, and with logging on generates data keys for the logs."""
        stack = Stack.of(self)
        resource = self.state_machine.node.default_child
        assert isinstance(resource, sfn.CfnStateMachine)
        resource.encryption_configuration = sfn.CfnStateMachine.EncryptionConfigurationProperty(
            type="CUSTOMER_MANAGED_KMS_KEY",
            kms_key_id=key.key_arn,
            kms_data_key_reuse_period_seconds=HISTORY_DATA_KEY_REUSE_S,
        )
        role = self.state_machine.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ExecutionHistoryKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"states.{stack.region}.amazonaws.com"}
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ExecutionLogsKey",
                actions=["kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:EncryptionContext:SourceArn": stack.format_arn(
                            service="logs", resource="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
                        )
                    }
                },
            )
        )

    def _acknowledge_findings(self) -> None:
        role = self.state_machine.role
        acknowledge_inline_policies([role])
        acknowledge_wildcard_resources(
            role,
            [
                (
                    r"^\*$",
                    "Only X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) and "
                    "CloudWatch Logs delivery actions (*LogDelivery*, *ResourcePolicy*, "
                    "DescribeLogGroups), which support no resource-level permissions.",
                ),
                (
                    r"^<\w+Function\w+\.Arn>:\*$",
                    "Qualified ARNs (versions and aliases) of the same pipeline function that the "
                    "unqualified ARN names.",
                ),
            ],
        )

    def _failure_path(self) -> sfn.IChainable:
        cleanup = lambda_step(
            self,
            "Clean up",
            self._jobs,
            {
                "action": JobsAction.CLEANUP.value,
                "state.$": StatePath.ROOT,
                "executionStartTime.$": "$$.Execution.StartTime",
            },
            result_path=StatePath.CLEANUP,
        )
        notify_failure = self._notify_failure()
        # Even when the clean-up fails, the team hears about the run (and the alarm about it).
        cleanup.add_catch(notify_failure, result_path=StatePath.CLEANUP_ERROR)
        return cleanup.next(notify_failure)

    def _notify_failure(self) -> sfn.IChainable:
        notify_failure = lambda_step(
            self,
            "Notify failure",
            self._notify,
            {
                "outcome": Outcome.FAILED.value,
                "state.$": StatePath.ROOT,
                "executionArn.$": "$$.Execution.Id",
            },
            result_path=StatePath.NOTIFICATION,
        )
        # The run's error is the notify step's readable version of the original error.
        failed = sfn.Fail(
            self,
            "Run failed",
            error_path=StatePath.FAILURE_NAME,
            cause_path=StatePath.FAILURE_CAUSE,
        )
        unnotified = sfn.Fail(
            self,
            "Run failed (not notified)",
            error_path=StatePath.ERROR_NAME,
            cause_path=StatePath.ERROR_CAUSE,
        )
        notify_failure.add_catch(unnotified, result_path=StatePath.NOTIFY_ERROR)
        return notify_failure.next(failed)

    def _evaluation(self, customized: sfn.Pass, not_promoted: sfn.Pass) -> sfn.IChainable:
        config = sfn.Pass(
            self,
            "Evaluation config",
            parameters={
                "config.$": f"States.JsonMerge({StatePath.EVALUATION_REQUEST}, "
                f"{StatePath.MODEL}, false)"
            },
            result_path=StatePath.EVALUATION,
        )
        plan = lambda_step(
            self,
            "Plan evaluation",
            self._evaluate,
            {"action": EvaluateAction.PLAN.value, "config.$": StatePath.EVALUATION_CONFIG},
            result_path=StatePath.EVALUATION_PLAN,
        )
        batches = sfn.Map(
            self,
            "Evaluate batches",
            items_path=StatePath.EVALUATION_BATCHES,
            item_selector={
                "action": EvaluateAction.RUN_BATCH.value,
                "config.$": StatePath.EVALUATION_CONFIG,
                "batch.$": "$$.Map.Item.Value",
            },
            max_concurrency=EVALUATION_MAP_CONCURRENCY,
            result_path=sfn.JsonPath.DISCARD,
        )
        run_batch = lambda_step(
            self,
            "Run batch",
            self._evaluate,
            {
                "action": EvaluateAction.RUN_BATCH.value,
                "config.$": StatePath.ITEM_CONFIG,
                "batch.$": StatePath.ITEM_BATCH,
            },
            result_path=StatePath.ITEM_RESULT,
        )
        complete = sfn.Choice(self, "Is the batch complete?")
        # complete=false: the Lambda ran short of time and kept what it answered; call it again.
        complete.when(
            sfn.Condition.boolean_equals(StatePath.ITEM_COMPLETE, True),
            sfn.Succeed(self, "Batch done"),
        )
        complete.otherwise(run_batch)
        batches.item_processor(run_batch.next(complete))
        report = lambda_step(
            self,
            "Report evaluation",
            self._evaluate,
            {"action": EvaluateAction.REPORT.value, "config.$": StatePath.EVALUATION_CONFIG},
            result_path=StatePath.EVALUATION_REPORT,
        )

        def release(state_name: str) -> tasks.LambdaInvoke:
            return lambda_step(
                self,
                state_name,
                self._jobs,
                {"action": JobsAction.RELEASE.value, "state.$": StatePath.ROOT},
                result_path=StatePath.RELEASE,
            )

        rejected = sfn.Choice(self, "Release throughput of the rejected model?")
        rejected.when(
            sfn.Condition.boolean_equals(StatePath.FLAG_THROUGHPUT, True),
            release("Release throughput (not promoted)").next(not_promoted),
        )
        rejected.otherwise(not_promoted)
        kept = sfn.Choice(self, "Release throughput after evaluation?")
        kept.when(
            sfn.Condition.boolean_equals(StatePath.FLAG_RELEASE_AFTER_EVALUATION, True),
            release("Release throughput").next(customized),
        )
        kept.otherwise(customized)
        promoted = sfn.Choice(self, "Promoted?")
        promoted.when(
            sfn.Condition.string_equals(StatePath.EVALUATION_DECISION, "not-promoted"), rejected
        )
        promoted.otherwise(kept)
        return config.next(plan).next(batches).next(report).next(promoted)
