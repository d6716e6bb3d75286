"""Interleavings: the terms at positions ``r, r+k, r+2k, ...`` (k = 2 or 3) each follow a rule of
their own (``1, 4, 2, 8, 3, 12``: odd positions ``n``, even positions ``4n``). Each subsequence is
described by the inner search (the whole solver stack but interleavings); the next terms come from
the subsequences they fall in."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from nextterm.solvers.rules.description import Fit, choice_bits

FAMILY = "interleaving"

InnerSearch = Callable[[Sequence[int], int], "Fit | None"]
"""``inner(terms, n_terms)``: the shortest fit of a subsequence, or None."""


def _positions(residue: int, period: int) -> str:
    if period == 2:
        return "odd positions" if residue == 0 else "even positions"
    first = [str(residue + 1 + period * j) for j in range(3)]
    return f"positions {', '.join(first)}, ..."


def _preview(terms: Sequence[int]) -> str:
    shown = ", ".join(str(t) for t in terms[:6])
    return shown + (", ..." if len(terms) > 6 else "")


def interleaving_fits(
    terms: Sequence[int], n_terms: int, periods: Sequence[int], inner: InnerSearch
) -> Iterator[Fit]:
    """One fit per period whose every subsequence has an inner fit (at least 2 terms each); its
    spare terms are those of its least confirmed subsequence."""
    size = len(terms)
    for period in periods:
        if size < 2 * period + 1:
            continue
        wanted = [0] * period
        for position in range(size, size + n_terms):
            wanted[position % period] += 1
        fits = []
        for residue in range(period):
            part = list(terms[residue::period])
            fit = inner(part, max(1, wanted[residue]))
            if fit is None:
                break
            fits.append((part, fit))
        if len(fits) < period:
            continue
        taken = [0] * period
        continuation = []
        for position in range(size, size + n_terms):
            residue = position % period
            continuation.append(fits[residue][1].continuation[taken[residue]])
            taken[residue] += 1
        text = "; ".join(
            f"{_positions(r, period)}: {_preview(part)} ({fit.text})"
            for r, (part, fit) in enumerate(fits)
        )
        yield Fit(
            family=FAMILY,
            text=text,
            bits=choice_bits(len(periods)) + 1 + sum(fit.bits for _, fit in fits),
            continuation=tuple(continuation),
            spare=min(fit.spare for _, fit in fits),  # as confirmed as its weakest part
        )
