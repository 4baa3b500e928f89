"""One pattern for every long job: start it, poll it with a growing wait, hand its record on.

    Start <kind> -> Wait <kind> -> Poll <kind> -> <kind> done? --no--> Wait <kind>
                                                              --yes-> (next state)

The job driver (``lambdas/jobs``) decides everything that varies: the request, the interval
(``waitSeconds``, from the stage's ``PollSchedule``: a fraction of the job's age, up to
``max_s``, so transitions grow with the logarithm of the job's duration), and the typed errors
for a failed, stopped or timed-out job. Errors end the loop; the workflow's single Catch stops
what the run started. The record lives at ``StatePath.job(kind)`` (``run_state.JobRecord``).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from bedrock_pipeline.contract import JobsAction, StatePath, StepError

# Typed errors the job driver raises after its own retries are spent (lambdas.jobs.errors),
# plus Lambda's throttle when the reserved concurrency is busy: worth a later attempt.
RETRYABLE_ERRORS = [StepError.AWS_THROTTLED.value, "Lambda.TooManyRequestsException"]


def lambda_step(
    scope: Construct,
    state_name: str,
    function: lambda_.IFunction,
    payload: dict[str, Any] | str,
    *,
    result_path: str | None,
) -> tasks.LambdaInvoke:
    """A Lambda task that passes ``payload`` (an object, or a JSONPath selecting the input)
    and stores the function's return value at ``result_path``; retries Lambda service errors
    (CDK's default) and throttling: 5 attempts, 30 s apart at first, doubling, full jitter."""
    # A path goes to InputPath: CDK renders TaskInput.from_json_path_at as a string
    # "Parameters", which the ASL grammar rejects (moto's parser does).
    task = tasks.LambdaInvoke(
        scope,
        state_name,
        lambda_function=function,
        payload=None if isinstance(payload, str) else sfn.TaskInput.from_object(payload),
        input_path=payload if isinstance(payload, str) else None,
        payload_response_only=True,
        result_path=result_path,
    )
    task.add_retry(
        errors=RETRYABLE_ERRORS,
        interval=Duration.seconds(30),
        max_attempts=5,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task


class JobLoop(sfn.StateMachineFragment):
    """The start / wait / poll loop for one job kind, as a fragment: it begins at
    ``start_state`` and ends at ``done`` (a Pass), so ``loop.next(state)`` continues the run.

    ``kind``: the job kind (``contract.JobKind``); ``label``: the job in state names ("training
    job" gives "Start training job", "Wait for training job", ...); ``function``: the job
    driver. The wait between polls is the job record's ``waitSeconds`` (seconds)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        kind: str,
        label: str,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        record = StatePath.job(kind)
        self._start = lambda_step(
            self,
            f"Start {label}",
            function,
            {"action": JobsAction.START.value, "kind": kind, "state.$": StatePath.ROOT},
            result_path=record,
        )
        wait = sfn.Wait(
            self,
            f"Wait for {label}",
            time=sfn.WaitTime.seconds_path(StatePath.job(kind, "waitSeconds")),
        )
        poll = lambda_step(
            self,
            f"Poll {label}",
            function,
            {"action": JobsAction.POLL.value, "kind": kind, "state.$": StatePath.ROOT},
            result_path=record,
        )
        self.done = sfn.Pass(self, f"{label[:1].upper()}{label[1:]} finished")
        finished = sfn.Choice(self, f"Is {label} finished?")
        finished.when(sfn.Condition.boolean_equals(StatePath.job(kind, "done"), True), self.done)
        finished.otherwise(wait)
        self._start.next(wait).next(poll).next(finished)

    @property
    def start_state(self) -> sfn.State:
        return self._start

    @property
    def end_states(self) -> list[sfn.INextable]:
        return [self.done]
