"""Exact solvers: known families solved with the right value and explanation; junk declined."""

from __future__ import annotations

import gzip
import random
from fractions import Fraction
from math import comb, factorial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextterm.solvers import (
    solve,
    solve_cfinite,
    solve_holonomic,
    solve_periodic,
    solve_polynomial,
    solve_rational_gf,
)
from nextterm.solvers.cascade import MIN_TERMS, SolveConfig
from nextterm.solvers.evidence import confidence, term_digits
from nextterm.solvers.formula import closed_form, format_polynomial, format_recurrence
from nextterm.solvers.linalg import linear_complexity_mod_p, nullspace
from nextterm.solvers.recurrence import Recurrence
from nextterm.solvers.transforms import TRANSFORMS, solve_signs, solve_transform

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def verified(terms, n_terms=1):
    """Solver answers that verified themselves (the interpolation fallback excluded)."""
    return [c for c in solve(terms, n_terms) if c.details.get("verified", True)]


def linear(coefficients: list[int], initial: list[int], count: int) -> list[int]:
    """Terms of a(n) = sum_i coefficients[i] * a(n-1-i) from the given initial terms."""
    terms = list(initial)
    while len(terms) < count:
        terms.append(sum(c * terms[-1 - i] for i, c in enumerate(coefficients)))
    return terms


CASCADE = SolveConfig(rules=False)
"""The linear solvers and transforms alone (the rule search has tests of its own)."""


def best(terms: list[int], n_terms: int = 1):
    found = solve(terms, n_terms=n_terms, config=CASCADE)
    assert found, f"no answer for {terms}"
    return found[0]


PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83]


# --- formulas and linear algebra -------------------------------------------------------------


def test_formula_formatting():
    assert format_polynomial([1, 2, 1]) == "n^2 + 2n + 1"
    assert format_polynomial([-3, 0, 0, 2]) == "2n^3 - 3"
    assert format_polynomial([1, -1, -1], "x", ascending=True) == "1 - x - x^2"
    assert format_recurrence([[1], [-1], [-1]]) == "a(n) = a(n-1) + a(n-2)"
    assert format_recurrence([[1, 1], [2, -4]]) == "(n + 1)*a(n) = (4n - 2)*a(n-1)"
    assert format_recurrence([[-1], [2], [-1]], "b") == "b(n) = 2*b(n-1) - b(n-2)"


def test_nullspace_and_berlekamp_massey():
    rows = [[1, 1, -2], [2, 2, -4]]
    basis = nullspace(rows)
    assert len(basis) == 2
    assert all(sum(r * x for r, x in zip(row, vector)) == 0 for row in rows for vector in basis)
    assert nullspace([[1, 0], [0, 1]]) == []
    assert linear_complexity_mod_p([1, 1, 2, 3, 5, 8, 13])[0] == 2
    length, connection = linear_complexity_mod_p([1, 3, 6, 12, 24, 48])
    assert length == 2 and connection[2] == 0  # order-1 rule from n = 2: one exceptional term


def test_recurrence_self_check_rejects_a_changed_term():
    fibonacci = Recurrence(polys=((1,), (-1,), (-1,)), start=2)
    assert fibonacci.reproduced([1, 1, 2, 3, 5, 8]) == [2, 3, 5, 8]
    assert fibonacci.reproduced([1, 1, 2, 3, 5, 9]) is None
    assert fibonacci.extend([1, 1, 2], 3) == [3, 5, 8]


def test_information_is_monotone_and_bounded():
    assert term_digits(0) < term_digits(1) < term_digits(1000)
    assert confidence(0) == 0.0
    assert 0 < confidence(2) < confidence(5) < 1


# --- polynomials -------------------------------------------------------------------------------


@pytest.mark.parametrize("degree", range(7))
def test_polynomials_of_each_degree(degree: int):
    rng = random.Random(degree)
    coefficients = [rng.randint(-9, 9) for _ in range(degree)] + [rng.choice([-3, -1, 2, 5])]
    count = degree + 8 if degree else 12  # a constant run carries ~0.3 digits a term
    terms = [sum(c * n**k for k, c in enumerate(coefficients)) for n in range(count)]
    candidate = solve_polynomial(terms[:-3], n_terms=3)
    assert candidate is not None
    assert list(candidate.continuation) == terms[-3:]
    # fitted with n from 0, shown with n from 1 at the first term
    assert candidate.explanation == closed_form(coefficients)
    assert candidate.explanation.endswith(" (n >= 1)")
    assert list(best(terms[:-3], 3).continuation) == terms[-3:]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=5), st.integers(0, 3))
