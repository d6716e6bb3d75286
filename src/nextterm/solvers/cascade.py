"""The solver cascade: cheap exact solvers first, transforms only when they all fail.

:func:`solve` works on a window of the last :attr:`SolveConfig.window` terms (with a budget on
their total digits), runs the base solvers (periodic, polynomial, C-finite, rational g.f.,
holonomic), and, if none answers, the transforms and the bisection with the base solvers inside.
The rule search (:mod:`.rules`: closed forms, non-linear recurrences, cyclic operations,
interleavings, digit and membership rules, weighed by description length) runs beside them on the
same window. Answers are merged by value, ranked by confidence, and when rules disagree their
confidences are scaled down so that they sum to at most one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from nextterm.candidates import Candidate
from nextterm.solvers.cfinite import solve_cfinite, solve_rational_gf
from nextterm.solvers.evidence import MIN_SPARE, term_digits
from nextterm.solvers.holonomic import HolonomicSearch, solve_holonomic
from nextterm.solvers.periodic import solve_periodic
from nextterm.solvers.polynomial import interpolate, solve_polynomial
from nextterm.solvers.rules import rule_candidates
from nextterm.solvers.rules.settings import effort_named
from nextterm.solvers.transforms import TRANSFORMS, solve_bisection, solve_signs, solve_transform

MIN_TERMS = 1 + MIN_SPARE
"""Fewer given terms than this are declined outright (no rule can be confirmed)."""

INNER_HOLONOMIC = HolonomicSearch(max_order=3, max_degree=3, max_unknowns=12)
"""Smaller holonomic search used inside transforms, where many sequences are tried."""


@dataclass(frozen=True)
class SolveConfig:
    """Work limits: the last ``window`` terms, at most ``max_digits`` digits in all of them."""

    window: int = 60
    max_digits: int = 20_000
    min_window: int = 8
    transforms: bool = True
    interpolate: bool = True
    """Offer the unverified interpolating polynomial when no rule verifies (a labelled guess)."""
    rules: bool = True
    """Run the Occam rule search beside the linear solvers."""
    effort: str = "default"
    """Rule search effort: one of :data:`~nextterm.solvers.rules.EFFORT_NAMES`."""

    def __post_init__(self) -> None:
        effort_named(self.effort)


DEFAULT_CONFIG = SolveConfig()


def _base_candidates(
    terms: list[int], n_terms: int, offset: int, symbol: str, search: HolonomicSearch
) -> list[Candidate]:
    found = [
        candidate
        for candidate in (
            solve_periodic(terms, n_terms, offset=offset, symbol=symbol),
            solve_polynomial(terms, n_terms, offset=offset, symbol=symbol),
            solve_cfinite(terms, n_terms, offset=offset, symbol=symbol),
            solve_rational_gf(terms, n_terms, offset=offset, symbol=symbol),
        )
        if candidate is not None
    ]
    if not found:
        # Every sequence above is also holonomic, where its many multiples make the nullspace
        # ambiguous: the holonomic search only runs on what the constant-coefficient ones missed.
        holonomic = solve_holonomic(terms, n_terms, offset=offset, symbol=symbol, search=search)
        found = [holonomic] if holonomic is not None else []
    return found


def _inner(
    terms: list[int], n_terms: int, *, offset: int = 0, symbol: str = "b"
) -> Candidate | None:
    """Best base answer for a transformed sequence (used inside the transforms)."""
    found = _base_candidates(terms, n_terms, offset, symbol, INNER_HOLONOMIC)
    return max(found, key=lambda c: c.confidence, default=None)


def _transformed_candidates(terms: list[int], n_terms: int, offset: int) -> list[Candidate]:
    found = [solve_transform(t, terms, n_terms, offset, _inner) for t in TRANSFORMS]
    found.append(solve_signs(terms, n_terms, offset, _inner))
    found.append(solve_bisection(terms, n_terms, offset, _inner))
    return [candidate for candidate in found if candidate is not None]


def _window(terms: list[int], config: SolveConfig) -> list[int]:
    """The last ``config.window`` terms, shortened from the left to fit ``config.max_digits``;
    empty when even ``config.min_window`` terms do not fit."""
    window = terms[-config.window :] if config.window > 0 else []
    total = sum(term_digits(t) for t in window)
    while len(window) > config.min_window and total > config.max_digits:
        total -= term_digits(window[0])
        window = window[1:]
    return window if total <= config.max_digits else []


def merge(candidates: Sequence[Candidate], max_candidates: int) -> list[Candidate]:
    """One candidate per value (the most confident), best first; disagreeing confidences are
    scaled to sum to at most one."""
    best: dict[int, Candidate] = {}
    for candidate in candidates:
        kept = best.get(candidate.value)
        if kept is None or candidate.confidence > kept.confidence:
            best[candidate.value] = candidate
    ranked = sorted(best.values(), key=lambda c: -c.confidence)
    total = sum(c.confidence for c in ranked)
    if total > 1:
        ranked = [replace(c, confidence=c.confidence / total) for c in ranked]
    return ranked[:max_candidates]


def solve(
    terms: Sequence[int],
    n_terms: int = 1,
    max_candidates: int = 3,
    config: SolveConfig = DEFAULT_CONFIG,
) -> list[Candidate]:
    """Verified exact continuations of ``terms``, best first; when none verifies, the unverified
    interpolating polynomial as a low-confidence guess (``details["verified"] is False``).

    Each candidate's ``continuation`` holds the next ``n_terms`` values, ``explanation`` the rule
    with ``n`` counted from 1 at the first given term (:mod:`~nextterm.solvers.formula`),
    ``evidence`` the number of given terms that confirmed it beyond those that determined it.
    """
    terms = [int(t) for t in terms]
    if n_terms < 1 or max_candidates < 1:
        return []
    window = _window(terms, config)
    rules = rule_candidates(window, n_terms, config.effort) if config.rules else []
    if len(window) < MIN_TERMS:
        guess = interpolate(window, n_terms) if config.interpolate else None
        return merge([*rules, *([guess] if guess is not None else [])], max_candidates)
    offset = len(terms) - len(window)
    found = _base_candidates(window, n_terms, offset, "a", HolonomicSearch())
    if not found and config.transforms:
        found = _transformed_candidates(window, n_terms, offset)
    if not found and config.interpolate:
        found = [candidate for candidate in [interpolate(window, n_terms)] if candidate is not None]
    found += rules
    if offset:
        note = f" (checked on the last {len(window)} terms)"
        found = [
            replace(
                c, explanation=c.explanation + note, details={**c.details, "window_start": offset}
            )
            for c in found
        ]
    return merge(found, max_candidates)
