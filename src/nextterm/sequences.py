"""Parse and format integer sequences: the one place that validates user input.

Accepted input: terms separated by commas and/or whitespace (spaces, tabs, newlines), an optional
trailing comma, optional enclosing brackets (``[1, 2, 3]``), negative numbers, integers of any size
up to :data:`MAX_TERM_DIGITS` digits.

Rejected input (raises :class:`SequenceError` with a one-line message):

* empty input, or input with no terms;
* a token that is not an integer (``1,a,3``, ``1.5``, ``+3``, ``1e5``);
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

_SEPARATORS = re.compile(r"[,\s]+")
_INTEGER = re.compile(r"-?[0-9]+")


class SequenceError(NextTermError):
    """User-supplied sequence text or terms are not a valid integer sequence."""


def _describe(token: str) -> str:
    return repr(token if len(token) <= 20 else token[:17] + "...")


def _parse_term(token: str, position: int) -> int:
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
    """Parse ``text`` such as ``"1, 2, 3"``, ``"1,2,3,"`` or ``"1 2\\n3"`` into a list of ints.

    Raises:
        SequenceError: the text is empty, malformed, or over a documented limit.
    """
    if not isinstance(text, str):
        raise SequenceError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_INPUT_CHARS:
        raise SequenceError(f"input has {len(text)} characters; the limit is {MAX_INPUT_CHARS}")
    body = text.strip()
    if body[:1] in "[(" and body[-1:] in "])" and body:
        body = body[1:-1]
    tokens = [token for token in _SEPARATORS.split(body) if token]
    if not tokens:
        raise SequenceError("no terms given: enter integers such as 1,1,2,3,5,8")
    if len(tokens) > MAX_TERMS:
        raise SequenceError(f"{len(tokens)} terms given; the limit is {MAX_TERMS}")
    return [_parse_term(token, index + 1) for index, token in enumerate(tokens)]


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