def test_polynomial_property(coefficients: list[int], extra: int):
    count = len(coefficients) + 4 + extra
    terms = [sum(c * n**k for k, c in enumerate(coefficients)) for n in range(count + 1)]
    candidate = solve_polynomial(terms[:-1])
    if candidate is not None:  # tiny values may be declined, never mispredicted
        assert candidate.value == terms[-1]
    found = solve(terms[:-1])
    assert found[0].value == terms[-1]
    assert all(c.confidence < 0.5 for c in found[1:])  # alternatives stay clearly behind


def test_squares_and_triangular_numbers():
    candidate = best([1, 4, 9, 16, 25], 3)
    assert candidate.continuation == (36, 49, 64)
    assert candidate.explanation == "a(n) = n^2 (n >= 1)"
    assert best([0, 1, 3, 6, 10, 15]).explanation == "a(n) = n*(n - 1)/2 (n >= 1)"
    assert solve_polynomial([1, 3, 6, 10, 15, 21]).explanation == "a(n) = n*(n + 1)/2 (n >= 1)"


# --- C-finite and rational generating functions ------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "nxt", "formula"),
    [
        ([1, 1, 2, 3, 5, 8], 13, "a(n) = a(n-1) + a(n-2), a(1) = 1, a(2) = 1"),
        ([0, 1, 2, 5, 12, 29, 70, 169], 408, "a(n) = 2*a(n-1) + a(n-2), a(1) = 0, a(2) = 1"),
        (
            linear([1, 1, 1], [0, 0, 1], 11),
            149,
            "a(n) = a(n-1) + a(n-2) + a(n-3), a(1) = 0, a(2) = 0, a(3) = 1",
        ),
        (linear([5, -6], [2, 5], 8), 2**8 + 3**8, "a(n) = 5*a(n-1) - 6*a(n-2), a(1) = 2, a(2) = 5"),
        (
            linear([-1, 2], [1, 3], 9),
            linear([-1, 2], [1, 3], 10)[-1],
            "a(n) = -a(n-1) + 2*a(n-2), a(1) = 1, a(2) = 3",
        ),
        (
            linear([0, 0, 0, 0, 0, 0, 0, 1], [1, 2, 3, 4, 5, 6, 7, 9], 19),
            4,
            "a(n) = a(n-8), a(1) = 1, a(2) = 2, a(3) = 3, a(4) = 4, a(5) = 5, a(6) = 6, a(7) = 7, "
            "a(8) = 9",
        ),
    ],
)
def test_constant_coefficient_recurrences(terms, nxt, formula):
    candidate = best(terms)
    assert candidate.value == nxt
    direct = solve_cfinite(terms)
    assert direct is not None and direct.explanation == formula and direct.value == nxt


def test_order_eight_recurrence():
    coefficients = [1, 0, -2, 1, 0, 3, -1, 1]
    terms = linear(coefficients, [1, 0, 2, -1, 3, 1, 0, 2], 22)
    candidate = solve_cfinite(terms[:-1])
    assert candidate is not None and candidate.value == terms[-1]
    assert candidate.details["order"] == 8


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-4, 4), min_size=1, max_size=4),
    st.lists(st.integers(-20, 20), min_size=4, max_size=4),
)
def test_cfinite_property(coefficients: list[int], initial: list[int]):
    terms = linear(coefficients, initial[: len(coefficients)], 2 * len(coefficients) + 6)
    for found in verified(terms[:-1]):
        assert found.value == terms[-1]


def test_rational_generating_function_with_exceptional_first_terms():
    terms = [1, 3, 6, 12, 24, 48, 96]
    assert solve_cfinite(terms) is None
    candidate = solve_rational_gf(terms)
    assert candidate is not None and candidate.value == 192
    assert candidate.explanation == "a(n) = 2*a(n-1) for n >= 3, a(1) = 1, a(2) = 3"
    assert candidate.details["gf"] == "(1 + x)/(1 - 2x)"
    assert best(terms).value == 192


def test_fibonacci_bisection():
    fibonacci = linear([1, 1], [0, 1], 40)
    candidate = best(fibonacci[::2][:9])
    assert candidate.value == fibonacci[18]
    assert candidate.explanation == "a(n) = 3*a(n-1) - a(n-2), a(1) = 0, a(2) = 1"


def test_interleaving_is_solved_by_bisection():
    fibonacci = linear([1, 1], [1, 2], 10)
    terms = [x for pair in zip(range(1, 11), fibonacci) for x in pair][:14]
    candidate = best(terms, 2)
    assert candidate.method == "bisection"
    assert candidate.continuation == (8, 34)
    assert candidate.explanation == (
        "odd positions b(n) = a(2n-1): b(n) = n (n >= 1); "
        "even positions c(n) = a(2n): c(n) = c(n-1) + c(n-2), c(1) = 1, c(2) = 2"
    )


