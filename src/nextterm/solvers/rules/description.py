"""Description lengths in bits, the :class:`Fit` every rule family yields, and the Occam weighing.

A rule that reproduces the given terms is a description of them: its structure (which template,
which primitive sequence), its constants and the initial terms it takes as given (seeds). Writing
the terms out literally costs :func:`literal_bits`; a rule is worth considering only when it is
shorter, and the shorter it is the more it is believed (Solomonoff/MDL: weight ``2^-bits``).
Integers are priced with a universal code, so a constant 1 is cheap and 4,802 is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


def int_bits(value: int) -> float:
    """Bits to write one integer with an Elias-gamma-like universal code plus a sign bit
    (0: 1 bit, 1: 3, 9: 7.6, 100: 14.3, a 10-digit number about 67)."""
    return 1.0 + 2.0 * math.log2(abs(int(value)) + 1)


def rational_bits(value: Fraction | int) -> float:
    """Bits for a rational constant: numerator, and the denominator when it is not 1."""
    value = Fraction(value)
    bits = int_bits(value.numerator)
    if value.denominator != 1:
        bits += int_bits(value.denominator)
    return bits


def literal_bits(terms: Sequence[int]) -> float:
    """Bits to write the terms out one by one: what a rule must beat to explain anything."""
    return sum(int_bits(t) for t in terms)


def choice_bits(options: int) -> float:
    """Bits to pick one of ``options`` equally likely alternatives."""
    return math.log2(max(1, options))


@dataclass(frozen=True)
class Fit:
    """One rule that reproduces every given term exactly.

    Attributes:
        family: the rule family (``"closed form"``, ``"recurrence"``, ``"cyclic"``, ...).
        text: the rule as a person writes it, e.g. ``a(n) = n^3`` or ``look-and-say``.
        bits: description length of the rule: structure, constants and seed terms.
        continuation: the next terms the rule gives, at least one.
        spare: given terms the rule reproduced beyond those that fixed its constants and seeds.
    """

    family: str
    text: str
    bits: float
    continuation: tuple[int, ...]
    spare: int

    def compression(self, terms: Sequence[int]) -> float:
        """Bits saved over writing ``terms`` literally (positive: the rule explains something)."""
        return literal_bits(terms) - self.bits


NULL_MARGIN = 8.0
"""Bits a rule must save before it is even odds against "some rule not in the grammar": the
unexplained alternative gets weight ``2^(NULL_MARGIN - literal bits)``."""


def occam_weights(fits: Sequence[Fit], terms: Sequence[int]) -> tuple[list[float], float]:
    """Posterior weights of ``fits`` (each ``2^-bits``) and of the unexplained alternative,
    normalised to sum to one; computed relative to the shortest for numerical safety."""
    literal = literal_bits(terms)
    lengths = [fit.bits for fit in fits] + [literal - NULL_MARGIN]
    shortest = min(lengths)
    raw = [2.0 ** (shortest - length) for length in lengths]
    total = sum(raw)
    return [w / total for w in raw[:-1]], raw[-1] / total
