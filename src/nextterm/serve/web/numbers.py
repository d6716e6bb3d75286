"""The benchmark numbers the page's "how it works" panel shows.

They come from the benchmark results (``benchmarks/results/*.json``, the same files
``benchmarks/RESULTS.md`` is assembled from) and ship with the package as ``numbers.json``, so an
installed server shows them without the checkout. ``python benchmarks/web_numbers.py`` rewrites
the file; a test checks that it still equals what :func:`collect` reads from the results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NUMBERS_FILE = Path(__file__).resolve().parent / "numbers.json"
PREDICTORS = (
    ("evals-hybrid.json", "hybrid (default)"),
    ("evals-solvers.json", "solvers and rule search only"),
    ("evals-model.json", "shipped model only"),
)


def _percent(fraction: float) -> float:
    return round(100 * fraction, 2)


def collect(results: Path) -> dict[str, Any]:
    """The panel's numbers from a ``benchmarks/results`` folder."""
    rows = []
    for name, label in PREDICTORS:
        data = json.loads((results / name).read_text())
        benchmarks = data["benchmarks"]
        rows.append(
            {
                "predictor": label,
                "oeis_heldout_percent": _percent(benchmarks["oeis"]["accuracy"]),
                "oeis_items": benchmarks["oeis"]["items"],
                "iq57_percent": _percent(benchmarks["iq57"]["accuracy"]),
                "m1_mape": round(benchmarks["m1"]["mape"], 2),
                "polynomial_percent": _percent(benchmarks["polynomial"]["accuracy"]),
                "command": data["command"],
                "machine": data["machine"],
            }
        )
    latency = json.loads((results / "predict.json").read_text())
    page = json.loads((results / "web.json").read_text())
    asked = page["by_n"][max(page["by_n"], key=int)]
    return {
        "accuracy": rows,
        "latency": {
            "p50_ms": round(latency["p50_ms"], 1),
            "p95_ms": round(latency["p95_ms"], 1),
            "command": latency["command"],
            "machine": latency["machine"],
        },
        "page": {
            "n": int(max(page["by_n"], key=int)),
            "terms": page["terms_per_input"],
            "p50_ms": round(asked["p50_ms"], 1),
            "p95_ms": round(asked["p95_ms"], 1),
            "command": page["command"],
            "machine": page["machine"],
        },
    }


def write(results: Path, target: Path = NUMBERS_FILE) -> dict[str, Any]:
    """Write :func:`collect`'s numbers to ``target`` (the shipped file by default)."""
    numbers = collect(results)
    target.write_text(json.dumps(numbers, indent=1) + "\n")
    return numbers


def load(path: Path = NUMBERS_FILE) -> dict[str, Any]:
    """The shipped numbers."""
    return json.loads(path.read_text())
