"""Polynomial continuation: the card's arithmetic / quadratic / cubic / quartic benchmark.

Protocol (the model card's, reproduced exactly; docs/benchmarks.md): for degree 1..4 sample
``p(x) = a x^4 + b x^3 + c x^2 + d x + e`` with integer coefficients uniform in a in [0, 9],
b in [0, 99], c in [0, 999], d in [0, 9999], e in [0, 99999], the coefficients above the degree
being 0 (a leading coefficient may come out 0, as the protocol's uniform ranges allow). For each
prompt length k from degree+1 to 25, 200 samples: the prompt is p(0..k-1), the answer p(k).

Each (degree, k) cell has its own random stream seeded by ``(seed, degree, k)``, so a quick run
with fewer samples scores the first items of the full run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

from nextterm.evals.common import (  # noqa: E402
    BenchmarkResult,
    EvalError,
    EvalItem,
    Predictor,
    accuracy,
    method_counts,
    run_items,
)

DEGREE_NAMES = {1: "arithmetic", 2: "quadratic", 3: "cubic", 4: "quartic"}
COEFFICIENT_MAX = (99_999, 9_999, 999, 99, 9)
"""Largest value of the coefficient of x^0, x^1, ..., x^4 (the smallest is 0)."""


@dataclass
class PolynomialConfig:
    """The protocol's settings; only ``samples`` is usually changed (for quick runs)."""

    samples: int = 200
    seed: int = 0
    degrees: tuple[int, ...] = (1, 2, 3, 4)
    max_k: int = 25

    def check(self) -> None:
        if self.samples < 1:
            raise EvalError(f"samples must be at least 1, got {self.samples}")
        bad = [d for d in self.degrees if d not in DEGREE_NAMES]
        if bad or not self.degrees:
            raise EvalError(f"degrees must be among 1..4, got {list(self.degrees)}")
        if self.max_k < max(self.degrees) + 1:
            raise EvalError(f"max_k must be at least {max(self.degrees) + 1}, got {self.max_k}")


def evaluate_polynomial(coefficients: tuple[int, ...], x: int) -> int:
    """p(x) for coefficients listed from x^0 upwards."""
    return sum(c * x**power for power, c in enumerate(coefficients))


def generate_items(config: PolynomialConfig | None = None) -> list[EvalItem]:
    """All items of the protocol: degree by degree, k by k, ``samples`` each."""
    config = config or PolynomialConfig()
    config.check()
    items = []
    for degree in config.degrees:
        for k in range(degree + 1, config.max_k + 1):
            rng = random.Random(f"{config.seed}-{degree}-{k}")
            for sample in range(config.samples):
                coefficients = tuple(
                    rng.randint(0, COEFFICIENT_MAX[power]) for power in range(degree + 1)
                )
                values = [evaluate_polynomial(coefficients, x) for x in range(k + 1)]
                items.append(
                    EvalItem(
                        id=f"poly-d{degree}-k{k}-{sample}",
                        prompt=tuple(values[:k]),
                        answer=values[k],
                        meta={"degree": degree, "k": k, "coefficients": list(coefficients)},
                    )
                )
    return items


def run(
    predictor: Predictor,
    config: PolynomialConfig | None = None,
    *,
    batch_size: int = 32,
) -> BenchmarkResult:
    """Score ``predictor`` on the protocol; accuracy per degree and per (degree, k)."""
    config = config or PolynomialConfig()
    items = generate_items(config)
    results = run_items(predictor, items, batch_size=batch_size, desc="polynomial")
    per_degree: dict[str, float] = {}
    per_k: dict[str, dict[str, float]] = {}
    for degree in config.degrees:
        name = DEGREE_NAMES[degree]
        of_degree = [r for r in results if r.item.meta["degree"] == degree]
        per_degree[name] = accuracy(of_degree)
        per_k[name] = {
            str(k): accuracy([r for r in of_degree if r.item.meta["k"] == k])
            for k in range(degree + 1, config.max_k + 1)
        }
    summary = {
        "items": len(results),
        "samples_per_k": config.samples,
        "seed": config.seed,
        "accuracy": accuracy(results),
        "per_degree": per_degree,
        "per_k": per_k,
        "methods": method_counts(results),
        "protocol": (
            f"degrees {list(config.degrees)}, k = degree+1..{config.max_k}, "
            f"{config.samples} samples per (degree, k), seed {config.seed}"
        ),
    }
    return BenchmarkResult("polynomial", summary, [r.to_dict() for r in results])


def plot(result: BenchmarkResult, path: Path, label: str = "predictor") -> None:
    """Accuracy against prompt length k, one line per degree."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, by_k in result.summary["per_k"].items():
        ks = [int(k) for k in by_k]
        axes.plot(ks, [100 * by_k[str(k)] for k in ks], marker="o", markersize=3, label=name)
    axes.set_xlabel("prompt length k (terms shown)")
    axes.set_ylabel("exact-match accuracy (%)")
    axes.set_ylim(-2, 102)
    axes.set_title(
        f"Polynomial continuation: {label} ({result.summary['samples_per_k']} samples per k)"
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
