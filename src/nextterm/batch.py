"""``nextterm predict --file``: many sequences in one process, one result per line.

The file holds one sequence a line (any spelling :func:`~nextterm.sequences.parse_terms` accepts;
blank lines are skipped). Every line is parsed before the predictor loads, so a bad line stops the
run at once with its line number. The sequences then go through the predictor in batches of
similar length (less padding for the model), in this process or spread over worker processes that
each build the same predictor (:class:`Recipe`), and the results are written in the file's order as
soon as every earlier line's is: a text line (the best continuation, its confidence and why) or a
JSON object (JSONL), with a progress bar on standard error when that is a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from nextterm.candidates import Candidate
from nextterm.errors import NextTermError
from nextterm.sequences import SequenceError, parse_terms

BATCH_SIZE = 64
"""Sequences per predictor call: large enough to batch the model's work, small enough that
results stream out."""
WINDOW_BATCHES = 8
"""Batches' worth of consecutive lines sorted by length together: batches of similar lengths,
while results still stream out a window at a time."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

PredictBatch = Callable[[list[list[int]]], list[list[Candidate]]]


@dataclass(frozen=True)
class Item:
    """One sequence of the file and the line it came from (counted from 1)."""

    line: int
    terms: list[int]


@dataclass(frozen=True)
class Recipe:
    """How to build the predictor and ask it, so that a worker process builds the same one:
    :func:`~nextterm.predict.load_predictor`'s arguments and the options of each call."""

    load: dict[str, Any] = field(default_factory=dict)
    n_terms: int = 1
    top_k: int = 3
    min_confidence: float = 0.0

    def bind(self, predictor) -> PredictBatch:
        """``predictor``'s candidates for a batch, those below ``min_confidence`` left out."""

        def predict_batch(sequences: list[list[int]]) -> list[list[Candidate]]:
            found = predictor.predict_batch(sequences, n_terms=self.n_terms, top_k=self.top_k)
            return [[c for c in row if c.confidence >= self.min_confidence] for row in found]

        return predict_batch

    def build(self) -> PredictBatch:
        """A new predictor, bound."""
        from nextterm.predict import load_predictor

        return self.bind(load_predictor(**self.load))


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


def plan_batches(items: list[Item], batch_size: int = BATCH_SIZE) -> list[list[int]]:
    """Indices of ``items`` in batches: each window of :data:`WINDOW_BATCHES` batches' worth of
    lines sorted by the length of their terms written out (about their tokens)."""
    window = batch_size * WINDOW_BATCHES
    batches = []
    for start in range(0, len(items), window):
        lines = range(start, min(start + window, len(items)))
        order = sorted(lines, key=lambda i: sum(len(str(term)) + 1 for term in items[i].terms))
        batches += [order[at : at + batch_size] for at in range(0, len(order), batch_size)]
    return batches


def default_jobs(items: int, batch_size: int = BATCH_SIZE) -> int:
    """One worker per CPU core, at most one per batch (a single batch runs in this process)."""
    return max(1, min(os.cpu_count() or 1, -(-items // batch_size)))


def run_batch(
    items: list[Item],
    recipe: Recipe,
    write: Callable[[Item, list[Candidate]], None],
    *,
    predictor=None,
    jobs: int = 1,
    progress: bool = False,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Predict every item, one call per batch of :func:`plan_batches`: here (through
    ``predictor`` when given, else one ``recipe`` builds) or, with ``jobs`` > 1, in that many
    worker processes that each build ``recipe``; ``write`` each result in the file's order.
    Returns how many items got no candidate."""
    from tqdm import tqdm

    batches = plan_batches(items, batch_size)
    results: dict[int, list[Candidate]] = {}
    written = unanswered = 0
    with tqdm(
        total=len(items), unit="seq", disable=not progress, file=sys.stderr, leave=False
    ) as bar:
        for batch, found in _results(items, batches, recipe, predictor, jobs):
            results.update(zip(batch, found))
            bar.update(len(batch))
            while written in results:
                candidates = results.pop(written)
                unanswered += not candidates
                write(items[written], candidates)
                written += 1
    return unanswered


def _results(
    items: list[Item], batches: list[list[int]], recipe: Recipe, predictor, jobs: int
) -> Iterator[tuple[list[int], list[list[Candidate]]]]:
    """Each batch with its results, in the order of ``batches`` (in this process when ``jobs`` is
    1 or there is one batch, else from a pool of worker processes)."""
    sequences = [[items[i].terms for i in batch] for batch in batches]
    if jobs <= 1 or len(batches) <= 1:
        predict_batch = recipe.build() if predictor is None else recipe.bind(predictor)
        for batch, batch_sequences in zip(batches, sequences):
            yield batch, predict_batch(batch_sequences)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    jobs = min(jobs, len(batches))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    # spawn, not fork: the parent may hold torch's or BLAS's threads, which a fork does not copy
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(recipe, threads),
    )
    try:
        for batch, found in zip(batches, pool.map(_predict_in_worker, sequences)):
            yield batch, found
    except BrokenProcessPool:
        raise NextTermError(
            "a worker process of --file stopped unexpectedly (out of memory?); try --jobs 1"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_worker: PredictBatch | NextTermError | None = None
"""In a worker process: its bound predictor, or the error that building it raised."""


def _start_worker(recipe: Recipe, threads: int) -> None:
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    global _worker
    try:
        _worker = recipe.build()
    except NextTermError as error:  # raised again by the first batch, in the parent's words
        _worker = error


def _predict_in_worker(sequences: list[list[int]]) -> list[list[Candidate]]:
    if isinstance(_worker, NextTermError):
        raise _worker
    if _worker is None:
        raise RuntimeError("worker process used before it started")
    return _worker(sequences)


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
