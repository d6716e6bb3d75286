"""Per-value features for the learned ranker: what every source said about one candidate value.

All candidates a prompt received (solvers, rule search, lookup, model, forecast) are grouped by
value; each distinct value becomes one row of :data:`FEATURES`: the raw confidence each source gave
it, whether a rule verified it and how strongly (spare terms, digits of evidence, description
length and compression), the lookup's agreement, the model's teacher-forced log-probability of the
value and its rank among the prompt's values, how many sources agree, and how the value sits
against the trend of the last given terms (and whether the value, or its step from the last term,
already occurs among the given terms and their steps: repeats and recurring steps are what
periodic and piecewise sequences continue with). Missing values are NaN (the trees route them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nextterm.candidates import SOURCES, Candidate, source_of

FEATURES = (
    *(f"{source}_confidence" for source in SOURCES),
    "sources",
    "verified",
    "evidence",
    "information_digits",
    "rule_bits",
    "rule_compression",
    "lookup_votes",
    "lookup_window",
    "model_logprob",
    "model_rank",
    "model_gap",
    "prompt_terms",
    "last_digits",
    "value_digits",
    "step_ratio",
    "continues_direction",
    "inside_range",
    "value_seen",
    "step_seen",
)
"""Column names of a feature row, in order."""


@dataclass
class ValueGroup:
    """Every candidate one prompt received for one value, best first per source."""

    value: int
    by_source: dict[str, Candidate]

    @property
    def lead(self) -> Candidate:
        """The candidate that speaks for the value: a verified rule first, then by confidence."""
        order = {"solver": 0, "rule": 1, "lookup": 2, "interpolation": 3, "forecast": 4, "model": 5}
        return min(
            self.by_source.values(),
            key=lambda c: (not c.details.get("verified", True), -c.confidence, order[source_of(c)]),
        )


def group_by_value(candidates: Sequence[Candidate]) -> list[ValueGroup]:
    """Candidates grouped by value, each source's most confident candidate kept."""
    groups: dict[int, dict[str, Candidate]] = {}
    for candidate in candidates:
        kept = groups.setdefault(candidate.value, {})
        source = source_of(candidate)
        if source not in kept or candidate.confidence > kept[source].confidence:
            kept[source] = candidate
    return [ValueGroup(value, by_source) for value, by_source in groups.items()]


def _digits(value: int) -> float:
    return math.log10(abs(value) + 1)


def _trend(terms: Sequence[int], value: int) -> tuple[float, float, float]:
    """Step ratio (log10 of |value - last| over |last - previous|), whether the value moves the
    same way as the last step, and whether it lies within the given terms' range."""
    last = terms[-1]
    inside = float(min(terms) <= value <= max(terms))
    if len(terms) < 2:
        return math.nan, math.nan, inside
    previous_step = last - terms[-2]
    step = value - last
    ratio = _digits(step) - _digits(previous_step)
    same = float((step > 0) == (previous_step > 0) and (step != 0) == (previous_step != 0))
    return ratio, same, inside


def _seen(terms: Sequence[int], value: int) -> tuple[float, float]:
    """How often ``value`` occurs among the terms, and whether its step from the last term equals
    a step between two consecutive terms."""
    steps = {b - a for a, b in zip(terms, terms[1:])}
    return float(terms.count(value)), float(value - terms[-1] in steps)


def feature_row(
    terms: Sequence[int],
    group: ValueGroup,
    model_logprob: float | None,
    model_rank: float,
    best_logprob: float | None,
) -> list[float]:
    """The :data:`FEATURES` of one value group."""
    nan = math.nan
    confidences = [group.by_source[s].confidence if s in group.by_source else nan for s in SOURCES]
    verified = [
        c
        for c in group.by_source.values()
        if source_of(c) in ("solver", "rule") and c.details.get("verified", True)
    ]
    rule = group.by_source.get("rule")
    lookup = group.by_source.get("lookup")
    solver = group.by_source.get("solver")
    evidence = max(
        (c.evidence for c in group.by_source.values() if source_of(c) != "lookup"), default=nan
    )
    ratio, same, inside = _trend(terms, group.value)
    return [
        *confidences,
        float(len(group.by_source)),
        float(bool(verified)),
        float(evidence),
        float(solver.details.get("information_digits", nan)) if solver else nan,
        float(rule.details.get("bits", nan)) if rule else nan,
        float(rule.details.get("compression_bits", nan)) if rule else nan,
        float(lookup.details.get("votes", lookup.evidence)) if lookup else nan,
        float(lookup.details.get("window", nan)) if lookup else nan,
        nan if model_logprob is None else model_logprob,
        model_rank,
        nan if model_logprob is None or best_logprob is None else model_logprob - best_logprob,
        float(len(terms)),
        _digits(terms[-1]),
        _digits(group.value),
        ratio,
        same,
        inside,
        *_seen(terms, group.value),
    ]


def feature_matrix(
    terms: Sequence[int],
    groups: Sequence[ValueGroup],
    model_logprobs: Sequence[float | None] | None,
) -> np.ndarray:
    """Rows of :func:`feature_row` for a prompt's value groups; ``model_logprobs`` per group
    (None entries or None altogether: no model opinion)."""
    logprobs = list(model_logprobs) if model_logprobs is not None else [None] * len(groups)
    known = sorted((lp for lp in logprobs if lp is not None), reverse=True)
    best = known[0] if known else None
    rows = []
    for group, logprob in zip(groups, logprobs):
        rank = float(known.index(logprob)) if logprob is not None else math.nan
        rows.append(feature_row(terms, group, logprob, rank, best))
    return np.asarray(rows, dtype=np.float64).reshape(len(groups), len(FEATURES))
