"""``nextterm calibrate``: fit the hybrid's learned ranker for a model and report it held-out."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from nextterm.cli_args import device


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` subcommand."""
    from nextterm.solvers.rules.settings import EFFORT_NAMES

    parser = subparsers.add_parser(
        "calibrate",
        help="fit the hybrid's learned ranker (writes ranker.json beside the model)",
        description=(
            "Run every source (solvers and rule search, OEIS lookup, model) on the data build's "
            "validation items, short prefixes of them and of rule-made sequences; fit the ranker "
            "on one feature row per candidate value; measure it on held-out items."
        ),
    )
    parser.add_argument("--model", help="checkpoint directory (default: the shipped model)")
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="data build folder with val.jsonl and heldout.jsonl (nextterm data build)",
    )
    parser.add_argument(
        "--lookup-index",
        type=Path,
        help="lookup index built from the training split only (--allowed train_ids.txt)",
    )
    parser.add_argument(
        "--out", type=Path, help="folder for ranker.json (default: the model folder)"
    )
    parser.add_argument(
        "--results", type=Path, help="folder for the report (calibration.md/json/png)"
    )
    parser.add_argument("--val-limit", type=int, help="seeded sample of the validation items")
    parser.add_argument(
        "--test-limit", type=int, default=2048, help="seeded sample of held-out items"
    )
    parser.add_argument(
        "--short-prefixes", type=int, default=1000, help="prefixes of validation sequences"
    )
    parser.add_argument(
        "--puzzle-prefixes", type=int, default=3000, help="prefixes of rule-made sequences"
    )
    parser.add_argument(
        "--effort", choices=EFFORT_NAMES, default="default", help="rule search effort"
    )
    parser.add_argument("--beam", type=int, default=4, help="beam width of the model's candidates")
    parser.add_argument("--top-k", type=int, default=5, help="candidates per source")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=device, help="cpu, cuda, cuda:N or mps for the model")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from nextterm.evals.common import EvalError
    from nextterm.evals.oeis import load_items
    from nextterm.predict import RANKER_FILE, PredictorError, build_hybrid, default_model_path
    from nextterm.ranking.fit import evaluate, fit_ranker, puzzle_prefixes, short_prefixes
    from nextterm.ranking.report import write_report

    model = Path(args.model) if args.model else default_model_path()
    if model is None:
        raise PredictorError("no model given and no shipped model found: pass --model DIR")
    for name in ("val.jsonl", "heldout.jsonl"):
        if not (args.data / name).is_file():
            raise EvalError(
                f"{args.data / name} not found: --data is the folder `nextterm data build` wrote"
            )
    from nextterm.engine import Engine

    started = time.perf_counter()
    engine = Engine.from_pretrained(model, device=args.device)
    hybrid = build_hybrid(engine, None, args.beam, args.lookup_index, effort=args.effort)
    val = load_items(args.data / "val.jsonl", limit=args.val_limit, seed=args.seed)
    fit_items = [
        *val,
        *short_prefixes(val, args.short_prefixes, args.seed),
        *puzzle_prefixes(args.puzzle_prefixes, args.seed),
    ]
    meta = {
        "model": str(model),
        "lookup_index": str(args.lookup_index) if args.lookup_index else None,
        "beam_width": args.beam,
        "top_k": args.top_k,
        "effort": args.effort,
    }
    ranker, fitted, fit_seconds = fit_ranker(
        hybrid, fit_items, top_k=args.top_k, batch_size=args.batch_size, seed=args.seed, meta=meta
    )
    path = ranker.save((args.out or model) / RANKER_FILE)
    print(f"wrote {path} ({len(ranker.trees)} trees, fitted on {len(fit_items)} items)")
    from nextterm.ranking.fit import collect

    test_items = load_items(args.data / "heldout.jsonl", limit=args.test_limit, seed=args.seed)
    test = collect(
        hybrid, test_items, top_k=args.top_k, batch_size=args.batch_size, desc="held-out"
    )
    held_out = evaluate(ranker, test)
    print(
        f"held-out: top-1 {100 * held_out['accuracy']:.2f}% on {held_out['items']} items, "
        f"ECE {held_out['ece']:.4f}"
    )
    if args.results is not None:
        report = {
            "command": "nextterm " + shlex.join(sys.argv[1:]),
            "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), device {engine.device}",
            "ranker_file": str(path),
            "fit_items": len(fit_items),
            "test_items": len(test_items),
            "fit": evaluate(ranker, fitted),
            "held_out": held_out,
            "fit_seconds": round(fit_seconds, 1),
            "seconds": round(time.perf_counter() - started, 1),
            "meta": ranker.meta,
        }
        written = write_report(report, args.results)
        print(f"wrote {written}")
        (args.results / "calibration.json").write_text(json.dumps(report, indent=1))
    return 0
