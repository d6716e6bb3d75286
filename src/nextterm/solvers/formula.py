"""Human-readable formulas: polynomials in n and linear recurrences with polynomial coefficients.

Conventions: ``n`` counts from 0 at the first given term; ``a`` names the sequence (transforms
rename it, e.g. ``b`` for differences); products with terms are written ``2*a(n-1)`` and
``(4n - 2)*a(n-1)``, polynomial terms ``3n^2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import lcm


def _monomial(power: int, var: str) -> str:
    if power == 0:
        return ""
    return var if power == 1 else f"{var}^{power}"


def format_polynomial(coefficients: Sequence[int], var: str = "n", ascending: bool = False) -> str:
    """Integer polynomial given lowest degree first: ``[1, 2, 1]`` -> ``"n^2 + 2n + 1"``
    (``ascending=True`` writes it lowest power first, as for generating functions)."""
    parts: list[tuple[int, str]] = []
    powers = range(len(coefficients)) if ascending else range(len(coefficients) - 1, -1, -1)
    for power in powers:
        coefficient = int(coefficients[power])
        if coefficient == 0:
            continue
        monomial = _monomial(power, var)
        magnitude = abs(coefficient)
        body = monomial if magnitude == 1 and monomial else f"{magnitude}{monomial}"
        parts.append((coefficient, body))
    if not parts:
        return "0"
    text = ("-" if parts[0][0] < 0 else "") + parts[0][1]
    for coefficient, body in parts[1:]:
        text += (" - " if coefficient < 0 else " + ") + body
    return text


def format_rational_polynomial(coefficients: Sequence[Fraction], var: str = "n") -> str:
    """Rational polynomial over a common denominator: ``[0, 1/2, 1/2]`` -> ``"(n^2 + n)/2"``."""
    denominator = lcm(*(Fraction(c).denominator for c in coefficients))
    numerators = [int(Fraction(c) * denominator) for c in coefficients]
    text = format_polynomial(numerators, var)
    if denominator == 1:
        return text
    if sum(1 for c in numerators if c) > 1:
        text = f"({text})"
    return f"{text}/{denominator}"


def _shift(symbol: str, lag: int) -> str:
    return f"{symbol}(n)" if lag == 0 else f"{symbol}(n-{lag})"


def _product(poly: Sequence[int], symbol: str, lag: int) -> tuple[int, str]:
    """Sign and text of ``|poly(n)| * a(n-lag)``; a one-term polynomial carries its sign out."""
    nonzero = [c for c in poly if c]
    term = _shift(symbol, lag)
    if len(nonzero) == 1:
        power = next(i for i, c in enumerate(poly) if c)
        magnitude = abs(nonzero[0])
        monomial = _monomial(power, "n")
        if magnitude == 1:
            factor = monomial
        else:
            factor = f"{magnitude}{monomial}"
        sign = 1 if nonzero[0] > 0 else -1
        return sign, f"{factor}*{term}" if factor else term
    sign = 1 if nonzero[-1] > 0 else -1
    return sign, f"({format_polynomial([sign * c for c in poly])})*{term}"


def format_recurrence(polys: Sequence[Sequence[int]], symbol: str = "a") -> str:
    """Recurrence ``sum_i polys[i](n) * a(n-i) = 0`` written as ``p0(n)*a(n) = ...``.

    ``[[1], [-1], [-1]]`` -> ``"a(n) = a(n-1) + a(n-2)"``;
    ``[[1, 1], [2, -4]]`` -> ``"(n + 1)*a(n) = (4n - 2)*a(n-1)"``.
    """
    sign, left = _product(polys[0], symbol, 0)
    if sign < 0:
        polys = [[-c for c in poly] for poly in polys]
        sign, left = _product(polys[0], symbol, 0)
    right = ""
    for lag in range(1, len(polys)):
        negated = [-c for c in polys[lag]]
        if not any(negated):
            continue
        term_sign, text = _product(negated, symbol, lag)
        if not right:
            right = ("-" if term_sign < 0 else "") + text
        else:
            right += (" - " if term_sign < 0 else " + ") + text
    return f"{left} = {right or '0'}"
