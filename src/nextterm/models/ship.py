"""Install a trained checkpoint as the package's default model, with a model card.

``nextterm model ship CHECKPOINT --results SUMMARY...`` copies the checkpoint (without its
training state, with the ``ranker.json`` that ``nextterm calibrate`` wrote beside it) into
``nextterm/assets/nextterm-default``, atomically, after checking that it loads. Its ``README.md``
model card is written from the model's config object, the checkpoint's meta file, the run's
``train_config.json``, the data build's ``summary.json`` and the evaluation summaries written by
``benchmarks/run_evals.py``: nothing in the card is typed by hand.

Given ``--current`` (the shipped model's summaries), it refuses a candidate that is not more
accurate on the OEIS held-out items than the shipped model in every pair of summaries (same
predictor kind, same data file, limit, seed and item count). See docs/checkpoint-layout.md.
"""

from __future__ import annotations

import json
import platform
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextterm.errors import NextTermError
from nextterm.predict import DEFAULT_MODEL_NAME, RANKER_FILE

DEFAULT_TARGET = Path(__file__).resolve().parents[1] / "assets" / DEFAULT_MODEL_NAME
"""Where the shipped model lives: the package's own assets folder."""
LEFT_OUT = frozenset({"training_state.pt"})
"""Checkpoint files that stay behind: the optimizer state is only needed to resume training."""
MAX_BYTES = 50 * 1024 * 1024
"""The largest checkpoint the package carries."""
CARD_FILE = "README.md"
_SAME = ("data", "limit", "seed", "items")
"""Fields of the OEIS benchmark that must agree for two accuracies to be comparable."""


class ShipError(NextTermError):
    """A checkpoint cannot be shipped: unreadable inputs, too large, or not better than the shipped one."""


@dataclass(frozen=True)
class Comparison:
    """The OEIS held-out accuracy of one predictor kind, shipped model against candidate."""

    predictor: str
    current: float
    candidate: float

    @property
    def better(self) -> bool:
        return self.candidate > self.current

    def line(self) -> str:
        verdict = "better" if self.better else "not better"
        return f"{self.predictor}: {100 * self.current:.2f}% -> {100 * self.candidate:.2f}% ({verdict})"


def read_summary(path: Path) -> dict[str, Any]:
    """A ``run_evals`` summary (``predictor``, ``benchmarks``, ``command``, ``machine``)."""
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ShipError(f"cannot read evaluation summary {path}: {error.strerror}") from error
    except ValueError as error:
        raise ShipError(f"evaluation summary {path} is not valid JSON") from error
    if not (
        isinstance(summary, dict)
        and isinstance(summary.get("predictor"), str)
        and isinstance(summary.get("benchmarks"), dict)
    ):
        raise ShipError(f"{path} is not a benchmarks/run_evals.py summary")
    return summary


def predictor_kind(summary: dict[str, Any]) -> str:
    """``nextterm model`` for ``nextterm model (runs/x/final_latest)``: the label without the path."""
    return summary["predictor"].split(" (", 1)[0]


def _oeis(path: Path) -> tuple[str, dict[str, Any]]:
    summary = read_summary(path)
    oeis = summary["benchmarks"].get("oeis")
    if not isinstance(oeis, dict) or not isinstance(oeis.get("accuracy"), (int, float)):
        raise ShipError(f"{path} has no OEIS held-out result")
    return predictor_kind(summary), oeis


def compare(current: list[Path], candidate: list[Path]) -> list[Comparison]:
    """One :class:`Comparison` per pair of summaries; :class:`ShipError` when they do not pair up."""
    if len(current) != len(candidate):
        raise ShipError(
            f"give as many candidate summaries (--results, {len(candidate)}) as summaries of the "
            f"shipped model (--current, {len(current)})"
        )
    rows = []
    for old_path, new_path in zip(current, candidate, strict=True):
        (old_kind, old), (new_kind, new) = _oeis(old_path), _oeis(new_path)
        if old_kind != new_kind:
            raise ShipError(f"{old_path} is predictor {old_kind!r}, {new_path} is {new_kind!r}")
        differ = [field for field in _SAME if old.get(field) != new.get(field)]
        if differ:
            raise ShipError(
                f"{old_path} and {new_path} were measured on different items "
                f"({', '.join(differ)} differ)"
            )
        rows.append(Comparison(old_kind, float(old["accuracy"]), float(new["accuracy"])))
    return rows


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _results_rows(summaries: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| predictor | OEIS held-out | IQ-57 | M1-111 MAPE | arith | quad | cubic | quartic |",
        "|---|---|---|---|---|---|---|---|",
    ]
    commands = []
    for summary in summaries:
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
        commands.append(f"- `{summary.get('command', 'n/a')}` ({summary.get('machine', 'n/a')})")
    return rows + ["", "Measured with:", *commands]


def _train_config(run: Path):
    """The run's :class:`~nextterm.train.config.TrainConfig` and its ``resolved`` facts."""
    from nextterm.train.config import make_config
    from nextterm.train.loop import CONFIG_FILE

    path = run / CONFIG_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ShipError(
            f"cannot read {path} ({error.strerror}): the model card needs the training run's "
            "config; name the run directory with --run"
        ) from error
    except ValueError as error:
        raise ShipError(f"{path} is not valid JSON") from error
    if not isinstance(values, dict):
        raise ShipError(f"{path} does not hold a training config")
    resolved = values.pop("resolved", {})
    return make_config(values), resolved


