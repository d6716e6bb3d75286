"""Fitting the learned ranker on validation data, and measuring it on held-out items.

The fit set is the data build's validation sequences (predict the last term), short prefixes of
them (the handful of terms users type) and short prefixes of rule-made sequences (the build's
synthetic families: puzzles, which OEIS prefixes alone under-represent: many OEIS sequences start
like simple ones). Every source runs once on every item; each distinct candidate value becomes a
feature row labelled right or wrong. Held-out items are never fitted on: they measure the result.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from nextterm.calibration import expected_calibration_error, reliability_table
from nextterm.candidates import SOURCES, source_of
from nextterm.evals.common import EvalItem, chunks
from nextterm.ranking.features import ValueGroup
from nextterm.ranking.model import Ranker

THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


SHORTEST_PREFIX, LONGEST_PREFIX = 2, 8
"""Prefix lengths of the fit's short items: from the two terms that make an arithmetic
progression to the handful a puzzle shows."""


def short_prefixes(items: Sequence[EvalItem], count: int, seed: int) -> list[EvalItem]:
    """``count`` items asking for term k+1 of a sequence from its first k (2 <= k <= 8)."""
    rng = random.Random(seed)
    long_enough = [item for item in items if len(item.prompt) >= 9]
    chosen = rng.sample(long_enough, min(count, len(long_enough)))
    result = []
    for item in chosen:
        k = rng.randint(SHORTEST_PREFIX, LONGEST_PREFIX)
        result.append(
            EvalItem(f"{item.id}:first{k}", item.prompt[:k], item.prompt[k], {"prefix": k})
        )
    return result


PUZZLE_SHOWN = 4
"""Fewest terms a puzzle-sized prefix shows."""


def puzzle_prefixes(count: int, seed: int) -> list[EvalItem]:
    """``count`` items asking for term k+1 of a synthetic rule-made sequence from its first k.

    A third come from the build's synthetic families as they are (coefficients up to thousands,
    2 <= k <= 8); two thirds have small coefficients (below 10) and show 4 <= k <= 8 terms, the
    size of a puzzle in a test, where a rule with a single spare term is usually the intended one.
    """
    from nextterm.data.synthetic import SyntheticConfig, generate

    rng = random.Random(f"puzzles-{seed}")
    as_built = SyntheticConfig(min_terms=9, max_terms=9, max_term_digits=30)
    small = SyntheticConfig(
        min_terms=9, max_terms=9, max_term_digits=30, max_coefficient_exponent=1
    )
    result: list[EvalItem] = []
    while len(result) < count:
        puzzle_sized = len(result) % 3 != 0
        made = generate(rng, small if puzzle_sized else as_built)
        if made is None:
            continue
        family, terms = made
        k = rng.randint(PUZZLE_SHOWN if puzzle_sized else SHORTEST_PREFIX, LONGEST_PREFIX)
        kind = "small" if puzzle_sized else "built"
        result.append(
            EvalItem(f"puzzle-{len(result)}:{kind}-{family}:first{k}", tuple(terms[:k]), terms[k])
        )
    return result


@dataclass
class Collected:
    """Feature rows of every candidate value of a set of items."""

    rows: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    groups: list[list[ValueGroup]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All rows stacked, their labels, and the item each row belongs to."""
        prompts = np.concatenate([np.full(len(r), i) for i, r in enumerate(self.rows)])
        return np.concatenate(self.rows), np.concatenate(self.labels), prompts


def collect(
    hybrid, items: Sequence[EvalItem], *, top_k: int, batch_size: int, desc: str
) -> Collected:
    """Every source's candidates for every item, grouped by value, as feature rows."""
    found = Collected()
    with tqdm(total=len(items), desc=desc, unit="seq", leave=False) as bar:
        for chunk in chunks(list(items), batch_size):
            prompts = [list(item.prompt) for item in chunk]
            candidates = hybrid.candidates_batch(prompts, n_terms=1, top_k=top_k)
            for item, (groups, rows) in zip(chunk, hybrid.value_features(prompts, candidates)):
                found.rows.append(rows)
                found.labels.append(np.array([g.value == item.answer for g in groups], dtype=bool))
                found.groups.append(groups)
                found.answers.append(item.answer)
            bar.update(len(chunk))
    return found


def _source_table(found: Collected) -> list[dict]:
    """Coverage and precision of each source's own best candidate, alone."""
    table = []
    for source in SOURCES:
        answered = right = 0
        for groups, answer in zip(found.groups, found.answers):
            own = [g.by_source[source] for g in groups if source in g.by_source]
            if own:
                answered += 1
                right += max(own, key=lambda c: c.confidence).value == answer
        table.append(
            {
                "source": source,
                "coverage": answered / max(1, len(found.answers)),
                "precision": right / max(1, answered),
                "answered": answered,
            }
        )
    return table


def evaluate(ranker: Ranker, found: Collected) -> dict:
    """Top-1 accuracy, calibration (ECE, reliability) and abstention trade-off of the ranking."""
    confidence, correct, top_sources = [], [], []
    for rows, labels, groups in zip(found.rows, found.labels, found.groups):
        if len(rows) == 0:
            confidence.append(0.0)
            correct.append(False)
            continue
        probabilities = ranker.probabilities(rows)
        best = int(np.argmax(probabilities))
        confidence.append(float(probabilities[best]))
        correct.append(bool(labels[best]))
        top_sources.append(source_of(groups[best].lead))
    items = len(correct)
    thresholds = []
    for threshold in THRESHOLDS:
        kept = [c for p, c in zip(confidence, correct) if p >= threshold and p > 0]
        thresholds.append(
            {
                "min_confidence": threshold,
                "answered": len(kept) / max(1, items),
                "precision": sum(kept) / max(1, len(kept)),
                "accuracy": sum(kept) / max(1, items),
            }
        )
    answered = [i for i, p in enumerate(confidence) if p > 0]
    return {
        "items": items,
        "accuracy": sum(correct) / max(1, items),
        "ece": expected_calibration_error(
            [confidence[i] for i in answered], [correct[i] for i in answered]
        ),
        "reliability": reliability_table(
            [confidence[i] for i in answered], [correct[i] for i in answered]
        ),
        "thresholds": thresholds,
        "sources": _source_table(found),
        "top_sources": {s: top_sources.count(s) for s in sorted(set(top_sources))},
    }


def fit_ranker(
    hybrid,
    fit_items: Sequence[EvalItem],
    *,
    top_k: int = 5,
    batch_size: int = 32,
    seed: int = 0,
    meta: dict | None = None,
) -> tuple[Ranker, Collected, float]:
    """The ranker fitted on ``fit_items``, the collected rows, and the collection time."""
    started = time.perf_counter()
    found = collect(hybrid, fit_items, top_k=top_k, batch_size=batch_size, desc="fit items")
    seconds = time.perf_counter() - started
    rows, labels, prompts = found.matrix()
    ranker = Ranker.fit(
        rows, labels, prompts, seed=seed, meta={"items": len(fit_items), **(meta or {})}
    )
    return ranker, found, seconds
