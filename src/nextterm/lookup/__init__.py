"""OEIS lookup: the sequences that contain the user's terms, or continue a transform of them.

:mod:`~nextterm.lookup.index` holds the memory-mapped index of OEIS terms;
:mod:`~nextterm.lookup.transforms` the sequence transforms and their exact inverses;
:mod:`~nextterm.lookup.relatives` the suffix-window search through every transform;
:mod:`~nextterm.lookup.candidates` merges what it finds into ranked, explained candidates.

Data: The On-Line Encyclopedia of Integer Sequences (https://oeis.org), CC BY-SA 4.0.
"""

from nextterm.lookup.candidates import LOOKUP_CONFIDENCE, lookup_candidates
from nextterm.lookup.index import (
    GRAM,
    LookupIndex,
    LookupIndexError,
    LookupMatch,
    SuffixHits,
    fingerprint,
)

__all__ = [
    "GRAM",
    "LOOKUP_CONFIDENCE",
    "LookupIndex",
    "LookupIndexError",
    "LookupMatch",
    "SuffixHits",
    "fingerprint",
    "lookup_candidates",
]
