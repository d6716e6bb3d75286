"""Linear recurrences with polynomial coefficients: fit exactly, run, and verify.

A recurrence of order ``r`` and degree ``d`` is ``sum_{i=0..r} p_i(n) * a(n-i) = 0`` with
integer polynomials ``p_i`` of degree <= ``d`` (``d = 0``: constant coefficients, C-finite).
It is fitted as the nullspace of the matrix whose row for each ``n`` holds ``n^j * a(n-i)``, then
re-run from its free initial terms to check that it reproduces every given term it was applied to.
``n`` is the index of the term counted from 0 at the first given term (``offset`` shifts it when
the terms are a window of a longer sequence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nextterm.solvers.linalg import PRIME, nullspace, rank_mod_p


@dataclass(frozen=True)
class Recurrence:
    """``sum_i polys[i](n) * a(n-i) = 0`` for every ``n >= start + offset``.

    Attributes:
        polys: ``polys[i][j]`` is the coefficient of ``n^j`` in the polynomial before ``a(n-i)``.
        start: first window index (0-based, relative to the fitted terms) the equation holds for.
        offset: index ``n`` of the first fitted term.
    """

    polys: tuple[tuple[int, ...], ...]
    start: int
    offset: int = 0

    @property
    def order(self) -> int:
        return len(self.polys) - 1

    @property
    def coefficients(self) -> list[int]:
        return [c for poly in self.polys for c in poly]

    def _value(self, poly: Sequence[int], n: int) -> int:
        total = 0
        for coefficient in reversed(poly):
            total = total * n + coefficient
        return total

    def next_value(self, terms: Sequence[int], index: int) -> int | None:
        """The term at window ``index`` computed from the ones before it, or ``None`` when
        the leading polynomial vanishes there or the division is not exact."""
        n = self.offset + index
        lead = self._value(self.polys[0], n)
        if lead == 0:
            return None
        rest = 0
        for lag in range(1, len(self.polys)):
            rest += self._value(self.polys[lag], n) * terms[index - lag]
        quotient, remainder = divmod(-rest, lead)
        return None if remainder else quotient

    def reproduced(self, terms: Sequence[int]) -> list[int] | None:
        """Given terms the recurrence recomputes from earlier ones, or ``None`` if any differs.

        A leading polynomial that vanishes inside the given range also gives ``None``: it would
        let the rule skip a term (``(n - 8)*a(n) = (n - 8)*a(n-1)`` fits anything at n = 8).
        """
        hits = []
        for index in range(self.start, len(terms)):
            if self.next_value(terms, index) != terms[index]:
                return None
            hits.append(terms[index])
        return hits

    def extend(self, terms: Sequence[int], count: int) -> list[int] | None:
        """The next ``count`` terms, or ``None`` if the recurrence cannot give integers."""
        values = list(terms)
        for _ in range(count):
            value = self.next_value(values, len(values))
            if value is None:
                return None
            values.append(value)
        return values[len(terms) :]


def _residue_matrix(
    terms: Sequence[int], order: int, degree: int, start: int, offset: int
) -> np.ndarray:
    """Rows ``[n^j * a(n-i)]`` (``i`` outer, ``j`` inner) for ``n >= start``, modulo the prime."""
    residues = np.array([t % PRIME for t in terms], dtype=np.int64)
    n = np.arange(offset + start, offset + len(terms), dtype=np.int64) % PRIME
    powers = [np.ones_like(n)]
    for _ in range(degree):
        powers.append(powers[-1] * n % PRIME)
    columns: list[np.ndarray] = []
    for lag in range(order + 1):
        shifted = residues[start - lag : len(terms) - lag]
        columns.extend(power * shifted % PRIME for power in powers)
    return np.stack(columns, axis=1)


def may_fit(
    terms: Sequence[int], order: int, degree: int, start: int | None = None, offset: int = 0
) -> bool:
    """False when no recurrence of this shape (or any smaller degree, same order and start)
    can hold: the system has full column rank modulo the prime."""
    start = order if start is None else start
    matrix = _residue_matrix(terms, order, degree, start, offset)
    return rank_mod_p(matrix) < matrix.shape[1]


def fit(
    terms: Sequence[int], order: int, degree: int, start: int | None = None, offset: int = 0
) -> Recurrence | None:
    """The unique recurrence of this shape satisfied by ``terms`` from window index ``start``
    (default ``order``), or ``None`` when there is none or it is not unique."""
    start = order if start is None else start
    if len(terms) - start < (order + 1) * (degree + 1) - 1:
        return None
    if not may_fit(terms, order, degree, start, offset):
        return None
    rows = []
    for index in range(start, len(terms)):
        n = offset + index
        powers = [n**j for j in range(degree + 1)]
        rows.append([p * terms[index - lag] for lag in range(order + 1) for p in powers])
    basis = nullspace(rows)
    if len(basis) != 1:
        return None
    vector = basis[0]
    width = degree + 1
    polys = tuple(tuple(vector[lag * width : (lag + 1) * width]) for lag in range(order + 1))
    if not any(polys[0]) or not any(polys[-1]):
        return None
    return Recurrence(polys=polys, start=start, offset=offset)
