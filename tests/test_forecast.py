"""The forecast route: measured-series detection and the statistical forecast candidate."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from nextterm.forecast import (
    INTERVAL_WIDENING,
    MAX_CONFIDENCE,
    ForecastError,
    forecast_candidates,
    looks_measured,
    profile,
)


def _primes(count: int, start: int = 2) -> list[int]:
    found, n = [], start
    while len(found) < count:
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            found.append(n)
        n += 1
    return found


def _fibonacci(count: int) -> list[int]:
    out, a, b = [], 1, 1
    for _ in range(count):
        out.append(a)
        a, b = b, a + b
    return out


def _random_walk(seed: int = 0, n: int = 60, level: float = 5000.0) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(round(v)) for v in level + np.cumsum(rng.normal(20, 150, n))]


def _seasonal_sales(seed: int = 1, years: int = 6) -> list[int]:
    rng = np.random.default_rng(seed)
    i = np.arange(12 * years)
    values = (
        2000
        * (1 + 0.005 * i)
        * (1 + 0.3 * np.sin(2 * np.pi * i / 12))
        * rng.normal(1, 0.02, len(i))
    )
    return [int(round(v)) for v in values]


@pytest.mark.parametrize(
    "terms", [_random_walk(), _random_walk(seed=3, level=80.0 * 10), _seasonal_sales()]
)
def test_noisy_series_look_measured(terms):
    assert looks_measured(terms)


def test_negative_measured_level_looks_measured():
    assert looks_measured([-v for v in _random_walk(seed=5)])


@pytest.mark.parametrize(
    "terms",
    [
        [n * n for n in range(1, 31)],
        [n * n + 1000 for n in range(30)],
        _fibonacci(30),
        _fibonacci(45)[25:],
        _primes(30),
        _primes(30, start=1000),
        [2**n for n in range(30)],
        [7] * 20,
        [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4],
    ],
    ids=[
        "squares",
        "squares+1000",
        "fibonacci",
        "fibonacci-window",
        "primes",
        "primes-window",
        "powers-of-2",
        "constant",
        "pi-digits",
    ],
)
def test_exact_sequences_do_not_look_measured(terms):
    assert not looks_measured(terms)


def test_short_series_never_look_measured():
    assert not looks_measured(_random_walk()[:7])


def test_profile_of_huge_terms_is_finite_where_it_can_be():
    terms = [10**400 + k * 10**390 for k in range(10)]
    p = profile(terms)
    assert p.polynomial_order == 1  # a linear sequence: constant first differences
    assert p.relative_step < 1e-9 and p.floor_ratio > 1e9
    assert not looks_measured(terms)


def _interval(explanation: str) -> list[int]:
    found = re.search(r"80% interval \[(-?\d+), (-?\d+)\]$", explanation)
    assert found, explanation
    return [int(found.group(1)), int(found.group(2))]


def test_forecast_is_one_unverified_integer_candidate_with_intervals():
    terms = _random_walk()
    [candidate] = forecast_candidates(terms, n_terms=4)
    assert candidate.method == "forecast"
    assert candidate.details["verified"] is False
    assert len(candidate.continuation) == 4 and all(
        isinstance(v, int) for v in candidate.continuation
    )
    assert candidate.value == candidate.continuation[0]
    assert 0 <= candidate.confidence <= MAX_CONFIDENCE
    assert candidate.explanation.startswith("statistical forecast (ARIMA + CES mean")
    intervals = candidate.details["intervals"]
    assert _interval(candidate.explanation) == intervals[0]
    assert len(intervals) == 4
    widths = []
    for (lo, hi), point in zip(intervals, candidate.continuation):
        assert lo <= point <= hi
        widths.append(hi - lo)
    assert 0 < widths[0] <= widths[-1]  # uncertainty does not shrink with the horizon
    # near the last value: a random walk's forecast moves by about a few steps
    assert abs(candidate.value - terms[-1]) < 3 * 150 * INTERVAL_WIDENING


def test_seasonal_series_forecast_follows_the_season():
    terms = _seasonal_sales()
    [candidate] = forecast_candidates(terms, n_terms=12)
    assert candidate.details["season_length"] == 12
    forecast = np.array(candidate.continuation)
    truth = (
        2000
        * (1 + 0.005 * np.arange(72, 84))
        * (1 + 0.3 * np.sin(2 * np.pi * np.arange(72, 84) / 12))
    )
    assert np.argmax(forecast) == np.argmax(truth) and np.argmin(forecast) == np.argmin(truth)
    assert np.mean(np.abs(forecast - truth) / truth) < 0.05


def test_noisy_trend_is_extrapolated():
    rng = np.random.default_rng(2)
    terms = [int(round(1000 + 25 * i + rng.normal(0, 10))) for i in range(40)]
    [candidate] = forecast_candidates(terms, n_terms=5)
    truth = [1000 + 25 * i for i in range(40, 45)]
    assert all(abs(p - t) < 60 for p, t in zip(candidate.continuation, truth))


def test_negative_values_are_forecast():
    terms = [-v for v in _random_walk(seed=4)]
    [candidate] = forecast_candidates(terms, n_terms=3)
    assert all(v < 0 for v in candidate.continuation)
    lo, hi = candidate.details["intervals"][0]
    assert lo <= candidate.value <= hi < 0


@pytest.mark.parametrize(
    "terms", [[5], [5, 9], [3, 1, 4], [10, 12, 11, 15, 14], [4, 8, 6, 9, 7, 11, 8]]
)
def test_short_series_fall_back_to_drift(terms):
    [candidate] = forecast_candidates(terms, n_terms=3)
    assert len(candidate.continuation) == 3
    assert candidate.details["models"] in (["naive"], ["drift"])
    if len(terms) == 1:
        assert candidate.continuation == (5, 5, 5) and candidate.details["intervals"] is None
    if len(terms) == 2:
        assert candidate.continuation == (13, 17, 21)
        assert candidate.explanation.endswith("too few terms for an interval")


def test_constant_series_forecast_is_the_constant():
    [candidate] = forecast_candidates([42] * 10, n_terms=2)
    assert candidate.continuation == (42, 42)
    assert candidate.details["intervals"] == [[42, 42], [42, 42]]
    assert candidate.confidence == MAX_CONFIDENCE


def test_huge_terms_are_scaled_and_beyond_float_range_refused():
    base = _random_walk(seed=6)
    terms = [v * 10**200 + 12345 for v in base]
    [candidate] = forecast_candidates(terms, n_terms=2)
    assert candidate.details["scale_exponent"] > 0
    scale = 10 ** candidate.details["scale_exponent"]
    assert all(v % scale == 0 for v in candidate.continuation)
    assert abs(candidate.value / 10**200 - base[-1]) < 2000
    assert forecast_candidates([10**400 + k for k in range(10)], n_terms=1) == []


@pytest.mark.parametrize(
    "terms, n_terms, kwargs",
    [
        ([1, 2, 3], 0, {}),
        ([], 1, {}),
        ([1, 2, 3], 1, {"models": ("LSTM",)}),
        ([1, 2, 3], 1, {"models": ()}),
    ],
)
def test_bad_arguments_raise(terms, n_terms, kwargs):
    with pytest.raises(ForecastError):
        forecast_candidates(terms, n_terms, **kwargs)


def test_the_hybrid_forecasts_a_measured_series_and_not_an_exact_one():
    from nextterm.predict import load_predictor

    hybrid = load_predictor("hybrid", with_model=False)
    rng = random.Random(3)
    sales = [int(1000 + 15 * t + rng.gauss(0, 60)) for t in range(30)]
    [forecast, *_] = hybrid.predict_batch([sales], n_terms=3, top_k=3)[0]
    assert forecast.method == "forecast" and len(forecast.continuation) == 3
    assert not forecast.details["verified"]
    squares = hybrid.predict_batch([[n * n for n in range(1, 20)]], top_k=3)[0]
    assert squares[0].value == 400 and all(c.method != "forecast" for c in squares)
