"""Start-up to answer of the `nextterm predict` process: numpy engine (default) vs torch engine.

    python benchmarks/bench_startup.py [--repeats 10] [--lookup-index FILE] [--terms 1,2,4,8,16]

Runs the whole process (`nextterm predict TERMS`, the shipped model) again and again, the
variants interleaved so that other work on the machine weighs on all of them alike: the default
(the numpy engine), `NEXTTERM_ENGINE=torch` (the torch engine, the start-up before the numpy
engine), `--no-model`, and the first two with `--lookup-index FILE` when given. Checks that both
engines print the same answer in each round and writes `benchmarks/results/startup.md` (min /
median / max wall seconds, median CPU seconds, and the torch/numpy ratio of each round).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NEXTTERM = Path(sys.executable).with_name("nextterm")


def _variants(lookup_index: str | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Variant name -> (extra arguments, extra environment); no lookup index unless given."""
    none = ["--no-lookup"]
    variants = {
        "numpy engine (default)": (none, {}),
        "torch engine (NEXTTERM_ENGINE=torch)": (none, {"NEXTTERM_ENGINE": "torch"}),
        "--no-model": ([*none, "--no-model"], {}),
    }
    if lookup_index:
        index = ["--lookup-index", lookup_index]
        variants["numpy engine, lookup index"] = (index, {})
        variants["torch engine, lookup index"] = (index, {"NEXTTERM_ENGINE": "torch"})
    return variants


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(terms: str, extra: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system) and standard output of one process."""
    environment = {k: v for k, v in os.environ.items() if k != "NEXTTERM_ENGINE"} | env
    cpu = _cpu_of_children()
    start = time.perf_counter()
    done = subprocess.run(
        [str(NEXTTERM), "predict", *extra, terms], capture_output=True, text=True, env=environment
    )
    if done.returncode != 0:
        raise SystemExit(f"nextterm predict {' '.join(extra)} failed:\n{done.stderr}")
    return time.perf_counter() - start, _cpu_of_children() - cpu, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--terms", default="1,2,4,8,16")
    parser.add_argument("--lookup-index", help="an OEIS lookup index for the lookup variants")
    args = parser.parse_args()
    variants = _variants(args.lookup_index)
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, list[str]] = {name: [] for name in variants}
    _run(args.terms, *variants["numpy engine (default)"])  # warm the file cache
    for _ in range(args.repeats):
        for name, (extra, env) in variants.items():
            seconds, cpu_seconds, output = _run(args.terms, extra, env)
            times[name].append(seconds)
            cpu[name].append(cpu_seconds)
            outputs[name].append(output)
    pairs = [("numpy engine (default)", "torch engine (NEXTTERM_ENGINE=torch)")]
    if args.lookup_index:
        pairs.append(("numpy engine, lookup index", "torch engine, lookup index"))
    for fast, slow in pairs:
        for mine, theirs in zip(outputs[fast], outputs[slow]):
            if mine != theirs:
                print(f"outputs differ:\n{fast}:\n{mine}\n{slow}:\n{theirs}")
                return 1
    command = "python benchmarks/bench_startup.py " + " ".join(sys.argv[1:])
    lines = [
        "## `nextterm predict` start-up to answer (whole process)",
        "",
        f"Command: `{command.strip()}`; `nextterm predict {args.terms}` with the shipped model, "
        f"{args.repeats} runs of each variant, interleaved; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores (shared with other work while measured), no GPU, "
        f"Python {platform.python_version()}. Both engines printed the same answer "
        f"in every round (first line: `{outputs[pairs[0][0]][0].splitlines()[0]}`); load average "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "Wall: seconds from start to exit of the process; CPU: its user + system seconds (what "
        "it would take on an idle core; the machine's other work stretches the wall time).",
        "",
        "| variant | wall min s | wall median s | wall max s | CPU median s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        lines.append(
            f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} | "
            f"{max(values):.2f} | {statistics.median(cpu[name]):.2f} |"
        )
    lines += ["", "| ratio torch / numpy per round | min | median | max |", "|---|---:|---:|---:|"]
    for fast, slow in pairs:
        ratios = [s / f for f, s in zip(times[fast], times[slow])]
        label = "with lookup index" if "lookup" in fast else "no lookup index"
        lines.append(
            f"| {label} | {min(ratios):.1f} | {statistics.median(ratios):.1f} | {max(ratios):.1f} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
