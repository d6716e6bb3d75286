"""Recurrences beyond the linear ones: ``a(n) = c*a(n-1) + d``, ``+ n^k``, ``n*a(n-1)``,
``a(n-1)*a(n-2)``, sums of the last k terms plus a constant, ``a(n-1) + digitsum(a(n-1))``...

A :class:`Template` is a fixed part plus a few features with coefficients to fit:
``a(n) = fixed + c1*f1 + c2*f2``. The coefficients are solved exactly from the first equations
after the seed terms and must be small rationals; every later term checks them, and the
continuation must stay integral. Features that use ``n`` are tried with ``n`` starting at 0 and
at 1 (one bit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from nextterm.solvers.formula import FIRST_INDEX, initial_terms, offset_note
from nextterm.solvers.linalg import solve
from nextterm.solvers.rules.description import Fit, choice_bits, int_bits, rational_bits
from nextterm.solvers.rules.primitives import all_defined, digit_sum
from nextterm.solvers.rules.writing import linear_text

MAX_DENOMINATOR = 6
"""Largest denominator of a fitted coefficient (``a(n) = 7*a(n-1)/2``)."""

MAX_COEFFICIENT_BITS = 24.0
"""Coefficients costlier than this (about |c| > 2,000) describe noise, not a rule."""

FAMILY = "recurrence"


@dataclass(frozen=True)
class Feature:
    """``value(previous, n)``: a function of the earlier terms and the index of the new one
    (``None`` where it is undefined, e.g. the square root of a non-square)."""

    text: str
    lag: int
    value: Callable[[Sequence[int], int], int | None]
    uses_n: bool = False


def _lag(k: int) -> Feature:
    return Feature(f"a(n-{k})", k, lambda a, n: a[-k])


def _reverse(value: int) -> int:
    sign = -1 if value < 0 else 1
    return sign * int(str(abs(value))[::-1])


def _exact_root(value: int) -> int | None:
    if value < 0:
        return None
    root = math.isqrt(value)
    return root if root * root == value else None


def _digit_product(value: int) -> int:
    product = 1
    for digit in str(abs(value)):
        product *= int(digit)
    return product


ONE = Feature("1", 0, lambda a, n: 1)
A1, A2, A3 = _lag(1), _lag(2), _lag(3)
N = Feature("n", 0, lambda a, n: n, uses_n=True)
N2 = Feature("n^2", 0, lambda a, n: n * n, uses_n=True)
N3 = Feature("n^3", 0, lambda a, n: n**3, uses_n=True)
POW2 = Feature("2^n", 0, lambda a, n: 2**n, uses_n=True)
ALTERNATING = Feature("(-1)^n", 0, lambda a, n: -1 if n % 2 else 1, uses_n=True)
N_A1 = Feature("n*a(n-1)", 1, lambda a, n: n * a[-1], uses_n=True)
A1_A2 = Feature("a(n-1)*a(n-2)", 2, lambda a, n: a[-1] * a[-2])
A1_SQUARED = Feature("a(n-1)^2", 1, lambda a, n: a[-1] * a[-1])
DIGIT_SUM = Feature("digitsum(a(n-1))", 1, lambda a, n: digit_sum(a[-1]))
DIGIT_PRODUCT = Feature("digitproduct(a(n-1))", 1, lambda a, n: _digit_product(a[-1]))
REVERSED = Feature("reverse(a(n-1))", 1, lambda a, n: _reverse(a[-1]))
SQUARE_ROOT = Feature("sqrt(a(n-1))", 1, lambda a, n: _exact_root(a[-1]))


def _sum_of_last(k: int) -> Feature:
    return Feature(" + ".join(f"a(n-{j})" for j in range(1, k + 1)), k, lambda a, n: sum(a[-k:]))


SUM_ALL = Feature("(sum of all earlier terms)", 1, lambda a, n: sum(a))


@dataclass(frozen=True)
class Template:
    """``a(n) = fixed + sum(c_j * fitted_j)``; ``fixed`` may be absent."""

    fitted: tuple[Feature, ...]
    fixed: Feature | None = None

    @property
    def lag(self) -> int:
        features = self.fitted + ((self.fixed,) if self.fixed else ())
        return max(f.lag for f in features)

    @property
    def uses_n(self) -> bool:
        features = self.fitted + ((self.fixed,) if self.fixed else ())
        return any(f.uses_n for f in features)


def _templates() -> tuple[Template, ...]:
    inhomogeneous = (ONE, N, N2, N3, POW2, ALTERNATING)
    found: list[Template] = []
    found += [Template((A1,))] + [Template((A1, extra)) for extra in inhomogeneous]
    found += [Template((A1, N, ONE)), Template((A1, N2, ONE)), Template((A1, POW2, ONE))]
    found += [Template((N_A1,)), Template((N_A1, ONE)), Template((N_A1, A1)), Template((N_A1, N))]
    found += [Template((A1_A2,)), Template((A1_A2, ONE)), Template((A1_A2, A1))]
    found += [Template((A1_SQUARED,)), Template((A1_SQUARED, ONE)), Template((A1_SQUARED, A1))]
    found += [
        Template((A1, A2)),
        Template((A1, A2, ONE)),
        Template((A1, A2, N)),
        Template((A1, A3)),
    ]
    found += [Template((), fixed=_lag(k)) for k in (2, 3, 4)]
    found += [Template((), fixed=_sum_of_last(k)) for k in (3, 4)]
    found += [Template((ONE,), fixed=_sum_of_last(k)) for k in (2, 3, 4)]
    found += [Template((N,), fixed=_sum_of_last(k)) for k in (2, 3)]
    found += [Template((ONE,), fixed=SUM_ALL), Template((A1,), fixed=SUM_ALL)]
    found += [Template((A1, DIGIT_SUM)), Template((A1, DIGIT_PRODUCT)), Template((A1, REVERSED))]
    found += [Template((DIGIT_SUM,)), Template((DIGIT_SUM, ONE)), Template((REVERSED,))]
    found += [Template((SQUARE_ROOT,))]
    return tuple(found)


TEMPLATES = _templates()


def _text(template: Template, coefficients: Sequence[Fraction]) -> str:
    parts: list[tuple[Fraction | int, str]] = []
    if template.fixed is not None:
        parts.append((1, template.fixed.text))
    parts += list(zip(coefficients, (f.text for f in template.fitted)))
    return f"a(n) = {linear_text(parts)}"


def _fit(template: Template, terms: Sequence[int], n_terms: int, start: int) -> Fit | None:
    size, seeds, unknowns = len(terms), template.lag, len(template.fitted)
    if size - seeds < unknowns:
        return None
    fixed = template.fixed

    def known(history: Sequence[int], n: int) -> int | None:
        return fixed.value(history, n) if fixed is not None else 0

    rows, rhs = [], []
    for i in range(seeds, seeds + unknowns):
        history = terms[:i]
        row = all_defined([f.value(history, i + start) for f in template.fitted])
        fixed_part = known(history, i + start)
        if row is None or fixed_part is None:
            return None
        rows.append(row)
        rhs.append(terms[i] - fixed_part)
    coefficients = solve(rows, rhs)
    if coefficients is None or any(c == 0 or c.denominator > MAX_DENOMINATOR for c in coefficients):
        return None
    coefficient_bits = sum(rational_bits(c) for c in coefficients)
    if coefficient_bits > MAX_COEFFICIENT_BITS * unknowns:
        return None

    # integer arithmetic: every coefficient times the common denominator
    scale = math.lcm(*(c.denominator for c in coefficients))
    scaled = [c.numerator * (scale // c.denominator) for c in coefficients]

    def scaled_step(history: Sequence[int], n: int) -> int | None:
        """``scale`` times the rule's next term after ``history``."""
        base = known(history, n)
        values = all_defined([f.value(history, n) for f in template.fitted])
        if base is None or values is None:
            return None
        return scale * base + sum(c * v for c, v in zip(scaled, values))

    for i in range(seeds + unknowns, size):
        if scaled_step(terms[:i], i + start) != scale * terms[i]:
            return None
    history = list(terms)
    for _ in range(n_terms):
        value = scaled_step(history, len(history) + start)
        if value is None or value % scale:
            return None
        history.append(value // scale)
    bits = (
        choice_bits(len(TEMPLATES))
        + coefficient_bits
        + sum(int_bits(t) for t in terms[:seeds])
        + (1.0 if template.uses_n else 0.0)
    )
    # the seed terms name where n starts; without n in the rule, at 1 like every answer
    first = start if template.uses_n else FIRST_INDEX
    text = _text(template, coefficients)
    if seeds:
        text += f", {initial_terms(terms[:seeds], first)}"
    elif template.uses_n:
        text += offset_note(start)
    return Fit(FAMILY, text, bits, tuple(history[size:]), size - seeds - unknowns)


def recurrence_fits(terms: Sequence[int], n_terms: int) -> Iterator[Fit]:
    """Every template that reproduces ``terms`` (with both starts of ``n`` where it matters)."""
    for template in TEMPLATES:
        for start in (0, 1) if template.uses_n else (0,):
            fit = _fit(template, terms, n_terms, start)
            if fit is not None:
                yield fit
