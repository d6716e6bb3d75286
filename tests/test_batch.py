"""Batch mode (``nextterm predict --file``): batches of similar length, results in file order,
the same answers from worker processes as from one process."""

from __future__ import annotations

import pytest

from nextterm.batch import WINDOW_BATCHES, Item, Recipe, default_jobs, plan_batches, run_batch
from nextterm.errors import NextTermError


def _items(sequences):
    return [Item(line, list(terms)) for line, terms in enumerate(sequences, start=1)]


def test_batches_sort_each_window_by_length_and_cover_every_line_once():
    lengths = [7, 1, 30, 2, 15, 3, 9, 4, 11, 5]
    items = _items([[10**length] for length in lengths])
    batches = plan_batches(items, batch_size=2)
    assert sorted(i for batch in batches for i in batch) == list(range(len(items)))
    order = [i for batch in batches for i in batch]
    assert [lengths[i] for i in order] == sorted(lengths)  # ten lines: one window
    many = _items([[10 ** (50 - line % 50)] for line in range(2 * WINDOW_BATCHES * 2 + 1)])
    windows = plan_batches(many, batch_size=2)
    first_window = {i for batch in windows[:WINDOW_BATCHES] for i in batch}
    assert first_window == set(range(2 * WINDOW_BATCHES))  # a window holds consecutive lines
    assert len(windows[-1]) == 1


def test_default_jobs_is_one_for_a_single_batch():
    assert default_jobs(1, batch_size=64) == 1
    assert default_jobs(64, batch_size=64) == 1
    assert 1 <= default_jobs(10_000, batch_size=64) <= 10_000 // 64 + 1


def _run(items, recipe, **options):
    written = []
    missing = run_batch(items, recipe, lambda item, found: written.append((item, found)), **options)
    return missing, written


def test_worker_processes_give_the_answers_of_one_process_in_file_order():
    sequences = [
        [1, 1, 2, 3, 5, 8, 13],
        [2, 4, 8, 16, 32, 64],
        [1, 4, 9, 16, 25],
        [3, 1, 4, 1, 5, 9, 2, 6],
        [10**20, 2 * 10**20, 3 * 10**20],
        [1, 2, 6, 24, 120, 720],
        [5, 5, 5, 5],
    ]
    items = _items(sequences)
    recipe = Recipe({"kind": "solvers"}, n_terms=2, top_k=2, min_confidence=0.5)
    alone = _run(items, recipe, batch_size=2)
    pooled = _run(items, recipe, batch_size=2, jobs=2)
    assert pooled == alone
    missing, written = alone
    assert [item.line for item, _ in written] == list(range(1, len(items) + 1))
    assert [found[0].continuation for _, found in written if found][:3] == [
        (21, 34),
        (128, 256),
        (36, 49),
    ]
    assert all(c.confidence >= 0.5 for _, found in written for c in found)
    assert missing == sum(not found for _, found in written)


def test_a_worker_that_cannot_build_the_predictor_reports_the_error():
    recipe = Recipe({"kind": "model", "model": "/nonexistent/checkpoint"})
    with pytest.raises(NextTermError, match="/nonexistent/checkpoint"):
        _run(_items([[1, 2, 3], [4, 5, 6]]), recipe, batch_size=1, jobs=2)
