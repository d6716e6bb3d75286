"""The rule search on OEIS held-out items: coverage and precision before/after, and latency.

Usage: python benchmarks/bench_rules.py [--heldout runs/data] [--limit 2048] [--deep-limit 512]

Runs the solver stack three ways on the same seeded sample of held-out items (every term but the
last shown, the last to predict): the linear cascade alone (rule search off), cascade + rule
search at the default effort, and at the deep effort (on the first ``--deep-limit`` items). For
each it reports top-1 accuracy, and coverage and precision of *verified* answers (the solvers'
``details["verified"]``) and of unverified guesses; per-sequence latency p50/p95 on one core.
Writes benchmarks/results/rules.md, rules.json and rules.png (precision of rule answers by
compression bits).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402
from tqdm import tqdm  # noqa: E402

from nextterm.evals.oeis import load_items  # noqa: E402
from nextterm.solvers import SolveConfig, solve  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "cascade only": SolveConfig(rules=False),
    "cascade + rules (default)": SolveConfig(effort="default"),
    "cascade + rules (deep)": SolveConfig(effort="deep"),
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(items, config: SolveConfig, label: str) -> dict:
    rows = []
    for item in tqdm(items, desc=label, leave=False):
        start = time.perf_counter()
        candidates = solve(list(item.prompt), n_terms=1, max_candidates=3, config=config)
        elapsed = 1000 * (time.perf_counter() - start)
        top = candidates[0] if candidates else None
        rows.append(
            {
                "ms": elapsed,
                "terms": len(item.prompt),
                "answered": top is not None,
                "correct": top is not None and top.value == item.answer,
                "verified": top is not None and top.details.get("verified", True),
                "method": top.method if top else None,
                "compression": top.details.get("compression_bits") if top else None,
            }
        )
    verified = [r for r in rows if r["verified"]]
    guesses = [r for r in rows if r["answered"] and not r["verified"]]
    short = [r["ms"] for r in rows if r["terms"] <= 60]
    by_method: dict[str, list[int]] = {}
    for r in rows:
        if r["answered"]:
            counts = by_method.setdefault(r["method"], [0, 0])
            counts[0] += 1
            counts[1] += r["correct"]
    return {
        "items": len(rows),
        "accuracy": sum(r["correct"] for r in rows) / len(rows),
        "verified_coverage": len(verified) / len(rows),
        "verified_precision": sum(r["correct"] for r in verified) / max(1, len(verified)),
        "guess_coverage": len(guesses) / len(rows),
        "guess_precision": sum(r["correct"] for r in guesses) / max(1, len(guesses)),
        "p50_ms": statistics.median(short),
        "p95_ms": _percentile(short, 0.95),
        "max_ms": max(short),
        "by_method": {m: {"answers": a, "right": c} for m, (a, c) in sorted(by_method.items())},
        "rule_rows": [
            (r["compression"], r["correct"], r["verified"]) for r in rows if r["method"] == "rule"
        ],
    }


def _plot(results: dict, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 4))
    bins = [0, 10, 20, 30, 40, 60, 100, 1e9]
    for label, result in results.items():
        rows = result["rule_rows"]
        if not rows:
            continue
        xs, ys = [], []
        for low, high in zip(bins, bins[1:]):
            inside = [correct for bits, correct, _ in rows if low <= bits < high]
            if inside:
                xs.append(f"{low}-{high:g}" if high < 1e9 else f">={low}")
                ys.append(100 * sum(inside) / len(inside))
        axis.plot(xs, ys, marker="o", label=label)
    axis.set_xlabel("compression of the winning rule (bits)")
    axis.set_ylabel("right when a rule answers (%)")
    axis.set_title("Rule answers on OEIS held-out items")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", type=Path, default=ROOT / "runs" / "data")
    parser.add_argument("--limit", type=int, default=2048)
    parser.add_argument("--deep-limit", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    items = load_items(args.heldout, limit=args.limit, seed=args.seed)
    results = {}
    for label, config in CONFIGS.items():
        chosen = items[: args.deep_limit] if config.effort == "deep" else items
        results[label] = run(chosen, config, label)
    args.out.mkdir(parents=True, exist_ok=True)
    _plot(results, args.out / "rules.png")
    machine = f"{platform.machine()}, Python {platform.python_version()}, one process"
    heldout = args.heldout.relative_to(ROOT) if args.heldout.is_relative_to(ROOT) else args.heldout
    command = (
        f"python benchmarks/bench_rules.py --heldout {heldout} --limit {args.limit} "
        f"--deep-limit {args.deep_limit}"
    )
    lines = [
        f"Command: `{command}` ({machine}). Held-out items: every term but the last shown "
        "(the split's decontaminated held-out sequences, seeded sample).",
        "",
        "| solver stack | items | top-1 | verified coverage | verified precision | guess coverage | guess precision | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in results.items():
        lines.append(
            f"| {label} | {r['items']} | {100 * r['accuracy']:.2f}% | {100 * r['verified_coverage']:.2f}% "
            f"| {100 * r['verified_precision']:.2f}% | {100 * r['guess_coverage']:.2f}% "
            f"| {100 * r['guess_precision']:.2f}% | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.0f} |"
        )
    lines += ["", "Top answers by method (answers / right):", ""]
    for label, r in results.items():
        parts = ", ".join(f"{m} {v['answers']}/{v['right']}" for m, v in r["by_method"].items())
        lines.append(f"- {label}: {parts}")
    lines += ["", "![precision by compression](rules.png)", ""]
    (args.out / "rules.md").write_text("\n".join(lines))
    summary = {
        k: {key: v for key, v in r.items() if key != "rule_rows"} for k, r in results.items()
    }
    (args.out / "rules.json").write_text(
        json.dumps({"command": command, "results": summary}, indent=2)
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
