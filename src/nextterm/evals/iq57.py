"""IQ-57 (the card's "Ryskina & Knight" column): 57 puzzle sequences, predict the last term.

Data: ``iq57.jsonl``, one ``{"seq": [...], "source": url}`` a line; every term but the last is
shown.
"""

from __future__ import annotations

from pathlib import Path

from nextterm.evals.common import (
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
from nextterm.sequences import SequenceError, validate_terms


def load_items(path: Path) -> list[EvalItem]:
    """One item per line: prompt = all terms but the last, answer = the last."""
    items = []
    for number, record in enumerate(read_jsonl(path), start=1):
        try:
            terms = validate_terms(record["seq"])
        except (KeyError, TypeError, SequenceError) as error:
            raise EvalError(f"{path}:{number}: bad 'seq' ({error})") from error
        if len(terms) < 2:
            raise EvalError(f"{path}:{number}: a sequence needs at least 2 terms")
        items.append(
            EvalItem(
                id=f"iq57-{number}",
                prompt=tuple(terms[:-1]),
                answer=terms[-1],
                meta={"source": record.get("source", "")},
            )
        )
    return items


def run(predictor: Predictor, path: Path, *, batch_size: int = 32) -> BenchmarkResult:
    """Score ``predictor`` on every IQ-57 item."""
    results = run_items(predictor, load_items(path), batch_size=batch_size, desc="iq57")
    summary = {
        "items": len(results),
        "accuracy": accuracy(results),
        "top_k_accuracy": top_k_accuracy(results),
        "methods": method_counts(results),
        "data": str(path),
    }
    return BenchmarkResult("iq57", summary, [r.to_dict() for r in results])
