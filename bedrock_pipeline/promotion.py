"""The decision gate: is the customized model worth keeping?

Promote when the candidate's decision metric beats the baseline's by at least ``min_gain``
(absolute, as a fraction: 0.02 is two points). The metric is ``answerScore`` unless the run
document or stage says otherwise (``DECISION_METRICS``): SQuAD F1 and exact match strip
punctuation, so "10" scores 1 against "1.0" and "1.0" scores 0 against "1"; the answer score
compares numbers by value (``bedrock_pipeline.metrics.answer_score``). A comparison where either
side failed on many records says little about quality (a throttled baseline scores 0 on every
failure and flatters the candidate), so the gate refuses to promote above ``max_error_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

DecisionValue = Literal["promoted", "not-promoted"]
DecisionMetric = Literal["answerScore", "f1", "exactMatch", "numericMatch"]
DECISION_METRICS: tuple[str, ...] = get_args(DecisionMetric)
DEFAULT_DECISION_METRIC: DecisionMetric = "answerScore"
DEFAULT_MAX_ERROR_RATE = 0.05
LABELS = {"answerScore": "answer score", "f1": "F1", "exactMatch": "exact match",
          "numericMatch": "numeric match"}  # fmt: skip


@dataclass(frozen=True)
class Decision:
    decision: DecisionValue
    reason: str
    f1_gain: float | None
    metric: str = DEFAULT_DECISION_METRIC
    gain: float | None = None  # of ``metric``

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reason": self.reason,
            "metric": self.metric,
            "gain": self.gain,
            "f1Gain": self.f1_gain,
        }


def _error_rate(block: dict[str, Any]) -> float:
    records = block.get("records") or 0
    return block["errors"] / records if records else 1.0


def decide(
    report: dict[str, Any],
    min_gain: float,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    metric: str = DEFAULT_DECISION_METRIC,
) -> Decision:
    """Apply the gate to a report built by ``bedrock_pipeline.report.build_report``."""
    if min_gain < -1 or min_gain > 1:
        raise ValueError(f"the required gain must be a fraction in [-1, 1], got {min_gain}")
    if metric not in DECISION_METRICS:
        raise ValueError(f"decision metric {metric!r}: use one of {', '.join(DECISION_METRICS)}")
    candidate, baseline = report["candidate"], report["baseline"]
    models = report["models"]
    f1_gain = models[candidate]["f1"] - models[baseline]["f1"]
    for name in (candidate, baseline):
        rate = _error_rate(models[name])
        if rate > max_error_rate:
            return Decision(
                "not-promoted",
                f"{name} failed on {models[name]['errors']} of {models[name]['records']} records "
                f"({rate:.1%} > {max_error_rate:.1%} allowed): the comparison is not reliable",
                None,
                metric,
            )
    label = LABELS[metric]
    cand, base = models[candidate].get(metric), models[baseline].get(metric)
    if cand is None or base is None:  # numericMatch on a test set without numeric answers
        return Decision(
            "not-promoted",
            f"{label} is undefined: the test set has no numeric reference answers; "
            "choose another decisionMetric",
            f1_gain,
            metric,
        )
    gain = cand - base
    # Rounded so that a gain of exactly the margin is not lost to float noise (0.3 - 0.28).
    verdict: DecisionValue = "promoted" if round(gain, 9) >= min_gain else "not-promoted"
    relation = ">=" if verdict == "promoted" else "<"
    return Decision(
        verdict,
        f"{label} {cand:.1%} ({candidate}) vs {base:.1%} ({baseline}): gain "
        f"{gain * 100:+.1f} points {relation} required {min_gain * 100:+.1f}",
        f1_gain,
        metric,
        gain,
    )
