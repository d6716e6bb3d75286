"""Named primitive sequences the closed forms are built from: powers, factorials, primes,
Fibonacci and Lucas numbers, divisor functions, partitions and the like.

Each :class:`Primitive` gives its values ``g(0), g(1), ...`` (``None`` where undefined, such as
``prime(0)``), a description cost in bits (short, familiar names are cheap) and how to write
``g(x)`` for an argument ``x``. The number theory comes from python-flint; values are cached per
primitive, so a search pays for a table once per process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import flint

from nextterm.solvers.rules.description import int_bits


def _wrap(argument: str) -> str:
    """``n`` stays ``n``; ``n+2`` becomes ``(n+2)`` where it is an operand."""
    return argument if argument.isalnum() else f"({argument})"


@dataclass(frozen=True)
class Primitive:
    """A named integer sequence ``g(n)``, ``n >= 0``.

    Attributes:
        name: identifier, e.g. ``"prime"``.
        bits: description cost of choosing it.
        value: ``value(n)`` (``None`` where undefined); tables come from :meth:`table`.
        write: formats ``g(argument)`` for an argument text such as ``"n"`` or ``"n+3"``.
        growth: ``"poly"`` for sequences of polynomial growth (worth locating far along their
            table), ``"fast"`` for exponential and faster ones.
    """

    name: str
    bits: float
    value: Callable[[int], int | None]
    write: Callable[[str], str]
    growth: str = "poly"

    def table(self, size: int) -> tuple[int | None, ...]:
        """``g(0), ..., g(size-1)`` (cached, computed in blocks of 64)."""
        return _table(self, -(-size // 64) * 64)[:size]

    def locate(self, value: int, limit: int) -> int | None:
        """First index below ``limit`` where ``g`` takes ``value``. Fast-growing sequences are
        walked only until they pass ``|value|``, so their huge far terms are never computed."""
        if self.growth == "poly":
            return _positions(self, -(-limit // 64) * 64).get(value)
        for n in range(limit):
            current = _table(self, -(-(n + 1) // 64) * 64)[n]
            if current == value:
                return n
            if current is not None and n > 8 and abs(current) > 2 * abs(value):
                return None
        return None


@cache
def _table(primitive: Primitive, size: int) -> tuple[int | None, ...]:
    return tuple(primitive.value(n) for n in range(size))


@cache
def _positions(primitive: Primitive, size: int) -> dict[int, int]:
    found: dict[int, int] = {}
    for index, value in enumerate(_table(primitive, size)):
        if value is not None:
            found.setdefault(value, index)
    return found


@cache
def _primes(count: int) -> tuple[int, ...]:
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if flint.fmpz(candidate).is_prime():
            primes.append(candidate)
        candidate += 1
    return tuple(primes)


def prime(n: int) -> int | None:
    """The n-th prime, ``prime(1) = 2`` (python-flint's primality test)."""
    return _primes(-(-n // 256) * 256)[n - 1] if n >= 1 else None


def all_defined(values: Sequence[int | None]) -> list[int] | None:
    """``values`` when every one is defined, else None (a primitive or a term function is
    undefined somewhere among them)."""
    defined = [value for value in values if value is not None]
    return defined if len(defined) == len(values) else None


def digit_sum(n: int) -> int:
    """Sum of the decimal digits of ``|n|``."""
    return sum(int(d) for d in str(abs(n)))


def shifted(argument: str, by: int) -> str:
    """The argument text ``n``, ``n+k`` or ``n-k`` moved by ``by``: ``shifted("n+2", 1) == "n+3"``."""
    offset = int(argument[1:]) if len(argument) > 1 else 0
    return index_text(offset + by)


def index_text(offset: int) -> str:
    """``n``, ``n+3`` or ``n-2``."""
    return "n" if offset == 0 else f"n{offset:+d}"


def _positive(function: Callable[[int], int]) -> Callable[[int], int | None]:
    return lambda n: function(n) if n >= 1 else None


def _power(k: int) -> Primitive:
    return Primitive(f"n^{k}", 3 + int_bits(k), lambda n: n**k, lambda x: f"{_wrap(x)}^{k}")


def _exponential(base: int) -> Primitive:
    written = str(base) if base > 0 else f"({base})"
    return Primitive(
        f"{base}^n",
        3 + int_bits(base),
        lambda n: base**n,
        lambda x: f"{written}^{_wrap(x)}",
        growth="fast",
    )


def _call(name: str) -> Callable[[str], str]:
    return lambda x: f"{name}({x})"


PRIMITIVES: tuple[Primitive, ...] = (
    Primitive("n", 2, lambda n: n, _wrap),
    *(_power(k) for k in range(2, 7)),
    *(_exponential(base) for base in (2, 3, 4, 5, 6, 7, 8, 9, 10, -2, -3)),
    # python-flint 0.9's stub types fac_ui and fib_ui as methods of an fmpz; at run time they are
    # static functions of a machine integer (an fmpz instance call raises TypeError)
    Primitive("n!", 5, lambda n: int(flint.fmpz.fac_ui(n)), lambda x: f"{_wrap(x)}!", "fast"),  # type: ignore[arg-type]
    Primitive("n^n", 6, lambda n: n**n, lambda x: f"{_wrap(x)}^{_wrap(x)}", "fast"),
    Primitive(
        "triangular", 6, lambda n: n * (n + 1) // 2, lambda x: f"{_wrap(x)}({shifted(x, 1)})/2"
    ),
    Primitive("fibonacci", 6, lambda n: int(flint.fmpz.fib_ui(n)), _call("Fibonacci"), "fast"),  # type: ignore[arg-type]
    Primitive(
        "lucas",
        7,
        lambda n: int(flint.fmpz.fib_ui(n + 1) + flint.fmpz.fib_ui(n - 1)) if n >= 1 else 2,  # type: ignore[arg-type]
        _call("Lucas"),
        "fast",
    ),
    Primitive("prime", 6, prime, _call("prime")),
    Primitive("sigma", 8, _positive(lambda n: int(flint.fmpz(n).divisor_sigma(1))), _call("sigma")),
    Primitive("phi", 8, _positive(lambda n: int(flint.fmpz(n).euler_phi())), _call("phi")),
    Primitive("tau", 8, _positive(lambda n: int(flint.fmpz(n).divisor_sigma(0))), _call("tau")),
    Primitive("digit sum", 9, digit_sum, _call("digitsum")),
    Primitive("partitions", 8, lambda n: int(flint.fmpz(n).partitions_p()), _call("p"), "fast"),
    Primitive(
        "catalan",
        8,
        lambda n: int(flint.fmpz.bin_uiui(2 * n, n)) // (n + 1),
        _call("Catalan"),
        "fast",
    ),
    Primitive(
        "central binomial",
        8,
        lambda n: int(flint.fmpz.bin_uiui(2 * n, n)),
        lambda x: f"binomial(2{_wrap(x)}, {x})",
        "fast",
    ),
    Primitive("bell", 9, lambda n: int(flint.fmpz.bell_number(n)), _call("Bell"), "fast"),
)
"""The primitive library, cheapest first."""
