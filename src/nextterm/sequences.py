"""Parse and format integer sequences: the one place that validates user input.

One grammar for every command and endpoint that takes terms (``nextterm predict``, ``nextterm
lookup``, the server's ``/v1/next-terms`` and the web page):

* terms are separated by commas, semicolons and/or whitespace (spaces, tabs, newlines); one
  trailing comma or semicolon is fine (``1,2,3,`` is the model's own text form);
* one optional pair of brackets may enclose the whole sequence: ``[1, 2, 3]``, ``(1, 2, 3)``,
  ``{1, 2, 3}``;
* a term is an integer written in decimal: an optional ``-`` and digits, up to
  :data:`MAX_TERM_DIGITS` digits.

Rejected (raises :class:`SequenceError` with a one-line message that names the term by its number,
counted from 1):

* empty input, or input with no terms;
* an empty term (``1,,2``, ``,1,2``): two separators in a row;
* brackets anywhere but around the whole sequence (``(1),(2)``, ``1,[2],3``), or an unclosed or
  mismatched pair (``[1,2,3``, ``[1,2,3)``);
* a term that is not an integer (``1,a,3``, ``1.5``, ``+3``, ``1e5``);
* a term with leading zeros (``01``, ``-007``) or negative zero (``-0``): NextTerm models were
  never trained on such strings and read them as different numbers, so we refuse them rather than
  silently changing what the user typed;
* more than :data:`MAX_TERMS` terms, a term longer than :data:`MAX_TERM_DIGITS` digits, or input
  longer than :data:`MAX_INPUT_CHARS` characters.

Canonical form is the model's text format: ``1,2,3,`` (every term followed by a comma).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nextterm.errors import NextTermError

MAX_TERMS = 20_000
"""Most terms accepted in one sequence (OEIS b-files rarely exceed 10,000)."""

MAX_TERM_DIGITS = 1_000
"""Most digits in one term: far beyond any OEIS DATA term, well under Python's int-parsing cap."""

MAX_INPUT_CHARS = 2_000_000
"""Most characters of raw text accepted before any parsing is attempted."""

_SEPARATOR = re.compile(r"\s*[,;]\s*|\s+")
_INTEGER = re.compile(r"-?[0-9]+")
_BRACKETS = {"[": "]", "(": ")", "{": "}"}
_ANY_BRACKET = re.compile(r"[\[\](){}]")


class SequenceError(NextTermError):
    """User-supplied sequence text or terms are not a valid integer sequence."""


def _describe(token: str) -> str:
    return repr(token if len(token) <= 20 else token[:17] + "...")


def _parse_term(token: str, position: int) -> int:
    if not token:
        where = "two separators in a row" if position > 1 else "a separator before the first term"
        raise SequenceError(f"term {position} is empty ({where})")
    bracket = _ANY_BRACKET.search(token)
    if bracket:
        raise SequenceError(
            f"term {position} contains {bracket.group()!r}: only one pair of brackets may enclose "
            "the whole sequence"
        )
    if not _INTEGER.fullmatch(token):
        raise SequenceError(f"term {position} is not an integer: {_describe(token)}")
    digits = token.lstrip("-")
    if len(digits) > MAX_TERM_DIGITS:
        raise SequenceError(
            f"term {position} has {len(digits)} digits; the limit is {MAX_TERM_DIGITS}"
        )
    if digits == "0" and token.startswith("-"):
        raise SequenceError(f"term {position} is negative zero: write 0")
    if len(digits) > 1 and digits.startswith("0"):
        raise SequenceError(
            f"term {position} has leading zeros: {_describe(token)} (write it without them)"
        )
    return int(token)


def parse_terms(text: str) -> list[int]:
    """Parse ``text`` such as ``"1, 2, 3"``, ``"{1;2;3}"`` or ``"1 2\\n3"`` into a list of ints
    (the grammar of this module's docstring).

    Raises:
        SequenceError: the text is empty, malformed, or over a documented limit.
    """
    if not isinstance(text, str):
        raise SequenceError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_INPUT_CHARS:
        raise SequenceError(f"input has {len(text)} characters; the limit is {MAX_INPUT_CHARS}")
    tokens = _SEPARATOR.split(_unbracketed(text.strip()).strip())
    if tokens[-1] == "":  # one trailing separator: the canonical "1,2,3," form
        tokens.pop()
    if not any(tokens):
        raise SequenceError("no terms given: enter integers such as 1,1,2,3,5,8")
    if len(tokens) > MAX_TERMS:
        raise SequenceError(f"{len(tokens)} terms given; the limit is {MAX_TERMS}")
    return [_parse_term(token, index + 1) for index, token in enumerate(tokens)]


def _unbracketed(body: str) -> str:
    """``body`` without the one pair of brackets that may enclose the whole sequence."""
    opener, closer = body[:1], body[-1:]
    if opener not in _BRACKETS:
        return body
    if len(body) < 2 or closer not in _BRACKETS.values():
        raise SequenceError(
            f"the opening {opener!r} is never closed: end the sequence with {_BRACKETS[opener]!r}"
        )
    if closer != _BRACKETS[opener]:
        raise SequenceError(
            f"the opening {opener!r} is closed by {closer!r}: use {opener}...{_BRACKETS[opener]}"
        )
    return body[1:-1]


def validate_terms(terms: Iterable[object]) -> list[int]:
    """Check already-split terms (ints, or strings of digits) and return them as ints.

    Used for JSON input, where terms arrive as a list. ``bool`` is refused (``True`` is not a term).
    """
    if isinstance(terms, (str, bytes)):
        return parse_terms(terms.decode() if isinstance(terms, bytes) else terms)
    try:
        items = list(terms)
    except TypeError as error:
        raise SequenceError(f"expected a list of integers, got {type(terms).__name__}") from error
    if not items:
        raise SequenceError("no terms given: enter integers such as 1,1,2,3,5,8")
    if len(items) > MAX_TERMS:
        raise SequenceError(f"{len(items)} terms given; the limit is {MAX_TERMS}")
    result = []
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise SequenceError(f"term {index + 1} is not an integer: {_describe(str(item))}")
        if isinstance(item, int):
            # bit_length bounds the digit count cheaply before any int -> str conversion.
            if item.bit_length() > 3.33 * MAX_TERM_DIGITS or len(str(abs(item))) > MAX_TERM_DIGITS:
                raise SequenceError(f"term {index + 1} has more than {MAX_TERM_DIGITS} digits")
            result.append(item)
        else:
            result.append(_parse_term(item.strip(), index + 1))
    return result


def format_terms(terms: Iterable[int]) -> str:
    """Canonical text of a sequence: ``[1, 2, 3]`` -> ``"1,2,3,"``."""
    return "".join(f"{term}," for term in terms)
