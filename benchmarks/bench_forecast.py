"""The forecast route (nextterm.forecast) on M1-111, beside statsforecast's models, and its detector.

    python benchmarks/bench_forecast.py [--m1 FILE] [--oeis-data runs/data] [--selection]

* M1-111 MAPE of ``forecast_candidates`` alone, through the evaluation protocol of
  ``nextterm.evals.m1`` (its loader, decimal rule and MAPE), beside AutoETS, AutoTheta, Naive and
  SeasonalNaive (``m1.run``) and AutoARIMA, all in the same run. The classical models are given
  each series' true season length; the forecast route is not (it tests for one).
* Interval coverage of the forecast's 80% intervals on the M1 horizons; time per call (the first
  call, which imports statsforecast, separately).
* ``looks_measured`` rates: M1 series (true positives), OEIS validation and held-out prompts
  (false positives; the thresholds were set on M1 and the validation prompts only), synthetic
  noisy series, and named exact sequences.
* ``--selection``: MAPE of every mean combination of the candidate models on M1 histories with
  their last h values held out (where the default combination was chosen) and on the M1 horizons.

Writes benchmarks/results/forecast.md and benchmarks/results/forecast.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import numpy as np

from nextterm.candidates import Candidate
from nextterm.evals import m1
from nextterm.forecast import MODEL_NAMES, MODELS, forecast_candidates, looks_measured

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_M1 = ROOT.parent / "shared" / "data" / "evals" / "m1_111.jsonl"


def _primes(count: int, start: int = 2) -> list[int]:
    found, n = [], start
    while len(found) < count:
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            found.append(n)
        n += 1
    return found


def _fibonacci(count: int, skip: int = 0) -> list[int]:
    a, b, out = 0, 1, []
    for _ in range(count + skip):
        out.append(a)
        a, b = b, a + b
    return out[skip:]


EXACT = {
    "squares": [n * n for n in range(1, 31)],
    "cubes": [n**3 for n in range(1, 31)],
    "triangular": [n * (n + 1) // 2 for n in range(30)],
    "Fibonacci": _fibonacci(30),
    "Fibonacci from F(20)": _fibonacci(20, skip=20),
    "primes": _primes(30),
    "primes from 1000": _primes(30, start=1000),
    "powers of 2": [2**n for n in range(30)],
    "factorials": [1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800],
    "Catalan": [1, 1, 2, 5, 14, 42, 132, 429, 1430, 4862, 16796, 58786, 208012],
    "n^2 + 1000": [n * n + 1000 for n in range(30)],
    "digits of pi": [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4],
}


def _synthetic(seed: int, count: int) -> dict[str, list[list[int]]]:
    """Noisy measured-like series, ``count`` per family, integers as the decimal rule gives them."""
    rng = np.random.default_rng(seed)
    families: dict[str, list[list[int]]] = {}

    def add(name: str, values: np.ndarray) -> None:
        families.setdefault(name, []).append([int(round(v)) for v in values])

    for _ in range(count):
        n = int(rng.integers(12, 121))
        level = 10 ** rng.uniform(2, 6)
        i = np.arange(n)
        add("random walk with drift", level + np.cumsum(rng.normal(level * 0.01, level * 0.03, n)))
        season = 1 + 0.2 * np.sin(2 * np.pi * i / 12 + rng.uniform(0, 6))
        add("monthly seasonal sales", level * (1 + 0.01 * i) * season * rng.normal(1, 0.05, n))
        add("noisy linear trend", level + level * 0.02 * i + rng.normal(0, level * 0.05, n))
        ar = np.zeros(n)
        for t in range(1, n):
            ar[t] = 0.7 * ar[t - 1] + rng.normal(0, 25)
        add("AR(1) temperatures, tenths of a degree, mean 150", 150 + ar)
        add("negative level (-level + noise)", -level + rng.normal(0, level * 0.05, n))
    return families


class ForecastPredictor:
    """``forecast_candidates`` as a predictor for ``m1.run``; keeps each call's time and details."""

    name = "forecast"

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.details: dict[tuple[int, ...], dict] = {}

    def predict_batch(
        self, sequences: list[list[int]], n_terms: int = 1, top_k: int = 5
    ) -> list[list[Candidate]]:
        answers = []
        for terms in sequences:
            start = time.perf_counter()
            candidates = forecast_candidates(terms, n_terms)
            self.seconds.append(time.perf_counter() - start)
            if candidates:
                self.details[tuple(terms)] = candidates[0].details
            answers.append(candidates[:top_k])
        return answers


