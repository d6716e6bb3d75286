"""Lookup of relatives: OEIS sequences that continue a transform of the user's terms.

For each transform of :mod:`nextterm.lookup.transforms`, the trailing terms of the transformed
prompt are looked up as suffix windows: the last ``k`` terms, ``k`` from :data:`MAX_WINDOW` (the
whole prompt for the identity) down to :data:`MIN_WINDOW`. Every sequence holding such a window
with a term after it gives that term to the transformed sequence, which the transform's inverse
maps back to a next term of the user's sequence. The sequences found through one transform that
give the same next term form one :class:`Chain`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nextterm.lookup.index import RANK_NO_NAME, RANK_NOT_AT_START, LookupIndex, SuffixHits
from nextterm.lookup.transforms import IDENTITY, TRANSFORMS, Transform

MIN_WINDOW = 5
"""Fewest trailing terms looked up (prompts shorter than this match only whole, as themselves)."""

MAX_WINDOW = 12
"""Most trailing terms of a transformed prompt looked up (the identity matches as far back as the
prompt agrees)."""

CHAINS_PER_TRANSFORM = 8
"""Distinct next terms kept per transform: those with the longest windows, then the most
sequences."""

MEMBERS_KEPT = 10
"""Sequences of a chain kept by name (best ranked first) to name a candidate and list agreeing."""


@dataclass(frozen=True)
class Member:
    """One sequence of a chain: where its window sits and what follows it."""

    seq: int
    offset: int
    next_pos: int
    rank: float
    """``log10(A-number)`` plus the index's penalties (lower first), as in
    :meth:`LookupIndex.search`."""


@dataclass(frozen=True)
class Chain:
    """The sequences that, through one transform, give the same next term."""

    value: int
    """The next term of the user's sequence this chain gives."""
    transform: Transform
    window: int
    """Longest run of trailing (transformed) terms matched by one of its sequences."""
    whole: bool
    """The identity matched the whole prompt."""
    sequences: np.ndarray
    """Numbers (in the index) of every agreeing sequence."""
    members: tuple[Member, ...]
    """The best-ranked agreeing sequences with the longest window (at most :data:`MEMBERS_KEPT`)."""

    @property
    def votes(self) -> int:
        return len(self.sequences)


def find_chains(
    index: LookupIndex,
    terms: Sequence[int],
    transforms: Sequence[Transform] = TRANSFORMS,
    min_window: int = MIN_WINDOW,
) -> list[Chain]:
    """Every chain found for ``terms`` through ``transforms`` with windows of at least
    ``min_window`` terms (the identity also matches a prompt shorter than that whole)."""
    terms = [int(t) for t in terms]
    chains = []
    for transform in transforms:
        identity = transform is IDENTITY
        window_terms = transform.forward(terms, len(terms) if identity else MAX_WINDOW)
        shortest = min(min_window, len(terms)) if identity else min_window
        hits = index.suffix_matches(window_terms, shortest)
        if len(hits):
            whole = len(window_terms) if identity else 0
            chains.extend(_chains(index, terms, transform, hits, whole))
    return chains


def _chains(
    index: LookupIndex, terms: list[int], transform: Transform, hits: SuffixHits, whole: int
) -> list[Chain]:
    """Group one transform's hits by the term after them; one chain per group kept. A window of
    ``whole`` terms (0: none) is the whole prompt."""
    rank = (
        np.log10(hits.anum.astype(np.float64) + 1)
        + RANK_NOT_AT_START * (index.terms_before(hits.seq, hits.offset) != 0)
        + RANK_NO_NAME * ~hits.named
    )
    # by next term, then longest window, then best rank
    order = np.lexsort((rank, -hits.window, hits.next_neg, hits.next_mag))
    mag, neg = hits.next_mag[order], hits.next_neg[order]
    starts = np.flatnonzero(np.r_[True, (mag[1:] != mag[:-1]) | (neg[1:] != neg[:-1])])
    ends = np.r_[starts[1:], len(order)]
    longest = hits.window[order[starts]]
    kept = np.lexsort((-(ends - starts), -longest))[:CHAINS_PER_TRANSFORM]
    chains = []
    for group in kept:
        rows = order[starts[group] : ends[group]]
        first = int(rows[0])
        mapped = transform.inverse(terms, [index.value(int(hits.next_pos[first]))])
        if not mapped:
            continue  # the next term does not map back to an integer
        best = rows[hits.window[rows] == hits.window[first]][:MEMBERS_KEPT]
        members = tuple(
            Member(
                seq=int(hits.seq[row]),
                offset=int(hits.offset[row]),
                next_pos=int(hits.next_pos[row]),
                rank=float(rank[row]),
            )
            for row in best
        )
        window = int(hits.window[first])
        chains.append(
            Chain(
                value=mapped[0],
                transform=transform,
                window=window,
                whole=whole > 0 and window == whole,
                sequences=hits.seq[rows],
                members=members,
            )
        )
    return chains


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading terms ``a`` and ``b`` share."""
    length = 0
    for x, y in zip(a, b):
        if x != y:
            break
        length += 1
    return length


def name_chain(
    index: LookupIndex, terms: Sequence[int], chain: Chain, n_terms: int, consensus: int = 10
) -> tuple[Member, tuple[int, ...]]:
    """The member that names ``chain`` and the continuation (of the user's sequence) it gives.

    The best by rank less ``log10(1 + agreement)``, where agreement counts the further
    ``consensus`` terms the other members share with it (so Fibonacci, not a variant that leaves
    it later, names the answer).
    """
    following = [index.following(m.seq, m.next_pos, max(n_terms, consensus)) for m in chain.members]
    merit = [
        m.rank - math.log10(1 + sum(common_prefix(mine, other) for other in following))
        for m, mine in zip(chain.members, following)
    ]
    best = merit.index(min(merit))
    continuation = chain.transform.inverse(terms, following[best][:n_terms])
    return chain.members[best], tuple(continuation) or (chain.value,)
