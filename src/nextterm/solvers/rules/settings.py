"""How hard the rule search looks: the ``default`` effort answers in interactive time, ``deep``
tries more shifts, longer polynomials, sums and products of two primitives, and interleavings of
period 3 with the full search inside."""

from __future__ import annotations

from dataclasses import dataclass

from nextterm.errors import NextTermError


@dataclass(frozen=True)
class Effort:
    """Limits of one rule search."""

    name: str
    max_shift: int
    """Largest shift ``s`` tried in ``A*g(n+s) + B`` (a primitive is also located at any shift
    where it reaches the first term)."""
    locate_limit: int
    """How far along each primitive's table the first term is looked for."""
    max_polynomial_degree: int
    pair_forms: bool
    """Also ``g(n) + h(n)`` and ``g(n)*h(n)`` for pairs of primitives."""
    interleave_periods: tuple[int, ...]
    cyclic_periods: tuple[int, ...]
    membership_span: int
    """Most integers a membership rule may test between the first and the next term."""


EFFORTS: dict[str, Effort] = {
    "default": Effort(
        name="default",
        max_shift=6,
        locate_limit=256,
        max_polynomial_degree=6,
        pair_forms=False,
        interleave_periods=(2, 3),
        cyclic_periods=(2, 3),
        membership_span=20_000,
    ),
    "deep": Effort(
        name="deep",
        max_shift=20,
        locate_limit=2048,
        max_polynomial_degree=10,
        pair_forms=True,
        interleave_periods=(2, 3, 4),
        cyclic_periods=(2, 3, 4),
        membership_span=500_000,
    ),
}

EFFORT_NAMES = tuple(EFFORTS)


class EffortError(NextTermError):
    """An effort name that is not one of :data:`EFFORT_NAMES`."""


def effort_named(name: str) -> Effort:
    """The effort called ``name``; a clear error for any other."""
    try:
        return EFFORTS[name]
    except KeyError:
        raise EffortError(
            f"unknown effort {name!r}; choose one of {', '.join(EFFORT_NAMES)}"
        ) from None
