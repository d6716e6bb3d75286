"""Seeded sequence augmentations: small pure transforms and a chain that combines them.

Length-preserving transforms (term ``n`` of the result depends only on terms ``<= n`` of the input,
so a prefix of the input gives a prefix of the result, except ``swap_pairs`` which looks one ahead):

============== ======================================== =========================
name           result                                    parameter drawn
============== ======================================== =========================
scale          ``k * a(n)``                               ``k`` in ``scale_range``
negate         ``-a(n)``                                  -
alternate      ``(-1)^n a(n)``                            -
add_constant   ``a(n) + c``                               ``c`` in ``constant_range``, not 0
swap_pairs     ``a1, a0, a3, a2, ...`` (odd tail kept)   -
partial_sums   ``a0, a0+a1, a0+a1+a2, ...``               -
reduce_mod     ``a(n) mod m`` (non-negative)              ``m`` in ``modulus_range``
============== ======================================== =========================

Length-reducing transforms: ``every_kth`` (``a(j), a(j+k), ...`` for ``k`` in 2..3, ``j < k``),
``first_differences`` (``a(n+1) - a(n)``), ``sub_range`` (a contiguous slice of at least
``min_terms`` terms starting after the first term).

:func:`augment` chains at most one length-reducing transform (with probability ``p_reduce``)
followed by 0-2 distinct length-preserving ones drawn by weight, and always at least one transform.
Every random choice comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import accumulate

from nextterm.data import DataError

Terms = list[int]


def scale(terms: Terms, k: int) -> Terms:
    return [k * t for t in terms]


def negate(terms: Terms) -> Terms:
    return [-t for t in terms]


def alternate(terms: Terms) -> Terms:
    return [t if n % 2 == 0 else -t for n, t in enumerate(terms)]


def add_constant(terms: Terms, c: int) -> Terms:
    return [t + c for t in terms]


def swap_pairs(terms: Terms) -> Terms:
    out = list(terms)
    out[0 : len(out) - 1 : 2], out[1::2] = terms[1::2], terms[0 : len(terms) - 1 : 2]
    return out


def partial_sums(terms: Terms) -> Terms:
    return list(accumulate(terms))


def reduce_mod(terms: Terms, m: int) -> Terms:
    return [t % m for t in terms]


def every_kth(terms: Terms, k: int, start: int) -> Terms:
    return terms[start::k]


def first_differences(terms: Terms) -> Terms:
    return [b - a for a, b in zip(terms, terms[1:])]


def sub_range(terms: Terms, start: int, length: int) -> Terms:
    return terms[start : start + length]


PRESERVING = (
    "scale",
    "negate",
    "alternate",
    "add_constant",
    "swap_pairs",
    "partial_sums",
    "reduce_mod",
)
REDUCING = ("every_kth", "first_differences", "sub_range")


@dataclass
class AugmentConfig:
    """Which transforms :func:`augment` draws, how often, and their parameter ranges.

    The weights are read when the config is created; make a new config to change them."""

    copies: int = 2
    """Augmented copies written per real training sequence (0 turns augmentation off)."""
    p_reduce: float = 0.5
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "scale": 1.0,
            "negate": 0.5,
            "alternate": 0.5,
            "add_constant": 1.0,
            "swap_pairs": 0.3,
            "partial_sums": 1.0,
            "reduce_mod": 0.5,
            "every_kth": 1.0,
            "first_differences": 1.0,
            "sub_range": 1.0,
        }
    )
    scale_range: tuple[int, int] = (2, 9)
    constant_range: tuple[int, int] = (-10, 10)
    modulus_range: tuple[int, int] = (2, 10)
    min_terms: int = 4

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(PRESERVING) - set(REDUCING)
        if unknown:
            raise DataError(f"unknown augmentation(s) in weights: {', '.join(sorted(unknown))}")
        if any(w < 0 for w in self.weights.values()) or not any(
            self.weights.get(name, 0) > 0 for name in PRESERVING + REDUCING
        ):
            raise DataError("augmentation weights must be >= 0 with at least one positive")
        if self.copies < 0 or not 0 <= self.p_reduce <= 1 or self.min_terms < 2:
            raise DataError("copies >= 0, 0 <= p_reduce <= 1 and min_terms >= 2 are required")
        self._pools = {
            group: [name for name in group if self.weights.get(name, 0) > 0]
            for group in (PRESERVING, REDUCING)
        }


def _apply(name: str, terms: Terms, rng: random.Random, config: AugmentConfig) -> Terms:
    if name == "scale":
        return scale(terms, rng.randint(*config.scale_range))
    if name == "negate":
        return negate(terms)
    if name == "alternate":
        return alternate(terms)
    if name == "add_constant":
        c = 0
        while c == 0:
            c = rng.randint(*config.constant_range)
        return add_constant(terms, c)
    if name == "swap_pairs":
        return swap_pairs(terms)
    if name == "partial_sums":
        return partial_sums(terms)
    if name == "reduce_mod":
        return reduce_mod(terms, rng.randint(*config.modulus_range))
    if name == "every_kth":
        k = rng.randint(2, 3)
        return every_kth(terms, k, rng.randrange(k))
    if name == "first_differences":
        return first_differences(terms)
    if name == "sub_range":
        spare = len(terms) - 1 - config.min_terms
        if spare < 0:
            return terms[1:]
        start = 1 + rng.randint(0, spare)
        return sub_range(terms, start, rng.randint(config.min_terms, len(terms) - start))
    raise DataError(f"unknown augmentation {name!r}")


def _pick(
    group: tuple[str, ...], rng: random.Random, config: AugmentConfig, exclude=()
) -> str | None:
    pool = [name for name in config._pools[group] if name not in exclude]
    if not pool:
        return None
    return rng.choices(pool, weights=[config.weights[name] for name in pool])[0]


def augment(
    terms: Terms, rng: random.Random, config: AugmentConfig
) -> tuple[Terms, tuple[str, ...]] | None:
    """One augmented copy of ``terms`` and the transform names applied, or None when the result
    would have fewer than ``config.min_terms`` terms or equal the input."""
    chain: list[str] = []
    reducing = _pick(REDUCING, rng, config) if rng.random() < config.p_reduce else None
    if reducing:
        chain.append(reducing)
    for _ in range(rng.randint(0 if chain else 1, 2)):
        name = _pick(PRESERVING, rng, config, exclude=chain)
        if name:
            chain.append(name)
    if not chain:
        chain.append(_pick(REDUCING, rng, config))
    out = terms
    for name in chain:
        out = _apply(name, out, rng, config)
    if len(out) < config.min_terms or out == terms:
        return None
    return out, tuple(chain)
