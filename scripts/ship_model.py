"""Install a trained checkpoint as the package's default model, with a model card.

    python scripts/ship_model.py runs/default-model/final_latest \
        [--results benchmarks/results/evals-model.json benchmarks/results/evals-hybrid.json]

Copies the checkpoint (without the optimizer state) into ``src/nextterm/assets/<name>/``
atomically, checks it loads, and writes its ``README.md`` model card from the checkpoint's meta
file, the run's ``train_config.json``, the data build's ``summary.json`` and evaluation summaries
written by ``benchmarks/run_evals.py``. Nothing in the card is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import uuid
from pathlib import Path

from nextterm.models.checkpoint import load_checkpoint, read_meta
from nextterm.models.presets import count_parameters
from nextterm.predict import DEFAULT_MODEL_NAME

ASSETS = Path(__file__).resolve().parents[1] / "src" / "nextterm" / "assets"
LEFT_OUT = {"training_state.pt"}
MAX_BYTES = 50 * 1024 * 1024


def _copy_atomically(source: Path, target: Path) -> None:
    staging = target.with_name(f".tmp-{target.name}-{uuid.uuid4().hex[:8]}")
    shutil.copytree(source, staging, ignore=lambda _, names: [n for n in names if n in LEFT_OUT])
    size = sum(path.stat().st_size for path in staging.rglob("*") if path.is_file())
    if size > MAX_BYTES:
        shutil.rmtree(staging)
        raise SystemExit(
            f"error: checkpoint is {size / 2**20:.1f} MiB; the package limit is 50 MiB"
        )
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _results_rows(paths: list[Path]) -> list[str]:
    rows = [
        "| predictor | OEIS held-out | IQ-57 | M1-111 MAPE | arith | quad | cubic | quartic |",
        "|---|---|---|---|---|---|---|---|",
    ]
    commands = []
    for path in paths:
        summary = json.loads(path.read_text())
        bench = summary["benchmarks"]
        degrees = bench.get("polynomial", {}).get("per_degree", {})
        mape = bench.get("m1", {}).get("mape")
        rows.append(
            f"| {summary['predictor']} | {_percent(bench.get('oeis', {}).get('accuracy'))} "
            f"| {_percent(bench.get('iq57', {}).get('accuracy'))} "
            f"| {'n/a' if mape is None else f'{mape:.4f}'} "
            + " ".join(
                f"| {_percent(degrees.get(name))}"
                for name in ("arithmetic", "quadratic", "cubic", "quartic")
            )
            + " |"
        )
        commands.append(f"- `{summary['command']}` ({summary['machine']})")
    return rows + ["", "Measured with:", *commands]


def model_card(checkpoint: Path, run: Path, results: list[Path]) -> str:
    """The Markdown model card of ``checkpoint`` (trained in run directory ``run``)."""
    meta = read_meta(checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    train_config = json.loads((run / "train_config.json").read_text())
    data_summary_path = Path(train_config["data"]) / "summary.json"
    data = json.loads(data_summary_path.read_text()) if data_summary_path.exists() else {}
    parameters = count_parameters(load_checkpoint(checkpoint))
    packed = data.get("train_packed", {})
    hours = meta.get("elapsed_s", 0) / 3600
    resolved = train_config.get("resolved", {})
    hardware = resolved.get("device_name") or train_config["device"]
    if train_config["device"] == "cpu":
        hardware += f", {train_config.get('threads') or 'all'} thread(s)"
    lines = [
        f"# {DEFAULT_MODEL_NAME}",
        "",
        "The NextTerm model shipped inside the `nextterm` package and used by `nextterm predict` by",
        "default (after the exact solvers). A Qwen3-style causal LM over the 16-token digit",
        "vocabulary (0-9, `-`=10, `,`=11, BOS 12, EOS 13, PAD 14, 15 reserved).",
        "",
        "| field | value |",
        "|---|---|",
        f"| preset | `{train_config['preset']}` |",
        f"| parameters | {parameters:,} |",
        f"| layers / hidden / FFN / heads / KV heads | {config['num_hidden_layers']} / "
        f"{config['hidden_size']} / {config['intermediate_size']} / "
        f"{config['num_attention_heads']} / {config['num_key_value_heads']} |",
        f"| context (trained and served) | {train_config['context_len']} tokens |",
        f"| tokens trained | {meta.get('tokens_trained', 0):,} |",
        f"| final validation loss | {meta.get('val_loss') or float('nan'):.4f} |",
        f"| optimizer | Muon lr {train_config['muon_lr']} (2-D weights) + AdamW lr "
        f"{train_config['adamw_lr']} (the rest); warmup, cosine to "
        f"{train_config['min_lr_ratio']}x, cooldown to 0 |",
        f"| hardware | {hardware}, {resolved.get('compute_dtype', 'float32')}; {platform.machine()} |",
        f"| training time | {hours:.2f} h |",
        "",
        "## Data",
        "",
        f"Built by `nextterm data build` from the OEIS `stripped.gz` "
        f"({data.get('sequences', {}).get('read', 'n/a')} sequences read). Training split only: "
        f"{data.get('splits', {}).get('train', 'n/a')} sequences, plus augmented and synthetic "
        f"ones: {packed.get('sequences', 'n/a')} sequences, {packed.get('tokens', 'n/a')} tokens "
        "in `train.packed`. The held-out split never entered training; decontamination removed "
        "training sequences containing a held-out item's last 10 terms.",
        "",
        "## Results",
        "",
        *(_results_rows(results) if results else ["No evaluation summaries were given."]),
        "",
        "## Reproduce",
        "",
        "`make train-default` (data build, CPU training with `configs/default-model.toml`, this",
        "script), or the timed single-GPU run: `make gpu-input`, `bash scripts/gpu_train.sh OUT` on",
        "the GPU machine (`configs/gpu-timed.toml`), then `make ship-gpu GPU_OUT=OUT`.",
        "",
        "Data: The On-Line Encyclopedia of Integer Sequences, https://oeis.org (CC BY-SA 4.0).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkpoint", type=Path, help="checkpoint directory (e.g. RUN/final_latest)"
    )
    parser.add_argument("--results", type=Path, nargs="*", default=[], help="run_evals summaries")
    parser.add_argument("--name", default=DEFAULT_MODEL_NAME, help="asset folder name")
    args = parser.parse_args(argv)
    target = ASSETS / args.name
    target.parent.mkdir(parents=True, exist_ok=True)
    card = model_card(args.checkpoint, args.checkpoint.parent, args.results)
    _copy_atomically(args.checkpoint, target)
    (target / "README.md").write_text(card)
    load_checkpoint(target)
    print(f"installed {args.checkpoint} -> {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
