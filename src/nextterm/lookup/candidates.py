"""Lookup candidates: the chains of a lookup of relatives merged by next term, scored, explained.

A candidate's score is its strongest chain's (one point per matched term, a bonus for the whole
prompt matching as itself, less the transform's cost) plus a little for every doubling of the
distinct sequences agreeing on it through any transform. Its confidence is a logistic function of
that score, fit on the validation split; the calibration maps it further.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nextterm.candidates import Candidate
from nextterm.lookup.index import LookupIndex
from nextterm.lookup.relatives import MAX_WINDOW, MIN_WINDOW, Chain, find_chains, name_chain
from nextterm.lookup.transforms import IDENTITY, TRANSFORMS

LOOKUP_CONFIDENCE = 0.9
"""Highest confidence of a lookup candidate (a lookup guesses which sequence the user means)."""

WINDOW_WEIGHT = 1.0
"""Score per matched trailing term (up to :data:`MAX_WINDOW`); transform costs are in these
units."""
WHOLE_BONUS = 4.0
"""Score for the whole prompt matching as itself."""
VOTE_WEIGHT = 0.25
"""Score per doubling of the sequences agreeing on a next term (they are often near-copies of one
another, so they count little)."""
SCORE_MIDPOINT = 10.5
SCORE_SCALE = 2.0
"""Confidence is ``LOOKUP_CONFIDENCE`` times the logistic of ``(score - SCORE_MIDPOINT) /
SCORE_SCALE``: a logistic fit of correctness against score over every candidate for 2000
validation items (their sequences are not in the training-split index) put the midpoint at 10.8
and the scale at 2.1. The window, vote and transform weights were chosen on the same items."""

CHAINS_LISTED = 5
"""Chains listed in a candidate's details, strongest first."""
AGREEING_LISTED = 10
"""A-numbers of agreeing sequences listed in a candidate's details."""


def chain_strength(chain: Chain) -> float:
    """How much one chain says: matched terms, whole-prompt match, less the transform's cost."""
    return (
        WINDOW_WEIGHT * min(chain.window, MAX_WINDOW)
        + WHOLE_BONUS * chain.whole
        - chain.transform.cost
    )


def lookup_candidates(
    index: LookupIndex,
    terms: Sequence[int],
    n_terms: int = 1,
    limit: int = 20,
    *,
    relatives: bool = True,
) -> list[Candidate]:
    """Candidates from the OEIS sequences that continue ``terms`` or a transform of them, one
    per distinct next term, best first (at most ``limit``).

    With ``relatives=False`` only sequences containing the whole of ``terms`` count.
    """
    terms = [int(t) for t in terms]
    if relatives:
        chains = find_chains(index, terms, TRANSFORMS, MIN_WINDOW)
    else:
        chains = find_chains(index, terms, (IDENTITY,), len(terms))
    by_value: dict[int, list[Chain]] = {}
    for chain in chains:
        by_value.setdefault(chain.value, []).append(chain)
    scored = []
    for value, group in by_value.items():
        group.sort(key=lambda chain: (-chain_strength(chain), chain.members[0].rank))
        votes = len(np.unique(np.concatenate([chain.sequences for chain in group])))
        score = chain_strength(group[0]) + VOTE_WEIGHT * math.log2(votes)
        scored.append((score, votes, value, group))
    # ties: the best-ranked naming sequence, then the value (deterministic whatever the order
    # in which the transforms found them)
    scored.sort(key=lambda item: (-item[0], -item[1], item[3][0].members[0].rank, item[2]))
    return [
        _candidate(index, terms, n_terms, score, votes, group)
        for score, votes, _, group in scored[:limit]
    ]


def _candidate(
    index: LookupIndex,
    terms: list[int],
    n_terms: int,
    score: float,
    votes: int,
    group: list[Chain],
) -> Candidate:
    best = group[0]
    member, continuation = name_chain(index, terms, best, n_terms)
    anum, name = index.anum(member.seq), index.name(member.seq)
    explanation = f"{anum} {name}".strip()
    if best.transform is not IDENTITY:
        explanation += f", via {best.transform.label}"
    if not best.whole:
        explanation += f" (last {best.window} terms)"
    elif member.offset:
        explanation += f" (from its term {member.offset + 1})"
    namers = [member] + [chain.members[0] for chain in group[1:CHAINS_LISTED]]
    chains = [
        {
            "anum": index.anum(namer.seq),
            "name": index.name(namer.seq),
            "transform": chain.transform.name,
            "window": chain.window,
            "votes": chain.votes,
        }
        for chain, namer in zip(group, namers)
    ]
    agreeing = dict.fromkeys(index.anum(m.seq) for chain in group for m in chain.members)
    return Candidate(
        value=continuation[0],
        confidence=LOOKUP_CONFIDENCE / (1 + math.exp((SCORE_MIDPOINT - score) / SCORE_SCALE)),
        method="lookup",
        explanation=explanation,
        continuation=continuation,
        evidence=best.window,
        details={
            "anum": anum,
            "name": name,
            "offset": member.offset,
            "transform": best.transform.name,
            "window": best.window,
            "whole_prompt": best.whole,
            "votes": votes,
            "agreeing": list(agreeing)[:AGREEING_LISTED],
            "score": round(score, 3),
            "chains": chains,
        },
    )
