"""SQuAD F1 / EM against hand-computed cases and the official v1.1 functions; aggregation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bedrock_pipeline.metrics import (
    Prediction,
    aggregate_model,
    compare,
    exact_match_score,
    f1_score,
    normalize_answer,
    score_record,
    summarize,
)
from tests.evaluation import squad_v11_reference as official


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  A  cat's   toy. ", "cats toy"),
        ("an apple, the pear", "apple pear"),
        ("Theater and anthem", "theater and anthem"),  # articles only as whole words
        ("1,234.5", "12345"),  # why numbers need their own match
        ("\tNew\nYork ", "new york"),
        ("The", ""),
    ],
)
def test_normalize_hand_cases(text: str, normalized: str) -> None:
    assert normalize_answer(text) == normalized


@pytest.mark.parametrize(
    ("prediction", "reference", "f1", "em"),
    [
        # pred tokens cat sat on mat (4), ref cat on mat (3): P 3/4, R 1, F1 6/7
        ("the cat sat on the mat", "a cat on a mat", 6 / 7, 0.0),
        ("cat cat", "cat", 2 / 3, 0.0),  # the bag counts a repeated token once per match
        ("Paris.", "paris", 1.0, 1.0),
        ("London", "Paris", 0.0, 0.0),
        ("", "", 0.0, 1.0),  # v1.1 quirk kept: empty vs empty is EM 1 but F1 0
        ("the", "a", 0.0, 1.0),  # both normalise to empty
        ("anything", "", 0.0, 0.0),
        ("", "Paris", 0.0, 0.0),
        ("!!!", "...", 0.0, 1.0),
        ("1,234", "1234", 1.0, 1.0),
        ("3.5", "35", 1.0, 1.0),
        ("$1.2 million", "1,200,000", 0.0, 0.0),
    ],
)
def test_f1_em_hand_cases(prediction: str, reference: str, f1: float, em: float) -> None:
    assert f1_score(prediction, reference) == pytest.approx(f1)
    assert exact_match_score(prediction, reference) == em


WORDS = ["the", "a", "an", "The", "A", "cat", "Cat", "1,234", "3.5", "$", "(12)", "über", "é"]
answers = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=6)), max_size=8).map(
    lambda parts: " ".join(parts)
)


@settings(max_examples=400, deadline=None)
@given(prediction=answers, references=st.lists(answers, min_size=1, max_size=3))
def test_equals_official_squad_v11(prediction: str, references: list[str]) -> None:
    assert normalize_answer(prediction) == official.normalize_answer(prediction)
    ours = score_record(Prediction(prediction), references)
    assert ours.f1 == official.metric_max_over_ground_truths(
        official.f1_score, prediction, references
    )
    assert ours.exact_match == float(
        official.metric_max_over_ground_truths(official.exact_match_score, prediction, references)
    )


def test_failed_prediction_scores_zero_and_counts_as_error() -> None:
    refs = [["Paris"], ["42"], ["London"]]
    preds = [Prediction("Paris", 3, 100.0), Prediction(None, error="Timeout"), Prediction("x", 5)]
    block = aggregate_model(refs, preds)
    assert block["f1"] == pytest.approx(1 / 3)
    assert block["exactMatch"] == pytest.approx(1 / 3)
    assert block["errors"] == 1
    assert block["numericRecords"] == 1 and block["numericMatch"] == 0.0
    assert block["outputTokens"]["count"] == 2
    assert block["latencyMs"]["count"] == 1


def test_summary_statistics_hand_computed() -> None:
    stats = summarize([10.0, 20.0, 30.0, 40.0])
    assert stats["mean"] == 25 and stats["median"] == 25
    assert stats["std"] == pytest.approx(math.sqrt(125))  # population std
    assert (stats["min"], stats["max"], stats["count"]) == (10, 40, 4)
    assert summarize([])["mean"] is None


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        aggregate_model([["a"]], [Prediction("a"), Prediction("b")])


def _block(f1: float, em: float, tokens: float | None) -> dict:
    return {
        "f1": f1,
        "exactMatch": em,
        "numericMatch": None,
        "outputTokens": {"mean": tokens},
    }


def test_compare_reproduces_the_published_tat_qa_figures() -> None:
    # F1 91.2% vs 73.2%, 22 vs 34 mean output tokens: +18 points, +24.6%, -35.3% tokens.
    result = compare(_block(0.912, 0.8, 22.0), _block(0.732, 0.0, 34.0))
    assert result["f1Gain"] == pytest.approx(0.18)
    assert result["f1RelativeImprovement"] == pytest.approx(0.18 / 0.732)
    assert result["outputTokenReduction"] == pytest.approx(12 / 34)
    assert result["exactMatchRelativeImprovement"] is None  # relative to 0 is undefined
    assert result["numericMatchGain"] is None


def test_compare_without_token_counts() -> None:
    assert compare(_block(0.5, 0.5, None), _block(0.4, 0.4, 10.0))["outputTokenReduction"] is None
