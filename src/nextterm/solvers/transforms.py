"""Transforms that turn a sequence into one the base solvers can solve, and back.

Each transform maps the given terms ``a`` to a new sequence ``b`` (differences, partial sums,
exact ratios, a sign pattern removed, division by ``n`` or ``n + 1``), solves ``b`` with the base
solvers, and maps ``b``'s continuation back to ``a``'s; :func:`solve_bisection` solves the even-
and odd-indexed terms separately (interleavings). The explanation names the transform, then the
rule found for ``b`` in words ("differences are 2, 3, 4, ...: a(n) = a(n-1) + n"); when ``b``
is a polynomial the answer is written for ``a`` itself (``a(n) = n^3``, ``a(n) = n*a(n-1)``).
Dividing by a constant is not offered: every base solver is already invariant under it.

The evidence of a transformed answer is the inner answer's, minus the cost of having tried every
transform (``log10`` of their number).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate

from nextterm.candidates import Candidate
from nextterm.solvers.evidence import make_candidate
from nextterm.solvers.formula import (
    FIRST_INDEX,
    closed_form,
    initial_terms,
    shift_polynomial,
    simplest_polynomial,
)

InnerSolver = Callable[..., "Candidate | None"]


@dataclass(frozen=True)
class Transform:
    """``forward(a, offset) -> (b, b_offset) | None``; ``inverse(a, offset, b_next) -> a_next``;
    ``describe`` names ``b`` in words before its first terms (``"differences are"``)."""

    name: str
    forward: Callable[[list[int], int], tuple[list[int], int] | None]
    inverse: Callable[[list[int], int, list[int]], list[int]]
    describe: str


def _differences(a: list[int], offset: int) -> tuple[list[int], int]:
    return [a[i + 1] - a[i] for i in range(len(a) - 1)], offset


def _undo_differences(a: list[int], offset: int, b_next: list[int]) -> list[int]:
    values, last = [], a[-1]
    for step in b_next:
        last += step
        values.append(last)
    return values


def _partial_sums(a: list[int], offset: int) -> tuple[list[int], int]:
    return list(accumulate(a)), offset


def _undo_partial_sums(a: list[int], offset: int, b_next: list[int]) -> list[int]:
    previous, values = sum(a), []
    for total in b_next:
        values.append(total - previous)
        previous = total
    return values


def _ratios(a: list[int], offset: int) -> tuple[list[int], int] | None:
    if any(value == 0 for value in a[:-1]) or any(a[i + 1] % a[i] for i in range(len(a) - 1)):
        return None
    return [a[i + 1] // a[i] for i in range(len(a) - 1)], offset


def _undo_ratios(a: list[int], offset: int, b_next: list[int]) -> list[int]:
    values, last = [], a[-1]
    for factor in b_next:
        last *= factor
        values.append(last)
    return values


def _divide_by_index(shift: int) -> tuple[Callable, Callable]:
    """``b(n) = a(n) / (n + shift)``; at ``n + shift = 0`` the term must be 0 and is dropped."""

    def forward(a: list[int], offset: int) -> tuple[list[int], int] | None:
        skip = 1 if offset + shift == 0 else 0  # only n = 0 with shift 0 has no factor
        if skip and a[0] != 0:
            return None
        b = []
        for index in range(skip, len(a)):
            quotient, remainder = divmod(a[index], offset + index + shift)
            if remainder:
                return None
            b.append(quotient)
        return b, offset + skip

    def inverse(a: list[int], offset: int, b_next: list[int]) -> list[int]:
        start = offset + len(a) + shift
        return [value * (start + k) for k, value in enumerate(b_next)]

    return forward, inverse


_SIGN_NAMES = {(-1,): "-b(n)", (1, -1): "(-1)^n*b(n)", (-1, 1): "(-1)^(n+1)*b(n)"}


def sign_pattern(a: Sequence[int], offset: int, max_period: int = 4) -> tuple[int, ...] | None:
    """Shortest periodic sign pattern (by ``n mod p``) of the nonzero terms, if not all plus."""
    for period in range(1, max_period + 1):
        pattern: dict[int, int] = {}
        consistent = True
        for index, value in enumerate(a):
            if value == 0:
                continue
            residue, sign = (offset + index) % period, 1 if value > 0 else -1
            if pattern.setdefault(residue, sign) != sign:
                consistent = False
                break
        if consistent and len(pattern) == period:
            signs = tuple(pattern[r] for r in range(period))
            return None if all(s > 0 for s in signs) else signs
    return None


def solve_signs(
    terms: Sequence[int], n_terms: int, offset: int, inner: InnerSolver
) -> Candidate | None:
    """Remove a periodic sign pattern (``(-1)^n``, all negative, ``+ + - -``...), solve ``|a|``."""
    signs = sign_pattern(terms, offset)
    if signs is None:
        return None
    period = len(signs)
    b = [value * signs[(offset + i) % period] for i, value in enumerate(terms)]
    found = inner(b, n_terms, offset=offset, symbol="b")
    if found is None:
        return None
    start = offset + len(terms)
    continuation = [v * signs[(start + k) % period] for k, v in enumerate(found.continuation)]
    # the pattern by n counted from 1 at the first given term, as the explanation counts
    shown_signs = tuple(signs[(r - FIRST_INDEX) % period] for r in range(period))
    if shown_signs in _SIGN_NAMES:
        prefix = f"a(n) = {_SIGN_NAMES[shown_signs]}"
    else:
        shown = ", ".join("+" if s > 0 else "-" for s in signs)
        prefix = f"a(n) = s(n)*b(n) with signs s repeating ({shown})"
    return _wrap(found, continuation, f"{prefix}: {found.explanation}", "signs")


def _wrap(
    found: Candidate, continuation: Sequence[int], explanation: str, name: str
) -> Candidate | None:
    info = found.details["information_digits"] - math.log10(len(TRANSFORMS) + 2)
    return make_candidate(
        method=f"{name}+{found.method}",
        explanation=explanation,
        continuation=continuation,
        spare=found.evidence,
        info=info,
        details={**found.details, "transform": name},
    )


_times_n = _divide_by_index(0)
_times_n1 = _divide_by_index(1)

TRANSFORMS: tuple[Transform, ...] = (
    Transform("differences", _differences, _undo_differences, "differences are"),
    Transform("partial-sums", _partial_sums, _undo_partial_sums, "partial sums are"),
    Transform("ratios", _ratios, _undo_ratios, "ratios are"),
    Transform("times-n", _times_n[0], _times_n[1], "a(n)/(n - 1) is"),
    Transform("times-n+1", _times_n1[0], _times_n1[1], "a(n)/n is"),
)


def _after(poly_text: str, term: str) -> str:
    """``term + poly`` with the polynomial's sign folded in: ``a(n-1) - n + 3``."""
    if poly_text.startswith("-"):
        return f"{term} - {poly_text[1:]}"
    return f"{term} + {poly_text}"


