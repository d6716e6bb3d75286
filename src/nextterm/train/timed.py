"""A training run in a fixed wall-clock budget: carried data in, a checkpoint and its numbers out.

    python -m nextterm.train.timed --config configs/gpu-timed.toml \\
        --input runs/gpu-input/data.tar.xz --out OUT          # what scripts/gpu_train.sh runs
    python -m nextterm.train.timed bundle --data runs/data --out runs/gpu-input/data.tar.xz

A run has four phases, all inside ``--budget-s`` seconds counted from the start of the process:

1. **prepare** the data directory from ``--input``: a bundle made by ``bundle`` (extracted), an
   OEIS ``stripped(.gz)`` file (built with :func:`nextterm.data.build.build`), or a directory
   that ``nextterm data build`` wrote (used in place);
2. **train** with :func:`nextterm.train.loop.train`, the one training loop: ``auto_batch`` picks
   the largest micro-batch that fits (and compiles the model), the loop runs for ``--train-s``
   seconds at most and ends by ``budget - reserve``, with the schedule's cooldown ending then;
   it evaluates validation loss and next-term accuracy and writes ``final_latest``;
3. **export** ``final_latest`` in bfloat16 into ``--out``: at most :data:`MAX_FILES` files of at
   most :data:`MAX_FILE_BYTES` each and :data:`MAX_TOTAL_BYTES` in all (what a remote machine may
   hand back); the ``--reserve-s`` seconds are kept for the final evaluation and this export;
4. **report**: ``results.json`` with the machine, every phase's time, the batch probe, the
   throughput and the evaluation.

``--out`` then holds ``model*.safetensors`` (the weight shards), ``checkpoint.tar`` (the
checkpoint's other files and ``train_config.json``: ``tar -xf OUT/checkpoint.tar -C OUT`` makes
``OUT`` a loadable checkpoint directory), ``metrics.jsonl``, ``loss.png`` and ``results.json``.
The data, the run directory (float32 checkpoints with optimizer state) and the export staging
live in ``--work``.

The bundle is a ``.tar.xz`` of a built data directory's ``val.packed``, ``val.jsonl``,
``summary.json`` and ``train.packed``, or of a uniform random ``--fraction`` of the training
sequences (the whole OEIS build, 131 MB, compresses to 77 MiB: more than a run may carry).
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # before the heavy imports: the budget counts them too

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from nextterm.errors import NextTermError  # noqa: E402

MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2**20
MAX_TOTAL_BYTES = 64 * 2**20
SHARD_BYTES = 15 * 2**20
"""Tensor bytes per weight shard: the safetensors header and alignment stay inside 16 MiB."""
BUNDLE_REQUIRED = ("train.packed", "val.packed", "val.jsonl")
BUNDLE_FILES = (*BUNDLE_REQUIRED, "summary.json")
CHECKPOINT_TAR = "checkpoint.tar"
RESULTS_FILE = "results.json"


class TimedRunError(NextTermError):
    """A timed run cannot start with the given input, output folder or budget, or broke a limit."""


def _now() -> float:
    return time.monotonic() - STARTED


# -- data -------------------------------------------------------------------------------------


def bundle_data(
    data_dir: str | Path, path: str | Path, fraction: float = 1.0, seed: int = 0
) -> dict:
    """Write ``path`` (.tar.xz) from a built data directory, with ``fraction`` of its training
    sequences (a uniform random sample, in file order); returns what went in."""
    import numpy as np

    from nextterm.data.packed import PackedReader, PackedWriter

    data_dir, path = Path(data_dir), Path(path)
    if not 0.0 < fraction <= 1.0:
        raise TimedRunError(f"--fraction must be in (0, 1], got {fraction}")
    missing = [name for name in BUNDLE_REQUIRED if not (data_dir / name).is_file()]
    if missing:
        raise TimedRunError(
            f"{data_dir} lacks {', '.join(missing)}: build it with `nextterm data build`"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".bundle-") as staging:
        train = data_dir / "train.packed"
        reader = PackedReader(train)
        if fraction < 1.0:
            keep = np.sort(
                np.random.default_rng(seed).permutation(len(reader))[
                    : round(fraction * len(reader))
                ]
            )
            train = Path(staging) / "train.packed"
            with PackedWriter(train) as writer:
                for index in keep.tolist():
                    writer.add(reader[index])
        sequences, tokens = len(PackedReader(train)), PackedReader(train).total_tokens
        partial = Path(staging) / path.name
        with tarfile.open(partial, "w:xz") as archive:
            for name in BUNDLE_FILES:
                source = train if name == "train.packed" else data_dir / name
                if source.is_file():
                    archive.add(source, arcname=name)
        os.replace(partial, path)
    return {
        "bundle": str(path),
        "bytes": path.stat().st_size,
        "fraction": fraction,
        "train_sequences": sequences,
        "train_tokens": tokens,
    }


def prepare_data(
    source: str | Path, work: Path, build_config: str | None = None
) -> tuple[Path, str]:
    """The data directory for ``source`` (bundle, stripped file or data directory) and its kind."""
    source = Path(source)
    if source.is_dir():
        missing = [name for name in BUNDLE_REQUIRED if not (source / name).is_file()]
        if missing:
            raise TimedRunError(f"data directory {source} lacks {', '.join(missing)}")
        return source, "directory"
    if not source.is_file():
        raise TimedRunError(
            f"no input at {source}: give a data bundle, a stripped(.gz) file or a data directory"
        )
    data = work / "data"
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:
            names = set(archive.getnames())
            missing = [name for name in BUNDLE_REQUIRED if name not in names]
            if missing:
                raise TimedRunError(f"{source} is not a data bundle: it lacks {', '.join(missing)}")
            archive.extractall(
                data,
                members=[m for m in archive.getmembers() if m.name in BUNDLE_FILES],
                filter="data",
            )
        return data, "bundle"
    from nextterm.data.build import BuildConfig, build, load_config

    build(
        source, data, load_config(build_config) if build_config else BuildConfig(), progress=False
    )
    return data, "build"


# -- export -----------------------------------------------------------------------------------


def _copy_into(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically (through a temporary name beside the target)."""
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def export_run(run: Path, out: Path, staging: Path) -> dict[str, int]:
    """bf16 shards, checkpoint.tar, metrics and plot of ``run`` into ``out``; name -> bytes."""
    import torch

    from nextterm.models.checkpoint import load_checkpoint, read_meta, save_checkpoint
    from nextterm.train.checkpoints import FINAL_LATEST, no_transformers_bars
    from nextterm.train.loop import CONFIG_FILE, METRICS_FILE, PLOT_FILE

    final = run / FINAL_LATEST
    meta = {**read_meta(final), "exported": {"from": FINAL_LATEST, "dtype": "bfloat16"}}
    with no_transformers_bars():
        model = load_checkpoint(final, dtype=torch.bfloat16)
        exported = save_checkpoint(
            model, staging / "checkpoint", meta=meta, max_shard_size=SHARD_BYTES
        )
    out.mkdir(parents=True, exist_ok=True)
    shards = sorted(p for p in exported.iterdir() if p.suffix == ".safetensors")
    for shard in shards:
        _copy_into(shard, out / shard.name)
    archive = staging / CHECKPOINT_TAR
    with tarfile.open(archive, "w") as handle:
        for path in sorted(exported.iterdir()):
            if path not in shards:
                handle.add(path, arcname=path.name)
        handle.add(run / CONFIG_FILE, arcname=CONFIG_FILE)
    _copy_into(archive, out / CHECKPOINT_TAR)
    for name in (METRICS_FILE, PLOT_FILE):
        _copy_into(run / name, out / name)
    return {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}


