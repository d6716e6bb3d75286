"""Exact, self-verifying symbolic solvers for integer sequences.

``solve(terms, n_terms, max_candidates)`` runs the cascade (:mod:`.cascade`); each solver is
also importable on its own and returns a :class:`~nextterm.candidates.Candidate` or ``None``:

* :func:`solve_polynomial` - lowest-degree polynomial in n;
* :func:`solve_cfinite` - constant-coefficient linear recurrences (order <= 10);
* :func:`solve_rational_gf` - rational generating functions whose first terms are exceptions;
* :func:`solve_holonomic` - recurrences with polynomial coefficients (P-recursive);
* :func:`solve_periodic` - periodic and eventually periodic sequences;
* :mod:`.transforms` - differences, partial sums, ratios, signs, ``n*b(n)``, bisections.

Every solver fits exactly (integers and rationals, python-flint nullspaces), re-runs its rule to
reproduce the given terms, and declines when the evidence (:mod:`.evidence`) is too thin.
"""

from nextterm.solvers.cascade import SolveConfig, solve
from nextterm.solvers.cfinite import solve_cfinite, solve_rational_gf
from nextterm.solvers.holonomic import HolonomicSearch, solve_holonomic
from nextterm.solvers.periodic import solve_periodic
from nextterm.solvers.polynomial import solve_polynomial

__all__ = [
    "HolonomicSearch",
    "SolveConfig",
    "solve",
    "solve_cfinite",
    "solve_holonomic",
    "solve_periodic",
    "solve_polynomial",
    "solve_rational_gf",
]