def _architecture(config) -> str:
    if config.model_type == "seqcond":
        return "A SeqCond hybrid (SCA + transformer blocks) causal LM"
    return "A Qwen3-style causal LM"


def model_card(checkpoint: Path, run: Path, summaries: list[dict[str, Any]], name: str) -> str:
    """The Markdown model card of ``checkpoint``, trained in run directory ``run``."""
    from nextterm.models.checkpoint import read_meta, read_model_config, weight_shapes

    config = read_model_config(checkpoint)
    meta = read_meta(checkpoint)
    train, resolved = _train_config(run)
    data_summary_path = Path(train.data) / "summary.json"
    data = json.loads(data_summary_path.read_text()) if data_summary_path.is_file() else {}
    parameters = meta.get("parameters") or sum(
        _product(shape) for shape in weight_shapes(checkpoint).values()
    )
    packed = data.get("train_packed", {})
    hours = meta.get("elapsed_s", 0) / 3600
    hardware = resolved.get("device_name") or train.device
    if train.device == "cpu":
        hardware += f", {train.threads or 'all'} thread(s)"
    lines = [
        f"# {name}",
        "",
        "The NextTerm model shipped inside the `nextterm` package and used by `nextterm predict` by",
        f"default (after the exact solvers). {_architecture(config)} over the 16-token digit",
        "vocabulary (0-9, `-`=10, `,`=11, BOS 12, EOS 13, PAD 14, 15 reserved).",
        "",
        "| field | value |",
        "|---|---|",
        f"| preset | `{train.preset}` |",
        f"| parameters | {parameters:,} |",
        f"| layers / hidden / FFN / heads / KV heads | {config.num_hidden_layers} / "
        f"{config.hidden_size} / {config.intermediate_size} / "
        f"{config.num_attention_heads} / {config.num_key_value_heads} |",
        f"| context (trained and served) | {train.context_len} tokens |",
        f"| tokens trained | {meta.get('tokens_trained', 0):,} |",
        f"| final validation loss | {meta.get('val_loss') or float('nan'):.4f} |",
        f"| optimizer | Muon lr {train.muon_lr} (2-D weights) + AdamW lr "
        f"{train.adamw_lr} (the rest); warmup, cosine to "
        f"{train.min_lr_ratio}x, cooldown to 0 |",
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
        *(_results_rows(summaries) if summaries else ["No evaluation summaries were given."]),
        "",
        "## Reproduce",
        "",
        "`make train-default` (data build, CPU training with `configs/default-model.toml`,",
        "`nextterm model ship`), or the timed single-GPU run: `make gpu-input`,",
        "`bash scripts/gpu_train.sh OUT` on the GPU machine (`configs/gpu-timed.toml`), then",
        "`make ship-gpu GPU_OUT=OUT`.",
        "",
        "Data: The On-Line Encyclopedia of Integer Sequences, https://oeis.org (CC BY-SA 4.0).",
        "",
    ]
    return "\n".join(lines)


def _product(shape: list[int]) -> int:
    result = 1
    for size in shape:
        result *= size
    return result


def _install(source: Path, target: Path, card: str) -> None:
    """Copy ``source`` beside ``target`` with its card, check it loads, then swap it into place."""
    from nextterm.models.checkpoint import load_checkpoint, replace_directory

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(
            source, staging, ignore=lambda _, names: [n for n in names if n in LEFT_OUT]
        )
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
        size = sum(path.stat().st_size for path in staging.rglob("*") if path.is_file())
        if size > MAX_BYTES:
            raise ShipError(
                f"{source} is {size / 2**20:.1f} MiB without its training state; the package "
                f"carries at most {MAX_BYTES // 2**20} MiB"
            )
        load_checkpoint(staging)
        replace_directory(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


@dataclass(frozen=True)
class Shipped:
    """What :func:`ship` did: where the model went, and how it compared."""

    target: Path
    comparisons: list[Comparison]
    ranker: bool


def ship(
    checkpoint: str | Path,
    results: list[Path] | None = None,
    current: list[Path] | None = None,
    target: Path = DEFAULT_TARGET,
    run: Path | None = None,
) -> Shipped:
    """Install ``checkpoint`` at ``target`` (replacing what is there) with its model card.

    ``results``: the candidate's evaluation summaries, quoted in the card. ``current``: the shipped
    model's summaries; when given, a candidate not better in every pair raises :class:`ShipError`
    and nothing is written. ``run``: the training run directory (default: the checkpoint's parent).
    """
    from nextterm.models.checkpoint import resolve_checkpoint

    source = resolve_checkpoint(checkpoint)
    results = list(results or [])
    comparisons = compare(list(current), results) if current else []
    worse = [row for row in comparisons if not row.better]
    if worse:
        raise ShipError(
            f"{source} is not better than the shipped model, not installed: "
            + "; ".join(row.line() for row in worse)
        )
    summaries = [read_summary(path) for path in results]
    card = model_card(source, run or source.parent, summaries, target.name)
    _install(source, Path(target), card)
    return Shipped(Path(target), comparisons, (source / RANKER_FILE).is_file())
