"""Polynomial sequences: the lowest-degree polynomial in n through the given terms.

Repeated differences find the degree ``d`` (the ``d+1``-th differences vanish); the polynomial
uses ``d + 1`` terms and every further given term confirms it.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import lcm

from nextterm.candidates import Candidate
from nextterm.solvers.evidence import MIN_SPARE, information, make_candidate
from nextterm.solvers.formula import closed_form


def newton_to_monomial(leading_differences: Sequence[int], offset: int) -> list[Fraction]:
    """Coefficients (lowest first, in n) of ``sum_k D_k * binomial(n - offset, k)``."""
    result = [Fraction(0)] * len(leading_differences)
    basis = [Fraction(1)]  # binomial(n - offset, k) as a polynomial in n, lowest degree first
    for k, difference in enumerate(leading_differences):
        for power, coefficient in enumerate(basis):
            result[power] += difference * coefficient
        # basis_{k+1} = basis_k * (n - offset - k) / (k + 1)
        shifted = [Fraction(0)] + basis
        for power, coefficient in enumerate(basis):
            shifted[power] -= (offset + k) * coefficient
        basis = [c / (k + 1) for c in shifted]
    while len(result) > 1 and result[-1] == 0:
        result.pop()
    return result


def difference_table(terms: Sequence[int]) -> list[list[int]]:
    """``terms`` and their repeated differences, down to the last row that is not all zero: the
    lowest-degree polynomial through every term has degree ``len(rows) - 1``."""
    rows = [[int(t) for t in terms]]
    while len(rows[-1]) > 1 and any(rows[-1]):
        last = rows[-1]
        rows.append([last[i + 1] - last[i] for i in range(len(last) - 1)])
    if len(rows) > 1 and not any(rows[-1]):
        rows.pop()
    return rows


def extend_table(rows: Sequence[Sequence[int]], n_terms: int) -> list[int]:
    """The next ``n_terms`` values of the polynomial with difference table ``rows`` (its last row
    constant): each row's last value plus the next row's new value."""
    tails = [row[-1] for row in rows]
    continuation = []
    for _ in range(n_terms):
        for level in range(len(tails) - 2, -1, -1):
            tails[level] += tails[level + 1]
        continuation.append(tails[0])
    return continuation


def solve_polynomial(
    terms: Sequence[int], n_terms: int = 1, *, offset: int = 0, symbol: str = "a"
) -> Candidate | None:
    """Lowest-degree polynomial fit, confirmed by at least ``MIN_SPARE`` further terms."""
    terms = [int(t) for t in terms]
    if len(terms) <= MIN_SPARE:
        return None
    rows = [terms]
    while (any(rows[-1]) or len(rows) == 1) and len(rows[-1]) > MIN_SPARE:
        last = rows[-1]
        rows.append([last[i + 1] - last[i] for i in range(len(last) - 1)])
    if any(rows[-1]):
        return None
    degree = len(rows) - 2  # rows[-1] (all zero) are the (degree+1)-th differences
    spare = len(terms) - (degree + 1)
    if spare < MIN_SPARE:
        return None
    continuation = extend_table(rows[:-1], n_terms)
    coefficients = newton_to_monomial([row[0] for row in rows[:-1]] or [0], offset)
    denominator = lcm(*(c.denominator for c in coefficients))
    written = [int(c * denominator) for c in coefficients]
    if denominator > 1:
        written.append(denominator)
    info = information(terms, written, shapes_tried=degree + 1)
    formula = closed_form(coefficients, symbol, first=offset)
    return make_candidate(
        method="polynomial",
        explanation=formula,
        continuation=continuation,
        spare=spare,
        info=info,
        details={"degree": degree, "coefficients": [str(c) for c in coefficients]},
    )


INTERPOLATION_CONFIDENCE = (0.1, 0.3)
"""Confidence of the unverified fallback with 0 and with 1 confirming term: a guess, said so."""

MAX_INTERPOLATION_DEGREE = 4
"""Beyond quartics an unverified interpolant extrapolates wildly and is almost never right."""


def interpolate(terms: Sequence[int], n_terms: int = 1, *, symbol: str = "a") -> Candidate | None:
    """Unverified fallback: the lowest-degree polynomial through *all* given terms, if at most quartic.

    It is the textbook answer for short polynomial prompts (k = degree + 1 points determine the
    polynomial), so it is offered when nothing verified exists, with a low confidence and
    ``details["verified"] = False`` so that rankers treat it as a guess.
    """
    if len(terms) < 2:
        return None
    rows = difference_table(terms)
    degree = len(rows) - 1
    if degree > MAX_INTERPOLATION_DEGREE:
        return None
    spare = len(terms) - (degree + 1)
    continuation = extend_table(rows, n_terms)
    coefficients = newton_to_monomial([row[0] for row in rows], 0)
    return Candidate(
        value=continuation[0],
        confidence=INTERPOLATION_CONFIDENCE[min(spare, 1)],
        method="interpolation",
        explanation=(
            f"{closed_form(coefficients, symbol)} fits all given terms "
            + (
                "(unverified: no spare term checks it)"
                if spare == 0
                else "(checked by 1 term only)"
            )
        ),
        continuation=tuple(continuation),
        evidence=spare,
        details={"degree": degree, "verified": False},
    )