def _auto_arima(series: list[m1.Series]) -> dict:
    """AutoARIMA with each series' true season length, scored like ``m1.forecast_classical``."""
    from statsforecast.models import AutoARIMA

    per_series, by_period, fallbacks = [], {}, 0
    for item in series:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = AutoARIMA(season_length=item.season_length)
                forecast = [
                    float(v)
                    for v in model.forecast(y=np.asarray(item.history, float), h=item.h)["mean"]
                ]
        except (NotImplementedError, ValueError, ArithmeticError):
            forecast, fallbacks = [float(item.history[-1])] * item.h, fallbacks + 1
        score = m1.mape(item.future, forecast)
        per_series.append(score)
        by_period.setdefault(item.period, []).append(score)
    return {
        "mape": m1.macro_mape(per_series),
        "by_period": {p: m1.macro_mape(v) for p, v in by_period.items()},
        "naive_fallbacks": fallbacks,
    }


def _coverage(series: list[m1.Series], details: dict[tuple[int, ...], dict]) -> float:
    """Share of M1 horizon values (in the decimal rule's integer units) inside the 80% intervals."""
    inside = total = 0
    for item in series:
        integers, d = m1.to_integers(item.history)
        intervals = details[tuple(integers)]["intervals"]
        for (lo, hi), actual in zip(intervals, item.future):
            inside += lo <= float(actual) * 10**d <= hi
            total += 1
    return inside / total


def _rate(sequences: list[list[int]]) -> dict:
    flagged = sum(looks_measured(s) for s in sequences)
    return {"flagged": flagged, "of": len(sequences), "rate": flagged / len(sequences)}


def _prompts(path: Path) -> list[list[int]]:
    return [
        list(json.loads(line)["prompt"]) for line in path.read_text().splitlines() if line.strip()
    ]


