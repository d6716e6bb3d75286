"""Human-readable formulas: polynomials in n and linear recurrences with polynomial coefficients,
the one way every solver and the rule search write their answers.

Conventions: the solvers fit with ``n`` counted from 0 at the first given term; what they show
counts ``n`` from 1 there (:func:`closed_form`, :func:`shifted_recurrence`), the offset stated as
``(n >= 1)`` and recurrences with their initial terms (``a(1) = 1, a(2) = 1``). ``a`` names the
sequence (transforms name the sequence they solve ``b``); products with terms are written
``2*a(n-1)`` and ``(4n - 2)*a(n-1)``, polynomial terms ``3n^2``; closed forms are factored when
that is not longer (``n*(n + 1)/2``, ``n^3``), with python-flint, already loaded for the fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import comb, lcm

FIRST_INDEX = 1
"""Index ``n`` of the first given term in what the user reads."""


def offset_note(first: int = FIRST_INDEX) -> str:
    """`` (n >= 1)``: where ``n`` starts."""
    return f" (n >= {first})"


def initial_terms(values: Sequence[int], first: int = FIRST_INDEX, symbol: str = "a") -> str:
    """``a(1) = 1, a(2) = 1``: the terms a recurrence starts from, ``first`` the index of the
    first one."""
    return ", ".join(f"{symbol}({first + i}) = {value}" for i, value in enumerate(values))


def shift_polynomial(coefficients: Sequence[Fraction | int], by: int) -> list[Fraction]:
    """Coefficients (lowest first) of ``p(n - by)`` for ``p`` with ``coefficients``."""
    result = [Fraction(0)] * len(coefficients)
    for power, coefficient in enumerate(coefficients):
        for k in range(power + 1):
            result[k] += Fraction(coefficient) * comb(power, k) * (-by) ** (power - k)
    return result


def _factored(numerators: Sequence[int], denominator: int, var: str) -> str | None:
    """``c*factor1^e1*...`` over the denominator (``n*(n + 1)/2``), or None for a constant."""
    import flint

    content, factors = flint.fmpz_poly([int(c) for c in numerators]).factor()
    if not factors:
        return None
    scale = Fraction(int(content), denominator)
    written = []
    for factor, power in factors:
        coefficients = [int(c) for c in factor.coeffs()]
        if coefficients[-1] < 0:
            coefficients = [-c for c in coefficients]
            scale = -scale if power % 2 else scale
        written.append((len(coefficients), abs(coefficients[0]), coefficients, power))
    written.sort(key=lambda item: item[:2])  # n before n + 1, lower degrees first
    alone = len(written) == 1 and written[0][3] == 1 and scale == 1
    parts = []
    for _, _, coefficients, power in written:
        text = format_polynomial(coefficients, var)
        if sum(1 for c in coefficients if c) > 1 and not alone:
            text = f"({text})"
        parts.append(text if power == 1 else f"{text}^{power}")
    body = "*".join(parts)
    numerator, below = scale.numerator, scale.denominator
    if numerator == -1:
        body = f"-{body}"
    elif numerator != 1:
        monomial = len(parts) == 1 and parts[0][0] == var
        body = f"{numerator}{'' if monomial else '*'}{body}"
    return body if below == 1 else f"{body}/{below}"


def simplest_polynomial(coefficients: Sequence[Fraction | int], var: str = "n") -> str:
    """A rational polynomial written factored (``n*(n + 1)/2``) or expanded (``n^2 - 1``),
    whichever is shorter (factored on a tie)."""
    expanded = format_rational_polynomial(coefficients, var)
    denominator = lcm(*(Fraction(c).denominator for c in coefficients))
    numerators = [int(Fraction(c) * denominator) for c in coefficients]
    while len(numerators) > 1 and numerators[-1] == 0:
        numerators.pop()
    if len(numerators) < 2:
        return expanded
    factored = _factored(numerators, denominator, var)
    return factored if factored is not None and len(factored) <= len(expanded) else expanded


def closed_form(coefficients: Sequence[Fraction | int], symbol: str = "a", first: int = 0) -> str:
    """``a(n) = n^3 (n >= 1)`` for a polynomial fitted with ``n`` counted from 0 at the first given
    term (``coefficients`` lowest first), shown with ``n`` counted from 1 there; ``first`` is the
    0-based index of the first term it holds for."""
    shown = shift_polynomial(coefficients, FIRST_INDEX)
    return f"{symbol}(n) = {simplest_polynomial(shown)}{offset_note(first + FIRST_INDEX)}"


def shifted_recurrence(polys: Sequence[Sequence[int]], symbol: str = "a") -> str:
    """:func:`format_recurrence` of a recurrence fitted with ``n`` counted from 0 at the first
    given term, written with ``n`` counted from 1 there."""
    shifted = []
    for poly in polys:
        moved = shift_polynomial(poly, FIRST_INDEX)
        shifted.append([int(c) for c in moved])
    return format_recurrence(shifted, symbol)


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


def format_rational_polynomial(coefficients: Sequence[Fraction | int], var: str = "n") -> str:
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
