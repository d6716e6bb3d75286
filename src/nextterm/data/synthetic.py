"""Synthetic sequence families that teach short-prefix rule induction, with a configurable mix.

Families (each a function ``(rng, length, config) -> list[int]``):

* ``polynomial``: ``p(n)`` for ``n = n0, n0+1, ...`` (``n0`` in {0, 1}), degree 0-4 drawn by
  ``degree_weights``; each coefficient is uniform in ``[-R, R]`` with ``R = 10**e - 1`` and
  ``e`` uniform in ``1..max_coefficient_exponent`` per coefficient.
* ``linear_recurrence``: order 1-3, coefficients in ``[-3, 3]`` (last one non-zero), optional
  constant in ``[-5, 5]``, initial terms in ``[-9, 9]`` (not all zero).
* ``geometric``: ``a * r**n`` with ``a`` in ``[-20, 20] \\ {0}`` and ``r`` in ``[-6, 6] \\ {-1, 0, 1}``.
* ``periodic``: a random block of period 2-6 with values in ``[-9, 30]``, repeated.
* ``interleaved``: two sequences from the other families (except interleaved) alternating.

Lengths are uniform in ``[min_terms, max_terms]``; a sequence stops early at its first term with
more than ``max_term_digits`` digits (and is dropped if that leaves fewer than ``min_terms``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from nextterm.data import DataError

Terms = list[int]


@dataclass
class SyntheticConfig:
    """How many synthetic sequences the build writes and the mix of families."""

    count: int = 400_000
    mix: dict[str, float] = field(
        default_factory=lambda: {
            "polynomial": 0.3,
            "linear_recurrence": 0.25,
            "geometric": 0.1,
            "periodic": 0.1,
            "interleaved": 0.25,
        }
    )
    min_terms: int = 6
    max_terms: int = 40
    max_term_digits: int = 40
    degree_weights: tuple[float, ...] = (0.1, 0.3, 0.25, 0.2, 0.15)
    max_coefficient_exponent: int = 4

    def __post_init__(self) -> None:
        unknown = set(self.mix) - set(FAMILIES)
        if unknown:
            raise DataError(f"unknown synthetic family(ies): {', '.join(sorted(unknown))}")
        if (
            self.count < 0
            or any(w < 0 for w in self.mix.values())
            or (self.count and not any(w > 0 for w in self.mix.values()))
        ):
            raise DataError("synthetic count >= 0 and mix weights >= 0 (one positive) are required")
        if not 2 <= self.min_terms <= self.max_terms or self.max_term_digits < 1:
            raise DataError("need 2 <= min_terms <= max_terms and max_term_digits >= 1")


def polynomial(rng: random.Random, length: int, config: SyntheticConfig) -> Terms:
    degree = rng.choices(range(len(config.degree_weights)), weights=config.degree_weights)[0]
    coefficients = []
    for _ in range(degree + 1):
        bound = 10 ** rng.randint(1, config.max_coefficient_exponent) - 1
        coefficients.append(rng.randint(-bound, bound))
    if degree and coefficients[-1] == 0:
        coefficients[-1] = 1
    start = rng.randint(0, 1)
    return [sum(c * n**i for i, c in enumerate(coefficients)) for n in range(start, start + length)]


def linear_recurrence(rng: random.Random, length: int, config: SyntheticConfig) -> Terms:
    order = rng.randint(1, 3)
    coefficients = [rng.randint(-3, 3) for _ in range(order)]
    if coefficients[-1] == 0:
        coefficients[-1] = rng.choice((-1, 1, 2))
    constant = rng.randint(-5, 5) if rng.random() < 0.3 else 0
    terms = [rng.randint(-9, 9) for _ in range(order)]
    if not any(terms):
        terms[-1] = 1
    while len(terms) < length:
        terms.append(sum(c * t for c, t in zip(coefficients, reversed(terms[-order:]))) + constant)
    return terms[:length]


def geometric(rng: random.Random, length: int, config: SyntheticConfig) -> Terms:
    a = rng.choice([v for v in range(-20, 21) if v])
    r = rng.choice([v for v in range(-6, 7) if v not in (-1, 0, 1)])
    return [a * r**n for n in range(length)]


def periodic(rng: random.Random, length: int, config: SyntheticConfig) -> Terms:
    period = rng.randint(2, 6)
    block = [rng.randint(-9, 30) for _ in range(period)]
    while len(set(block)) == 1:
        block[-1] = rng.randint(-9, 30)
    return [block[n % period] for n in range(length)]


def interleaved(rng: random.Random, length: int, config: SyntheticConfig) -> Terms:
    names = [name for name in FAMILIES if name != "interleaved"]
    half = (length + 1) // 2
    first = FAMILIES[rng.choice(names)](rng, half, config)
    second = FAMILIES[rng.choice(names)](rng, half, config)
    return [term for pair in zip(first, second) for term in pair][:length]


FAMILIES: dict[str, Callable[[random.Random, int, SyntheticConfig], Terms]] = {
    "polynomial": polynomial,
    "linear_recurrence": linear_recurrence,
    "geometric": geometric,
    "periodic": periodic,
    "interleaved": interleaved,
}


def cap_digits(terms: Terms, max_digits: int) -> Terms:
    """``terms`` up to (not including) the first with more than ``max_digits`` digits."""
    safe_bits = int(max_digits * 3.3219)  # below this bit length a term has <= max_digits digits
    for index, term in enumerate(terms):
        if term.bit_length() > safe_bits and len(str(abs(term))) > max_digits:
            return terms[:index]
    return terms


def generate(rng: random.Random, config: SyntheticConfig) -> tuple[str, Terms] | None:
    """One synthetic sequence ``(family, terms)``, or None if digit capping left it too short."""
    families = [name for name, weight in config.mix.items() if weight > 0]
    family = rng.choices(families, weights=[config.mix[n] for n in families])[0]
    length = rng.randint(config.min_terms, config.max_terms)
    terms = cap_digits(FAMILIES[family](rng, length, config), config.max_term_digits)
    return (family, terms) if len(terms) >= config.min_terms else None
