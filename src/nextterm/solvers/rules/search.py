"""The rule search: every family's fits, weighed by description length, as ranked candidates.

All fits that reproduce every given term and describe them in fewer bits than the terms
themselves are kept. Each gets the weight ``2^-bits`` against the unexplained alternative
(:func:`~nextterm.solvers.rules.description.occam_weights`); a value's confidence is the weight
of the rules that give it, so the simplest rules weigh most and near-equal rules that disagree
split it. A rule no spare term confirms can still win on a short prompt; it is labelled
unverified (``details["verified"] is False``) and its confidence capped.
"""

from __future__ import annotations

from collections.abc import Sequence

from nextterm.candidates import Candidate
from nextterm.solvers.evidence import CHANGE_RISK, MAX_CONFIDENCE, MIN_SPARE
from nextterm.solvers.rules.closed_forms import (
    constant_fit,
    pair_fits,
    polynomial_fits,
    primitive_fits,
)
from nextterm.solvers.rules.cyclic import cyclic_fits
from nextterm.solvers.rules.description import Fit, literal_bits, occam_weights
from nextterm.solvers.rules.digits import digit_fits
from nextterm.solvers.rules.interleave import interleaving_fits
from nextterm.solvers.rules.membership import membership_fits
from nextterm.solvers.rules.recurrences import recurrence_fits
from nextterm.solvers.rules.settings import Effort, effort_named

METHOD = "rule"

RELATIVE_FLOOR = 0.01
"""Values weighing less than this fraction of the best one are not offered (rules about seven
bits longer): noise beside the answer, however short the prompt."""

VERIFIED_BITS = 10.0
"""Bits a rule must save, beyond its spare terms, to count as verified (about 3 digits)."""


def find_fits(
    terms: Sequence[int],
    n_terms: int,
    effort: Effort,
    interleave: bool = True,
    compress: bool = True,
) -> list[Fit]:
    """Every fit of ``terms``, shortest first: only those that compress them unless
    ``compress`` is False (parts of an interleaving are judged together, not alone). A rule whose
    constants used up every given term is kept only as the lowest-degree polynomial: through
    exactly as many terms as it has constants, any other shape fits by coincidence
    (``26611, 29060`` is ``2449n + 26611``, not ``79n^5 + 26532``)."""
    terms = [int(t) for t in terms]
    if len(terms) < 2:
        return []
    fits: list[Fit] = [
        *constant_fit(terms, n_terms),
        *primitive_fits(terms, n_terms, effort),
        *polynomial_fits(terms, n_terms, effort),
        *recurrence_fits(terms, n_terms),
        *cyclic_fits(terms, n_terms, effort.cyclic_periods),
        *digit_fits(terms, n_terms),
        *membership_fits(terms, n_terms, effort.membership_span),
    ]
    if effort.pair_forms:
        fits += pair_fits(terms, n_terms)
    if interleave:

        def inner(part: Sequence[int], count: int) -> Fit | None:
            found = find_fits(part, count, effort, interleave=False, compress=False)
            return found[0] if found else None

        fits += interleaving_fits(terms, n_terms, effort.interleave_periods, inner)
    literal = literal_bits(terms) if compress else float("inf")
    kept = (
        fit for fit in fits if fit.bits < literal and (fit.spare > 0 or fit.family == "polynomial")
    )
    return sorted(kept, key=lambda fit: fit.bits)


def _explanation(fit: Fit, size: int) -> str:
    """The rule, and for a rule too little confirmed to be verified, a label saying so (the
    number of confirming terms is the candidate's ``evidence``)."""
    if fit.spare >= MIN_SPARE:
        return fit.text
    if fit.spare == 1:
        return f"{fit.text} (checked by 1 further given term only)"
    return f"{fit.text} (fits all {size} given terms, but no spare term confirms it)"


def rule_candidates(
    terms: Sequence[int],
    n_terms: int = 1,
    effort: Effort | str = "default",
    max_candidates: int = 5,
) -> list[Candidate]:
    """Ranked candidates from the rule search (one per next value, the shortest rule for it)."""
    effort = effort_named(effort) if isinstance(effort, str) else effort
    terms = [int(t) for t in terms]
    fits = find_fits(terms, n_terms, effort)
    if not fits:
        return []
    weights, _ = occam_weights(fits, terms)
    literal = literal_bits(terms)
    by_value: dict[int, tuple[Fit, float, int]] = {}
    for fit, weight in zip(fits, weights):
        value = fit.continuation[0]
        best, total, count = by_value.get(value, (fit, 0.0, 0))
        by_value[value] = (best, total + weight, count + 1)
    candidates = []
    for value, (fit, weight, count) in by_value.items():
        compression = literal - fit.bits
        verified = fit.spare >= MIN_SPARE and compression >= VERIFIED_BITS
        cap = min(MAX_CONFIDENCE, 1.0 - CHANGE_RISK / (fit.spare + 1))
        candidates.append(
            Candidate(
                value=value,
                confidence=min(weight, cap),
                method=METHOD,
                explanation=_explanation(fit, len(terms)),
                continuation=fit.continuation[:n_terms],
                evidence=fit.spare,
                details={
                    "verified": verified,
                    "family": fit.family,
                    "rule": fit.text,
                    "bits": round(fit.bits, 2),
                    "compression_bits": round(compression, 2),
                    "agreeing_rules": count,
                },
            )
        )
    candidates.sort(key=lambda c: (-c.confidence, c.details["bits"]))
    floor = RELATIVE_FLOOR * candidates[0].confidence
    return [c for c in candidates if c.confidence >= floor and c.confidence > 0][:max_candidates]
