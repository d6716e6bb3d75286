"""Fit the hybrid's confidence calibration on the validation split and report it on held-out items.

Every source (solvers, OEIS lookup built from the training split, model) is run once on the
validation items (``val.jsonl``) and on a seeded sample of the held-out items; the calibration is
fitted on the validation candidates and written to ``<model dir>/calibration.json`` (or ``--out``),
where ``load_predictor`` finds it. The report (``benchmarks/results/calibration.{md,json,png}``)
gives coverage and accuracy per source, the hybrid's accuracy before and after calibration, the
reliability tables and expected calibration errors (validation = fit, held-out = test), and the
coverage/accuracy trade-off of declining below a confidence threshold.

    python benchmarks/calibrate.py --model runs/default-model/final_latest --data runs/data \\
        --lookup-index runs/lookup-train.idx

The fit also sees short prefixes (first 4-8 terms) of validation sequences (``--short-prefixes``)
and of synthetic rule-made sequences (``--puzzle-prefixes``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

from nextterm.calibration import (
    Calibration,
    expected_calibration_error,
    plot_reliability,
    reliability_table,
    source_of,
)
from nextterm.candidates import Candidate
from nextterm.evals.common import EvalItem, predict_in_batches
from nextterm.evals.oeis import load_items
from nextterm.predict import (
    CALIBRATION_FILE,
    LookupPredictor,
    ModelPredictor,
    SolverPredictor,
    rank_candidates,
)

SOURCES = ("solvers", "lookup", "model")
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, help="checkpoint directory (omit: solvers and lookup only)"
    )
    parser.add_argument("--data", type=Path, default=Path("runs/data"), help="data build directory")
    parser.add_argument(
        "--lookup-index", type=Path, help="lookup index built from the training split"
    )
    parser.add_argument(
        "--out", type=Path, help="where calibration.json goes (default: the model dir)"
    )
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--name", default="calibration", help="results file stem")
    parser.add_argument("--val-limit", type=int, help="seeded sample of the validation items")
    parser.add_argument(
        "--test-limit", type=int, default=2048, help="seeded sample of held-out items"
    )
    parser.add_argument(
        "--short-prefixes",
        type=int,
        default=1000,
        help="also fit on this many short prefixes (4-8 terms) of validation sequences, the inputs "
        "users often type (0 disables)",
    )
    parser.add_argument(
        "--puzzle-prefixes",
        type=int,
        default=1000,
        help="also fit on this many short prefixes (4-8 terms) of rule-made sequences (the data "
        "build's synthetic families: polynomials, recurrences, interleavings...), the puzzles "
        "people type (0 disables)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", help="torch device for the model (default: CUDA if available)")
    args = parser.parse_args(argv)
    if args.model is None and args.out is None:
        parser.error("give --model DIR or --out DIR (where calibration.json goes)")
    if args.model is None and args.lookup_index is None:
        parser.error("give --model and/or --lookup-index: the solvers alone need no calibration")
    return args


def build_sources(args: argparse.Namespace) -> tuple[dict, dict]:
    """The predictors of every source, and the checkpoint's training record (step, tokens)."""
    sources: dict = {"solvers": SolverPredictor()}
    checkpoint: dict = {}
    if args.lookup_index is not None:
        from nextterm.lookup import LookupIndex

        sources["lookup"] = LookupPredictor(LookupIndex.load(args.lookup_index))
    if args.model is not None:
        import torch

        from nextterm.engine import Engine
        from nextterm.models.checkpoint import read_meta

        torch.set_num_threads(args.threads)
        meta = read_meta(args.model)
        checkpoint = {key: meta[key] for key in ("kind", "step", "tokens_trained") if key in meta}
        engine = Engine.from_pretrained(args.model, device=args.device)
        sources["model"] = ModelPredictor(engine, beam_width=args.beam_width, name="model")
    return sources, checkpoint


def collect(sources: dict, items: list[EvalItem], args: argparse.Namespace, split: str) -> dict:
    """Each source's ranked candidates for every item, and its run time."""
    prompts = [item.prompt for item in items]
    out = {}
    for name, predictor in sources.items():
        started = time.perf_counter()
        out[name] = predict_in_batches(
            predictor, prompts, top_k=args.top_k, batch_size=args.batch_size, desc=f"{split} {name}"
        )
        out[f"{name}_seconds"] = round(time.perf_counter() - started, 2)
    return out