def _times(poly_text: str, term: str) -> str:
    """``poly*term``: ``2*a(n-1)``, ``n*a(n-1)``, ``(n + 1)*a(n-1)``."""
    if poly_text == "1":
        return term
    if " " in poly_text or "/" in poly_text:
        return f"({poly_text})*{term}"
    return f"{poly_text}*{term}"


def _value(coefficients: Sequence[Fraction], n: int) -> Fraction:
    return sum((c * n**power for power, c in enumerate(coefficients)), Fraction(0))


def composed(name: str, q: Sequence[Fraction], terms: Sequence[int], offset: int) -> str | None:
    """The rule for ``a`` itself when the transformed sequence is the polynomial ``q`` (lowest
    coefficient first, ``n`` counted from 0 at the first given term), or None."""
    first = offset + FIRST_INDEX
    seed = initial_terms(terms[:1], first)
    if name == "times-n":
        return closed_form([Fraction(0), *q], first=offset)
    if name == "times-n+1":
        zero = Fraction(0)
        return closed_form([c + d for c, d in zip([*q, zero], [zero, *q])], first=offset)
    if name == "differences":  # a(n) = a(n-1) + q(n-2), n counted from 1
        return f"a(n) = {_after(simplest_polynomial(shift_polynomial(q, 2)), 'a(n-1)')}, {seed}"
    if name == "ratios":  # a(n) = q(n-2)*a(n-1)
        return f"a(n) = {_times(simplest_polynomial(shift_polynomial(q, 2)), 'a(n-1)')}, {seed}"
    if name == "partial-sums":  # a(n) = q(n) - q(n-1) after the first term
        step = [c - d for c, d in zip(q, shift_polynomial(q, 1))]
        if _value(step, offset) == terms[0]:
            return closed_form(step, first=offset)
        return f"{closed_form(step, first=offset + 1)}, {seed}"
    return None


