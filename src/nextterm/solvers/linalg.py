"""Exact linear algebra for guessing: nullspaces over Q (python-flint) with modular filters.

Most systems a guesser builds have no solution. Their rank modulo a prime already shows it (the
rank over Q is at least the rank modulo p), so the exact ``fmpz_mat`` nullspace is computed only
for the few systems that survive the modular test. Berlekamp-Massey modulo a prime gives the
linear complexity of a sequence in one pass, which bounds the order of any constant-coefficient
recurrence over Q from below.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import gcd

import flint
import numpy as np

PRIME = 2_147_483_647
"""2^31 - 1: residues multiply without overflow in int64."""


def rank_mod_p(matrix: np.ndarray) -> int:
    """Rank of an int64 matrix of residues modulo :data:`PRIME`."""
    rows, cols = matrix.shape
    if rows == 0 or cols == 0:
        return 0
    return flint.nmod_mat(rows, cols, matrix.ravel().tolist(), PRIME).rank()


def primitive(vector: Sequence[int]) -> list[int]:
    """Divide an integer vector by the gcd of its entries; first nonzero entry made positive."""
    divisor = 0
    for value in vector:
        divisor = gcd(divisor, int(value))
    if divisor == 0:
        return [0] * len(vector)
    result = [int(value) // divisor for value in vector]
    first = next(value for value in result if value)
    return [-value for value in result] if first < 0 else result


def nullspace(rows: Sequence[Sequence[int]]) -> list[list[int]]:
    """Basis of ``{x : rows @ x = 0}`` over Q as primitive integer vectors (empty if trivial)."""
    if not rows:
        return []
    matrix = flint.fmpz_mat([[int(value) for value in row] for row in rows])
    basis, nullity = matrix.nullspace()
    ncols = matrix.ncols()
    return [primitive([int(basis[i, j]) for i in range(ncols)]) for j in range(nullity)]


def solve(rows: Sequence[Sequence[int]], rhs: Sequence[int]) -> list[Fraction] | None:
    """The exact solution over Q of a square integer system ``rows @ x = rhs``, or None when it
    is singular."""
    size = len(rows)
    try:
        solution = flint.fmpq_mat(flint.fmpz_mat([[int(v) for v in row] for row in rows])).solve(
            flint.fmpq_mat(size, 1, [int(r) for r in rhs])
        )
    except ZeroDivisionError:  # flint's word for a singular matrix
        return None
    return [Fraction(int(value.p), int(value.q)) for value in solution.entries()]


def linear_complexity_mod_p(terms: Sequence[int]) -> tuple[int, list[int]]:
    """Berlekamp-Massey modulo :data:`PRIME` (inversion-free form): the shortest ``L`` and a
    ``C`` of length ``L + 1`` with ``C[0] != 0`` and ``sum_i C[i] * a(n-i) = 0 (mod p)`` for
    every ``n >= L``."""
    p = PRIME
    seq = [t % p for t in terms]
    current, previous = [1], [1]
    length, shift, last_discrepancy = 0, 1, 1
    for n in range(len(seq)):
        discrepancy = sum(c * seq[n - i] for i, c in enumerate(current) if i <= n) % p
        if discrepancy == 0:
            shift += 1
            continue
        updated = [last_discrepancy * c % p for c in current]
        updated += [0] * max(0, len(previous) + shift - len(updated))
        for i, coefficient in enumerate(previous):
            updated[i + shift] = (updated[i + shift] - discrepancy * coefficient) % p
        if 2 * length <= n:
            length, previous, last_discrepancy, shift = n + 1 - length, current, discrepancy, 1
        else:
            shift += 1
        current = updated
    current = (current + [0] * (length + 1))[: length + 1]
    return length, current
