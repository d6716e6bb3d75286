"""Run any set of benchmarks on one predictor and write every output into one folder.

Outputs in ``out_dir``: ``<benchmark>.jsonl`` (one record per item: prompt, answer, prediction,
method, correct, ...), ``m1_classical.jsonl`` (the classical forecasters' per-series forecasts),
PNG plots (``polynomial_accuracy_by_k.png``, ``oeis_accuracy_by_length.png``,
``m1_mape_by_step.png``), ``summary.json`` and ``summary.md`` (the card's tables with our rows).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextterm.evals import iq57, m1, oeis, polynomial, report
from nextterm.evals.common import BenchmarkResult, EvalError, Predictor, write_jsonl
from nextterm.resources import EVAL_FILES, eval_data_file, require_eval_data_file

BENCHMARKS = ("polynomial", "iq57", "oeis", "m1")
PLOTS = {
    "polynomial": ("polynomial_accuracy_by_k.png", polynomial.plot),
    "oeis": ("oeis_accuracy_by_length.png", oeis.plot),
    "m1": ("m1_mape_by_step.png", m1.plot),
}


@dataclass
class SuiteConfig:
    """Where the data is and how each benchmark runs.

    Attributes:
        data_dir: folder with ``evals/iq57.jsonl`` and ``evals/m1_111.jsonl`` (default:
            ``$NEXTTERM_DATA``, else the cache folder; see :func:`nextterm.resources.eval_data_file`).
        heldout: the data build's folder or its ``heldout.jsonl`` (OEIS benchmark).
        oeis_limit: score a seeded sample of this many held-out items (None: all).
        samples: polynomial samples per (degree, k); the protocol's 200 by default.
        seed: seed of the polynomial items and of the OEIS sample.
        batch_size: sequences per ``predict_batch`` call.
        classical: also run the classical M1 forecasters.
    """

    data_dir: Path | None = None
    heldout: Path | None = None
    oeis_limit: int | None = None
    samples: int = 200
    seed: int = 0
    batch_size: int = 32
    classical: bool = True

    def path_of(self, benchmark: str) -> Path | None:
        """The data file a benchmark reads, or None when none is configured."""
        if benchmark in EVAL_FILES:
            return eval_data_file(benchmark, self.data_dir)
        if benchmark == "oeis":
            return oeis.resolve_heldout(self.heldout) if self.heldout else None
        return None


def run_benchmark(name: str, predictor: Predictor, config: SuiteConfig) -> BenchmarkResult:
    """Run one benchmark by name; raises :class:`EvalError` when its data is missing."""
    if name not in BENCHMARKS:
        raise EvalError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    if name == "polynomial":
        settings = polynomial.PolynomialConfig(samples=config.samples, seed=config.seed)
        return polynomial.run(predictor, settings, batch_size=config.batch_size)
    if name in EVAL_FILES:
        path = require_eval_data_file(name, config.data_dir)
    else:
        path = config.path_of(name)
    if path is None:
        raise EvalError("the OEIS benchmark needs the data build's held-out file (--heldout)")
    if not path.is_file():
        raise EvalError(f"{name}: data file not found: {path}")
    if name == "iq57":
        return iq57.run(predictor, path, batch_size=config.batch_size)
    if name == "oeis":
        return oeis.run(
            predictor, path, limit=config.oeis_limit, seed=config.seed, batch_size=config.batch_size
        )
    return m1.run(predictor, path, batch_size=config.batch_size, classical=config.classical)


def run_suite(
    predictor: Predictor,
    benchmarks: list[str],
    out_dir: Path,
    config: SuiteConfig | None = None,
    *,
    label: str | None = None,
    command: str = "",
    machine: str = "",
    skip_missing: bool = False,
) -> dict[str, Any]:
    """Run ``benchmarks`` in order, write all outputs into ``out_dir``, return the summary.

    With ``skip_missing`` a benchmark whose data file is absent is recorded as skipped instead of
    stopping the run (what ``nextterm eval all`` does).
    """
    config = config or SuiteConfig()
    label = label or getattr(predictor, "name", "predictor")
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for name in benchmarks:
        path = config.path_of(name)
        if skip_missing and name != "polynomial" and (path is None or not path.is_file()):
            skipped[name] = "no --heldout given" if path is None else f"no data at {path}"
            continue
        start = time.perf_counter()
        result = run_benchmark(name, predictor, config)
        result.summary["seconds"] = time.perf_counter() - start
        write_jsonl(out_dir / f"{name}.jsonl", result.records)
        for stem, records in result.tables.items():
            write_jsonl(out_dir / f"{stem}.jsonl", records)
        if name in PLOTS:
            filename, plot = PLOTS[name]
            plot(result, out_dir / filename, label=label)
        summaries[name] = result.summary
    summary = {
        "predictor": label,
        "command": command,
        "machine": machine,
        "benchmarks": summaries,
        "skipped": skipped,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    document = report.markdown(label, summaries, skipped, command=command, machine=machine)
    (out_dir / "summary.md").write_text(document, encoding="utf-8")
    return summary
