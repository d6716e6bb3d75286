"""``nextterm eval``: run the benchmarks on a chosen predictor and write tables, plots and JSONL."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from pathlib import Path

from nextterm.cli_args import device
from nextterm.resources import add_lookup_arguments
from nextterm.solvers.rules.settings import EFFORT_NAMES

BENCHMARK_CHOICES = ("polynomial", "iq57", "oeis", "m1", "all")
PREDICTOR_CHOICES = ("solvers", "model", "model-beam", "hybrid", "openai")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval`` subcommand."""
    parser = subparsers.add_parser(
        "eval",
        help="run the model card's benchmarks on a predictor",
        description=(
            "Run polynomial continuation, IQ-57, OEIS held-out next term and M1-111 MAPE (or one "
            "of them) on a predictor; writes per-item JSONL, PNG plots, summary.json and "
            "summary.md (the card's tables with our rows) into --out."
        ),
    )
    parser.add_argument("benchmark", choices=BENCHMARK_CHOICES)
    parser.add_argument("--predictor", choices=PREDICTOR_CHOICES, default="hybrid")
    parser.add_argument(
        "--model", help="checkpoint directory or hub id (default: the shipped model)"
    )
    parser.add_argument("--device", type=device, help="cpu, cuda, cuda:N or mps for the model")
    parser.add_argument("--beam", type=int, default=4, help="beam width (model-beam, hybrid)")
    parser.add_argument(
        "--effort",
        choices=EFFORT_NAMES,
        default="default",
        help="rule search effort (solvers, hybrid)",
    )
    add_lookup_arguments(parser)
    parser.add_argument(
        "--endpoint",
        default="http://127.0.0.1:8000/v1",
        help="OpenAI-compatible base URL for --predictor openai",
    )
    parser.add_argument("--endpoint-model", help="model name at the endpoint (default: its first)")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel endpoint requests")
    parser.add_argument("--out", type=Path, default=Path("eval-results"), help="output folder")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="folder with evals/iq57.jsonl and evals/m1_111.jsonl "
        "(default: $NEXTTERM_DATA, else the cache folder `nextterm data fetch --from DIR` fills)",
    )
    parser.add_argument(
        "--heldout", type=Path, help="the data build's folder or heldout.jsonl (OEIS benchmark)"
    )
    parser.add_argument("--limit", type=int, help="OEIS: score a seeded sample of N items")
    parser.add_argument(
        "--samples",
        type=int,
        default=200,
        help="polynomial samples per (degree, k); the protocol's 200 by default",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of polynomial items / OEIS sample"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per predictor call")
    parser.add_argument(
        "--no-classical", action="store_true", help="M1: skip the classical forecasters"
    )
    parser.set_defaults(func=_run_eval)


def _load(args: argparse.Namespace):
    if args.predictor == "openai":
        from nextterm.evals.openai_predictor import OpenAIPredictor, OpenAIPredictorConfig

        config = OpenAIPredictorConfig(
            endpoint=args.endpoint, model=args.endpoint_model, concurrency=args.concurrency
        )
        return OpenAIPredictor(config)
    from nextterm.predict import load_predictor

    index = _lookup_index(args) if args.predictor == "hybrid" else None
    return load_predictor(
        args.predictor,
        model=args.model,
        device=args.device,
        beam_width=args.beam,
        effort=args.effort,
        lookup_index=index,
    )


def _lookup_index(args: argparse.Namespace):
    """The lookup index for the hybrid; the OEIS held-out benchmark accepts only one built from
    the training split (any other contains the held-out sequences themselves)."""
    from nextterm.evals.common import EvalError
    from nextterm.lookup import LookupIndex
    from nextterm.resources import lookup_index_from

    path = lookup_index_from(args)
    if (
        path is not None
        and args.benchmark in ("oeis", "all")
        and not LookupIndex.load(path).meta.get("restricted")
    ):
        raise EvalError(
            f"{path} indexes all of the OEIS, held-out sequences included: for the OEIS benchmark "
            "pass --lookup-index with one built from the training split (nextterm lookup --build "
            "--allowed train_ids.txt) or --no-lookup"
        )
    return path


def _label(args: argparse.Namespace, predictor) -> str:
    if args.predictor == "openai":
        return predictor.name
    if args.predictor == "solvers":
        return "nextterm solvers"
    return f"nextterm {args.predictor} ({args.model or 'shipped model'})"


def _run_eval(args: argparse.Namespace) -> int:
    from nextterm.evals.runner import BENCHMARKS, SuiteConfig, run_suite

    config = SuiteConfig(
        data_dir=args.data_dir,
        heldout=args.heldout,
        oeis_limit=args.limit,
        samples=args.samples,
        seed=args.seed,
        batch_size=args.batch_size,
        classical=not args.no_classical,
    )
    predictor = _load(args)
    run_all = args.benchmark == "all"
    summary = run_suite(
        predictor,
        list(BENCHMARKS) if run_all else [args.benchmark],
        args.out,
        config,
        label=_label(args, predictor),
        command="nextterm " + shlex.join(sys.argv[1:]),
        machine=f"{os.cpu_count()} CPU cores ({platform.machine()}), device {args.device or 'auto'}",
        skip_missing=run_all,
    )
    for name, result in summary["benchmarks"].items():
        score = (
            f"MAPE {result['mape']:.4f}"
            if name == "m1"
            else f"accuracy {100 * result['accuracy']:.2f}%"
        )
        print(f"{name}: {score} ({result['seconds']:.1f} s)")
    for name, reason in summary["skipped"].items():
        print(f"{name}: skipped ({reason})")
    print(f"wrote {args.out / 'summary.md'}")
    return 0
