"""OEIS held-out next term (the card's "OEIS-Eval-Neo" protocol) on the data pipeline's split.

Data: the ``heldout.jsonl`` written by ``nextterm data build``: ``{"id", "prompt", "answer"}`` a
line, the prompt as text (``"1,2,3,"``) or a list of integers, the answer an integer (or its
text). The split rule and its size come from the data build: its ``summary.json`` beside the file,
when present, is copied into the summary (``split``). ``limit`` takes a deterministic sample: ``limit`` items drawn by a
seeded generator, kept in file order.

Accuracy is also reported by prompt length (number of terms shown), in power-of-two bins.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

from nextterm.evals.common import (  # noqa: E402
    BenchmarkResult,
    EvalError,
    EvalItem,
    Predictor,
    accuracy,
    method_counts,
    read_jsonl,
    run_items,
    top_k_accuracy,
)
from nextterm.sequences import SequenceError, parse_terms, validate_terms  # noqa: E402


def _terms(value: object) -> list[int]:
    return parse_terms(value) if isinstance(value, str) else validate_terms(value)


def _answer(value: object) -> int:
    terms = parse_terms(value) if isinstance(value, str) else validate_terms([value])
    if len(terms) != 1:
        raise SequenceError(f"answer must be one integer, got {len(terms)} terms")
    return terms[0]


def resolve_heldout(path: Path) -> Path:
    """Accept either the data build directory or the ``heldout.jsonl`` file itself."""
    return path / "heldout.jsonl" if path.is_dir() else path


def split_info(path: Path) -> dict:
    """Split sizes and scalar split settings from the data build's ``summary.json`` beside the
    held-out file (empty when there is none), so every number can carry its split rule."""
    summary_path = resolve_heldout(path).parent / "summary.json"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(summary, dict):
        return {}
    settings = (summary.get("config") or {}).get("split") or {}
    return {
        "sizes": summary.get("splits", {}),
        "rule": {k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool))},
    }


def load_items(path: Path, limit: int | None = None, seed: int = 0) -> list[EvalItem]:
    """Read the held-out items; with ``limit``, a seeded sample of that many, in file order."""
    path = resolve_heldout(path)
    records = read_jsonl(path)
    if limit is not None:
        if limit < 1:
            raise EvalError(f"limit must be at least 1, got {limit}")
        if limit < len(records):
            keep = sorted(random.Random(seed).sample(range(len(records)), limit))
            records = [records[i] for i in keep]
    items = []
    for number, record in enumerate(records, start=1):
        try:
            prompt = _terms(record["prompt"])
            answer = _answer(record["answer"])
        except (KeyError, TypeError, SequenceError) as error:
            raise EvalError(f"{path}: item {record.get('id', number)!r}: {error}") from error
        items.append(
            EvalItem(
                id=str(record.get("id", number)),
                prompt=tuple(prompt),
                answer=answer,
                meta={"prompt_terms": len(prompt)},
            )
        )
    return items


def length_bin(n_terms: int) -> str:
    """Power-of-two bin label of a prompt length: 1, 2-3, 4-7, 8-15, ..."""
    low = 1 << (n_terms.bit_length() - 1)
    high = 2 * low - 1
    return str(low) if low == high else f"{low}-{high}"


def run(
    predictor: Predictor,
    path: Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
) -> BenchmarkResult:
    """Score ``predictor`` on the held-out items (or a ``limit``-sized sample)."""
    items = load_items(path, limit=limit, seed=seed)
    results = run_items(predictor, items, batch_size=batch_size, desc="oeis")
    bins: dict[str, list] = {}
    for result in sorted(results, key=lambda r: len(r.item.prompt)):
        bins.setdefault(length_bin(len(result.item.prompt)), []).append(result)
    summary = {
        "items": len(results),
        "accuracy": accuracy(results),
        "top_k_accuracy": top_k_accuracy(results),
        "by_prompt_length": {
            label: {"items": len(group), "accuracy": accuracy(group)}
            for label, group in bins.items()
        },
        "methods": method_counts(results),
        "data": str(resolve_heldout(path)),
        "split": split_info(path),
        "limit": limit,
        "seed": seed,
    }
    return BenchmarkResult("oeis", summary, [r.to_dict() for r in results])


def plot(result: BenchmarkResult, path: Path, label: str = "predictor") -> None:
    """Accuracy by prompt-length bin, with each bin's item count on its bar."""
    bins = result.summary["by_prompt_length"]
    names = list(bins)
    values = [100 * bins[name]["accuracy"] for name in names]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    bars = axes.bar(names, values, color="tab:blue")
    for bar, name in zip(bars, names):
        axes.annotate(
            f"n={bins[name]['items']}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axes.set_xlabel("prompt length (terms shown)")
    axes.set_ylabel("exact-match accuracy (%)")
    axes.set_ylim(0, 105)
    axes.set_title(f"OEIS held-out next term: {label} ({result.summary['items']} items)")
    axes.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
