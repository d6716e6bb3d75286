"""Digit and string rules: concatenation (``1, 12, 123``), look-and-say, ``n`` written ``n``
times (``1, 22, 333``) and ``n`` written in binary. Digit operations inside recurrences
(``a(n-1) + digitsum(a(n-1))``, ``reverse(a(n-1))``) live with the recurrences."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import groupby

from nextterm.solvers.formula import offset_note
from nextterm.solvers.rules.description import Fit, int_bits

FAMILY = "digits"


def look_and_say(value: int) -> int:
    """Read the digits aloud: 1211 is "one 1, one 2, two 1s" -> 111221."""
    return int("".join(f"{len(list(run))}{digit}" for digit, run in groupby(str(value))))


def _iterated(
    terms: Sequence[int], n_terms: int, step: Callable[[int], int], text: str, bits: float
) -> Iterator[Fit]:
    """``a(n) = step(a(n-1))`` from the first term."""
    if any(t < 0 for t in terms):
        return
    if any(step(terms[i - 1]) != terms[i] for i in range(1, len(terms))):
        return
    history = list(terms)
    for _ in range(n_terms):
        history.append(step(history[-1]))
    yield Fit(FAMILY, text, bits + int_bits(terms[0]), tuple(history[len(terms) :]), len(terms) - 1)


def _indexed(
    terms: Sequence[int], n_terms: int, value: Callable[[int], int], text: str, bits: float
) -> Iterator[Fit]:
    """``a(n) = value(n)`` with ``n`` starting at 0 or 1."""
    for start in (0, 1):
        if all(value(i + start) == t for i, t in enumerate(terms)):
            following = tuple(value(i + start) for i in range(len(terms), len(terms) + n_terms))
            yield Fit(FAMILY, f"{text}{offset_note(start)}", bits + 1, following, len(terms))


def _concatenation(n: int) -> int:
    return int("".join(str(k) for k in range(1, n + 1))) if n >= 1 else 0


def digit_fits(terms: Sequence[int], n_terms: int) -> Iterator[Fit]:
    """Every digit rule that reproduces ``terms``."""
    if len(terms) < 2 or any(t < 0 for t in terms):
        return
    yield from _iterated(
        terms, n_terms, look_and_say, "look-and-say: each term reads the previous one aloud", 6
    )
    yield from _indexed(
        terms, n_terms, _concatenation, "a(n) = 1, 2, ..., n written one after another", 7
    )
    yield from _indexed(
        terms, n_terms, lambda n: int(str(n) * n) if n else 0, "a(n) = n written n times", 7
    )
    yield from _indexed(terms, n_terms, lambda n: int(bin(n)[2:]), "a(n) = n written in binary", 7)
