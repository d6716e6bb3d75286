"""Membership rules: the sequence lists, in order, every integer with a property ("primes",
"numbers not divisible by 3", "squarefree numbers", "sums of two squares", ...).

A rule fits when every given term has the property and no integer strictly between two given
terms has it; it starts at the first such integer, or at the first given term (priced then). The
next term is the next integer with the property. Number theory comes from python-flint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import flint

from nextterm.solvers.rules.description import Fit, choice_bits, int_bits
from nextterm.solvers.rules.primitives import digit_sum

FAMILY = "membership"

MAX_MEMBER = 10**15
"""Largest term a membership rule considers: properties are tested by factoring, which is
instant up to here and can take hours on a 60-digit number."""

GAP_LIMIT = 200
"""Largest mean gap between given terms worth testing: sparser lists are rarely "all n with P"."""


@dataclass(frozen=True)
class Property:
    """``test(n)`` for ``n >= 1``; ``name`` completes "numbers ..." / reads as the plural noun."""

    name: str
    bits: float
    test: Callable[[int], bool]


def _factor_exponents(n: int) -> list[int]:
    return [exponent for _, exponent in flint.fmpz(n).factor()]


def _squarefree(n: int) -> bool:
    return all(e == 1 for e in _factor_exponents(n))


def _sum_of_two_squares(n: int) -> bool:
    return all(p % 4 != 3 or e % 2 == 0 for p, e in flint.fmpz(n).factor())


def _perfect_power(n: int) -> bool:
    return n == 1 or flint.fmpz(n).is_perfect_power()


def _semiprime(n: int) -> bool:
    return sum(_factor_exponents(n)) == 2


def _palindrome(n: int) -> bool:
    return str(n) == str(n)[::-1]


def _prime(n: int) -> bool:
    return flint.fmpz(n).is_prime()


def _not_divisible(k: int) -> Property:
    return Property(f"numbers not divisible by {k}", 6 + int_bits(k), lambda n: n % k != 0)


PROPERTIES: tuple[Property, ...] = (
    Property("primes", 4, _prime),
    Property("composite numbers", 6, lambda n: n > 1 and not _prime(n)),
    *(_not_divisible(k) for k in range(3, 11)),
    Property("squarefree numbers", 8, _squarefree),
    Property("numbers that are the sum of two squares", 9, _sum_of_two_squares),
    Property("perfect powers", 8, _perfect_power),
    Property("semiprimes (products of two primes)", 8, _semiprime),
    Property("palindromes", 8, _palindrome),
    Property(
        "numbers with an even number of 1s in binary (evil numbers)",
        10,
        lambda n: bin(n).count("1") % 2 == 0,
    ),
    Property(
        "numbers with an odd number of 1s in binary (odious numbers)",
        10,
        lambda n: bin(n).count("1") % 2 == 1,
    ),
    Property("numbers whose digit sum is even", 11, lambda n: digit_sum(n) % 2 == 0),
    Property("prime powers", 9, lambda n: n > 1 and len(_factor_exponents(n)) == 1),
)


def _first_member(prop: Property, limit: int) -> int | None:
    return next((n for n in range(1, limit + 1) if prop.test(n)), None)


def membership_fits(terms: Sequence[int], n_terms: int, span: int) -> Iterator[Fit]:
    """Every property whose members in ``[terms[0], terms[-1]]`` are exactly ``terms``."""
    size = len(terms)
    if (
        size < 3
        or terms[0] < 1
        or terms[-1] > MAX_MEMBER
        or any(b <= a for a, b in zip(terms, terms[1:]))
    ):
        return
    if terms[-1] - terms[0] > min(span, GAP_LIMIT * size):
        return
    library = choice_bits(len(PROPERTIES))
    for prop in PROPERTIES:
        if not all(prop.test(t) for t in terms):
            continue
        if any(prop.test(n) for a, b in zip(terms, terms[1:]) for n in range(a + 1, b)):
            continue
        following: list[int] = []
        candidate, budget = terms[-1] + 1, span
        while len(following) < n_terms and budget > 0:
            if prop.test(candidate):
                following.append(candidate)
            candidate += 1
            budget -= 1
        if len(following) < n_terms:
            continue
        from_start = _first_member(prop, terms[0]) == terms[0]
        bits = library + prop.bits + (0.0 if from_start else int_bits(terms[0]))
        text = prop.name if from_start else f"{prop.name} from {terms[0]} on"
        yield Fit(FAMILY, text, bits, tuple(following), size - (0 if from_start else 1))