def _selection(series: list[m1.Series]) -> list[dict]:
    """MAPE of every mean combination of MODEL_NAMES on the held-out history tails and on the
    M1 horizons (members fitted one at a time; a member that cannot fit counts as drift)."""
    splits = {
        "history_tail": [
            dataclasses.replace(s, history=s.history[: -s.h], future=s.history[-s.h :])
            for s in series
        ],
        "m1_horizon": series,
    }
    members: dict[str, dict[str, list]] = {}
    for split, items in splits.items():
        for name in MODEL_NAMES:
            members.setdefault(split, {})[name] = [
                forecast_candidates(m1.to_integers(s.history)[0], s.h, models=(name,))[
                    0
                ].continuation
                for s in items
            ]
    rows = []
    for size in range(1, len(MODEL_NAMES) + 1):
        for combination in itertools.combinations(MODEL_NAMES, size):
            row = {"models": " + ".join(combination)}
            for split, items in splits.items():
                scores = []
                for i, item in enumerate(items):
                    mean = np.mean([members[split][name][i] for name in combination], axis=0)
                    forecast = m1.from_integers(
                        [int(round(v)) for v in mean], m1.to_integers(item.history)[1]
                    )
                    scores.append(m1.mape(item.future, forecast))
                row[split] = m1.macro_mape(scores)
            rows.append(row)
    return sorted(rows, key=lambda row: row["history_tail"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m1", type=Path, default=DEFAULT_M1)
    parser.add_argument(
        "--oeis-data",
        type=Path,
        default=ROOT / "runs" / "data",
        help="folder with val.jsonl and heldout.jsonl (OEIS prompts)",
    )
    parser.add_argument("--synthetic", type=int, default=100, help="synthetic series per family")
    parser.add_argument(
        "--selection", action="store_true", help="also score every model combination"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    series = m1.load_series(args.m1)
    start = time.perf_counter()
    forecast_candidates(m1.to_integers(series[0].history)[0], series[0].h)  # imports statsforecast
    first_call_s = time.perf_counter() - start

    predictor = ForecastPredictor()
    start = time.perf_counter()
    evaluation = m1.run(predictor, args.m1)
    evaluation_s = time.perf_counter() - start
    summary = evaluation.summary
    models = {
        "forecast_candidates": {"mape": summary["mape"], "by_period": summary["by_period"]},
        "AutoARIMA": _auto_arima(series),
        **{
            name: {k: v for k, v in s.items() if k != "by_step"}
            for name, s in summary["classical"].items()
        },
    }
    milliseconds = [1000 * s for s in predictor.seconds]

    synthetic = _synthetic(seed=0, count=args.synthetic)
    detection = {
        "m1": _rate([m1.to_integers(s.history)[0] for s in series]),
        "oeis_val": _rate(_prompts(args.oeis_data / "val.jsonl")),
        "oeis_heldout": _rate(_prompts(args.oeis_data / "heldout.jsonl")),
        "synthetic": {name: _rate(values) for name, values in synthetic.items()},
        "exact": {name: looks_measured(terms) for name, terms in EXACT.items()},
    }
    start = time.perf_counter()
    for terms in _prompts(args.oeis_data / "val.jsonl"):
        looks_measured(terms)
    detect_us = 1e6 * (time.perf_counter() - start) / detection["oeis_val"]["of"]

    result = {
        "command": " ".join(["python", "benchmarks/bench_forecast.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared), no GPU; "
        f"Python {platform.python_version()}, statsforecast {version('statsforecast')}",
        "default_models": list(MODELS),
        "m1": {
            "data": str(args.m1),
            "series": len(series),
            "models": models,
            "methods": summary["methods"],
            "fallback_steps": summary["fallback_steps"],
            "interval_coverage_80": _coverage(series, predictor.details),
            "seasons_found": {
                str(k): v
                for k, v in sorted(
                    Counter(d["season_length"] for d in predictor.details.values()).items()
                )
            },
            "evaluation_s": evaluation_s,
        },
        "timing": {
            "first_call_s": first_call_s,
            "per_call_ms": {
                "median": statistics.median(milliseconds),
                "p95": float(np.percentile(milliseconds, 95)),
                "max": max(milliseconds),
            },
            "looks_measured_us": detect_us,
        },
        "detection": detection,
    }
    if args.selection:
        result["selection"] = _selection(series)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "forecast.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "forecast.md").write_text(_markdown(result) + "\n")
    print(_markdown(result))


def _markdown(result: dict) -> str:
    m = result["m1"]
    timing = result["timing"]
    detection = result["detection"]
    periods = ("YEARLY", "QUARTERLY", "MONTHLY")
    lines = [
        "## Forecast route for measured series (nextterm.forecast)",
        "",
        f"Command: `{result['command']}`; machine: {result['machine']}.",
        "",
        f"### M1-111 MAPE (lower is better; {m['series']} series, protocol of nextterm.evals.m1)",
        "",
        "`forecast_candidates` alone: mean of "
        + " + ".join(result["default_models"])
        + ", season tested from the terms (found: "
        + ", ".join(f"{k}: {v}" for k, v in m["seasons_found"].items())
        + " series); the statsforecast models get each series' true season length.",
        "",
        "| model | MAPE | " + " | ".join(p.lower() for p in periods) + " |",
        "|---|---|" + "---|" * len(periods),
    ]
    for name, scores in sorted(m["models"].items(), key=lambda item: item[1]["mape"]):
        cells = " | ".join(f"{scores['by_period'].get(p, float('nan')):.2f}" for p in periods)
        lines.append(f"| {name} | {scores['mape']:.2f} | {cells} |")
    per_call = timing["per_call_ms"]
    lines += [
        "",
        f"80% intervals cover {100 * m['interval_coverage_80']:.1f}% of the M1 horizon values.",
        f"Time per `forecast_candidates` call on M1: median {per_call['median']:.0f} ms, "
        f"p95 {per_call['p95']:.0f} ms, max {per_call['max']:.0f} ms; the first call of a process "
        f"takes {timing['first_call_s']:.2f} s (importing statsforecast; this statsforecast has no "
        f"numba JIT to compile). `looks_measured`: {timing['looks_measured_us']:.0f} us per call.",
        "",
        "### looks_measured",
        "",
        "| set | flagged as measured |",
        "|---|---|",
    ]
    labelled = {
        "M1-111 series (true positives)": detection["m1"],
        "OEIS validation prompts (false positives; thresholds set here and on M1)": detection[
            "oeis_val"
        ],
        "OEIS held-out prompts (false positives, untouched)": detection["oeis_heldout"],
        **{f"synthetic: {name}": rate for name, rate in detection["synthetic"].items()},
    }
    for label, rate in labelled.items():
        lines.append(f"| {label} | {rate['flagged']}/{rate['of']} ({100 * rate['rate']:.2f}%) |")
    flagged = [name for name, hit in detection["exact"].items() if hit]
    lines += [
        "",
        f"Named exact sequences flagged: {', '.join(flagged) if flagged else 'none'} "
        f"(of {', '.join(detection['exact'])}).",
    ]
    if "selection" in result:
        lines += [
            "",
            "### Model selection (mean combinations, deseasonalized when a season is found)",
            "",
            "Chosen by MAPE on the M1 histories with their last h values held out; the M1 horizon "
            "column is shown for reference, not used to choose.",
            "",
            "| models | held-out history tail MAPE | M1 horizon MAPE |",
            "|---|---|---|",
        ]
        for row in result["selection"]:
            lines.append(
                f"| {row['models']} | {row['history_tail']:.2f} | {row['m1_horizon']:.2f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