def check_limits(out: Path) -> list[str]:
    """What in ``out`` breaks the limits on returned files (empty when nothing does)."""
    files = [p for p in out.iterdir()]
    problems = [f"{p.name} is not a plain file" for p in files if not p.is_file()]
    sizes = {p.name: p.stat().st_size for p in files if p.is_file()}
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} entries, more than {MAX_FILES}")
    problems += [
        f"{name} has {size:,} bytes, over {MAX_FILE_BYTES:,}"
        for name, size in sizes.items()
        if size > MAX_FILE_BYTES
    ]
    if sum(sizes.values()) > MAX_TOTAL_BYTES:
        problems.append(f"{sum(sizes.values()):,} bytes in all, over {MAX_TOTAL_BYTES:,}")
    return problems


# -- the run ----------------------------------------------------------------------------------


def _machine(device: str) -> dict:
    import torch
    import transformers

    return {
        "device": device,
        "device_name": torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else platform.processor() or "cpu",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def _summary(records: list[dict], result, parameters: int) -> dict:
    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    steady = train[1:] or train  # the first step warms up the compiled graph and the allocator
    mfus = [r["mfu"] for r in steady if r.get("mfu") is not None]
    return {
        "steps": result.steps,
        "tokens": result.tokens,
        "tokens_per_parameter": result.tokens / parameters,
        "tokens_per_second": result.tokens_per_second,
        "mean_mfu": sum(mfus) / len(mfus) if mfus else None,
        "final_loss": result.final_loss,
        "val_loss": result.val_loss,
        "next_term_accuracy": evals[-1].get("next_term_accuracy") if evals else None,
        "eval_seconds": evals[-1].get("seconds") if evals else None,
    }


def run(args: argparse.Namespace) -> int:
    """Prepare, train, export and report; exits non-zero if a returned-file limit is broken."""
    from nextterm.train.config import load_config

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise TimedRunError(f"--out {out} is not empty: the run must own every file in it")
    if args.reserve_s <= 0 or args.train_s <= 0 or args.budget_s <= args.reserve_s:
        raise TimedRunError("need --train-s > 0 and --budget-s > --reserve-s > 0")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="nextterm-timed-"))
    run_dir = work / "run"
    if run_dir.exists():
        raise TimedRunError(f"{run_dir} already exists: give another --work")
    phases: dict[str, float] = {"imports": _now()}

    data, kind = prepare_data(args.input, work, args.build_config)
    phases["prepare"] = _now() - sum(phases.values())
    print(f"[{_now():6.1f} s] data ready ({kind}) in {data}", flush=True)

    train_started = _now()
    from nextterm.train.loop import CONFIG_FILE, METRICS_FILE, train

    config = load_config(
        args.config,
        data=str(data),
        out=str(run_dir),
        tokens=args.tokens,
        time_budget_s=args.train_s,
        auto_batch=True,
    )
    deadline = STARTED + args.budget_s - args.reserve_s
    result = train(config, progress=False, deadline=deadline)
    phases["setup"] = _now() - train_started - result.loop_seconds
    phases["train_loop"] = result.loop_seconds
    print(
        f"[{_now():6.1f} s] trained {result.tokens:,} tokens in {result.steps} steps "
        f"(setup {phases['setup']:.1f} s: imports, model, compilation, batch probe)",
        flush=True,
    )

    export_started = _now()
    with tempfile.TemporaryDirectory(dir=work, prefix="export-") as staging:
        files = export_run(run_dir, out, Path(staging))
    phases["export"] = _now() - export_started

    resolved = json.loads((run_dir / CONFIG_FILE).read_text())
    records = [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]
    parameters = resolved["resolved"]["parameters"]
    results = {
        "machine": _machine(resolved["resolved"]["device"]),
        "preset": config.preset,
        "parameters": parameters,
        "context_len": config.context_len,
        "input": {
            "path": str(args.input),
            "bytes": Path(args.input).stat().st_size if Path(args.input).is_file() else None,
            "kind": kind,
        },
        "budget": {"budget_s": args.budget_s, "train_s": args.train_s, "reserve_s": args.reserve_s},
        "micro_batch_tokens": result.micro_batch_tokens,
        "probe": [r for r in records if r.get("kind") == "probe"],
        "run": _summary(records, result, parameters),
        "phases_s": {name: round(value, 2) for name, value in phases.items()},
        "total_s": round(_now(), 2),
        "files": files,
        "config": resolved,
    }
    results["within_budget"] = results["total_s"] <= args.budget_s
    temporary = out / f".{RESULTS_FILE}.tmp"
    temporary.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(temporary, out / RESULTS_FILE)
    problems = check_limits(out)
    print(
        f"[{_now():6.1f} s] wrote {out}: " + ", ".join(sorted(p.name for p in out.iterdir())),
        flush=True,
    )
    summary = results["run"]
    print(
        f"val loss {summary['val_loss']:.4f}, next-term accuracy {summary['next_term_accuracy']}, "
        f"{summary['tokens_per_second']:,.0f} tokens/s, {summary['tokens_per_parameter']:.1f} tokens/parameter, "
        f"micro-batch {result.micro_batch_tokens:,} tokens, total {results['total_s']:.1f} s of {args.budget_s:g}",
        flush=True,
    )
    if problems:
        raise TimedRunError("returned files break the limits: " + "; ".join(problems))
    return 0