def hybrid_rankings(
    found: dict, names: list[str], top_k: int, calibration: Calibration | None
) -> list:
    others = [name for name in names if name != "solvers"]
    return [
        rank_candidates(
            found["solvers"][i], [c for name in others for c in found[name][i]], top_k, calibration
        )
        for i in range(len(found["solvers"]))
    ]


def top1(rankings: list[list[Candidate]], items: list[EvalItem]) -> tuple[list[float], list[bool]]:
    """Top candidate's confidence and correctness for the answered items."""
    conf, right = [], []
    for ranked, item in zip(rankings, items):
        if ranked:
            conf.append(ranked[0].confidence)
            right.append(ranked[0].value == item.answer)
    return conf, right


def score(rankings: list[list[Candidate]], items: list[EvalItem]) -> dict:
    answered = sum(1 for ranked in rankings if ranked)
    correct = sum(
        1 for ranked, item in zip(rankings, items) if ranked and ranked[0].value == item.answer
    )
    in_top_k = sum(
        1 for ranked, item in zip(rankings, items) if item.answer in {c.value for c in ranked}
    )
    n = len(items)
    return {
        "items": n,
        "coverage": answered / n,
        "accuracy": correct / n,
        "precision": correct / answered if answered else 0.0,
        "top_k_accuracy": in_top_k / n,
        "correct": correct,
        "answered": answered,
    }


def calibration_stats(conf: list[float], right: list[bool], bins: int) -> dict:
    return {
        "n": len(conf),
        "ece": expected_calibration_error(conf, right, bins),
        "table": reliability_table(conf, right, bins),
    }


def per_source_pairs(
    found: dict, names: list[str], items: list[EvalItem], calibration: Calibration | None
) -> dict:
    """(confidence, right) of every candidate, by calibrated source."""
    pairs: dict[str, tuple[list[float], list[bool]]] = {}
    for name in names:
        for candidates, item in zip(found[name], items):
            for candidate in candidates:
                shown = calibration.apply(candidate) if calibration is not None else candidate
                conf, right = pairs.setdefault(source_of(candidate), ([], []))
                conf.append(shown.confidence)
                right.append(candidate.value == item.answer)
    return pairs


def evaluate(
    found: dict, names: list[str], items: list[EvalItem], calibration: Calibration, args
) -> dict:
    before = hybrid_rankings(found, names, args.top_k, None)
    after = hybrid_rankings(found, names, args.top_k, calibration)
    result: dict = {
        "items": len(items),
        "sources": {name: score(found[name], items) for name in names},
    }
    result["hybrid_uncalibrated"] = score(before, items)
    result["hybrid_calibrated"] = score(after, items)
    conf_before, right_before = top1(before, items)
    conf_after, right_after = top1(after, items)
    result["hybrid_top1_uncalibrated"] = calibration_stats(conf_before, right_before, args.bins)
    result["hybrid_top1_calibrated"] = calibration_stats(conf_after, right_after, args.bins)
    raw_pairs = per_source_pairs(found, names, items, None)
    cal_pairs = per_source_pairs(found, names, items, calibration)
    result["candidates"] = {
        source: {
            "raw": calibration_stats(*raw_pairs[source], args.bins),
            "calibrated": calibration_stats(*cal_pairs[source], args.bins),
        }
        for source in sorted(raw_pairs)
    }
    result["decline"] = []
    for threshold in THRESHOLDS:
        kept = [(c, r) for c, r in zip(conf_after, right_after) if c >= threshold]
        result["decline"].append(
            {
                "threshold": threshold,
                "coverage": len(kept) / len(items),
                "precision": sum(r for _, r in kept) / len(kept) if kept else None,
                "accuracy": sum(r for _, r in kept) / len(items),
            }
        )
    result["seconds"] = {name: found[f"{name}_seconds"] for name in names}
    return result


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def table_md(table: list[dict]) -> list[str]:
    lines = ["| confidence bin | n | mean confidence | accuracy |", "|---|---|---|---|"]
    for row in table:
        if row["count"]:
            lines.append(
                f"| {row['low']:.1f}-{row['high']:.1f} | {row['count']} | {row['confidence']:.3f} | {row['accuracy']:.3f} |"
            )
    return lines


