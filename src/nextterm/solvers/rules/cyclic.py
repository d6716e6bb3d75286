"""Cyclic operations: the step from one term to the next changes with ``n mod k``
(``+3, -2``; ``x2, -1``; ``+5, /2``), each step an addition, a multiplication by a small
rational, or an affine map ``x -> p*x + q``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from nextterm.solvers.rules.description import Fit, choice_bits, int_bits, rational_bits

MAX_DENOMINATOR = 6
FAMILY = "cyclic"


@dataclass(frozen=True)
class Step:
    """``x -> factor*x + offset``, with its description cost and how many constants it fitted."""

    factor: Fraction
    offset: Fraction
    bits: float
    fitted: int

    def __call__(self, x: int) -> Fraction:
        return self.factor * x + self.offset

    def text(self) -> str:
        if self.factor == 1:
            return f"{'+' if self.offset >= 0 else '-'}{abs(self.offset)}"
        if self.offset == 0:
            if self.factor.numerator == 1:
                return f"/{self.factor.denominator}"
            return f"x{self.factor}"
        sign = "+" if self.offset >= 0 else "-"
        return f"x{self.factor}{sign}{abs(self.offset)}"


def _cheapest_step(pairs: Sequence[tuple[int, int]]) -> Step | None:
    """The cheapest step that maps every ``x`` to its ``y``: an addition, a multiplication,
    then an affine map (which needs two pairs to be fixed and a third to be checked)."""
    x0, y0 = pairs[0]
    options = [Step(Fraction(1), Fraction(y0 - x0), 1 + int_bits(y0 - x0), 1)]
    if x0 != 0 and y0 != 0:
        factor = Fraction(y0, x0)
        if factor.denominator <= MAX_DENOMINATOR:
            options.append(Step(factor, Fraction(0), 2 + rational_bits(factor), 1))
    if len(pairs) >= 3 and pairs[1][0] != x0:
        x1, y1 = pairs[1]
        factor = Fraction(y1 - y0, x1 - x0)
        offset = y0 - factor * x0
        if (
            factor.denominator <= MAX_DENOMINATOR
            and offset.denominator == 1
            and factor not in (0, 1)
        ):
            options.append(
                Step(factor, offset, 3 + rational_bits(factor) + int_bits(offset.numerator), 2)
            )
    fitting = [step for step in options if all(step(x) == y for x, y in pairs)]
    return min(fitting, key=lambda step: step.bits, default=None)


def cyclic_fits(terms: Sequence[int], n_terms: int, periods: Sequence[int]) -> Iterator[Fit]:
    """For each period ``k``, the cheapest step per residue class of the step index, when the
    steps are not all the same (that is an ordinary recurrence, found elsewhere)."""
    size = len(terms)
    for period in periods:
        if size - 1 < 2 * period - 1:
            continue
        steps = []
        for residue in range(period):
            pairs = [(terms[i], terms[i + 1]) for i in range(residue, size - 1, period)]
            step = _cheapest_step(pairs)
            if step is None:
                break
            steps.append((step, len(pairs)))
        if len(steps) < period or len({(s.factor, s.offset) for s, _ in steps}) == 1:
            continue
        history: list[int] = list(terms)
        for i in range(size - 1, size - 1 + n_terms):
            value = steps[i % period][0](history[-1])
            if value.denominator != 1:
                break
            history.append(int(value))
        if len(history) < size + n_terms:
            continue
        bits = choice_bits(len(periods)) + int_bits(terms[0]) + sum(s.bits for s, _ in steps)
        spare = sum(count - s.fitted for s, count in steps)  # the pattern is confirmed as a whole
        text = "cycle of operations: " + ", ".join(s.text() for s, _ in steps)
        yield Fit(FAMILY, text, bits, tuple(history[size:]), spare)
