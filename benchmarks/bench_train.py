"""Training throughput: tokens/s (and MFU on a GPU) of short ``nextterm.train`` runs.

CPU (default): the small presets on the first OEIS sequences of ``shared/data/oeis/stripped.gz``
(each cut at the context length on a term boundary), a few optimizer steps each::

    .venv/bin/python benchmarks/bench_train.py --threads 1         # nextterm-1m, nextterm-3m
    .venv/bin/python benchmarks/bench_train.py --presets nextterm-1m --tokens 200000

On the CPU, ``torch.optim.Muon`` runs its Newton-Schulz iterations in bfloat16 (hard-coded in
torch), which CPUs without bf16 matrix units execute slowly: about a second per optimizer step for
nextterm-1m. Large ``step_tokens`` amortise it; the rate reported includes it.

GPU: the 440M preset at context 4096, bf16 autocast, for MFU against the device's peak::

    python benchmarks/bench_train.py --device cuda                 # nextterm-440m, ctx 4096

Throughput counts label tokens (real next-token targets, no padding) per second of optimizer
steps, excluding the first ``--skip-steps`` steps (allocation, compilation) and evaluation and
checkpoint time. MFU is ``6 * N * tokens/s / peak`` with N the non-embedding parameters and the
peak of :data:`nextterm.train.metrics.PEAK_TFLOPS`. Results go to ``benchmarks/results/train.json``
(``train_cuda.json`` for ``--device cuda``) and a Markdown table in ``benchmarks/results/train.md``
(``train_cuda.md``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OEIS = ROOT.parent / "shared" / "data" / "oeis" / "stripped.gz"
RESULTS = ROOT / "benchmarks" / "results"


def write_data(directory: Path, sequences: int, context_len: int) -> dict:
    """train.packed / val.packed from the first OEIS sequences (no val.jsonl: no accuracy eval)."""
    from nextterm.data.encode import encode_text_ids
    from nextterm.data.packed import write_packed

    if not OEIS.is_file():
        raise SystemExit(f"{OEIS} is missing: the benchmark reads real OEIS sequences")
    encoded = []
    with gzip.open(OEIS, "rt") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            text = line.split(" ", 1)[1].strip().strip(",") + ","
            encoded.append(encode_text_ids(text, max_tokens=context_len))
            if len(encoded) >= sequences:
                break
    directory.mkdir(parents=True, exist_ok=True)
    split = max(1, len(encoded) // 20)
    write_packed(directory / "train.packed", encoded[split:])
    write_packed(directory / "val.packed", encoded[:split])
    lengths = [len(ids) for ids in encoded]
    return {
        "sequences": len(encoded),
        "mean_tokens": sum(lengths) / len(lengths),
        "max_tokens": max(lengths),
    }


def steady_throughput(metrics_path: Path, skip_steps: int) -> tuple[float, float | None, int]:
    """Label tokens/s, mean MFU and steps measured, over the steps after the first ``skip_steps``."""
    records = [json.loads(line) for line in metrics_path.read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    if len(train) <= skip_steps + 1:
        raise SystemExit(
            f"only {len(train)} steps ran; raise --tokens to measure past {skip_steps}"
        )
    first, last = train[skip_steps], train[-1]
    tokens_per_s = (last["tokens"] - first["tokens"]) / (last["elapsed_s"] - first["elapsed_s"])
    mfus = [r["mfu"] for r in train[skip_steps + 1 :] if r["mfu"] is not None]
    return tokens_per_s, (sum(mfus) / len(mfus) if mfus else None), len(train) - skip_steps - 1


def run_one(preset: str, args: argparse.Namespace, data_dir: Path, work: Path) -> dict:
    from nextterm.train.config import make_config
    from nextterm.train.loop import train

    out = work / preset
    shutil.rmtree(out, ignore_errors=True)
    config = make_config(
        preset=preset,
        data=str(data_dir),
        out=str(out),
        tokens=args.tokens,
        context_len=args.context_len,
        micro_batch_tokens=args.micro_batch_tokens,
        step_tokens=args.step_tokens,
        eval_every_tokens=0,
        val_tokens=args.micro_batch_tokens,
        accuracy_samples=0,
        checkpoint_every_tokens=0,
        device=args.device,
        compile=args.compile,
        peak_tflops=args.peak_tflops,
    ).validate()
    started = time.perf_counter()
    result = train(config, progress=True)
    wall = time.perf_counter() - started
    tokens_per_s, mean_mfu, steps = steady_throughput(out / "metrics.jsonl", args.skip_steps)
    resolved = json.loads((out / "train_config.json").read_text())["resolved"]
    return {
        "preset": preset,
        "parameters": resolved["parameters"],
        "matmul_parameters": resolved["matmul_parameters"],
        "device_name": resolved["device_name"],
        "compute_dtype": resolved["compute_dtype"],
        "context_len": args.context_len,
        "micro_batch_tokens": args.micro_batch_tokens,
        "step_tokens": args.step_tokens,
        "steps_measured": steps,
        "tokens_per_s": round(tokens_per_s, 1),
        "mfu": None if mean_mfu is None else round(mean_mfu, 4),
        "final_loss": round(result.final_loss, 4),
        "wall_s": round(wall, 1),
    }


def markdown(payload: dict) -> str:
    machine = payload["machine"]
    lines = [
        "## Training throughput (`nextterm train`)",
        "",
        f"Machine: {machine}. Command: `{payload['command']}`.",
        f"Data: first {payload['data']['sequences']} OEIS sequences of shared/data/oeis/stripped.gz "
        f"(mean {payload['data']['mean_tokens']:.0f} tokens, cut at context {payload['context_len']}).",
        "Tokens/s counts label tokens (no padding) over optimizer steps after the first "
        f"{payload['skip_steps']}; MFU = 6 N tokens/s / peak (N = non-embedding parameters).",
        "",
        "| preset | parameters | device | dtype | context | tokens/step | steps | tokens/s | MFU |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in payload["results"]:
        mfu = "n/a (no peak for this device)" if row["mfu"] is None else f"{row['mfu']:.1%}"
        lines.append(
            f"| {row['preset']} | {row['parameters']:,} | {row['device_name']} | {row['compute_dtype']} "
            f"| {row['context_len']} | {row['step_tokens']:,} | {row['steps_measured']} "
            f"| {row['tokens_per_s']:,.0f} | {mfu} |"
        )
    if payload.get("load_average") is not None:
        lines += [
            "",
            f"Load average at the start (other jobs share the machine): {payload['load_average']}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument(
        "--presets", nargs="+", help="default: nextterm-1m nextterm-3m (cpu), nextterm-440m (cuda)"
    )
    parser.add_argument("--tokens", type=int, help="tokens per run (default 100k cpu, 40M cuda)")
    parser.add_argument("--context-len", type=int, help="default 256 (cpu), 4096 (cuda)")
    parser.add_argument("--micro-batch-tokens", type=int, help="default 4096 (cpu), 16384 (cuda)")
    parser.add_argument("--step-tokens", type=int, help="default 16384 (cpu), 524288 (cuda)")
    parser.add_argument("--sequences", type=int, default=20_000, help="OEIS sequences to train on")
    parser.add_argument(
        "--skip-steps", type=int, default=1, help="warm-up steps left out of the rate"
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="override the device's peak")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (CPU)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import torch

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("no CUDA device: the --device cuda benchmark needs a GPU; nothing measured")
        return 0
    defaults = {
        "presets": ["nextterm-440m"] if cuda else ["nextterm-1m", "nextterm-3m"],
        "tokens": 40_000_000 if cuda else 100_000,
        "context_len": 4096 if cuda else 256,
        "micro_batch_tokens": 16_384 if cuda else 4096,
        "step_tokens": 524_288 if cuda else 16_384,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.threads:
        torch.set_num_threads(args.threads)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True

    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    try:
        data = write_data(work / "data", args.sequences, args.context_len)
        results = [run_one(preset, args, work / "data", work / "runs") for preset in args.presets]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine = (
        f"{torch.cuda.get_device_name()} ({os.cpu_count()} CPU cores)"
        if cuda
        else f"{os.cpu_count()}-core CPU ({platform.machine()}), no GPU, torch threads {torch.get_num_threads()}"
    )
    payload = {
        "machine": machine,
        "command": "python benchmarks/bench_train.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "torch": torch.__version__,
        "data": data,
        "context_len": args.context_len,
        "skip_steps": args.skip_steps,
        "load_average": None if cuda else round(os.getloadavg()[0], 2),
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "train_cuda" if cuda else "train"
    (args.out / f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(payload))
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
