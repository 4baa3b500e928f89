"""What a finished run tells the team, and where it says it.

``summarize`` turns the workflow's state (or, for aborted and timed-out executions, the
EventBridge status-change event) into one summary; ``publish`` sends it as an EventBridge event
and an SNS message. Pure over injected clients.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bedrock_pipeline.aws.retry import call_with_retry
from bedrock_pipeline.contract import Outcome
from bedrock_pipeline.run_state import ExecutionStatusChange

SOURCE = "bedrock-customization-pipeline"
# outcome -> EventBridge detail-type (rules match on these; keep them stable).
DETAIL_TYPES: dict[str, str] = {
    Outcome.SUCCEEDED: "Customization Run Succeeded",
    Outcome.NOT_PROMOTED: "Customization Run Not Promoted",
    Outcome.FAILED: "Customization Run Failed",
    "ABORTED": "Customization Run Aborted",
    "TIMED_OUT": "Customization Run Timed Out",
}
SUBJECT_LIMIT = 99  # SNS: "less than 100 characters long"
REASON_LIMIT = 4000  # keep the message and the execution's cause readable


class NotificationFailed(Exception):
    """EventBridge refused the event (FailedEntryCount > 0)."""


def reason_of(error: Mapping[str, Any] | None) -> tuple[str, str]:
    """(error name, readable reason) from a Catch's ``{"Error", "Cause"}``: a Lambda's cause is
    JSON with ``errorMessage``; the service's own errors carry plain text."""
    if not error:
        return "Unknown", "no error recorded"
    name = str(error.get("Error") or "Unknown")
    cause = error.get("Cause")
    text = str(cause or name)
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            text = str(parsed["errorMessage"])
    return name, text[:REASON_LIMIT]


def _outputs(state: Mapping[str, Any]) -> dict[str, Any]:
    jobs = state.get("jobs") or {}
    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value not in (None, "", {}, []):
            out[key] = value

    put("customModelArn", ((jobs.get("customization") or {}).get("outputs") or {}).get("modelArn"))
    put(
        "trainingMetrics",
        ((jobs.get("customization") or {}).get("outputs") or {}).get("trainingMetrics"),
    )
    put("trainedModelUri", ((jobs.get("training") or {}).get("outputs") or {}).get("modelUri"))
    put("importedModelArn", ((jobs.get("import") or {}).get("outputs") or {}).get("modelArn"))
    throughput = ((jobs.get("throughput") or {}).get("outputs") or {}).get("provisionedModelArn")
    put("provisionedModelArn", throughput)
    put("provisionedThroughputDeleted", bool((state.get("release") or {}).get("deleted")) or None)
    put("validationReportUri", (state.get("validation") or {}).get("reportUri"))
    report = (state.get("evaluation") or {}).get("report") or {}
    if report:
        out["evaluation"] = {
            k: report.get(k) for k in ("decision", "reason", "reportUri", "metrics")
        }
    return out


def summarize(event: Mapping[str, Any]) -> dict[str, Any]:
    change = ExecutionStatusChange.from_event(event)
    if change is not None:  # the rule for executions that ended outside the workflow's Catch
        status = change.status or "ABORTED"
        return {
            "runName": change.document.get("runName") or change.name,
            "outcome": status if status in DETAIL_TYPES else Outcome.FAILED.value,
            "executionArn": change.execution_arn,
            "error": change.error or status,
            "reason": change.cause or f"the execution was {status.lower().replace('_', ' ')}",
            "outputs": {},
        }
    outcome = str(event["outcome"])
    if outcome not in DETAIL_TYPES:
        raise ValueError(f"outcome {outcome!r}; allowed: {', '.join(DETAIL_TYPES)}")
    state = event.get("state") or {}
    run = state.get("run", state)  # the Catch path carries the raw input
    summary: dict[str, Any] = {
        "runName": run.get("runName") or event.get("executionName"),
        "outcome": outcome,
        "executionArn": event.get("executionArn"),
        "outputs": _outputs(state),
    }
    if outcome == Outcome.FAILED:
        summary["error"], summary["reason"] = reason_of(state.get("error"))
        if state.get("cleanup"):
            summary["cleanup"] = state["cleanup"]
    elif outcome == Outcome.NOT_PROMOTED:
        summary["reason"] = summary["outputs"].get("evaluation", {}).get("reason")
    return summary


def message(summary: Mapping[str, Any]) -> tuple[str, str]:
    """(SNS subject, body): a line a person reads first, then the JSON for tools."""
    subject = f"Bedrock customization run {summary.get('runName')}: {summary['outcome']}"
    lines = [subject]
    if summary.get("reason"):
        lines.append(f"Reason: {summary['reason']}")
    for key, value in summary.get("outputs", {}).items():
        if isinstance(value, str):
            lines.append(f"{key}: {value}")
    body = "\n".join(lines) + "\n\n" + json.dumps(summary, indent=1, sort_keys=True, default=str)
    return subject[:SUBJECT_LIMIT], body


def publish(
    summary: Mapping[str, Any], *, sns: Any, events: Any, topic_arn: str, bus_name: str
) -> None:
    entry: dict[str, Any] = {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPES[str(summary["outcome"])],
        "Detail": json.dumps(summary, default=str),
        "EventBusName": bus_name,
    }
    if summary.get("executionArn"):
        entry["Resources"] = [summary["executionArn"]]
    response = call_with_retry(events.put_events, Entries=[entry])
    if response.get("FailedEntryCount"):
        failed = response["Entries"][0]
        raise NotificationFailed(
            "EventBridge refused the run event: "
            f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
        )
    subject, body = message(summary)
    attributes = {"outcome": {"DataType": "String", "StringValue": str(summary["outcome"])}}
    if summary.get("runName"):
        attributes["runName"] = {"DataType": "String", "StringValue": str(summary["runName"])}
    call_with_retry(
        sns.publish, TopicArn=topic_arn, Subject=subject, Message=body, MessageAttributes=attributes
    )
