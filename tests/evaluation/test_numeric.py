"""Numeric-aware matching (TAT-QA style): parsing, precision, the reference rule."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bedrock_pipeline.numeric import find_numbers, numeric_match, numeric_reference


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.56", "1234.56"),
        ("(1,234)", "-1234"),
        ("-5", "-5"),
        ("\u22125", "-5"),
        ("$3.5 million", "3500000"),
        ("\u20ac2bn", "2000000000"),
        ("12.5%", "12.5"),
        ("12.5 percent", "12.5"),
        ("5k", "5000"),
        ("$(2.5)", "-2.5"),
        (".5", "0.5"),
    ],
)
def test_parses_one_number(text: str, value: str) -> None:
    (number,) = find_numbers(text)
    assert number.value == Decimal(value)


@pytest.mark.parametrize("text", ["Q3 results", "FY2020", "v2.1", "5 months"])
def test_digits_glued_to_words_or_plain_words(text: str) -> None:
    values = [n.value for n in find_numbers(text)]
    assert values == ([Decimal(5)] if text == "5 months" else [])  # "m" is no scale inside a word


def test_range_is_two_positive_numbers() -> None:
    assert [n.value for n in find_numbers("2019-2020")] == [Decimal(2019), Decimal(2020)]


@pytest.mark.parametrize(
    ("reference", "numeric"),
    [
        ("1,234", True),
        ("$1.2 million", True),
        ("USD 12.5", True),
        ("(45)", True),
        ("12.5%", True),
        ("3 apples", False),
        ("2019 and 2020", False),
        ("Paris", False),
        ("", False),
    ],
)
def test_which_references_are_numeric(reference: str, numeric: bool) -> None:
    assert (numeric_reference(reference) is not None) is numeric


@pytest.mark.parametrize(
    ("prediction", "reference", "match"),
    [
        ("1234", "1,234", True),
        ("The answer is $1,234 dollars.", "1,234", True),
        ("1,234,567", "1.2 million", True),  # rounded to the reference's 0.1 million
        ("1,250,000", "1.2 million", False),  # rounds half up to 1.3 million
        ("12.47%", "12.5%", True),
        ("12.5", "12.5%", True),  # percent sign dropped
        ("0.125", "12.5%", True),  # percent is a scale of 0.01: the fraction is the same value
        ("12.5%", "0.125", True),
        ("1.25", "12.5%", False),
        ("3.1", "3.14", False),  # less precise than the reference
        ("-45", "(45)", True),
        ("45", "(45)", False),
        ("either 40 or 45", "45", False),  # hedging between values fails
        ("45, i.e. 45.0", "45", True),  # repeating the one value is fine
        ("In 2019 the margin was 41.2%.", "41.2%", True),  # a bare year is context
        ("There were 1,850 employees at the end of 2019.", "1,850", True),
        ("It rose from 1,190 to 1,450 in 2019", "1,450", False),  # restating the inputs
        ("2019", "2019", True),  # unless the answer is a year
        ("In 2019 it was 2019", "2,019", False),  # a formatted reference is no year
        ("forty-five", "45", False),  # words are not parsed
        ("", "45", False),
    ],
)
def test_numeric_match(prediction: str, reference: str, match: bool) -> None:
    ref = numeric_reference(reference)
    assert ref is not None
    assert numeric_match(prediction, ref) is match