def _explained(transform: Transform, b: Sequence[int], found: Candidate, terms, offset) -> str:
    """The rule for ``a`` when it can be written (a polynomial ``b``), else ``b`` in words and
    the rule found for it."""
    if found.method == "polynomial":
        q = [Fraction(c) for c in found.details["coefficients"]]
        text = composed(transform.name, q, terms, offset)
        if text is not None:
            return text
    shown = ", ".join(str(value) for value in b[:3])
    return f"{transform.describe} {shown}, ...: {found.explanation}"


def solve_transform(
    transform: Transform, terms: Sequence[int], n_terms: int, offset: int, inner: InnerSolver
) -> Candidate | None:
    """Solve ``terms`` through one transform with the ``inner`` solver."""
    terms = [int(t) for t in terms]
    mapped = transform.forward(terms, offset)
    if mapped is None:
        return None
    b, b_offset = mapped
    if b == terms or not any(b):
        return None
    found = inner(b, n_terms, offset=b_offset, symbol="b")
    if found is None:
        return None
    continuation = transform.inverse(terms, offset, list(found.continuation))
    explanation = _explained(transform, b, found, terms, offset)
    return _wrap(found, continuation, explanation, transform.name)


def solve_bisection(
    terms: Sequence[int], n_terms: int, offset: int, inner: InnerSolver
) -> Candidate | None:
    """Solve ``b(n) = a(2n)`` and ``c(n) = a(2n+1)`` separately and interleave them again."""
    terms = [int(t) for t in terms]
    parts: dict[int, list[int]] = {0: [], 1: []}
    for index, value in enumerate(terms):
        parts[(offset + index) % 2].append(value)
    first_n = {parity: (offset + (offset % 2 != parity)) // 2 for parity in (0, 1)}
    next_n = offset + len(terms)
    wanted = {
        parity: sum(1 for k in range(n_terms) if (next_n + k) % 2 == parity) for parity in (0, 1)
    }
    solved = {}
    for parity, symbol in ((0, "b"), (1, "c")):
        found = inner(parts[parity], max(1, wanted[parity]), offset=first_n[parity], symbol=symbol)
        if found is None:
            return None
        solved[parity] = found
    continuation, used = [], {0: 0, 1: 0}
    for k in range(n_terms):
        parity = (next_n + k) % 2
        continuation.append(solved[parity].continuation[used[parity]])
        used[parity] += 1
    info = sum(found.details["information_digits"] for found in solved.values())
    info -= math.log10(len(TRANSFORMS) + 2)
    return make_candidate(
        method="bisection",
        explanation=(
            f"odd positions b(n) = a(2n-1): {solved[0].explanation}; "
            f"even positions c(n) = a(2n): {solved[1].explanation}"
        ),
        continuation=continuation,
        spare=min(found.evidence for found in solved.values()),
        info=info,
        details={"even": solved[0].explanation, "odd": solved[1].explanation},
    )
