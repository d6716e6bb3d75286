"""Constant-coefficient linear recurrences (C-finite sequences) and rational generating functions.

:func:`solve_cfinite` finds the lowest order ``r`` with ``a(n) = c_1 a(n-1) + ... + c_r a(n-r)``
(rational ``c_i``) holding for every given term from the ``r+1``-th on. Berlekamp-Massey modulo
a prime gives the order; the coefficients are then the exact nullspace over Q of the Hankel-like
matrix of the terms. Its candidate also records the generating function.

:func:`solve_rational_gf` is the Pade form of the same idea and adds what the first one cannot
do: generating functions ``P(x)/Q(x)`` with ``deg P >= deg Q``, i.e. sequences whose first few
terms are exceptions to the recurrence (``1, 3, 6, 12, 24, ...``). When ``deg P < deg Q`` the two
coincide, so the rational g.f. solver only searches for those exceptional starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from nextterm.candidates import Candidate
from nextterm.solvers.evidence import MIN_SPARE, information, make_candidate
from nextterm.solvers.formula import (
    FIRST_INDEX,
    format_polynomial,
    format_recurrence,
    initial_terms,
)
from nextterm.solvers.linalg import linear_complexity_mod_p
from nextterm.solvers.recurrence import Recurrence, fit

MAX_ORDER = 10
"""Highest recurrence order searched."""

MAX_EXCEPTIONS = 3
"""Most initial terms the rational g.f. solver lets break the recurrence."""


def generating_function(recurrence: Recurrence, terms: Sequence[int]) -> str:
    """``P(x)/Q(x)`` text of a constant-coefficient recurrence holding from ``recurrence.start``."""
    denominator = [poly[0] for poly in recurrence.polys]
    numerator = []
    for power in range(recurrence.start):
        numerator.append(
            sum(denominator[i] * terms[power - i] for i in range(len(denominator)) if power >= i)
        )
    while len(numerator) > 1 and numerator[-1] == 0:
        numerator.pop()
    top = format_polynomial(numerator, "x", ascending=True)
    bottom = format_polynomial(denominator, "x", ascending=True)
    if sum(1 for c in numerator if c) > 1:
        top = f"({top})"
    return f"{top}/({bottom})"


def _candidate(
    recurrence: Recurrence,
    terms: Sequence[int],
    n_terms: int,
    shapes_tried: int,
    method: str,
    symbol: str,
) -> Candidate | None:
    reproduced = recurrence.reproduced(terms)
    if reproduced is None:
        return None
    spare = len(reproduced) - recurrence.order
    continuation = recurrence.extend(terms, n_terms)
    if continuation is None or spare < MIN_SPARE:
        return None
    formula = format_recurrence(recurrence.polys, symbol)
    gf = generating_function(recurrence, terms)
    first_n = recurrence.offset + recurrence.start
    seeds = initial_terms(terms[: recurrence.start], recurrence.offset + FIRST_INDEX, symbol)
    if method == "rational-gf":
        explanation = f"{formula} for n >= {first_n + FIRST_INDEX}, {seeds}"
    else:
        explanation = f"{formula}, {seeds}"
    return make_candidate(
        method=method,
        explanation=explanation,
        continuation=continuation,
        spare=spare,
        info=information(reproduced, recurrence.coefficients, shapes_tried),
        details={"order": recurrence.order, "gf": gf, "from_n": first_n},
    )


@lru_cache(maxsize=256)
def _complexity(terms: tuple[int, ...]) -> tuple[int, int]:
    """Linear complexity ``L`` (modulo a prime) and the order of the minimal recurrence."""
    length, connection = linear_complexity_mod_p(terms)
    order = max((i for i, c in enumerate(connection) if c), default=0)
    return length, order


def solve_cfinite(
    terms: Sequence[int], n_terms: int = 1, *, offset: int = 0, symbol: str = "a"
) -> Candidate | None:
    """Lowest-order constant-coefficient recurrence holding on all the terms, if confirmed."""
    terms = [int(t) for t in terms]
    if not any(terms):
        return None  # the zero sequence satisfies every recurrence; the polynomial solver says it
    length, order = _complexity(tuple(terms))
    if order == 0 or order != length or order > MAX_ORDER or len(terms) - 2 * order < MIN_SPARE:
        return None
    recurrence = fit(terms, order, 0, offset=offset)
    if recurrence is None:
        return None
    return _candidate(recurrence, terms, n_terms, order, "c-finite", symbol)


def solve_rational_gf(
    terms: Sequence[int], n_terms: int = 1, *, offset: int = 0, symbol: str = "a"
) -> Candidate | None:
    """Rational generating function with a numerator of degree >= the denominator's."""
    terms = [int(t) for t in terms]
    if not any(terms):
        return None
    length, order = _complexity(tuple(terms))
    exceptions = length - order
    if order == 0 or not 0 < exceptions <= MAX_EXCEPTIONS or order > MAX_ORDER:
        return None
    if len(terms) - length - order < MIN_SPARE:
        return None
    recurrence = fit(terms, order, 0, start=length, offset=offset)
    if recurrence is None:
        return None
    tried = MAX_ORDER + MAX_EXCEPTIONS * order
    return _candidate(recurrence, terms, n_terms, tried, "rational-gf", symbol)
