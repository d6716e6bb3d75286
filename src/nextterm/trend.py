"""Obvious trends of the given terms, and the guard that keeps a guess breaking one from coming first.

A person continuing ``1, 2, 5, 15, 52`` answers above 52, whatever a weak model believes. When the
trailing terms (most of them, at least :data:`MIN_RUN`) rise strictly, fall strictly, or every term
has the same sign, a model candidate that breaks that trend does not come first over a candidate
that respects it; when every candidate breaks it, the first one says so and its confidence is cut.

A second guard looks at the level: a model or interpolation guess that leaves a series with no
verified rule by many times its largest recent step (``3`` after terms in the hundreds of
thousands) gives way to the statistical forecast, which follows the series' own level and trend.
Both guards act after the ranking (the ranker is fitted without them).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

from nextterm.candidates import Candidate, source_of

MIN_RUN = 4
"""Fewest trailing terms that must follow a trend (they must also be at least half the terms)."""

BROKEN_TREND_FACTOR = 0.5
"""Confidence of a first answer that breaks the trend when no candidate respects it, as a factor."""

LEVEL_WINDOW = 12
"""Trailing terms the level guard measures the series' steps on."""

MIN_LEVEL_TERMS = 8
"""Fewest terms for the level guard: shorter prompts do not show a level."""

LEVEL_STEPS = 3.0
"""A first step this many times the largest recent step away from the last term is implausible."""

GUARDED = ("model",)
"""Sources whose candidates the trend guard demotes (verified rules and lookups know better)."""

LEVEL_GUARDED = ("model", "interpolation")
"""Sources whose first candidate the level guard replaces with the statistical forecast."""


def trend_of(terms: Sequence[int]) -> str | None:
    """``"increasing"``, ``"decreasing"`` (the trailing terms, at least :data:`MIN_RUN` and half of
    them, strictly monotone), ``"positive"`` / ``"negative"`` (every term of that sign), or None."""
    terms = [int(t) for t in terms]
    if len(terms) < MIN_RUN:
        return None
    for name, rises in (("increasing", True), ("decreasing", False)):
        run = 1
        while run < len(terms) and (terms[-run] > terms[-run - 1]) == rises:
            if terms[-run] == terms[-run - 1]:
                break
            run += 1
        if run >= MIN_RUN and 2 * run >= len(terms):
            return name
    if all(t > 0 for t in terms):
        return "positive"
    if all(t < 0 for t in terms):
        return "negative"
    return None


def breaks(trend: str | None, terms: Sequence[int], value: int) -> bool:
    """Whether ``value`` as the next term breaks ``trend`` (from :func:`trend_of`)."""
    last = int(terms[-1])
    return (
        (trend == "increasing" and value <= last)
        or (trend == "decreasing" and value >= last)
        or (trend == "positive" and value <= 0)
        or (trend == "negative" and value >= 0)
    )


_BROKEN = {
    "increasing": "not above the last term of the increasing given terms",
    "decreasing": "not below the last term of the decreasing given terms",
    "positive": "not positive like every given term",
    "negative": "not negative like every given term",
}


def _noted(candidate: Candidate, trend: str, confidence: float) -> Candidate:
    return replace(
        candidate,
        confidence=confidence,
        explanation=f"{candidate.explanation}; breaks the trend: {_BROKEN[trend]}",
        details={**candidate.details, "breaks_trend": trend},
    )


def guard_trend(terms: Sequence[int], ranked: list[Candidate]) -> list[Candidate]:
    """``ranked`` with the model candidates that break the terms' trend and stand before the
    first candidate respecting it moved after that one (their confidence capped at its); when
    every candidate breaks the trend, the first says so and its confidence is cut."""
    trend = trend_of(terms)
    if trend is None or not ranked:
        return ranked
    first = ranked[0]
    if source_of(first) not in GUARDED or not breaks(trend, terms, first.value):
        return ranked
    keeper = next((c for c in ranked if not breaks(trend, terms, c.value)), None)
    if keeper is None:
        return [_noted(first, trend, first.confidence * BROKEN_TREND_FACTOR), *ranked[1:]]
    at = ranked.index(keeper)
    moved = [
        _noted(c, trend, min(c.confidence, keeper.confidence))
        if source_of(c) in GUARDED and breaks(trend, terms, c.value)
        else c
        for c in ranked[:at]
    ]
    # what is not a breaking model guess keeps its place before them
    kept = [c for c in moved if "breaks_trend" not in c.details]
    broken = [c for c in moved if "breaks_trend" in c.details]
    return [*kept, keeper, *broken, *ranked[at + 1 :]]


def off_level(terms: Sequence[int], value: int) -> bool:
    """Whether ``value`` leaves the level of a series that has one (at least
    :data:`MIN_LEVEL_TERMS` terms, its last :data:`LEVEL_WINDOW` of one sign and moving by less
    than their typical size) by more than :data:`LEVEL_STEPS` times its largest recent step."""
    if len(terms) < MIN_LEVEL_TERMS:
        return False
    recent = [int(t) for t in terms[-LEVEL_WINDOW:]]
    if not (all(t > 0 for t in recent) or all(t < 0 for t in recent)):
        return False
    largest = max(abs(b - a) for a, b in zip(recent, recent[1:]))
    if largest == 0 or largest > statistics.median_low(abs(t) for t in recent):
        return False  # constant, or growing too fast to have a level: the rules' business
    return abs(value - recent[-1]) > LEVEL_STEPS * largest


def guard_level(terms: Sequence[int], ranked: list[Candidate], n_terms: int) -> list[Candidate]:
    """``ranked`` with the statistical forecast first when no verified candidate exists and the
    first one is a model or interpolation guess off the series' level (:func:`off_level`)."""
    if not ranked or source_of(ranked[0]) not in LEVEL_GUARDED:
        return ranked
    if any(c.details.get("verified", True) and source_of(c) in ("solver", "rule") for c in ranked):
        return ranked
    if not off_level(terms, ranked[0].value):
        return ranked
    from nextterm.forecast import forecast_candidates

    return forecast_candidates(list(terms), n_terms) + ranked
