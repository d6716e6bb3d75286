"""Periodic and eventually periodic sequences: a block of terms that repeats, maybe after a few
exceptional first terms. The repeated terms are the evidence; the block itself is free."""

from __future__ import annotations

from collections.abc import Sequence

from nextterm.candidates import Candidate
from nextterm.solvers.evidence import MIN_SPARE, information, make_candidate

MAX_PREPERIOD = 3
"""Most initial terms allowed before the repetition starts."""


def solve_periodic(
    terms: Sequence[int], n_terms: int = 1, *, offset: int = 0, symbol: str = "a"
) -> Candidate | None:
    """Shortest repeating block (then shortest preperiod) confirmed by at least one full repeat."""
    terms = [int(t) for t in terms]
    size = len(terms)
    tried = 0
    for period in range(1, size // 2 + 1):
        for preperiod in range(0, MAX_PREPERIOD + 1):
            repeats = size - preperiod - period
            if repeats < max(MIN_SPARE, period):
                break
            tried += 1
            if any(terms[i] != terms[i - period] for i in range(preperiod + period, size)):
                continue
            if preperiod and terms[preperiod - 1] == terms[preperiod - 1 + period]:
                continue  # a shorter preperiod works and was tried first
            continuation = [terms[size + k - period * (1 + k // period)] for k in range(n_terms)]
            block = ", ".join(str(t) for t in terms[preperiod : preperiod + period])
            if preperiod:
                explanation = (
                    f"{symbol}(n) = {symbol}(n-{period}) for n >= {offset + preperiod + period + 1}: "
                    f"eventually periodic with period {period} ({block} repeats)"
                )
            else:
                explanation = (
                    f"{symbol}(n) = {symbol}(n-{period}): periodic with period {period} "
                    f"({block} repeats)"
                )
            return make_candidate(
                method="periodic",
                explanation=explanation,
                continuation=continuation,
                spare=repeats,
                info=information(terms[preperiod + period :], [], tried),
                details={"period": period, "preperiod": preperiod},
            )
    return None
