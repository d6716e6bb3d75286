"""Statistical forecasts for measured quantities (sales, temperatures) that follow no exact rule.

Integer-sequence answers come from exact rules; a measured series (a quantity read off the world,
written as integers, e.g. by the M1 evaluation's decimal rule) has none, and its sensible
continuation is a statistical forecast with an interval. Two public functions:

* :func:`looks_measured` says whether terms look like such a series, from properties of the terms
  alone (:func:`profile`): enough terms; a level away from zero at the start and throughout,
  compared with the steps; steps that are a fraction of the level; no constant differences of
  order <= 4; and either up-and-down movement or, for a monotone series, irregular steps. The
  thresholds were measured on M1-111 against OEIS validation prompts (benchmarks/bench_forecast.py
  reports the rates, also on held-out OEIS prompts and on synthetic noisy series).
* :func:`forecast_candidates` gives the forecast as one unverified :class:`Candidate`: the mean
  of statsforecast's AutoARIMA and AutoCES, fitted on the series deseasonalized by a classical
  decomposition (multiplicative for positive terms, else additive) when an autocorrelation test
  finds period 12 or 4 (the terms carry no period). The combination was chosen among mean
  combinations of ARIMA, CES, ETS, Theta and DOTM by MAPE on M1 histories with their last h
  values held out, not on the M1 test horizon (``bench_forecast.py --selection``). The interval
  is the ARIMA interval's spread around the combined mean, widened by :data:`INTERVAL_WIDENING`
  (measured on the same held-out values).

statsforecast works in floats: terms up to the float range are scaled by a power of ten to at
most 15 digits and the forecast scaled back (trailing digits are then zeros); beyond the float
range no forecast is given.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from nextterm.candidates import Candidate
from nextterm.errors import NextTermError

METHOD = "forecast"
LEVEL = 80
# Model intervals ignore model uncertainty: on M1 histories (last h values held out) the members'
# 80% bounds around the combined mean covered 61% of the values; 1.75 times their width covered
# 81% there and on the M1 test horizon.
INTERVAL_WIDENING = 1.75
# A forecast is never evidence of an exact rule: its confidence stays below the solvers' answers
# even when the interval is narrow enough to make one integer likely.
MAX_CONFIDENCE = 0.05
MODEL_NAMES = ("ARIMA", "CES", "ETS", "Theta", "DOTM")  # statsforecast's Auto* models, DOTM: theta
MODELS = ("ARIMA", "CES")  # the default combination: see the module docstring
# CES's intervals are simulated (5000 paths: 0.1 s, 5 s on 9 terms): its point forecast is used,
# the interval comes from the other members
SIMULATED_INTERVALS = frozenset({"CES"})
MIN_MODEL_TERMS = 8  # below this, ARIMA/CES fits fail or are meaningless: drift instead
SEASON_PERIODS = (12, 4)
SIGNIFICANT_DIGITS = 15  # floats hold 15 significant decimal digits exactly
MAX_FLOAT_BITS = 1023  # terms of more bits are beyond the float range

# looks_measured thresholds (see the module docstring and benchmarks/results/forecast.md).
MIN_MEASURED_TERMS = 8
MIN_LEAD = 10
MIN_FLOOR_RATIO = 0.3
MAX_RELATIVE_STEP = 0.5
MIN_TURNING = 0.05
MONOTONE_FLOOR_RATIO = 10.0
MONOTONE_DISTINCT_STEPS = 0.75
MAX_POLYNOMIAL_ORDER = 4


class ForecastError(NextTermError):
    """A forecast was asked for with unusable arguments."""


@dataclass(frozen=True)
class SeriesProfile:
    """The properties of a series that :func:`looks_measured` decides from.

    Attributes:
        n_terms: number of terms.
        lead: the smallest absolute value among the first three terms.
        floor_ratio: smallest absolute term / median absolute step (how far the series stays
            from zero compared with how much it moves; ``inf`` when the median step is 0).
        relative_step: median of |a(i+1) - a(i)| / max(|a(i)|, 1).
        turning: share of sign changes between consecutive nonzero steps.
        distinct_steps: share of distinct values among the steps.
        polynomial_order: the lowest order k <= 4 whose k-th differences are constant (0: a
            constant series), or ``None``.
    """

    n_terms: int
    lead: int
    floor_ratio: float
    relative_step: float
    turning: float
    distinct_steps: float
    polynomial_order: int | None


def _ratio(numerator: int, denominator: int) -> float:
    """``numerator / denominator`` for integers of any size (``inf`` past the float range)."""
    if denominator == 0:
        return math.inf
    try:
        return numerator / denominator
    except OverflowError:
        return math.inf


def _differences(terms: Sequence[int]) -> list[int]:
    return [b - a for a, b in zip(terms, terms[1:])]


def _polynomial_order(terms: Sequence[int]) -> int | None:
    row = list(terms)
    for order in range(MAX_POLYNOMIAL_ORDER + 1):
        if len(row) < 3:
            return None
        if len(set(row)) == 1:
            return order
        row = _differences(row)
    return None


def profile(terms: Sequence[int]) -> SeriesProfile:
    """Measure the properties :func:`looks_measured` uses (at least two terms)."""
    if len(terms) < 2:
        raise ForecastError(f"a series profile needs at least 2 terms, got {len(terms)}")
    steps = _differences(terms)
    median_step = statistics.median_low(abs(step) for step in steps)  # an integer, of any size
    moves = [step for step in steps if step]
    turns = sum((a > 0) != (b > 0) for a, b in zip(moves, moves[1:]))
    relative = statistics.median(_ratio(abs(step), max(abs(a), 1)) for a, step in zip(terms, steps))
    return SeriesProfile(
        n_terms=len(terms),
        lead=min(abs(t) for t in terms[:3]),
        floor_ratio=_ratio(min(abs(t) for t in terms), median_step),
        relative_step=relative,
        turning=turns / (len(moves) - 1) if len(moves) > 1 else 0.0,
        distinct_steps=len(set(steps)) / len(steps),
        polynomial_order=_polynomial_order(terms),
    )


def looks_measured(terms: Sequence[int]) -> bool:
    """Whether ``terms`` look like a noisy measured quantity rather than an exact sequence."""
    if len(terms) < MIN_MEASURED_TERMS:
        return False
    p = profile(terms)
    moves = p.turning >= MIN_TURNING or (
        p.floor_ratio >= MONOTONE_FLOOR_RATIO and p.distinct_steps >= MONOTONE_DISTINCT_STEPS
    )
    return (
        p.polynomial_order is None
        and p.lead >= MIN_LEAD
        and p.floor_ratio >= MIN_FLOOR_RATIO
        and p.relative_step <= MAX_RELATIVE_STEP
        and moves
    )


def _autocorrelation(x: np.ndarray, lag: int) -> float:
    centred = x - x.mean()
    power = float(centred @ centred)
    return float(centred[:-lag] @ centred[lag:]) / power if power else 0.0


def seasonal_period(y: np.ndarray) -> int:
    """The period in :data:`SEASON_PERIODS` with the strongest significant (90%, one-sided)
    positive autocorrelation, tested on the first differences of series longer than 20 terms
    (a trend makes every lag of the levels correlated), else 1."""
    x = np.diff(y) if len(y) > 20 else y
    best, strongest = 1, 0.0
    for period in SEASON_PERIODS:
        if len(x) < 3 * period:
            continue
        acf = [_autocorrelation(x, lag) for lag in range(1, period + 1)]
        limit = 1.645 * math.sqrt((1 + 2 * sum(r * r for r in acf[:-1])) / len(x))
        if acf[-1] > limit and acf[-1] > strongest:
            best, strongest = period, acf[-1]
    return best


def _seasonal_indices(y: np.ndarray, period: int, multiplicative: bool) -> np.ndarray:
    """Classical decomposition: the seasonal index of each position mod ``period``."""
    if period % 2 == 0:  # a centred moving average of an even period: half weights at the ends
        weights = np.r_[0.5, np.ones(period - 1), 0.5] / period
    else:
        weights = np.ones(period) / period
    trend = np.convolve(y, weights, mode="valid")
    offset = (len(weights) - 1) // 2
    window = y[offset : offset + len(trend)]
    detrended = window / trend if multiplicative else window - trend
    phase = (np.arange(len(trend)) + offset) % period
    indices = np.array([detrended[phase == j].mean() for j in range(period)])
    return indices / indices.mean() if multiplicative else indices - indices.mean()


@dataclass(frozen=True)
class _Forecast:
    """A forecast in the scaled float units: point, 80% bounds (``None``: no interval), the
    models behind it and the season length it used."""

    mean: np.ndarray
    lo: np.ndarray | None
    hi: np.ndarray | None
    models: tuple[str, ...]
    season_length: int


@dataclass(frozen=True)
class _Member:
    """One fitted model's point forecast and, where it has one, its 80% bounds."""

    name: str
    mean: np.ndarray
    bounds: np.ndarray | None


