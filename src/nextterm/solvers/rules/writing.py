"""Writing rules as a person would: ``4n``, ``3*2^n - 1``, ``2*a(n-1) + 3``, ``a(n-1)*a(n-2)``."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction


def scaled(factor: Fraction | int, body: str) -> str:
    """``factor * body``: ``scaled(4, "n") == "4n"``, ``scaled(-1, "2^n") == "-2^n"``,
    ``scaled(Fraction(3, 2), "prime(n)") == "3*prime(n)/2"``; ``body`` ``"1"`` is the number."""
    factor = Fraction(factor)
    if body == "1":
        return str(factor.numerator) if factor.denominator == 1 else str(factor)
    numerator, denominator = factor.numerator, factor.denominator
    if numerator == 1:
        text = body
    elif numerator == -1:
        text = f"-{body}"
    else:
        joiner = "" if body[0] == "n" and body[1:2] in ("", "^") else "*"
        text = f"{numerator}{joiner}{body}"
    return text if denominator == 1 else f"{text}/{denominator}"


def linear_text(parts: Sequence[tuple[Fraction | int, str]]) -> str:
    """A sum of scaled bodies with signs folded in: ``[(2, "a(n-1)"), (-3, "1")]`` ->
    ``"2*a(n-1) - 3"``; zero factors are left out."""
    text = ""
    for factor, body in parts:
        factor = Fraction(factor)
        if factor == 0:
            continue
        if not text:
            text = scaled(factor, body)
        else:
            text += (" - " if factor < 0 else " + ") + scaled(abs(factor), body)
    return text or "0"
