"""Shared pieces of every next-term benchmark: items, batched prediction, exact-match scoring.

A benchmark item shows some terms (``prompt``) and hides the next one (``answer``). Items run
through any predictor (the ``nextterm.predict`` protocol: ``predict_batch(sequences, n_terms,
top_k) -> list[list[Candidate]]``) in chunks with a tqdm progress bar; the top-ranked candidate is
the prediction, scored by exact match. An empty candidate list is "no answer" (scored wrong).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nextterm.candidates import Candidate
from nextterm.errors import NextTermError
from nextterm.predict import Predictor
from nextterm.sequences import format_terms


class EvalError(NextTermError):
    """A benchmark cannot run: missing or malformed data, or a bad option."""


@dataclass(frozen=True)
class EvalItem:
    """One next-term question: show ``prompt``, expect ``answer``; ``meta`` goes to the JSONL."""

    id: str
    prompt: tuple[int, ...]
    answer: int
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ItemResult:
    """How a predictor did on one item."""

    item: EvalItem
    prediction: int | None
    method: str
    confidence: float
    top_k: tuple[int, ...]

    @property
    def correct(self) -> bool:
        return self.prediction is not None and self.prediction == self.item.answer

    def to_dict(self) -> dict[str, Any]:
        """The per-item JSONL record."""
        return {
            "id": self.item.id,
            "prompt": format_terms(self.item.prompt),
            "answer": self.item.answer,
            "prediction": self.prediction,
            "method": self.method,
            "confidence": self.confidence,
            "correct": self.correct,
            "top_k": list(self.top_k),
            **self.item.meta,
        }


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    if size < 1:
        raise EvalError(f"batch size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict_in_batches(
    predictor: Predictor,
    sequences: Sequence[Sequence[int]],
    *,
    n_terms: int = 1,
    top_k: int = 5,
    batch_size: int = 32,
    desc: str = "predict",
) -> list[list[Candidate]]:
    """Call ``predictor.predict_batch`` on chunks of ``sequences``, with a progress bar."""
    results: list[list[Candidate]] = []
    with tqdm(total=len(sequences), desc=desc, unit="seq", leave=False) as bar:
        for chunk in chunks(sequences, batch_size):
            answers = predictor.predict_batch(
                [list(s) for s in chunk], n_terms=n_terms, top_k=top_k
            )
            if len(answers) != len(chunk):
                raise EvalError(
                    f"predictor {getattr(predictor, 'name', predictor)!r} returned "
                    f"{len(answers)} answers for {len(chunk)} sequences"
                )
            results.extend(answers)
            bar.update(len(chunk))
    return results


def run_items(
    predictor: Predictor,
    items: Sequence[EvalItem],
    *,
    top_k: int = 5,
    batch_size: int = 32,
    desc: str = "predict",
) -> list[ItemResult]:
    """Predict the next term of every item and pair each item with its result."""
    answers = predict_in_batches(
        predictor,
        [item.prompt for item in items],
        n_terms=1,
        top_k=top_k,
        batch_size=batch_size,
        desc=desc,
    )
    results = []
    for item, candidates in zip(items, answers):
        best = candidates[0] if candidates else None
        results.append(
            ItemResult(
                item=item,
                prediction=best.value if best else None,
                method=best.method if best else "none",
                confidence=float(best.confidence) if best else 0.0,
                top_k=tuple(c.value for c in candidates[:top_k]),
            )
        )
    return results


def accuracy(results: Sequence[ItemResult]) -> float:
    """Exact-match accuracy (0..1) of the top-ranked predictions; 0 for no results."""
    return sum(r.correct for r in results) / len(results) if results else 0.0


def top_k_accuracy(results: Sequence[ItemResult]) -> float:
    """Share of items whose answer is among the returned candidates."""
    return sum(r.item.answer in r.top_k for r in results) / len(results) if results else 0.0


def method_counts(results: Sequence[ItemResult]) -> dict[str, dict[str, int]]:
    """Per answering method: how many items it answered and how many it got right."""
    counts: dict[str, dict[str, int]] = {}
    for result in results:
        entry = counts.setdefault(result.method, {"answered": 0, "correct": 0})
        entry["answered"] += 1
        entry["correct"] += int(result.correct)
    return dict(sorted(counts.items()))


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write one JSON object per line (integers of any size stay exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file, with a one-line error naming the file and line on bad input."""
    if not path.is_file():
        raise EvalError(f"data file not found: {path}")
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise EvalError(f"{path}:{number}: not valid JSON ({error.msg})") from error
    return records


@dataclass
class BenchmarkResult:
    """What one benchmark run produced: a JSON-ready summary and the per-item records.

    ``tables`` holds any further per-item record sets (file stem -> records), e.g. the classical
    forecasters' per-series forecasts for M1.
    """

    name: str
    summary: dict[str, Any]
    records: list[dict[str, Any]]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
