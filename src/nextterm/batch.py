"""``nextterm predict --file``: many sequences in one process, one result per line.

The file holds one sequence a line (any spelling :func:`~nextterm.sequences.parse_terms` accepts;
blank lines are skipped). Every line is parsed before the predictor loads, so a bad line stops the
run at once with its line number. The sequences then go through the predictor in batches and each
result is written as soon as its batch is done: a text line (the best continuation, its confidence
and why) or a JSON object (JSONL), with a progress bar on standard error when that is a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from nextterm.candidates import Candidate
from nextterm.sequences import SequenceError, parse_terms

BATCH_SIZE = 64
"""Sequences per predictor call: large enough to batch the model's work, small enough that
results stream out."""


@dataclass(frozen=True)
class Item:
    """One sequence of the file and the line it came from (counted from 1)."""

    line: int
    terms: list[int]


def read_items(handle: IO[str], name: str) -> list[Item]:
    """Every non-blank line of ``handle`` parsed; a bad line raises :class:`SequenceError` naming
    ``name`` and the line."""
    items = []
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            items.append(Item(number, parse_terms(text)))
        except SequenceError as error:
            raise SequenceError(f"{name}, line {number}: {error}") from None
    if not items:
        raise SequenceError(f"{name} holds no sequences: write one sequence a line")
    return items


def _batches(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_batch(
    items: list[Item],
    predict_batch: Callable[[list[list[int]]], list[list[Candidate]]],
    write: Callable[[Item, list[Candidate]], None],
    progress: bool = False,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Predict every item through ``predict_batch`` (one call per batch) and ``write`` each result
    in the file's order; returns how many items got no candidate."""
    from tqdm import tqdm

    unanswered = 0
    with tqdm(
        total=len(items), unit="seq", disable=not progress, file=sys.stderr, leave=False
    ) as bar:
        for batch in _batches(items, batch_size):
            for item, candidates in zip(batch, predict_batch([item.terms for item in batch])):
                unanswered += not candidates
                write(item, candidates)
            bar.update(len(batch))
    return unanswered


def text_line(candidates: list[Candidate], describe: Callable[[Candidate], str]) -> str:
    """The text result of one sequence: its best candidate described, or that there is none."""
    return describe(candidates[0]) if candidates else "no credible continuation"


def json_line(item: Item, candidates: list[Candidate]) -> str:
    """The JSONL result of one sequence."""
    return json.dumps(
        {
            "line": item.line,
            "terms": item.terms,
            "candidates": [candidate.to_dict() for candidate in candidates],
        }
    )