# --- holonomic -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "formula"),
    [
        # n counts from 1 at the first given term: 0! is a(1)
        ([factorial(n) for n in range(10)], "a(n) = (n - 1)*a(n-1), a(1) = 1"),
        ([comb(2 * n, n) // (n + 1) for n in range(12)], "n*a(n) = (4n - 6)*a(n-1), a(1) = 1"),
        ([comb(2 * n, n) for n in range(11)], "(n - 1)*a(n) = (4n - 6)*a(n-1), a(1) = 1"),
        (
            [1, 1, 2, 4, 9, 21, 51, 127, 323, 835, 2188, 5798, 15511, 41835],
            "(n + 1)*a(n) = (2n - 1)*a(n-1) + (3n - 6)*a(n-2), a(1) = 1, a(2) = 1",
        ),
    ],
    ids=["factorials", "catalan", "central-binomial", "motzkin"],
)
def test_holonomic_families(terms, formula):
    candidate = best(terms[:-1])
    assert candidate.value == terms[-1]
    assert candidate.method == "holonomic"
    assert candidate.explanation == formula
    assert solve_holonomic(terms[:-1]).explanation == formula


# --- periodic and transforms -----------------------------------------------------------------


def test_periodic_sequences():
    candidate = best([1, 2, 3, 1, 2, 3, 1, 2], 4)
    assert candidate.continuation == (3, 1, 2, 3)
    assert "periodic with period 3" in candidate.explanation
    eventually = solve_periodic([7, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 2)
    assert eventually is not None and eventually.continuation == (0, 1)
    assert eventually.explanation.startswith("a(n) = a(n-2) for n >= 4: eventually periodic")


def test_ratio_transform():
    terms = [2 ** (n * (n - 1) // 2) for n in range(9)]
    candidate = best(terms[:-1])
    assert candidate.value == terms[-1]
    assert candidate.explanation == "ratios are 1, 2, 4, ...: b(n) = 2*b(n-1), b(1) = 1"


def test_times_n_transform():
    terms = [n * factorial(n) for n in range(8)]
    candidate = best(terms[:-1])
    assert candidate.value == terms[-1]
    assert candidate.explanation == "a(n)/(n - 1) is 1, 2, 6, ...: b(n) = (n - 1)*b(n-1), b(2) = 1"


def test_sign_transform_names_the_pattern():
    terms = [(-1) ** n * (n * n + 1) for n in range(8)]
    candidate = solve_signs(terms, 2, 0, solve_polynomial)
    assert candidate is not None
    assert candidate.continuation == (8 * 8 + 1, -(9 * 9 + 1))
    # (-1)^n with n from 0 is (-1)^(n+1) with n from 1
    assert candidate.explanation == "a(n) = (-1)^(n+1)*b(n): b(n) = n^2 - 2n + 2 (n >= 1)"


def test_differences_transform():
    steps = [1, 5, 2] * 5
    terms = [0]
    for step in steps[:11]:
        terms.append(terms[-1] + step)
    candidate = solve_transform(TRANSFORMS[0], terms, 2, 0, solve_periodic)
    assert candidate is not None
    assert candidate.continuation == (terms[-1] + steps[11], terms[-1] + steps[11] + steps[12])
    assert candidate.explanation.startswith("differences are 1, 5, 2, ...: b(n) = b(n-3)")
    assert best(terms, 2).continuation == candidate.continuation


# --- declines and limits ---------------------------------------------------------------------


def test_primes_are_declined_by_the_linear_solvers():
    for length in (6, 10, 23):
        assert solve(PRIMES[:length], config=CASCADE) == []
    [guess] = solve(
        PRIMES[:4], config=CASCADE
    )  # 2,3,5,7 is a cubic: offered only as a labelled guess
    assert guess.method == "interpolation" and guess.confidence <= 0.1
    assert "unverified" in guess.explanation


def test_random_sequences_are_declined_or_unsure():
    rng = random.Random(7)
    for _ in range(40):
        terms = [rng.randint(-(10**6), 10**6) for _ in range(rng.randint(6, 24))]
        for candidate in solve(terms):
            assert candidate.confidence < 0.5


def test_too_short_inputs_are_declined():
    assert MIN_TERMS >= 3
    assert solve([]) == []
    assert solve([7]) == []
    assert verified([1, 2]) == []
    assert verified([1, 2, 3]) == []


def test_short_and_zero_inputs_never_crash():
    from nextterm.solvers.polynomial import solve_polynomial

    for terms in ([0, 0], [0], [], [5, 5], [0, 0, 0, 0, 7, 0, 0, 0]):
        assert solve_polynomial(terms) is None or solve_polynomial(terms).value == 0
        solve(terms)  # the whole cascade, bisections of tiny parts included


def test_interpolation_fallback_is_a_labelled_guess():
    """k = degree + 1 points determine a polynomial: offered, but never as a verified answer."""
    [linear_guess] = solve([5, 12], config=CASCADE)
    assert (linear_guess.value, linear_guess.confidence) == (19, 0.1)
    [square_guess] = solve([1, 4, 9, 16], config=CASCADE)
    assert square_guess.value == 25 and square_guess.details["verified"] is False
    assert square_guess.confidence == 0.3 and "checked by 1 term only" in square_guess.explanation
    assert solve([0, 0])[0].value == 0


def test_continuation_length_and_candidate_fields():
    candidate = best([1, 1, 2, 3, 5, 8, 13, 21], 5)
    assert candidate.continuation == (34, 55, 89, 144, 233)
    assert candidate.value == 34 and candidate.method == "c-finite"
    assert candidate.evidence >= 2 and 0.5 < candidate.confidence < 1
    assert candidate.details["information_digits"] > 0


def test_long_input_uses_a_window():
    fibonacci = linear([1, 1], [0, 1], 300)
    candidate = best(fibonacci[:-1])
    assert candidate.value == fibonacci[-1]
    assert "checked on the last 60 terms" in candidate.explanation


def test_huge_terms_stay_bounded():
    """Terms over the digit budget are not worked on; within it the window shrinks to fit."""
    terms = [2]
    while len(terms) < 12:
        terms.append(terms[-1] ** 2)  # 2^(2^n): the last term alone has 617 digits
    assert solve(terms, config=SolveConfig(max_digits=500)) == []
    geometric = [
        7 * 10**50 * 3**k for k in range(12)
    ]  # 51-digit terms: 9 of them fit in 500 digits
    found = solve(geometric, config=SolveConfig(max_digits=500))
    assert found[0].value == 7 * 10**50 * 3**12
    assert "checked on the last 9 terms" in found[0].explanation


# --- real OEIS rows -------------------------------------------------------------------------


def test_oeis_rows_are_right_when_answered():
    path = DATA / "oeis" / "stripped.gz"
    if not path.exists():
        pytest.skip("OEIS data not available")
    rows = []
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            terms = [int(x) for x in line.split(" ", 1)[1].strip().strip(",").split(",") if x]
            if len(terms) >= 8:
                rows.append(terms[:31])
            if len(rows) >= 300:
                break
    answered = right = 0
    for terms in rows:
        found = verified(terms[:-1])
        if found:
            answered += 1
            right += found[0].value == terms[-1]
    assert answered >= 60
    assert right / answered >= 0.97


# --- answers written for a itself when a transform's sequence is a polynomial -----------------


@pytest.mark.parametrize(
    ("terms", "formula"),
    [
        ([1, 8, 27, 64, 125], "a(n) = n^3 (n >= 1)"),  # a(n)/n is n^2
        ([0, 2, 12, 36, 80], "a(n) = n*(n - 1)^2 (n >= 1)"),  # a(n)/n is (n - 1)^2
        ([2, 4, 7, 11, 16, 22, 29], "a(n) = a(n-1) + n, a(1) = 2"),  # differences n + 1
        ([1, 2, 6, 24, 120, 720], "a(n) = n*a(n-1), a(1) = 1"),  # ratios n + 1
    ],
    ids=["cubes", "factored", "differences", "ratios"],
)
def test_transform_of_a_polynomial_is_written_for_a(terms, formula):
    found = [solve_transform(t, terms, 1, 0, solve_polynomial) for t in TRANSFORMS]
    assert formula in [c.explanation for c in found if c is not None]


def test_factored_closed_forms():
    assert closed_form([1, 2, 1]) == "a(n) = n^2 (n >= 1)"
    assert closed_form([0, 1, 1]) == "a(n) = n^2 - n (n >= 1)"
    assert closed_form([1, Fraction(3, 2), Fraction(1, 2)]) == "a(n) = n*(n + 1)/2 (n >= 1)"
    assert closed_form([0, 0, 0, 1]) == "a(n) = (n - 1)^3 (n >= 1)"
    assert closed_form([41, 1, 1]) == "a(n) = n^2 - n + 41 (n >= 1)"
    assert closed_form([-1, -2]) == "a(n) = -2n + 1 (n >= 1)"