def _model(name: str):
    from statsforecast.models import (
        AutoARIMA,
        AutoCES,
        AutoETS,
        AutoTheta,
        DynamicOptimizedTheta,
        RandomWalkWithDrift,
    )

    factories = {
        # orders up to 3: the same held-out M1 MAPE as the default 5, in 60% of the time
        "ARIMA": lambda: AutoARIMA(max_p=3, max_q=3),
        "CES": AutoCES,
        "ETS": AutoETS,
        "Theta": AutoTheta,
        "DOTM": DynamicOptimizedTheta,
        "drift": RandomWalkWithDrift,
    }
    return factories[name]()


def _fit(names: Sequence[str], y: np.ndarray, h: int) -> list[_Member]:
    """Every model of ``names`` that fits ``y``, with its forecast of ``h`` steps."""
    members = []
    for name in names:
        interval = name not in SIMULATED_INTERVALS
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = _model(name).forecast(y=y, h=h, level=[LEVEL] if interval else None)
        except (
            ValueError,
            ArithmeticError,
            NotImplementedError,
            IndexError,
            np.linalg.LinAlgError,
        ):
            continue
        except Exception as error:  # statsforecast raises a bare Exception when no model fits
            if "no model" not in str(error):
                raise
            continue
        mean = np.asarray(out["mean"], dtype=float)
        bounds = None
        if interval:
            bounds = np.array(
                [np.asarray(out[f"{side}-{LEVEL}"], dtype=float) for side in ("lo", "hi")]
            )
        if np.isfinite(mean).all() and (bounds is None or np.isfinite(bounds).all()):
            members.append(_Member(name, mean, bounds))
    return members


