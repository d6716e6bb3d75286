"""Time the OEIS lookup index on the full data (build, save, load, queries) and measure what the
lookup of relatives adds on held-out sequences.

Usage: python benchmarks/bench_lookup.py [--oeis DIR] [--index build/lookup.idx] [--queries 500]
           [--train-index runs/lookup-train.idx] [--heldout runs/data] [--items 2048]
Writes benchmarks/results/lookup.md and benchmarks/results/lookup.json.

The held-out part looks up each held-out prompt (all terms but the last) in the index built from
the training split only (``nextterm lookup --build --allowed runs/data/train_ids.txt``), so the
sequence itself is never there: only its relatives are. "Before" is the whole-prompt match alone
(``relatives=False``), "after" every transform's suffix windows.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections import Counter
from pathlib import Path

from nextterm.evals.oeis import load_items
from nextterm.lookup import LookupIndex, lookup_candidates

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OEIS = ROOT.parent / "shared" / "data" / "oeis"
NAMED_QUERIES = {
    "5,8,13,21,34": [5, 8, 13, 21, 34],
    "1,2,5,14,42": [1, 2, 5, 14, 42],
    "1,2,6,24,120": [1, 2, 6, 24, 120],
    "1,1,1,1 (very common run)": [1, 1, 1, 1],
    "1,2,3,4,5 (very common run)": [1, 2, 3, 4, 5],
    "1,2,4,7,12,20,33,54,88 (Fibonacci - 1)": [1, 2, 4, 7, 12, 20, 33, 54, 88],
    "1,3,8,21,55,144,377,987 (bisection of Fibonacci)": [1, 3, 8, 21, 55, 144, 377, 987],
}
TOP_K = 5
"""Candidates the hybrid takes from the lookup (``LookupPredictor`` default)."""


def _time_ms(function, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def _percentiles(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[max(int(0.95 * len(ordered)) - 1, 0)], 3),
        "max": round(ordered[-1], 3),
    }


def _runs(index: LookupIndex, count: int, low: int, high: int, seed: int) -> list[list[int]]:
    """``count`` random runs of ``low``..``high`` consecutive terms of indexed sequences."""
    rng = random.Random(seed)
    queries = []
    while len(queries) < count:
        terms = index.terms(rng.randrange(len(index)))
        if len(terms) >= high + 4:
            at = rng.randrange(len(terms) - high)
            queries.append(terms[at : at + rng.randint(low, high)])
    return queries


def _heldout(index: LookupIndex, items, relatives: bool) -> dict:
    """Coverage, top-1 and precision of the lookup alone, with per-query times."""
    answered = covered = covered_top = right = 0
    times, by_transform = [], Counter()
    right_by_transform = Counter()
    for item in items:
        start = time.perf_counter()
        candidates = lookup_candidates(index, item.prompt, relatives=relatives)
        times.append(1000 * (time.perf_counter() - start))
        if not candidates:
            continue
        answered += 1
        values = [c.value for c in candidates]
        covered += item.answer in values
        covered_top += item.answer in values[:TOP_K]
        hit = values[0] == item.answer
        right += hit
        transform = candidates[0].details["transform"]
        by_transform[transform] += 1
        right_by_transform[transform] += hit
    n = len(items)
    return {
        "items": n,
        "answered": answered / n,
        "coverage": covered / n,
        f"coverage_top{TOP_K}": covered_top / n,
        "top1": right / n,
        "precision_at_top": right / answered if answered else 0.0,
        "query_ms": _percentiles(times),
        "top_by_transform": {
            t: {"answered": by_transform[t], "right": right_by_transform[t]}
            for t, _ in by_transform.most_common()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oeis", type=Path, default=DEFAULT_OEIS)
    parser.add_argument("--index", type=Path, default=ROOT / "build" / "lookup.idx")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-index", type=Path, default=ROOT / "runs" / "lookup-train.idx")
    parser.add_argument("--heldout", type=Path, default=ROOT / "runs" / "data")
    parser.add_argument("--items", type=int, default=2048)
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

    queries = _runs(index, args.queries, 4, 8, args.seed)
    first_ms = _time_ms(lambda: index.search(queries[0]), repeats=1)  # cold pages
    per_query, found = [], 0
    for query in queries:
        start = time.perf_counter()
        matches = index.search(query, limit=10)
        per_query.append(1000 * (time.perf_counter() - start))
        found += bool(matches)
    relatives_ms = []
    for query in _runs(index, args.queries, 5, 20, args.seed + 1):
        start = time.perf_counter()
        lookup_candidates(index, query)
        relatives_ms.append(1000 * (time.perf_counter() - start))
    named = {}
    for label, query in NAMED_QUERIES.items():
        candidates = lookup_candidates(index, query)
        named[label] = {
            "ms": round(_time_ms(lambda q=query: lookup_candidates(index, q)), 3),
            "top": [m.anum for m in index.search(query, limit=3)],
            "candidate": (
                f"{candidates[0].value}: {candidates[0].explanation[:70]}" if candidates else None
            ),
        }

    train_index = LookupIndex.load(args.train_index)
    items = load_items(args.heldout, limit=args.items, seed=args.seed)
    before = _heldout(train_index, items, relatives=False)
    after = _heldout(train_index, items, relatives=True)

    searched = _percentiles(per_query)
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
        "query_ms_median": searched["median"],
        "query_ms_p95": searched["p95"],
        "query_ms_max": searched["max"],
        "relatives_query_ms": _percentiles(relatives_ms),
        "named": named,
        "heldout": {
            "path": str(args.heldout),
            "index": str(args.train_index),
            "index_sequences": train_index.meta["sequences"],
            "seed": args.seed,
            "before": before,
            "after": after,
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lookup.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "lookup.md").write_text(_markdown(result, args) + "\n")
    print(_markdown(result, args))


def _markdown(result: dict, args: argparse.Namespace) -> str:
    held = result["heldout"]
    before, after = held["before"], held["after"]
    relatives = result["relatives_query_ms"]
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
        f"| `search`, median of {result['queries']} random 4-8 term runs | "
        f"{result['query_ms_median']} ms |",
        f"| `search`, 95th percentile / max | {result['query_ms_p95']} / "
        f"{result['query_ms_max']} ms |",
        f"| `lookup_candidates` with all transforms, median of {result['queries']} random 5-20 "
        f"term runs | {relatives['median']} ms |",
        f"| `lookup_candidates`, 95th percentile / max | {relatives['p95']} / "
        f"{relatives['max']} ms |",
        "",
        "| query | median ms (all transforms) | top `search` matches | first candidate |",
        "|---|---|---|---|",
    ]
    for label, row in result["named"].items():
        lines.append(f"| {label} | {row['ms']} | {', '.join(row['top'])} | {row['candidate']} |")
    lines += [
        "",
        "### Lookup of relatives on held-out sequences",
        "",
        f"{before['items']} held-out items (`load_items({held['path']}, limit={args.items}, "
        f"seed={held['seed']})`: prompt = all terms but the last, answer = the last), looked up "
        f"in `{held['index']}` ({held['index_sequences']:,} training-split sequences: the "
        "held-out sequence is never in it). Before: whole-prompt match only "
        "(`relatives=False`, the former behaviour); after: suffix windows of the prompt and of "
        "every transform. Lookup alone, no solvers or model.",
        "",
        f"| lookup | answers | answer among candidates | among top {TOP_K} | top-1 | "
        "precision at top | median / p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in (("before (whole prompt)", before), ("after (relatives)", after)):
        lines.append(
            f"| {label} | {row['answered']:.2%} | {row['coverage']:.2%} | "
            f"{row[f'coverage_top{TOP_K}']:.2%} | {row['top1']:.2%} | "
            f"{row['precision_at_top']:.2%} | {row['query_ms']['median']} / "
            f"{row['query_ms']['p95']} |"
        )
    lines += [
        "",
        "Transform of the top candidate (after):",
        "",
        "| transform | top candidates | right | precision |",
        "|---|---|---|---|",
    ]
    for transform, row in after["top_by_transform"].items():
        lines.append(
            f"| {transform} | {row['answered']} | {row['right']} | "
            f"{row['right'] / row['answered']:.0%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
