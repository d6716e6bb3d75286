"""Polynomial continuation with the exact solvers: per-degree and per-k accuracy.

Runs the card's protocol (nextterm.evals.polynomial: degrees 1-4, k = degree+1..25, 200 samples
per (degree, k), seed 0) through the solvers predictor and writes
``benchmarks/results/polynomial.md``, ``polynomial.json`` and ``polynomial_accuracy_by_k.png``.

    .venv/bin/python benchmarks/polynomial.py [--samples 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from nextterm.evals import polynomial
from nextterm.evals.report import PUBLISHED_POLYNOMIAL
from nextterm.predict import SolverPredictor

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="samples per (degree, k)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    config = polynomial.PolynomialConfig(samples=args.samples, seed=args.seed)
    start = time.perf_counter()
    result = polynomial.run(SolverPredictor(), config, batch_size=256)
    seconds = time.perf_counter() - start
    summary = {**result.summary, "seconds": seconds}

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "polynomial.json").write_text(json.dumps(summary, indent=2) + "\n")
    polynomial.plot(result, args.out / "polynomial_accuracy_by_k.png", label="solvers")
    names = ("arithmetic", "quadratic", "cubic", "quartic")
    per_degree = summary["per_degree"]
    rows = [
        "| Model | Arithmetic | Quadratic | Cubic | Quartic |",
        "|---|---|---|---|---|",
        "| **nextterm solvers** | "
        + " | ".join(f"{100 * per_degree[n]:.2f}%" for n in names)
        + " |",
        *(
            f"| {name} (card) | " + " | ".join(f"{v:.2f}%" for v in values) + " |"
            for name, values in PUBLISHED_POLYNOMIAL.items()
        ),
    ]
    misses = [
        f"{name} k={k}: {100 * acc:.1f}%"
        for name, by_k in summary["per_k"].items()
        for k, acc in by_k.items()
        if acc < 1.0
    ]
    command = "python " + " ".join(["benchmarks/polynomial.py", *sys.argv[1:]])
    lines = [
        "## Polynomial continuation: exact solvers",
        "",
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), no GPU; "
        f"{summary['items']} items in {seconds:.1f} s.  ",
        f"Protocol: {summary['protocol']}.",
        "",
        *rows,
        "",
        "Prompt lengths k below 100%: " + ("; ".join(misses) if misses else "none") + ".",
        "",
        "Plot: `polynomial_accuracy_by_k.png`; raw numbers: `polynomial.json`.",
        "",
    ]
    (args.out / "polynomial.md").write_text("\n".join(lines))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