def _statistical_forecast(y: np.ndarray, h: int, models: Sequence[str]) -> _Forecast:
    """The combination forecast in the scaled float units of ``y``."""
    if len(y) < 3:  # drift from one step (or none): no spread to make an interval from
        step = (y[-1] - y[0]) / max(len(y) - 1, 1)
        name = "drift" if len(y) > 1 else "naive"
        return _Forecast(y[-1] + step * np.arange(1, h + 1), None, None, (name,), 1)
    period = seasonal_period(y) if len(y) >= MIN_MODEL_TERMS else 1
    multiplicative = bool((y > 0).all())
    future = np.ones(h) if multiplicative else np.zeros(h)
    fitted = y
    if period > 1:
        indices = _seasonal_indices(y, period, multiplicative)
        positions = np.arange(len(y)) % period
        fitted = y / indices[positions] if multiplicative else y - indices[positions]
        future = indices[np.arange(len(y), len(y) + h) % period]
    members = _fit(models, fitted, h) if len(y) >= MIN_MODEL_TERMS else []
    if not members:
        members = _fit(["drift"], fitted, h)
    mean = np.mean([m.mean for m in members], axis=0)
    # the spread of the members that give one analytically, around the combined mean
    spread = [m.bounds - m.mean for m in members if m.bounds is not None] or [
        m.bounds - m.mean for m in _fit(["drift"], fitted, h)
    ]
    lo, hi = mean + INTERVAL_WIDENING * np.mean(spread, axis=0)
    if multiplicative:
        mean, lo, hi = mean * future, lo * future, hi * future
    else:
        mean, lo, hi = mean + future, lo + future, hi + future
    return _Forecast(mean, lo, hi, tuple(m.name for m in members), period)