def report_md(report: dict, command: str) -> str:
    val, test = report["val"], report["test"]
    names = list(test["sources"])
    record = report["checkpoint"]
    trained = (
        f"step {record.get('step')}, {record['tokens_trained']:,} tokens trained; "
        if "tokens_trained" in record
        else ""
    )
    lines = [
        "## Calibrated confidence: one ranking for solvers, lookup and model (issue 10)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {report['machine']}. Model: `{report['model']}` ({trained}beam width "
        f"{report['beam_width']}, top-k {report['top_k']}); lookup index: `{report['lookup_index']}` (training split only). "
        f"Fitted on {val['items']} validation items (`val.jsonl`, plus short prefixes of its "
        f"sequences: `--short-prefixes`), tested on {test['items']} held-out "
        f"items (seeded sample, seed {report['seed']}, of `heldout.jsonl`). Calibration written to "
        f"`{report['calibration_file']}`. Run time {report['seconds']:.0f} s.",
        "",
        "### Held-out: coverage and accuracy per source and for the hybrid",
        "",
        "| predictor | coverage | accuracy (top-1) | precision (of answered) | top-k accuracy |",
        "|---|---|---|---|---|",
    ]
    rows = [(name, test["sources"][name]) for name in names]
    rows += [("hybrid, uncalibrated ranking", test["hybrid_uncalibrated"])]
    rows += [("**hybrid, calibrated ranking**", test["hybrid_calibrated"])]
    for label, s in rows:
        lines.append(
            f"| {label} | {pct(s['coverage'])} | {pct(s['accuracy'])} | {pct(s['precision'])} | {pct(s['top_k_accuracy'])} |"
        )
    best_single = max(test["sources"][name]["accuracy"] for name in names)
    hybrid = test["hybrid_calibrated"]["accuracy"]
    verdict = "higher" if hybrid > best_single else "NOT higher"
    lines += [
        "",
        f"The calibrated hybrid's held-out accuracy ({pct(hybrid)}) is {verdict} than the best single "
        f"source ({pct(best_single)}). Validation (fit split): hybrid {pct(val['hybrid_uncalibrated']['accuracy'])} "
        f"uncalibrated, {pct(val['hybrid_calibrated']['accuracy'])} calibrated.",
        "",
        f"### Expected calibration error ({report['bins']} equal-width bins)",
        "",
        "| confidences | validation (fit) raw | validation calibrated | held-out raw | held-out calibrated |",
        "|---|---|---|---|---|",
    ]
    for source in sorted(set(val["candidates"]) | set(test["candidates"])):
        cells = []
        for split in (val, test):
            entry = split["candidates"].get(source)
            cells += (
                [f"{entry['raw']['ece']:.4f}", f"{entry['calibrated']['ece']:.4f}"]
                if entry
                else ["—", "—"]
            )
        n = test["candidates"].get(source, {}).get("raw", {}).get("n", 0)
        lines.append(f"| {source} candidates (held-out n={n}) | " + " | ".join(cells) + " |")
    lines.append(
        "| hybrid top-1 answer | "
        + " | ".join(
            f"{split[key]['ece']:.4f}"
            for split in (val, test)
            for key in ("hybrid_top1_uncalibrated", "hybrid_top1_calibrated")
        )
        + " |"
    )
    lines += [
        "",
        "Raw = each source's own confidence (the uncalibrated hybrid's ranking); calibrated = after "
        "the per-source maps (and the agreement map for values several sources give).",
        "",
        "### Reliability of the calibrated hybrid's top-1 answer, held-out",
        "",
        *table_md(test["hybrid_top1_calibrated"]["table"]),
        "",
        "### Reliability of the calibrated hybrid's top-1 answer, validation (fit)",
        "",
        *table_md(val["hybrid_top1_calibrated"]["table"]),
        "",
        "### Declining below a confidence threshold (held-out, calibrated hybrid)",
        "",
        "| min confidence | answered | precision of answers | accuracy over all items |",
        "|---|---|---|---|",
    ]
    for row in test["decline"]:
        lines.append(
            f"| {row['threshold']:.1f} | {pct(row['coverage'])} | {pct(row['precision'])} | {pct(row['accuracy'])} |"
        )
    maps = report["calibration"]["maps"]
    lines += [
        "",
        "### Fitted maps",
        "",
        "| source | validation pairs | right | knots |",
        "|---|---|---|---|",
    ]
    for source, entry in maps.items():
        lines.append(f"| {source} | {entry['points']} | {entry['positives']} | {len(entry['x'])} |")
    unfitted = [s for s, n in report["calibration"]["meta"]["pairs"].items() if s not in maps]
    if unfitted:
        lines.append(
            f"\nNo map (fewer than {report['calibration']['meta']['min_points']} validation pairs, raw "
            f"confidence kept): {', '.join(unfitted)}."
        )
    lines += ["", f"Reliability plot: `{report['png']}`.", ""]
    return "\n".join(lines)


