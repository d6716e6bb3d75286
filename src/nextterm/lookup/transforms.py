"""Transforms of a sequence that a lookup of relatives searches for, each with its exact inverse.

A :class:`Transform` turns the user's terms ``a`` into a related sequence ``b`` (its differences,
its partial sums, twice it, ...), of which only the trailing terms are looked up. When the index
finds those trailing terms in an OEIS sequence, the terms that follow there are further terms of
``b``; :attr:`Transform.inverse` maps them back to further terms of ``a``, exactly (integers only;
it stops at the first term that does not map back to an integer).

The first given term is ``a(0)``, so ``a(n)/n`` divides the ``n``-th term (from 0) by ``n``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

POSITION_MAX_TERMS = 256
"""Prompts longer than this skip the binomial transforms: no OEIS data section holds that many
terms (at most 250), so their terms at such positions can never be found, and computing them
costs a product per term and position."""

Forward = Callable[[Sequence[int], int], list[int]]
Inverse = Callable[[Sequence[int], Sequence[int]], list[int]]


@dataclass(frozen=True)
class Transform:
    """A sequence transform: ``forward(a, tail)`` gives at most the last ``tail`` terms of the
    transformed sequence (fewer where it is undefined further back, e.g. a term not divisible);
    ``inverse(a, following)`` maps the terms following those to the terms following ``a``."""

    name: str
    """Stable key (candidate details), e.g. ``"differences"``."""
    label: str
    """Readable phrase for explanations, e.g. ``"differences"`` in "via differences"."""
    cost: float
    """Ranking penalty, in matched terms: a relative through this transform needs ``cost`` more
    matching terms to rank with a sequence matched as itself (chosen on the validation split)."""
    forward: Forward
    inverse: Inverse


def _identity_forward(terms: Sequence[int], tail: int) -> list[int]:
    return list(terms[-tail:])


def _identity_inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
    return list(following)


def _differences(terms: Sequence[int]) -> list[int]:
    return [b - a for a, b in zip(terms, terms[1:])]


def _undo_differences(last: int, following: Sequence[int]) -> list[int]:
    out = []
    for step in following:
        last += step
        out.append(last)
    return out


def _differences_forward(terms: Sequence[int], tail: int) -> list[int]:
    return _differences(terms[-(tail + 1) :])


def _differences_inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
    return _undo_differences(terms[-1], following) if terms else []


def _second_differences_forward(terms: Sequence[int], tail: int) -> list[int]:
    return _differences(_differences(terms[-(tail + 2) :]))


def _second_differences_inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
    if len(terms) < 2:
        return []
    return _undo_differences(terms[-1], _undo_differences(terms[-1] - terms[-2], following))


def _partial_sums_forward(terms: Sequence[int], tail: int) -> list[int]:
    total = sum(terms[:-tail]) if tail < len(terms) else 0
    out = []
    for term in terms[-tail:]:
        total += term
        out.append(total)
    return out


def _partial_sums_inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
    previous, out = sum(terms), []
    for total in following:
        out.append(total - previous)
        previous = total
    return out


def _scaled(factor: int) -> Transform:
    def forward(terms: Sequence[int], tail: int) -> list[int]:
        return [factor * term for term in terms[-tail:]]

    def inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
        out = []
        for term in following:
            if term % factor:
                break
            out.append(term // factor)
        return out

    return Transform(f"times {factor}", f"{factor}*a(n)", 2.0, forward, inverse)


def _exact_suffix(values: Sequence[int], divisors: Sequence[int]) -> list[int]:
    """``values[i] // divisors[i]`` over the longest suffix where every division is exact."""
    out = []
    for value, divisor in zip(reversed(values), reversed(divisors)):
        if divisor == 0 or value % divisor:
            break
        out.append(value // divisor)
    return out[::-1]


def _divided(divisor: int) -> Transform:
    def forward(terms: Sequence[int], tail: int) -> list[int]:
        window = terms[-tail:]
        return _exact_suffix(window, [divisor] * len(window))

    def inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
        return [divisor * term for term in following]

    return Transform(f"divided by {divisor}", f"a(n)/{divisor}", 2.0, forward, inverse)


def _shifted(shift: int) -> Transform:
    def forward(terms: Sequence[int], tail: int) -> list[int]:
        return [term + shift for term in terms[-tail:]]

    def inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
        return [term - shift for term in following]

    sign = "+" if shift > 0 else "-"
    return Transform(f"plus {shift}", f"a(n){sign}{abs(shift)}", 2.0, forward, inverse)


def _over_index(offset: int) -> Transform:
    """``a(n)/(n + offset)`` where exact."""

    def forward(terms: Sequence[int], tail: int) -> list[int]:
        start = max(len(terms) - tail, 0)
        return _exact_suffix(terms[start:], range(start + offset, len(terms) + offset))

    def inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
        n = len(terms) + offset
        return [term * (n + step) for step, term in enumerate(following)]

    divisor = "n" if offset == 0 else f"(n+{offset})"
    return Transform(f"over n+{offset}", f"a(n)/{divisor}", 3.0, forward, inverse)


def _binomial_sum(terms: Sequence[int], n: int, sign: int) -> int:
    """``sum_k C(n,k) sign^(n-k) terms[k]`` over ``k < len(terms)`` (and ``k <= n``)."""
    total, coefficient = 0, 1
    for k in range(min(n + 1, len(terms))):
        term = coefficient * terms[k]
        total += -term if sign < 0 and (n - k) % 2 else term
        coefficient = coefficient * (n - k) // (k + 1)
    return total


def _binomial(sign: int) -> Transform:
    """``b(n) = sum_k C(n,k) a(k)`` (``sign`` 1) or ``sum_k (-1)^(n-k) C(n,k) a(k)`` (-1)."""

    def forward(terms: Sequence[int], tail: int) -> list[int]:
        if len(terms) > POSITION_MAX_TERMS:
            return []
        start = max(len(terms) - tail, 0)
        return [_binomial_sum(terms, n, sign) for n in range(start, len(terms))]

    def inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
        # b(N) = a(N) + sum_{k<N} C(N,k) sign^(N-k) a(k), solved for a(N) one term at a time
        extended = list(terms)
        for term in following:
            extended.append(term - _binomial_sum(extended, len(extended), sign))
        return extended[len(terms) :]

    if sign == 1:
        return Transform("binomial", "binomial transform", 4.0, forward, inverse)
    return Transform("inverse binomial", "inverse binomial transform", 4.0, forward, inverse)


def _bisection_forward(terms: Sequence[int], tail: int) -> list[int]:
    # the terms whose index has the parity of the next one, whose bisection continues them
    n = len(terms)
    return list(terms[max(n - 2 * tail, n % 2) :: 2])


def _bisection_inverse(terms: Sequence[int], following: Sequence[int]) -> list[int]:
    return list(following[:1])  # the bisection's next term is a(N); a(N+1) lies in the other one


IDENTITY = Transform("identity", "", 0.0, _identity_forward, _identity_inverse)

TRANSFORMS: tuple[Transform, ...] = (
    IDENTITY,
    Transform("differences", "differences", 2.0, _differences_forward, _differences_inverse),
    Transform("partial sums", "partial sums", 2.0, _partial_sums_forward, _partial_sums_inverse),
    *(_scaled(factor) for factor in (2, 3, 4)),
    *(_divided(divisor) for divisor in (2, 3, 4)),
    *(_shifted(shift) for shift in (1, -1, 2, -2)),
    Transform(
        "second differences",
        "second differences",
        4.0,
        _second_differences_forward,
        _second_differences_inverse,
    ),
    _over_index(0),
    _over_index(1),
    Transform("bisection", "every other term", 3.0, _bisection_forward, _bisection_inverse),
    _binomial(1),
    _binomial(-1),
)
"""Every transform a lookup of relatives tries, the identity first."""