def _integer_mass(value: int, mean: float, lo: float, hi: float) -> float:
    """Probability of the integer ``value`` under the normal law whose central 80% is [lo, hi]."""
    sigma = (hi - lo) / (2 * NormalDist().inv_cdf(0.5 + LEVEL / 200))
    if sigma <= 0:
        return 1.0
    law = NormalDist(mean, sigma)
    return law.cdf(value + 0.5) - law.cdf(value - 0.5)


def forecast_candidates(
    terms: Sequence[int], n_terms: int = 1, *, models: Sequence[str] = MODELS
) -> list[Candidate]:
    """The statistical forecast of the next ``n_terms`` terms as one unverified candidate.

    ``models`` (names from :data:`MODEL_NAMES`) are fitted and their forecasts averaged; a model
    that cannot fit the series is left out, and drift stands in when none can.

    ``details`` hold the integer 80% interval of every step (``intervals``, ``None`` from fewer
    than three terms), the models that fitted, the season length found and the power of ten the
    terms were divided by. The confidence is the forecast's own probability of the first integer
    (a normal law matching the interval), at most :data:`MAX_CONFIDENCE`. No candidate for terms
    beyond the float range.
    """
    if n_terms < 1:
        raise ForecastError(f"n_terms must be at least 1, got {n_terms}")
    if not terms:
        raise ForecastError("a forecast needs at least one term")
    unknown = [name for name in models if name not in MODEL_NAMES]
    if unknown or not models:
        raise ForecastError(f"unknown or no models {unknown}; choose from {', '.join(MODEL_NAMES)}")
    largest = max(abs(int(t)) for t in terms)
    if largest.bit_length() > MAX_FLOAT_BITS:
        return []
    exponent = max(0, len(str(largest)) - SIGNIFICANT_DIGITS)
    scale = 10**exponent
    y = np.array([int(t) / scale for t in terms], dtype=float)
    if len(terms) > 1 and len(set(terms)) == 1:
        flat = np.full(n_terms, y[0])
        forecast = _Forecast(flat, flat, flat, ("constant",), 1)
    else:
        forecast = _statistical_forecast(y, n_terms, models)
    points = [round(v) * scale for v in forecast.mean]
    intervals = None
    if forecast.lo is not None:
        intervals = [
            [min(math.floor(lo) * scale, p), max(math.ceil(hi) * scale, p)]
            for lo, hi, p in zip(forecast.lo, forecast.hi, points)
        ]
    label = " + ".join(forecast.models) + (" mean" if len(forecast.models) > 1 else "")
    if forecast.season_length > 1:
        label += f", season {forecast.season_length}"
    if intervals is None:
        confidence, tail = 0.0, "too few terms for an interval"
    else:
        first = (float(forecast.mean[0]), float(forecast.lo[0]), float(forecast.hi[0]))
        confidence = _integer_mass(points[0], *(v * scale for v in first))
        tail = f"{LEVEL}% interval [{intervals[0][0]}, {intervals[0][1]}]"
    return [
        Candidate(
            value=points[0],
            confidence=min(confidence, MAX_CONFIDENCE),
            method=METHOD,
            explanation=f"statistical forecast ({label}); {tail}",
            continuation=tuple(points),
            details={
                "verified": False,
                "models": list(forecast.models),
                "season_length": forecast.season_length,
                "level": LEVEL,
                "intervals": intervals,
                "scale_exponent": exponent,
            },
        )
    ]
