"""Latency of one `nextterm predict` call with the shipped model: load time and per-call times.

    python benchmarks/bench_predict.py [--model DIR] [--lookup-index FILE] [--repeats 30] [--threads 1]

Loads the hybrid predictor once (timed), then times `predict` on a fixed set of sequences (some
the solvers answer, some only the model can), and writes `benchmarks/results/predict.{json,md}`.
Also times the whole command-line process (`nextterm predict ...`) a few times, start-up included.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
SEQUENCES = {
    "fibonacci": [1, 1, 2, 3, 5, 8, 13, 21],
    "squares": [1, 4, 9, 16, 25, 36],
    "catalan": [1, 1, 2, 5, 14, 42, 132, 429],
    "primes": [2, 3, 5, 7, 11, 13, 17, 19, 23],
    "digits of pi": [3, 1, 4, 1, 5, 9, 2, 6, 5, 3],
    "long (200 terms)": [n * n % 97 for n in range(200)],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint directory (default: the shipped model)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lookup-index", help="OEIS lookup index the hybrid consults")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from nextterm.predict import load_predictor, predict

    start = time.perf_counter()
    predictor = load_predictor("hybrid", model=args.model, lookup_index=args.lookup_index)
    load_seconds = time.perf_counter() - start
    rows, every_call = [], []
    for name, terms in SEQUENCES.items():
        predict(terms, predictor=predictor)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            best = predict(terms, predictor=predictor)[0]
            times.append(time.perf_counter() - start)
        every_call += times
        rows.append(
            {
                "sequence": name,
                "median_ms": 1000 * statistics.median(times),
                "max_ms": 1000 * max(times),
                "answer": best.value,
                "method": best.method,
            }
        )
    command = [sys.executable, "-m", "nextterm.cli", "predict", "1,1,2,3,5,8"]
    if args.model:
        command += ["--model", args.model]
    process_times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        process_times.append(time.perf_counter() - start)
    result = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), no GPU",
        "model": args.model or "shipped (nextterm-default)",
        "load_seconds": load_seconds,
        "rows": rows,
        "overall_median_ms": statistics.median(r["median_ms"] for r in rows),
        "p50_ms": 1000 * statistics.median(every_call),
        "p95_ms": 1000 * sorted(every_call)[int(0.95 * len(every_call))],
        "lookup_index": args.lookup_index,
        "ranker": getattr(predictor, "ranker", None) is not None,
        "cli_process_seconds_median": statistics.median(process_times),
        "command": "python " + " ".join(sys.argv),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "predict.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "## `nextterm predict` latency (hybrid predictor, shipped model)",
        "",
        f"Command: `{result['command']}`; machine: {result['machine']}; lookup index: "
        f"{args.lookup_index or 'none'}; learned ranker: {'yes' if result['ranker'] else 'no'}.",
        f"Predictor load: {load_seconds:.2f} s. Whole CLI process (`nextterm predict 1,1,2,3,5,8`, "
        f"imports and load included): median {result['cli_process_seconds_median']:.2f} s of 3.",
        "",
        "| sequence | median ms | max ms | answer | method |",
        "|---|---:|---:|---|---|",
        *(
            f"| {r['sequence']} | {r['median_ms']:.1f} | {r['max_ms']:.1f} | {r['answer']} | {r['method']} |"
            for r in rows
        ),
        "",
        f"Median over sequences of the per-call median: **{result['overall_median_ms']:.1f} ms** "
        f"({args.repeats} calls each after a warm-up); over all calls p50 {result['p50_ms']:.1f} ms, "
        f"p95 {result['p95_ms']:.1f} ms.",
        "",
    ]
    (RESULTS / "predict.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
