"""The full evaluation suite for one predictor, written into ``benchmarks/results/``.

Runs polynomial continuation, IQ-57, OEIS held-out next term (a seeded sample of ``--limit``
items of the data build's ``heldout.jsonl``) and M1-111 MAPE (with the classical forecasters) via
:func:`nextterm.evals.runner.run_suite`. Every output (per-item JSONL included) goes to
``runs/evals-<tag>/`` (git-ignored); the Markdown section, the summary JSON and the plots are
copied to ``benchmarks/results/evals-<tag>.md``, ``evals-<tag>.json`` and ``evals-<tag>_*.png``.

    .venv/bin/python benchmarks/run_evals.py --predictor hybrid --heldout runs/data --limit 2048 \
        --lookup-index runs/lookup-train.idx
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from pathlib import Path

from nextterm.evals.runner import BENCHMARKS, SuiteConfig, run_suite

RESULTS = Path(__file__).resolve().parent / "results"


def _predictor(args: argparse.Namespace):
    if args.predictor == "openai":
        from nextterm.evals.openai_predictor import OpenAIPredictor, OpenAIPredictorConfig

        return OpenAIPredictor(
            OpenAIPredictorConfig(endpoint=args.endpoint, model=args.endpoint_model)
        )
    from nextterm.predict import load_predictor

    return load_predictor(
        args.predictor,
        model=args.model,
        beam_width=args.beam,
        lookup_index=args.lookup_index if args.predictor == "hybrid" else None,
        effort=args.effort,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--predictor",
        default="hybrid",
        choices=("solvers", "model", "model-beam", "hybrid", "openai"),
    )
    parser.add_argument("--model", help="checkpoint directory (default: the shipped model)")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument(
        "--lookup-index",
        type=Path,
        help="lookup index for the hybrid, built from the training split only",
    )
    parser.add_argument("--effort", default="default", help="rule search effort")
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--endpoint-model")
    parser.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS), choices=BENCHMARKS)
    parser.add_argument(
        "--data-dir", type=Path, help="folder with evals/ (default: $NEXTTERM_DATA, else the cache)"
    )
    parser.add_argument(
        "--heldout", type=Path, default=Path("runs/data"), help="data build folder or heldout.jsonl"
    )
    parser.add_argument("--limit", type=int, default=2048, help="OEIS items (seeded sample)")
    parser.add_argument(
        "--samples", type=int, default=200, help="polynomial samples per (degree, k)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tag", help="name of the outputs (default: the predictor kind)")
    args = parser.parse_args()

    predictor = _predictor(args)
    tag = args.tag or args.predictor
    out = Path("runs") / f"evals-{tag}"
    label = predictor.name if args.predictor == "openai" else f"nextterm {args.predictor}"
    if args.model:
        label += f" ({args.model})"
    config = SuiteConfig(
        data_dir=args.data_dir,
        heldout=args.heldout,
        oeis_limit=args.limit,
        samples=args.samples,
        batch_size=args.batch_size,
    )
    summary = run_suite(
        predictor,
        args.benchmarks,
        out,
        config,
        label=label,
        command="python " + " ".join(["benchmarks/run_evals.py", *sys.argv[1:]]),
        machine=f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU",
        skip_missing=True,
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "summary.md", RESULTS / f"evals-{tag}.md")
    shutil.copyfile(out / "summary.json", RESULTS / f"evals-{tag}.json")
    for plot in sorted(out.glob("*.png")):
        shutil.copyfile(plot, RESULTS / f"evals-{tag}_{plot.name}")
    for name, result in summary["benchmarks"].items():
        score = f"MAPE {result['mape']:.4f}" if name == "m1" else f"{100 * result['accuracy']:.2f}%"
        print(f"{name}: {score} in {result['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
