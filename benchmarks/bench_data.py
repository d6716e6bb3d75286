"""Data-pipeline speed: TokenBatches throughput and packed-file random reads.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_data.py --packed runs/data/train.packed

Without ``--packed`` (or when the file is missing) it packs a stand-in file of random sequences
first. Writes ``benchmarks/results/data.json`` (raw numbers), ``data.md`` (a Markdown section)
and ``data.png`` (throughput per token budget). When ``--summary`` names a build's
``summary.json``, its counts and elapsed time are copied into the Markdown section.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nextterm.data.batches import TokenBatches
from nextterm.data.encode import encode_sequence
from nextterm.data.packed import PackedReader, write_packed


def stand_in_file(directory: Path, count: int = 50_000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    sequences = (
        encode_sequence(rng.integers(-(10**9), 10**9, size=int(rng.integers(4, 80))).tolist())
        for _ in range(count)
    )
    return write_packed(directory / "stand_in.packed", sequences)


def bench_batches(reader: PackedReader, max_tokens: int, context_len: int, batches: int) -> dict:
    started = time.perf_counter()
    sampler = TokenBatches(reader, max_tokens=max_tokens, context_len=context_len, seed=0)
    setup = time.perf_counter() - started
    real = padded = 0
    iterator = iter(sampler)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(batches):
        batch = next(iterator)
        real += int(batch["attention_mask"].numpy().sum())  # numpy: no torch thread pool
        padded += batch["input_ids"].numel()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "max_tokens": max_tokens,
        "context_len": context_len,
        "batches": batches,
        "setup_seconds": round(setup, 3),
        "seconds": round(elapsed, 3),
        "real_tokens": real,
        "padded_tokens": padded,
        "cpu_seconds": round(cpu, 3),
        "real_tokens_per_second": round(real / elapsed),
        "real_tokens_per_cpu_second": round(real / cpu),
        "padded_tokens_per_second": round(padded / elapsed),
        "padding_fraction": round(1 - real / padded, 4),
    }


def bench_reads(reader: PackedReader, count: int) -> dict:
    indices = np.random.default_rng(1).integers(0, len(reader), size=count)
    tokens = 0
    started = time.perf_counter()
    for index in indices.tolist():
        tokens += len(reader[index])
    elapsed = time.perf_counter() - started
    return {
        "sequences": count,
        "tokens": tokens,
        "seconds": round(elapsed, 3),
        "tokens_per_second": round(tokens / elapsed),
        "sequences_per_second": round(count / elapsed),
    }


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r["max_tokens"]) for r in results]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(labels))
    ax.bar(x - 0.2, [r["real_tokens_per_second"] / 1e6 for r in results], 0.4, label="wall clock")
    ax.bar(
        x + 0.2,
        [r["real_tokens_per_cpu_second"] / 1e6 for r in results],
        0.4,
        label="per CPU second",
    )
    ax.set_xticks(x, labels)
    ax.axhline(1.0, color="red", linestyle="--", label="1M tokens/s target")
    ax.set_xlabel("max_tokens per batch (context_len 4096)")
    ax.set_ylabel("million real tokens / s")
    ax.set_title("TokenBatches throughput, 1 process, 2-core CPU")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(
    packed: str,
    reader: PackedReader,
    batches: list[dict],
    reads: dict,
    summary: dict | None,
    command: str,
) -> str:
    lines = [
        "## Data pipeline (issue 4)",
        "",
        f"Machine: 2-core CPU, no GPU (shared with other jobs while measured), Python {platform.python_version()}.",
        f"Command: `{command}`",
        "",
        f"File: `{packed}`: {len(reader):,} sequences, {reader.total_tokens:,} tokens.",
        "",
        "Wall-clock rates depend on what else the shared machine ran; the CPU-time rate (tokens per",
        "second of this process's CPU time) is the one to compare between runs.",
        "",
        "| max_tokens | context_len | batches | real tokens/s (wall) | real tokens/s (CPU time) | padded tokens/s (wall) | padding | sampler setup (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in batches:
        lines.append(
            f"| {r['max_tokens']} | {r['context_len']} | {r['batches']} | {r['real_tokens_per_second']:,} "
            f"| {r['real_tokens_per_cpu_second']:,} "
            f"| {r['padded_tokens_per_second']:,} | {100 * r['padding_fraction']:.1f}% | {r['setup_seconds']} |"
        )
    lines += [
        "",
        f"Random single-sequence reads (`reader[i]`): {reads['sequences_per_second']:,} sequences/s, "
        f"{reads['tokens_per_second']:,} tokens/s.",
        "",
        "![TokenBatches throughput](data.png)",
    ]
    if summary is not None:
        train = summary["train_packed"]
        rules = summary["rules"]
        lines += [
            "",
            "### Full build on shared/data/oeis/stripped.gz (default BuildConfig)",
            "",
            "Command: `nextterm data build --stripped ../shared/data/oeis/stripped.gz --out runs/data` "
            f"(same 2-core machine): **{summary['elapsed_seconds']} s** wall time as the build measured it.",
            "",
            f"- read {summary['sequences']['read']:,} sequences; {summary['sequences'].get('degenerate_skipped', 0):,} "
            "degenerate (< 4 terms) skipped",
            f"- splits after all rules: train {summary['splits']['train']:,}, val {summary['splits']['val']:,}, "
            f"held-out {summary['splits']['heldout']:,}",
            f"- hash-assigned held-out but ineligible (< 10 terms or answer > 190 digits), moved to train: "
            f"{rules['heldout_ineligible_moved_to_train']:,}",
            f"- exact duplicates removed: {rules['duplicates_removed']}",
            f"- removed for containing a held-out item's last 10 terms: {rules['contaminated_removed']}",
            f"- train.packed: {train['sequences']:,} sequences, {train['tokens']:,} tokens, "
            f"{train['bytes'] / 2**20:.0f} MiB (real {train['real_sequences']:,} / augmented "
            f"{train['augmented_sequences']:,} / synthetic {train['synthetic_sequences']:,})",
            f"- val.packed: {summary['val_packed']['sequences']:,} sequences; heldout.jsonl "
            f"{summary['heldout_jsonl_items']:,} items; val.jsonl {summary['val_jsonl_items']:,} items",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packed", default="runs/data/train.packed")
    parser.add_argument("--summary", default="runs/data/summary.json")
    parser.add_argument("--max-tokens", type=int, nargs="+", default=[8192, 16384, 65536])
    parser.add_argument("--context-len", type=int, default=4096)
    parser.add_argument(
        "--tokens", type=int, default=20_000_000, help="padded tokens to read per setting"
    )
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        packed = Path(args.packed)
        if not packed.is_file():
            packed = stand_in_file(Path(scratch))
        reader = PackedReader(packed)
        batches = [
            bench_batches(reader, m, args.context_len, max(1, args.tokens // m))
            for m in args.max_tokens
        ]
        reads = bench_reads(reader, args.reads)
        label = (
            str(args.packed) if Path(args.packed).is_file() else "stand-in (50k random sequences)"
        )
        summary_path = Path(args.summary)
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
        command = "python benchmarks/bench_data.py " + " ".join(sys.argv[1:])
        (out / "data.json").write_text(
            json.dumps(
                {
                    "packed": label,
                    "sequences": len(reader),
                    "tokens": reader.total_tokens,
                    "batches": batches,
                    "reads": reads,
                    "build_summary": summary,
                    "command": command,
                },
                indent=2,
            )
            + "\n"
        )
        (out / "data.md").write_text(
            markdown(label, reader, batches, reads, summary, command.strip())
        )
        plot(batches, out / "data.png")
    for r in batches:
        print(
            f"max_tokens={r['max_tokens']}: {r['real_tokens_per_second']:,} real tokens/s wall, "
            f"{r['real_tokens_per_cpu_second']:,} per CPU second "
            f"({100 * r['padding_fraction']:.1f}% padding)"
        )
    print(f"random reads: {reads['tokens_per_second']:,} tokens/s; wrote {out}/data.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
