"""Closed forms ``a(n) = A*g(n+s) + B``: a primitive sequence ``g``, shifted, scaled and offset,
and polynomials with small coefficients.

The first given term has index 0 in the search; a shift ``s`` of 0 or 1 is the choice of where
``n`` starts (one bit), larger shifts are priced as integers. ``A`` and ``B`` are solved from the
first terms (exactly, as fractions) and every further term checks them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction

from nextterm.solvers.formula import closed_form, offset_note
from nextterm.solvers.polynomial import difference_table, extend_table, newton_to_monomial
from nextterm.solvers.rules.description import Fit, int_bits, rational_bits
from nextterm.solvers.rules.primitives import PRIMITIVES, Primitive, all_defined, index_text
from nextterm.solvers.rules.settings import Effort
from nextterm.solvers.rules.writing import linear_text

MAX_DENOMINATOR = 12
"""Largest denominator allowed in a fitted constant (``a(n) = 7*2^n/2``, not ``2^n/97``)."""

FAMILY = "closed form"


def shift_bits(shift: int) -> float:
    """Where ``n`` starts (0 or 1) is one bit; a further shift is an integer to write."""
    return 1.0 if shift <= 1 else 1.0 + int_bits(shift - 1)


def start_note(start: int) -> str:
    return offset_note(start)


def _describe(primitive: Primitive, shift: int, factor: Fraction, offset: Fraction) -> str:
    start = 1 if shift >= 1 else 0
    body = primitive.write(index_text(shift - start))
    return f"a(n) = {linear_text([(factor, body), (offset, '1')])}{start_note(start)}"


def _constant_bits(factor: Fraction, offset: Fraction) -> float:
    bits = 2.0  # whether A and B are present
    if factor != 1:
        bits += rational_bits(factor)
    if offset != 0:
        bits += rational_bits(offset)
    return bits


def _fitting_constants(
    values: Sequence[int], terms: Sequence[int]
) -> list[tuple[Fraction, Fraction, int]]:
    """The constants ``(A, B, fitted)`` with ``A*values[i] + B == terms[i]`` for every i, checked
    in integers (cross-multiplied): ``g`` itself, ``g + B``, ``A*g`` and ``A*g + B``."""
    t0, g0 = terms[0], values[0]
    found = []
    if all(t - g == t0 - g0 for t, g in zip(terms, values)):
        found.append((Fraction(1), Fraction(t0 - g0), 0 if t0 == g0 else 1))
    elif g0 != 0 and t0 != 0 and all(t * g0 == t0 * g for t, g in zip(terms, values)):
        found.append((Fraction(t0, g0), Fraction(0), 1))
    else:
        other = next((i for i, g in enumerate(values) if g != g0), None)
        if other is None:
            return found
        rise, run = terms[other] - t0, values[other] - g0
        if all(run * (t - t0) == rise * (g - g0) for t, g in zip(terms, values)):
            factor = Fraction(rise, run)
            found.append((factor, t0 - factor * g0, 2))
    return found


def _affine_fits(
    primitive: Primitive, shift: int, terms: Sequence[int], n_terms: int
) -> Iterator[Fit]:
    """The fit of ``A*g(i+shift) + B`` with the cheapest constants that reproduce ``terms``."""
    size = len(terms)
    table = primitive.table(shift + size + n_terms)
    if size >= 3:  # every fit puts the points (g, a) on one line: test the first three first
        g = all_defined(table[shift : shift + 3])
        if g is None or (terms[1] - terms[0]) * (g[2] - g[0]) != (terms[2] - terms[0]) * (
            g[1] - g[0]
        ):
            return
    window = all_defined(table[shift : shift + size + n_terms])
    if window is None:
        return
    for factor, offset, fitted in _fitting_constants(window[:size], terms):
        if factor.denominator > MAX_DENOMINATOR or offset.denominator > MAX_DENOMINATOR:
            continue
        following = [factor * g + offset for g in window[size:]]
        if any(value.denominator != 1 for value in following):
            continue
        yield Fit(
            family=FAMILY,
            text=_describe(primitive, shift, factor, offset),
            bits=primitive.bits + shift_bits(shift) + _constant_bits(factor, offset),
            continuation=tuple(int(value) for value in following),
            spare=max(
                0, size - fitted - (1 if shift > 1 else 0)
            ),  # a shift beyond the start is fitted too
        )


def primitive_fits(terms: Sequence[int], n_terms: int, effort: Effort) -> Iterator[Fit]:
    """``A*g(n+s) + B`` for every primitive ``g``, small shifts, and any shift at which ``g``
    itself reaches the first term (``a(n) = (n+17)^2``)."""
    for primitive in PRIMITIVES:
        shifts = set(range(effort.max_shift + 1))
        located = primitive.locate(terms[0], effort.locate_limit)
        if located is not None and located > effort.max_shift:
            shifts.add(located)
        for shift in sorted(shifts):
            yield from _affine_fits(primitive, shift, terms, n_terms)


def pair_fits(terms: Sequence[int], n_terms: int) -> Iterator[Fit]:
    """``g(n) + h(n)`` and ``g(n)*h(n)`` for pairs of primitives, ``n`` starting at 0 or 1
    (``a(n) = 2^n + n^2``, ``a(n) = n*prime(n)``)."""
    size = len(terms)
    for first_index, first in enumerate(PRIMITIVES):
        for second in PRIMITIVES[first_index + 1 :]:
            for start in (0, 1):
                g = first.table(start + size + n_terms)[start:]
                h = second.table(start + size + n_terms)[start:]
                if None in g or None in h:
                    continue
                argument = "n"
                for symbol, combine in ((" + ", lambda x, y: x + y), ("*", lambda x, y: x * y)):
                    if any(combine(x, y) != t for x, y, t in zip(g, h, terms)):
                        continue
                    following = tuple(combine(x, y) for x, y in zip(g[size:], h[size:]))
                    text = f"a(n) = {first.write(argument)}{symbol}{second.write(argument)}{start_note(start)}"
                    yield Fit(FAMILY, text, first.bits + second.bits + 2, following, size)


def constant_fit(terms: Sequence[int], n_terms: int) -> Iterator[Fit]:
    """``a(n) = c``."""
    if all(t == terms[0] for t in terms):
        yield Fit(
            FAMILY,
            f"a(n) = {terms[0]}",
            2 + int_bits(terms[0]),
            (terms[0],) * n_terms,
            len(terms) - 1,
        )


def polynomial_fits(terms: Sequence[int], n_terms: int, effort: Effort) -> Iterator[Fit]:
    """The lowest-degree polynomial through every term, its coefficients priced as written with
    ``n`` starting at 0 or at 1 (whichever is shorter)."""
    rows = difference_table(terms)
    degree = len(rows) - 1
    if degree < 1 or degree > effort.max_polynomial_degree:
        return
    continuation = extend_table(rows, n_terms)
    leading = [row[0] for row in rows]
    bits = min(
        3 + int_bits(degree) + 1 + sum(rational_bits(c) for c in newton_to_monomial(leading, start))
        for start in (0, 1)
    )
    yield Fit(
        family="polynomial",
        # priced as the shorter start, shown as every answer is: n from 1, factored
        text=closed_form(newton_to_monomial(leading, 0)),
        bits=bits,
        continuation=tuple(continuation),
        spare=len(terms) - (degree + 1),
    )
