"""Numeric-aware answer matching, in the manner of TAT-QA's metric (NExTplusplus/TAT-QA).

SQuAD normalisation strips punctuation, so "1,234.5" becomes the token "12345" and "$1.2
million" never matches "1,200,000". For answers that are numbers we therefore also report a
separate match that compares values, not strings. What this module decides, so that readers of a
report know what the number means:

- A number is digits with optional thousands commas and decimals ("1,234.56", "0.5", ".5"), an
  optional sign ("-", unicode minus) or accounting parentheses ("(1,234)" is -1234), an optional
  currency symbol, an optional percent ("%", "percent") and an optional scale word
  (``SCALE_WORDS``). Digits glued to a letter before them ("Q3", "FY2020") are not numbers.
- A reference answer is *numeric* when it holds exactly one number and nothing else but
  punctuation and words from ``FILLER_WORDS`` (currency codes, "dollars"...). Only those records
  count towards ``numericMatch``.
- Precision: a predicted value is rounded (half up) to the reference's precision -- the last
  decimal place the reference writes, times its scale -- before comparing. "12.47%" matches
  "12.5%", "1,234,567" matches "1.2 million", "3.1" does not match "3.14".
- Percent is a scale of 0.01, as TAT-QA applies it: "12.5%" and the fraction "0.125" are the
  same value and match. A model that drops the sign ("12.5" for "12.5%") matches too: the
  question asked for a percentage, and a bare 12.5 cannot mean 1,250%.
- Separators: "," groups thousands and "." is the decimal point, as in English-language
  sources. "1,234" is 1234; "1.234" is one point two three four, never 1234; "1.234,5"
  (continental) is not read as one number. Currency symbols and codes are not compared
  ("$5" matches "5" and "EUR 5").
- A prediction matches when the set of its numbers, each rounded as above, is exactly
  {reference value}: a concise answer or a sentence that repeats the one value passes; an answer
  that hedges between several values, or restates the inputs next to the result, fails. Bare
  years (1900-2099 written as four plain digits) are left out of that set unless the reference
  is one, so "In 2019 the margin was 41.2%" still answers "41.2%". Numbers written as words are
  not parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Scale words and their multipliers. Single letters are finance shorthand ("$3m", "5k");
# "b" alone is left out because it collides with too many non-numeric uses.
SCALE_WORDS: dict[str, Decimal] = {
    "thousand": Decimal(10) ** 3,
    "thousands": Decimal(10) ** 3,
    "k": Decimal(10) ** 3,
    "million": Decimal(10) ** 6,
    "millions": Decimal(10) ** 6,
    "mn": Decimal(10) ** 6,
    "m": Decimal(10) ** 6,
    "billion": Decimal(10) ** 9,
    "billions": Decimal(10) ** 9,
    "bn": Decimal(10) ** 9,
    "trillion": Decimal(10) ** 12,
    "trillions": Decimal(10) ** 12,
    "tn": Decimal(10) ** 12,
}

# Words allowed next to the number in a reference that still counts as numeric.
FILLER_WORDS: frozenset[str] = frozenset(
    {"usd", "us", "eur", "gbp", "jpy", "cny", "rmb", "dollar", "dollars", "euro", "euros"}
    | {"pound", "pounds", "yen", "yuan"}
)

_SCALES = "|".join(sorted(SCALE_WORDS, key=len, reverse=True))
_NUMBER_RE = re.compile(
    r"(?<![\w.])"  # not glued to a word before it: "Q3", "v2.1" are not numbers
    r"(?P<open>\(\s*)?"
    r"(?:(?P<sign>[-\u2212])\s*)?"
    r"(?:(?P<currency>[$\u20ac\u00a3\u00a5])\s*)?"
    r"(?P<sign2>[-\u2212])?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*(?P<percent>%|percent\b|per\s+cent\b))?"
    rf"(?:\s*(?P<scale>{_SCALES})\b)?"
    r"(?P<close>\s*\))?",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[a-z]+")
_YEAR = re.compile(r"(19|20)\d\d")


@dataclass(frozen=True)
class Number:
    """One number found in a text: its value (scale applied) and the precision it was written to."""

    value: Decimal
    quantum: Decimal  # the value of one unit in the last written place, e.g. 0.1 for "12.5%"
    percent: bool
    span: tuple[int, int]
    year_like: bool = False  # four plain digits 1900-2099: "in 2019" is context, not an answer


def find_numbers(text: str) -> list[Number]:
    numbers = []
    for m in _NUMBER_RE.finditer(text):
        mantissa = Decimal(m["digits"].replace(",", ""))
        scale = SCALE_WORDS[m["scale"].lower()] if m["scale"] else Decimal(1)
        negative = bool(m["sign"] or m["sign2"]) != bool(m["open"] and m["close"])
        exponent = mantissa.as_tuple().exponent
        assert isinstance(exponent, int)  # finite by construction of the regex
        value = mantissa * scale
        plain = m.group(0) == m["digits"]  # no sign, currency, percent, scale or brackets
        numbers.append(
            Number(
                value=-value if negative else value,
                quantum=Decimal(1).scaleb(exponent) * scale,
                percent=m["percent"] is not None,
                span=m.span(),
                year_like=plain and _YEAR.fullmatch(m["digits"]) is not None,
            )
        )
    return numbers


def numeric_reference(text: str) -> Number | None:
    """The reference's number when the reference is a numeric answer, else None."""
    numbers = find_numbers(text)
    if len(numbers) != 1:
        return None
    start, end = numbers[0].span
    rest = (text[:start] + " " + text[end:]).lower()
    if any(word not in FILLER_WORDS for word in _WORD_RE.findall(rest)):
        return None
    if any(ch.isdigit() for ch in rest):
        return None
    return numbers[0]


def round_to(value: Decimal, quantum: Decimal) -> Decimal:
    return (value / quantum).to_integral_value(rounding=ROUND_HALF_UP) * quantum


def _readings(number: Number, reference: Number) -> tuple[Decimal, ...]:
    """The values a predicted number may stand for, in the reference's terms."""
    if number.percent == reference.percent:
        return (number.value,)
    if reference.percent:  # "0.125" (fraction) or "12.5" (sign dropped) for "12.5%"
        return (number.value, number.value * 100)
    return (number.value, number.value / 100)  # "12.5%" for the fraction "0.125"


def numeric_match(prediction: str, reference: Number) -> bool:
    """True when every number in the prediction equals the reference at its precision."""
    found = find_numbers(prediction)
    if not reference.year_like:
        found = [n for n in found if not n.year_like]
    if not found:
        return False
    return all(
        any(round_to(v, reference.quantum) == reference.value for v in _readings(n, reference))
        for n in found
    )


def value_token(number: Number) -> str:
    """The number as one token of its value (percent as a fraction): "12.5%" -> "0.125"."""
    value = number.value / 100 if number.percent else number.value
    return format(value.normalize(), "f") if value else "0"


def answer_tokens(text: str, normalize: Callable[[str], str]) -> list[str]:
    """``text`` split into tokens, each number one token of its value, the words in between
    through ``normalize`` (SQuAD's): "1.0" stays 1.0, unlike SQuAD's "10"."""
    tokens: list[str] = []
    end = 0
    for number in find_numbers(text):
        start, stop = number.span
        tokens += normalize(text[end:start]).split()
        tokens.append(value_token(number))
        end = stop
    return tokens + normalize(text[end:]).split()