def short_prefixes(items: list[EvalItem], count: int, seed: int) -> list[EvalItem]:
    """``count`` items asking for term k+1 of a validation sequence from its first k (4 <= k <= 8).

    Held-out items are long, but users often type a handful of terms, where unverified guesses
    (interpolation) and the model behave differently: the calibration must see such inputs too.
    """
    rng = random.Random(seed)
    long_enough = [item for item in items if len(item.prompt) >= 9]
    chosen = rng.sample(long_enough, min(count, len(long_enough)))
    result = []
    for item in chosen:
        k = rng.randint(4, 8)
        result.append(EvalItem(f"{item.id}:first{k}", item.prompt[:k], item.prompt[k], {"short_prefix": k}))
    return result


def puzzle_prefixes(count: int, seed: int) -> list[EvalItem]:
    """``count`` items asking for term k+1 of a synthetic rule-made sequence from its first k
    (4 <= k <= 8): OEIS prefixes alone teach the calibration that simple rules often fail (many
    OEIS sequences start like simple ones), which is not what a puzzle's author means."""
    from nextterm.data.synthetic import SyntheticConfig, generate

    rng = random.Random(f"puzzles-{seed}")
    config = SyntheticConfig(min_terms=9, max_terms=9, max_term_digits=30)
    result: list[EvalItem] = []
    while len(result) < count:
        made = generate(rng, config)
        if made is None:
            continue
        family, terms = made
        k = rng.randint(4, 8)
        result.append(EvalItem(f"puzzle-{len(result)}-{family}:first{k}", tuple(terms[:k]), terms[k], {"family": family}))
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    val_items = load_items(args.data / "val.jsonl", limit=args.val_limit, seed=args.seed)
    val_items += short_prefixes(val_items, args.short_prefixes, args.seed)
    val_items += puzzle_prefixes(args.puzzle_prefixes, args.seed)
    test_items = load_items(args.data / "heldout.jsonl", limit=args.test_limit, seed=args.seed)
    sources, checkpoint = build_sources(args)
    names = list(sources)
    val_found = collect(sources, val_items, args, "val")
    test_found = collect(sources, test_items, args, "test")
    calibration = Calibration.fit(
        [
            ([c for name in names for c in val_found[name][i]], item.answer)
            for i, item in enumerate(val_items)
        ],
        meta={
            "model": str(args.model) if args.model else None,
            "lookup_index": str(args.lookup_index) if args.lookup_index else None,
            "beam_width": args.beam_width,
            "top_k": args.top_k,
            "val_items": len(val_items),
        },
    )
    path = calibration.save((args.out or args.model) / CALIBRATION_FILE)
    val = evaluate(val_found, names, val_items, calibration, args)
    test = evaluate(test_found, names, test_items, calibration, args)
    args.results.mkdir(parents=True, exist_ok=True)
    png = plot_reliability(
        {
            "held-out, raw (uncalibrated hybrid)": test["hybrid_top1_uncalibrated"]["table"],
            "held-out, calibrated": test["hybrid_top1_calibrated"]["table"],
            "validation (fit), calibrated": val["hybrid_top1_calibrated"]["table"],
        },
        args.results / f"{args.name}.png",
        title="Hybrid top-1 answer: reliability",
    )
    report = {
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, torch threads {args.threads}"
        + (f", device {args.device}" if args.device else ", no GPU"),
        "model": str(args.model) if args.model else None,
        "checkpoint": checkpoint,
        "lookup_index": str(args.lookup_index) if args.lookup_index else None,
        "beam_width": args.beam_width,
        "top_k": args.top_k,
        "bins": args.bins,
        "seed": args.seed,
        "calibration_file": str(path),
        "calibration": calibration.to_dict(),
        "val": val,
        "test": test,
        "png": str(png),
        "seconds": time.perf_counter() - started,
    }
    command = "python benchmarks/calibrate.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (args.results / f"{args.name}.json").write_text(
        json.dumps(report, indent=1) + "\n", encoding="utf-8"
    )
    (args.results / f"{args.name}.md").write_text(report_md(report, command), encoding="utf-8")
    print(report_md(report, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
