"""Time the OEIS lookup index on the full data: build, save, load, and queries.

Usage: python benchmarks/bench_lookup.py [--oeis DIR] [--index build/lookup.idx] [--queries 500]
Writes benchmarks/results/lookup.md and benchmarks/results/lookup.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

from nextterm.lookup import LookupIndex, lookup_candidates

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OEIS = ROOT.parent / "shared" / "data" / "oeis"
NAMED_QUERIES = {
    "5,8,13,21,34": [5, 8, 13, 21, 34],
    "1,2,5,14,42": [1, 2, 5, 14, 42],
    "1,2,6,24,120": [1, 2, 6, 24, 120],
    "1,1,1,1 (very common run)": [1, 1, 1, 1],
    "1,2,3,4,5 (very common run)": [1, 2, 3, 4, 5],
}


def _time_ms(function, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oeis", type=Path, default=DEFAULT_OEIS)
    parser.add_argument("--index", type=Path, default=ROOT / "build" / "lookup.idx")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    start = time.perf_counter()
    index = LookupIndex.build(args.oeis / "stripped.gz", args.oeis / "names.gz")
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    path = index.save(args.index)
    save_s = time.perf_counter() - start
    start = time.perf_counter()
    index = LookupIndex.load(path)
    load_ms = 1000 * (time.perf_counter() - start)

    rng = random.Random(args.seed)
    queries = []
    while len(queries) < args.queries:
        number = rng.randrange(len(index))
        terms = index.terms(number)
        if len(terms) >= 12:
            at = rng.randrange(len(terms) - 8)
            queries.append(terms[at : at + rng.randint(4, 8)])
    first_ms = _time_ms(lambda: index.search(queries[0]), repeats=1)  # cold pages
    per_query = []
    found = 0
    for query in queries:
        start = time.perf_counter()
        matches = index.search(query, limit=10)
        per_query.append(1000 * (time.perf_counter() - start))
        found += bool(matches)
    named = {}
    for label, query in NAMED_QUERIES.items():
        candidates = lookup_candidates(index, query)
        named[label] = {
            "ms": round(_time_ms(lambda q=query: index.search(q, limit=10)), 3),
            "top": [m.anum for m in index.search(query, limit=3)],
            "candidate": candidates[0].explanation[:60] if candidates else None,
        }
    per_query.sort()
    result = {
        "machine": "2-core CPU, no GPU",
        "python": platform.python_version(),
        "sequences": index.meta["sequences"],
        "terms": index.meta["terms"],
        "index_bytes": path.stat().st_size,
        "build_s": round(build_s, 1),
        "save_s": round(save_s, 2),
        "load_ms": round(load_ms, 2),
        "first_query_ms": round(first_ms, 2),
        "queries": len(queries),
        "found_fraction": found / len(queries),
        "query_ms_median": round(statistics.median(per_query), 3),
        "query_ms_p95": round(per_query[int(0.95 * len(per_query)) - 1], 3),
        "query_ms_max": round(per_query[-1], 3),
        "named": named,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lookup.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "## OEIS lookup index (nextterm.lookup)",
        "",
        "Command: `.venv/bin/python benchmarks/bench_lookup.py` on the full "
        f"`stripped.gz` + `names.gz` ({result['sequences']:,} sequences, {result['terms']:,} "
        f"terms); machine: {result['machine']} (shared with other jobs while measured).",
        "",
        "| step | time |",
        "|---|---|",
        f"| build (parse, fingerprint, sort) | {result['build_s']} s |",
        f"| save (one file, {result['index_bytes'] / 2**20:.0f} MiB) | {result['save_s']} s |",
        f"| load (memory-mapped) | {result['load_ms']} ms |",
        f"| first query (cold pages) | {result['first_query_ms']} ms |",
        f"| query, median of {result['queries']} random 4-8 term runs | "
        f"{result['query_ms_median']} ms |",
        f"| query, 95th percentile / max | {result['query_ms_p95']} / "
        f"{result['query_ms_max']} ms |",
        "",
        "| query | median ms | top matches | first candidate |",
        "|---|---|---|---|",
    ]
    for label, row in named.items():
        lines.append(f"| {label} | {row['ms']} | {', '.join(row['top'])} | {row['candidate']} |")
    (args.out / "lookup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
