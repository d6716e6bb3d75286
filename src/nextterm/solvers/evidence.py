"""How much a verified rule is worth: evidence measured in digits of information, and confidence.

A rule that reproduces given terms compresses them: writing the rule (its coefficients) and its
free initial values is shorter than writing every term. The saving, in decimal digits, is the
evidence: ``information = digits(reproduced terms) - digits(coefficients) - digits(search)``, where
the last part charges for how many rule shapes were tried before this one fitted (a search over
many shapes finds chance fits more often). Counting spare equations instead would overrate
small-valued or sparse sequences (a 0/1 word carries about one bit a term, not a digit).

Every solver returns a :class:`~nextterm.candidates.Candidate` built by :func:`make_candidate`,
which declines (returns ``None``) when fewer than :data:`MIN_SPARE` terms confirmed the rule or
the information is below :data:`MIN_INFORMATION`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction

from nextterm.candidates import Candidate

MIN_SPARE = 2
"""Fewest given terms that must confirm a rule beyond those that determined it."""

MIN_INFORMATION = 1.5
"""Fewest digits of evidence (after costs) for a solver to answer at all."""

CONFIDENCE_SCALE = 3.0
"""Digits of evidence that cut the estimated error rate tenfold (see :func:`confidence`)."""

MAX_CONFIDENCE = 0.99
"""Highest confidence given: long verified rules are still wrong about 1% of the time on OEIS
(sequences whose rule changes later)."""


CHANGE_RISK = 0.3
"""Confidence is also kept below ``1 - CHANGE_RISK / (spare + 1)``: however many digits they
carry, a few confirming terms cannot rule out a rule that changes later (on OEIS rows cut to 10
terms, answers the digits alone rated 0.99 were right 96% of the time; cut to 15 terms, 99.7%)."""


def term_digits(value: int) -> float:
    """Information carried by one integer term, in decimal digits (0: 0.30, 1: 0.60, 9: 1.30)."""
    return math.log10(2 * abs(value) + 2)


def coefficient_digits(value: int | Fraction) -> float:
    """Digits needed to write one rational coefficient of a rule (numerator, then denominator)."""
    value = Fraction(value)
    cost = term_digits(value.numerator)
    if value.denominator != 1:
        cost += term_digits(value.denominator)
    return cost


def information(
    reproduced: Sequence[int], coefficients: Iterable[int | Fraction], shapes_tried: int = 1
) -> float:
    """Digits of evidence: reproduced terms minus the rule's coefficients and the search size.

    A value that recurs among the reproduced terms carries at most ``log10(1 + 1/frequency)``
    digits (a 0/1 word about half a digit a term, a constant run 0.3), since matching it by
    chance is that likely; values seen once carry their full :func:`term_digits`.
    """
    counts = Counter(reproduced)
    size = len(reproduced)
    gained = 0.0
    for value in reproduced:
        digits = term_digits(value)
        if counts[value] > 1:
            digits = min(digits, math.log10(1 + size / counts[value]))
        gained += digits
    spent = sum(coefficient_digits(value) for value in coefficients)
    return gained - spent - math.log10(max(1, shapes_tried))


def confidence(info: float) -> float:
    """Map digits of evidence to a probability of being right (monotone, capped below 1).

    At :data:`MIN_INFORMATION` digits this gives about 0.68; each further
    :data:`CONFIDENCE_SCALE` digits divides the remaining doubt by ten.
    """
    if info <= 0:
        return 0.0
    return min(MAX_CONFIDENCE, 1.0 - 10.0 ** (-info / CONFIDENCE_SCALE))


def make_candidate(
    *,
    method: str,
    explanation: str,
    continuation: Iterable[int],
    spare: int,
    info: float,
    details: dict | None = None,
) -> Candidate | None:
    """A candidate for a verified rule, or ``None`` when the evidence is too thin."""
    values = tuple(int(value) for value in continuation)
    if not values or spare < MIN_SPARE or info < MIN_INFORMATION:
        return None
    extra = dict(details or {})
    extra["information_digits"] = round(info, 3)
    return Candidate(
        value=values[0],
        confidence=min(confidence(info), 1.0 - CHANGE_RISK / (spare + 1)),
        method=method,
        explanation=explanation,
        continuation=values,
        evidence=spare,
        details=extra,
    )
