"""How often the hybrid's trend and level guards change the first answer on OEIS rows, and whether
the changes were right.

    python benchmarks/bench_trend_guard.py [--rows 300] [--terms 10] [--seed 5]

Rows are drawn at random from the OEIS ``stripped.gz`` (those with more than ``--terms`` terms,
terms below 10^15); each is cut to its first ``--terms`` terms and the default hybrid (shipped
model and ranker, no lookup index) answers with and without the guards
(:func:`nextterm.trend.guard_trend`, :func:`nextterm.trend.guard_level`). Writes
``benchmarks/results/trend-guard.md``.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from pathlib import Path

from nextterm.data.oeis import read_stripped
from nextterm.predict import _forecast_route, load_predictor
from nextterm.trend import guard_level, guard_trend

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "oeis" / "stripped.gz"


def _rows(path: Path, count: int, terms: int, seed: int) -> list[tuple[str, list[int]]]:
    rows = []
    for anum, text in read_stripped(path):
        values = [int(v) for v in text.split(",") if v]
        if len(values) > terms and max(abs(v) for v in values[: terms + 1]) < 10**15:
            rows.append((anum, values[: terms + 1]))
    return random.Random(seed).sample(rows, count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--terms", type=int, default=10)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--oeis", type=Path, default=DATA)
    args = parser.parse_args()
    rows = _rows(args.oeis, args.rows, args.terms, args.seed)
    hybrid = load_predictor("hybrid")
    started = time.perf_counter()
    changed, right_before, right_after, examples = 0, 0, 0, []
    for anum, values in rows:
        prompt, truth = values[:-1], values[-1]
        found = hybrid.candidates_batch([prompt], n_terms=1, top_k=5)
        ranked = _forecast_route(prompt, hybrid._rank([prompt], found, 5)[0], 1, 5)
        guarded = guard_trend(prompt, guard_level(prompt, ranked, 1))
        before = ranked[0].value if ranked else None
        after = guarded[0].value if guarded else None
        right_before += before == truth
        right_after += after == truth
        if before != after:
            changed += 1
            examples.append((anum, prompt, truth, before, after))
    seconds = time.perf_counter() - started
    lines = [
        "# Trend and level guards on OEIS rows",
        "",
        f"Command: `python benchmarks/bench_trend_guard.py --rows {args.rows} --terms {args.terms} "
        f"--seed {args.seed}` ({platform.processor() or platform.machine()}, "
        f"{seconds:.0f} s; default hybrid, no lookup index).",
        "",
        f"{len(rows)} random OEIS rows cut to their first {args.terms} terms; the first answer "
        f"changed on {changed} of them.",
        "",
        "| | top-1 right |",
        "|---|---|",
        f"| without the guards | {right_before} / {len(rows)} |",
        f"| with the guards | {right_after} / {len(rows)} |",
        "",
    ]
    if examples:
        lines += ["| A-number | prompt | true next | before | after |", "|---|---|---|---|---|"]
        for anum, prompt, truth, before, after in examples:
            shown = ", ".join(map(str, prompt))
            lines.append(f"| {anum} | {shown} | {truth} | {before} | {after} |")
        lines.append("")
    out = HERE / "results" / "trend-guard.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
