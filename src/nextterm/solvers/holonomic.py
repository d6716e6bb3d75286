"""P-recursive (holonomic) sequences: linear recurrences whose coefficients are polynomials in n.

``p_0(n) a(n) + p_1(n) a(n-1) + ... + p_r(n) a(n-r) = 0`` with integer polynomials of degree
<= ``d``: factorials (``a(n) = n*a(n-1)``), Catalan (``(n + 1)*a(n) = (4n - 2)*a(n-1)``),
Motzkin, central binomial coefficients, ... Shapes ``(r, d)`` are searched by increasing number
of unknowns ``(r + 1)(d + 1)`` and the first one with a unique exact solution is kept. ``d = 0``
is the C-finite case, left to :mod:`nextterm.solvers.cfinite`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nextterm.candidates import Candidate
from nextterm.solvers.evidence import MIN_SPARE, information, make_candidate
from nextterm.solvers.formula import FIRST_INDEX, initial_terms, shifted_recurrence
from nextterm.solvers.recurrence import fit, may_fit


@dataclass(frozen=True)
class HolonomicSearch:
    """Which shapes to try: orders 1..max_order, degrees 1..max_degree, at most max_unknowns."""

    max_order: int = 4
    max_degree: int = 4
    max_unknowns: int = 20

    def shapes(self) -> list[tuple[int, int]]:
        shapes = [
            (order, degree)
            for order in range(1, self.max_order + 1)
            for degree in range(1, self.max_degree + 1)
            if (order + 1) * (degree + 1) <= self.max_unknowns
        ]
        return sorted(shapes, key=lambda shape: ((shape[0] + 1) * (shape[1] + 1), shape[0]))


DEFAULT_SEARCH = HolonomicSearch()


def _max_degree(size: int, order: int, search: HolonomicSearch) -> int:
    """Largest degree searched for this order with ``size`` terms."""
    best = 1
    for degree in range(1, search.max_degree + 1):
        unknowns = (order + 1) * (degree + 1)
        if unknowns <= search.max_unknowns and size - order >= unknowns - 1 + MIN_SPARE:
            best = degree
    return best


def solve_holonomic(
    terms: Sequence[int],
    n_terms: int = 1,
    *,
    offset: int = 0,
    symbol: str = "a",
    search: HolonomicSearch = DEFAULT_SEARCH,
) -> Candidate | None:
    """Smallest polynomial-coefficient recurrence holding on all the terms, if confirmed."""
    terms = [int(t) for t in terms]
    if not any(terms):
        return None
    ruled_out: set[int] = set()
    for tried, (order, degree) in enumerate(search.shapes(), start=1):
        if order in ruled_out or len(terms) - order < (order + 1) * (degree + 1) - 1 + MIN_SPARE:
            continue
        if degree == 1:
            # One modular test at the largest feasible degree rules out the whole order.
            top = _max_degree(len(terms), order, search)
            if not may_fit(terms, order, top, offset=offset):
                ruled_out.add(order)
                continue
        recurrence = fit(terms, order, degree, offset=offset)
        if recurrence is None:
            continue
        unknowns = (order + 1) * (degree + 1)
        reproduced = recurrence.reproduced(terms)
        if reproduced is None:
            return None
        spare = len(reproduced) - (unknowns - 1)
        continuation = recurrence.extend(terms, n_terms)
        if continuation is None:
            return None
        return make_candidate(
            method="holonomic",
            explanation=(
                f"{shifted_recurrence(recurrence.polys, symbol)}, "
                f"{initial_terms(terms[:order], offset + FIRST_INDEX, symbol)}"
            ),
            continuation=continuation,
            spare=spare,
            info=information(reproduced, recurrence.coefficients, tried),
            details={"order": order, "degree": degree},
        )
    return None
