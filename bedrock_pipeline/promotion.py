"""The decision gate: is the customized model worth keeping?

Promote when the candidate's F1 beats the baseline's by at least ``min_f1_gain`` (absolute, as a
fraction: 0.02 is two F1 points). A comparison where either side failed on many records says
little about quality (a throttled baseline scores 0 on every failure and flatters the
candidate), so the gate refuses to promote above ``max_error_rate`` and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

DecisionValue = Literal["promoted", "not-promoted"]
DEFAULT_MAX_ERROR_RATE = 0.05


@dataclass(frozen=True)
class Decision:
    decision: DecisionValue
    reason: str
    f1_gain: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reason": self.reason, "f1Gain": self.f1_gain}


def _error_rate(block: dict[str, Any]) -> float:
    records = block.get("records") or 0
    return block["errors"] / records if records else 1.0


def decide(
    report: dict[str, Any],
    min_f1_gain: float,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
) -> Decision:
    """Apply the gate to a report built by ``bedrock_pipeline.report.build_report``."""
    if min_f1_gain < -1 or min_f1_gain > 1:
        raise ValueError(f"min_f1_gain must be a fraction in [-1, 1], got {min_f1_gain}")
    candidate, baseline = report["candidate"], report["baseline"]
    models = report["models"]
    for name in (candidate, baseline):
        rate = _error_rate(models[name])
        if rate > max_error_rate:
            return Decision(
                "not-promoted",
                f"{name} failed on {models[name]['errors']} of {models[name]['records']} records "
                f"({rate:.1%} > {max_error_rate:.1%} allowed): the comparison is not reliable",
                None,
            )
    cand_f1, base_f1 = models[candidate]["f1"], models[baseline]["f1"]
    gain = cand_f1 - base_f1
    # Rounded so that a gain of exactly the margin is not lost to float noise (0.3 - 0.28).
    verdict: DecisionValue = "promoted" if round(gain, 9) >= min_f1_gain else "not-promoted"
    relation = ">=" if verdict == "promoted" else "<"
    return Decision(
        verdict,
        f"F1 {cand_f1:.1%} ({candidate}) vs {base_f1:.1%} ({baseline}): gain "
        f"{gain * 100:+.1f} points {relation} required {min_f1_gain * 100:+.1f}",
        gain,
    )
