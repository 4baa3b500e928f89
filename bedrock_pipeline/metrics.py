"""Answer-quality and usage metrics shared by the evaluation step and `bedrock-pipeline score`.

Token F1 and exact match follow the official SQuAD v1.1 evaluation script exactly (tests compare
against a verbatim copy of it): lower case, drop ASCII punctuation, drop the articles a/an/the,
collapse whitespace; F1 over the bag of tokens; the best score over the reference answers. One
quirk is kept on purpose: v1.1 scores an empty prediction against an empty reference F1 0 but
EM 1 (v2.0 changed this); matching the published script matters more than the edge case.

The answer score is the numeracy-aware score the promotion gate uses by default, in the manner
of TAT-QA's metric: a numeric reference (``numeric.numeric_reference``) scores 1 when the
answer's numbers equal it by value (``numeric.numeric_match``: sign, scale words, percent,
precision) and 0 otherwise, with no partial credit, as TAT-QA scores arithmetic answers; any
other reference scores token F1 where each number is one token of its value
(``numeric.answer_tokens``), so "1.0" and "10" differ while "1,234" and "1234" agree.

Per model, quality is averaged over *all* test records; a record the model failed to answer
scores 0, as the official script scores a missing prediction, and is counted in ``errors``.
All ratios in the output are fractions (0.912, not 91.2).
"""

from __future__ import annotations

import math
import re
import statistics
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bedrock_pipeline.numeric import Number, answer_tokens, numeric_match, numeric_reference

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower, strip punctuation, drop articles, collapse whitespace."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def _token_f1(prediction_tokens: list[str], reference_tokens: list[str]) -> float:
    same = sum((Counter(prediction_tokens) & Counter(reference_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(prediction_tokens)
    recall = same / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, reference: str) -> float:
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(reference).split())


def exact_match_score(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def answer_score(prediction: str, reference: str, number: Number | None = None) -> float:
    """Numeric reference: 1.0 or 0.0 by value; text: F1 over value-normalized tokens.

    ``number`` is ``numeric_reference(reference)`` when the caller has it already.
    """
    number = number if number is not None else numeric_reference(reference)
    if number is not None:
        return float(numeric_match(prediction, number))
    return _token_f1(
        answer_tokens(prediction, normalize_answer), answer_tokens(reference, normalize_answer)
    )


@dataclass(frozen=True)
class Prediction:
    """One model's answer to one test record. ``output`` is None when the call failed."""

    output: str | None
    output_tokens: int | None = None
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class RecordScore:
    f1: float
    exact_match: float
    numeric_match: float | None  # None: the reference is not a number
    answer_score: float = 0.0


def numeric_references(references: Sequence[str]) -> list[Number]:
    return [n for n in map(numeric_reference, references) if n is not None]


def score_record(
    prediction: Prediction,
    references: Sequence[str],
    numeric_refs: Sequence[Number] | None = None,
) -> RecordScore:
    """Best score over the reference answers; a failed prediction scores 0.

    ``numeric_refs`` (``numeric_references(references)``) may be passed in when one test set is
    scored for several models, to parse the references once.
    """
    if numeric_refs is None:
        numeric_refs = numeric_references(references)
    if prediction.output is None:
        return RecordScore(0.0, 0.0, 0.0 if numeric_refs else None, 0.0)
    out = prediction.output
    return RecordScore(
        f1=max(f1_score(out, ref) for ref in references),
        exact_match=max(exact_match_score(out, ref) for ref in references),
        numeric_match=(
            max(float(numeric_match(out, n)) for n in numeric_refs) if numeric_refs else None
        ),
        answer_score=max(answer_score(out, ref) for ref in references),
    )


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """mean, median, population std, min, max and count; the statistics are None when empty."""
    if not values:
        return {"mean": None, "median": None, "std": None, "min": None, "max": None, "count": 0}
    return {
        "mean": statistics.fmean(values),
        "median": float(statistics.median(values)),
        "std": statistics.pstdev(values),
        "min": float(min(values)),
        "max": float(max(values)),
        "count": len(values),
    }


def aggregate_model(
    references: Sequence[Sequence[str]], predictions: Sequence[Prediction]
) -> dict[str, Any]:
    """The per-model block of report.json."""
    if len(references) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    scores = [score_record(p, refs) for p, refs in zip(predictions, references, strict=True)]
    return aggregate_scores(scores, predictions)


def aggregate_scores(
    scores: Sequence[RecordScore], predictions: Sequence[Prediction]
) -> dict[str, Any]:
    """The per-model block from already computed record scores (same order as predictions)."""
    numeric = [s.numeric_match for s in scores if s.numeric_match is not None]
    n = len(scores)
    return {
        "records": n,
        "f1": sum(s.f1 for s in scores) / n if n else 0.0,
        "exactMatch": sum(s.exact_match for s in scores) / n if n else 0.0,
        "numericMatch": sum(numeric) / len(numeric) if numeric else None,
        "answerScore": sum(s.answer_score for s in scores) / n if n else 0.0,
        "numericRecords": len(numeric),
        "outputTokens": summarize(
            [float(p.output_tokens) for p in predictions if p.output_tokens is not None]
        ),
        "latencyMs": summarize([p.latency_ms for p in predictions if p.latency_ms is not None]),
        "errors": sum(1 for p in predictions if p.output is None),
    }


def _relative(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0 or math.isnan(old):
        return None
    return (new - old) / old


def _gain(new: float | None, old: float | None) -> float | None:
    return new - old if new is not None and old is not None else None


def compare(candidate: dict[str, Any], other: dict[str, Any]) -> dict[str, float | None]:
    """Candidate versus another model: absolute deltas, relative improvements, token reduction.

    ``outputTokenReduction`` is (other - candidate) / other on mean output tokens: 22 vs 34
    tokens is 0.353, shown as -35% output tokens.
    """
    cand_nm, other_nm = candidate["numericMatch"], other["numericMatch"]
    cand_tok, other_tok = candidate["outputTokens"]["mean"], other["outputTokens"]["mean"]
    reduction = _relative(cand_tok, other_tok)
    return {
        "f1Gain": candidate["f1"] - other["f1"],
        "f1RelativeImprovement": _relative(candidate["f1"], other["f1"]),
        "exactMatchGain": candidate["exactMatch"] - other["exactMatch"],
        "exactMatchRelativeImprovement": _relative(candidate["exactMatch"], other["exactMatch"]),
        "answerScoreGain": _gain(candidate.get("answerScore"), other.get("answerScore")),
        "numericMatchGain": _gain(cand_nm, other_nm),
        "outputTokenReduction": -reduction if reduction is not None else None,
    }