def _bundle(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    report = bundle_data(args.data, args.out, args.fraction, args.seed)
    print(json.dumps({**report, "seconds": round(time.perf_counter() - started, 1)}, indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nextterm.train.timed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--config", help="TOML training config (the model, batch and evaluation settings)"
    )
    parser.add_argument(
        "--input", help="data bundle (.tar.xz), stripped(.gz) file, or built data directory"
    )
    parser.add_argument("--out", help="folder for the returned files (must be empty or absent)")
    parser.add_argument(
        "--work", help="scratch folder for data, run and export (default: a new temporary one)"
    )
    parser.add_argument(
        "--budget-s", type=float, default=540.0, help="wall-clock seconds for the whole run"
    )
    parser.add_argument(
        "--train-s", type=float, default=420.0, help="most seconds of training steps"
    )
    parser.add_argument(
        "--reserve-s",
        type=float,
        default=45.0,
        help="seconds kept at the end for the final evaluation, checkpoint and export",
    )
    parser.add_argument(
        "--tokens", type=int, help="token cap (the time limit usually ends the run first)"
    )
    parser.add_argument("--build-config", help="BuildConfig JSON for a stripped(.gz) input")
    commands = parser.add_subparsers(dest="command")
    bundle = commands.add_parser(
        "bundle", help="pack a built data directory into a carried .tar.xz"
    )
    bundle.add_argument("--data", required=True, help="directory made by `nextterm data build`")
    bundle.add_argument("--out", required=True, help="bundle file to write (.tar.xz)")
    bundle.add_argument(
        "--fraction", type=float, default=1.0, help="share of training sequences kept"
    )
    bundle.add_argument(
        "--seed", type=int, default=0, help="seed of the sample of training sequences"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "bundle":
            return _bundle(args)
        missing = [flag for flag in ("config", "input", "out") if not getattr(args, flag)]
        if missing:
            parser.error(
                "the following arguments are required: " + ", ".join(f"--{f}" for f in missing)
            )
        return run(args)
    except NextTermError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception:  # a bug: the traceback goes to stderr, the only log a remote run hands back
        traceback.print_exc()
        return 70


if __name__ == "__main__":
    sys.exit(main())
