"""Parsing and formatting of user-supplied sequences."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nextterm.sequences import (
    MAX_TERM_DIGITS,
    MAX_TERMS,
    SequenceError,
    format_terms,
    parse_terms,
    validate_terms,
)


@pytest.mark.parametrize(
    "text",
    [
        "1, 2, 3",
        "1,2,3,",
        "1 2 3",
        "1\n2\n3\n",
        "  1,\t2 ,3  ",
        "[1, 2, 3]",
        "(1,2,3)",
        "{1,2,3}",
        "1;2;3",
        "1; 2; 3;",
        "{1;\n2;\n3}",
        " [ 1 2 3 ] ",
    ],
)
def test_accepted_spellings(text):
    assert parse_terms(text) == [1, 2, 3]


def test_negative_and_huge_terms():
    big = 10**200 + 7
    assert parse_terms(f"-5, 0, {big}, -{big}") == [-5, 0, big, -big]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no terms"),
        ("  , ,\n", "no terms"),
        ("1,a,3", "term 2 is not an integer"),
        ("1.5,2", "not an integer"),
        ("+3", "not an integer"),
        ("1e5", "not an integer"),
        ("01,02,03", "leading zeros"),
        ("5,-007", "leading zeros"),
        ("-0,1", "negative zero"),
        ("1," + "9" * (MAX_TERM_DIGITS + 1), "digits; the limit"),
        ("1,,2", r"term 2 is empty \(two separators in a row\)"),
        (",1,2", r"term 1 is empty \(a separator before the first term\)"),
        ("1;,2", "term 2 is empty"),
        ("1,2,,", "term 3 is empty"),
        ("(1),(2),(3)", "term 1 contains '\\)': only one pair of brackets"),
        ("1,{2},3", "term 2 contains '{'"),
        ("[1,2,3", "the opening '\\[' is never closed"),
        ("(1,2,3]", "the opening '\\(' is closed by '\\]'"),
        ("[]", "no terms"),
    ],
)
def test_rejected_input_has_a_clear_message(text, fragment):
    with pytest.raises(SequenceError, match=fragment):
        parse_terms(text)


def test_too_many_terms():
    with pytest.raises(SequenceError, match="limit"):
        parse_terms(",".join(["1"] * (MAX_TERMS + 1)))


def test_validate_terms_from_json_values():
    assert validate_terms([1, "2", -3]) == [1, 2, -3]
    with pytest.raises(SequenceError, match="not an integer"):
        validate_terms([1, True])
    with pytest.raises(SequenceError, match="not an integer"):
        validate_terms([1, 2.5])
    with pytest.raises(SequenceError, match="no terms"):
        validate_terms([])
    with pytest.raises(SequenceError, match="digits"):
        validate_terms([10 ** (MAX_TERM_DIGITS + 5)])
    with pytest.raises(SequenceError, match="leading zeros"):
        validate_terms(["007"])


def test_format_terms():
    assert format_terms([1, -2, 30]) == "1,-2,30,"


@given(st.lists(st.integers(min_value=-(10**60), max_value=10**60), min_size=1, max_size=60))
def test_format_parse_round_trip(terms):
    assert parse_terms(format_terms(terms)) == terms
    assert parse_terms(" ".join(map(str, terms))) == terms
