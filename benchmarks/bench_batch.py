"""`nextterm predict --file` against one `nextterm predict` process per sequence.

    python benchmarks/bench_batch.py [--items runs/data/heldout.jsonl] [--side-by-side 50] [--total 2048]

Takes a seeded sample of the data build's held-out prompts, runs the first ``--side-by-side`` of
them once per process (start-up and model load each time; two passes, the faster counted) and in
one ``--file`` call, compares the answers, then times one ``--file`` call on all ``--total``
prompts (the default ``--jobs``: one worker process per core). The default predictor (hybrid with the shipped model and its ranker)
runs in both; ``--no-lookup`` by default, so that no lookup index is loaded per call
(``--lookup-index FILE`` uses one). Writes ``benchmarks/results/batch.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nextterm.batch import default_jobs

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
COMMAND = [sys.executable, "-m", "nextterm.cli", "predict"]
PASSES = 2
"""Passes over the side-by-side sequences one process each; the faster is reported."""


def _sample(path: Path, count: int) -> list[list[int]]:
    prompts = [json.loads(line)["prompt"] for line in path.read_text().splitlines() if line]
    random.Random(0).shuffle(prompts)
    if len(prompts) < count:
        raise SystemExit(f"{path} has {len(prompts)} items; --total asks for {count}")
    return prompts[:count]


def _text(terms: list[int]) -> str:
    return ",".join(map(str, terms))


def _first_value(line: str) -> str:
    return line.split()[0].rstrip(",") if line.strip() else ""


def _single_calls(prompts: list[list[int]], options: list[str]) -> tuple[float, list[str]]:
    answers, start = [], time.perf_counter()
    for terms in prompts:
        done = subprocess.run([*COMMAND, *options, _text(terms)], capture_output=True, text=True)
        lines = done.stdout.splitlines()
        answers.append(_first_value(lines[0]) if done.returncode == 0 and lines else "")
    return time.perf_counter() - start, answers


def _file_call(prompts: list[list[int]], options: list[str]) -> tuple[float, list[str]]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("".join(_text(terms) + "\n" for terms in prompts))
    try:
        start = time.perf_counter()
        done = subprocess.run(
            [*COMMAND, *options, "--file", handle.name], capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
    finally:
        os.unlink(handle.name)
    if done.returncode not in (0, 1):
        raise SystemExit(f"--file call failed: {done.stderr}")
    return seconds, [_first_value(line) for line in done.stdout.splitlines()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=Path, default=ROOT / "runs" / "data" / "heldout.jsonl")
    parser.add_argument("--side-by-side", type=int, default=50)
    parser.add_argument("--total", type=int, default=2048)
    parser.add_argument("--lookup-index", help="lookup index both sides use (default: none)")
    args = parser.parse_args()
    options = ["--lookup-index", args.lookup_index] if args.lookup_index else ["--no-lookup"]
    prompts = _sample(args.items, args.total)
    few = prompts[: args.side_by_side]

    # two passes, the faster one counted: it favours the one-process-per-sequence side
    passes = [_single_calls(few, options) for _ in range(PASSES)]
    single_seconds, single_answers = min(passes, key=lambda found: found[0])
    few_seconds, few_answers = _file_call(few, options)
    per_single = single_seconds / len(few)
    result = {
        "command": "python benchmarks/bench_batch.py " + " ".join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU, shared with "
        "other work",
        "items": str(
            args.items.relative_to(ROOT) if args.items.is_relative_to(ROOT) else args.items
        ),
        "options": options,
        "side_by_side": len(few),
        "single_passes_s": [round(seconds, 1) for seconds, _ in passes],
        "jobs_side_by_side": default_jobs(len(few)),
        "single_seconds": single_seconds,
        "single_per_sequence_s": per_single,
        "file_seconds_side_by_side": few_seconds,
        "file_per_sequence_s_side_by_side": few_seconds / len(few),
        "same_answers": sum(a == b for a, b in zip(single_answers, few_answers)),
        "speedup_side_by_side": per_single / (few_seconds / len(few)),
    }
    _write(result)  # the side-by-side numbers stand even if the long call is cut short
    all_seconds, all_answers = _file_call(prompts, options)
    result |= {
        "total": len(prompts),
        "jobs_total": default_jobs(len(prompts)),
        "file_seconds_total": all_seconds,
        "file_sequences_per_s_total": len(prompts) / all_seconds,
        "file_lines_total": len(all_answers),
        "speedup_total": per_single / (all_seconds / len(prompts)),
    }
    _write(result)
    return 0


def _write(r: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch.json").write_text(json.dumps(r, indent=2) + "\n")
    rows = [
        f"| one `nextterm predict TERMS` process each (faster of {len(r['single_passes_s'])} "
        f"passes: {' / '.join(f'{p:.1f} s' for p in r['single_passes_s'])}) | {r['side_by_side']} | "
        f"{r['single_seconds']:.1f} s | {1000 * r['single_per_sequence_s']:.0f} ms | "
        f"{1 / r['single_per_sequence_s']:.2f} |",
        f"| one `nextterm predict --file` call | {r['side_by_side']} | "
        f"{r['file_seconds_side_by_side']:.1f} s | "
        f"{1000 * r['file_per_sequence_s_side_by_side']:.0f} ms | "
        f"{1 / r['file_per_sequence_s_side_by_side']:.2f} |",
    ]
    summary = (
        f"Per sequence, one `--file` call on the {r['side_by_side']} side by side is "
        f"{r['speedup_side_by_side']:.1f}x faster than one process per sequence; the two ways gave "
        f"the same best answer on {r['same_answers']} of {r['side_by_side']} sequences."
    )
    if "total" in r:
        rows.append(
            f"| one `nextterm predict --file` call | {r['total']} | "
            f"{r['file_seconds_total']:.1f} s | {1000 / r['file_sequences_per_s_total']:.0f} ms | "
            f"{r['file_sequences_per_s_total']:.2f} |"
        )
        summary += (
            f" On {r['total']} sequences (one start-up and model load shared by all; "
            f"{r['jobs_total']} worker processes, the default `--jobs` here) it is "
            f"{r['speedup_total']:.1f}x faster per sequence ({r['file_lines_total']} result lines)."
        )
    table = "\n".join(rows)
    markdown = f"""# `nextterm predict --file` vs one process per sequence

Command: `{r["command"]}` (predictor options `{" ".join(r["options"])}`; default hybrid with the
shipped model and its ranker). Machine: {r["machine"]}. Prompts: a seeded sample of
`{r["items"]}`.

| run | sequences | wall time | per sequence | sequences/s |
|---|---|---|---|---|
{table}

{summary}
"""
    (RESULTS / "batch.md").write_text(markdown)
    print(markdown, flush=True)


if __name__ == "__main__":
    sys.exit(main())
