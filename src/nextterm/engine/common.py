"""The torch-free parts of next-term decoding, shared by the torch and the numpy engine.

Prompts (BOS, terms, separators) cut from the left at a term boundary to fit the context, the
per-row token budget of a new term, the split of generated ids into terms, the plan of which
candidates :meth:`score_terms` scores against which prompt, and cancellation of decoding from
another thread (:func:`cancel_when`). Nothing here imports torch, so that the numpy engine (and a
process that only needs it) starts without it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from nextterm.errors import NextTermError
from nextterm.sequences import validate_terms
from nextterm.tokenizer import BOS_ID, SEP_ID, STOP_IDS, encode_term, encode_terms, parse_term_ids

MAX_TERM_TOKENS = 192
TERM_CAP_WINDOW = 8
"""How many of the last given terms set the length budget of a new term."""
TERM_CAP_SLACK = 8
"""Tokens allowed beyond twice the longest recent term."""


class EngineError(NextTermError):
    """A request the engine cannot serve (bad prompt, no room in the context, bad parameters)."""


class Cancelled(Exception):  # noqa: N818 - a control-flow signal, not an error of the user
    """Decoding stopped because the condition given to :func:`cancel_when` became true."""


_cancellation = threading.local()


@contextmanager
def cancel_when(check: Callable[[], bool]) -> Iterator[None]:
    """Within the block, decoding in this thread raises :class:`Cancelled` at the next step once
    ``check()`` is true (the server's callers timed out or went away)."""
    previous = getattr(_cancellation, "check", None)
    _cancellation.check = check
    try:
        yield
    finally:
        _cancellation.check = previous


def stop_if_cancelled() -> None:
    """Raise :class:`Cancelled` when this thread's :func:`cancel_when` condition holds."""
    check = getattr(_cancellation, "check", None)
    if check is not None and check():
        raise Cancelled("every caller of this batch has gone")


def prompt_terms(sequence) -> list[int]:
    """A sequence's terms, checked; an empty list is allowed (the model then starts a sequence)."""
    if isinstance(sequence, (list, tuple)) and len(sequence) == 0:
        return []
    return validate_terms(sequence)


def fit_prompt(ids: list[int], limit: int) -> list[int]:
    """``ids`` cut from the left to at most ``limit`` tokens, starting after a separator, BOS kept."""
    if len(ids) <= limit:
        return ids
    head = [BOS_ID] if ids and ids[0] == BOS_ID else []
    budget = limit - len(head)
    start = len(ids) - budget
    for cut in range(max(start, len(head)), len(ids)):
        if ids[cut - 1] == SEP_ID:
            return head + ids[cut:]
    raise EngineError(f"the last term of the input does not fit in {limit} tokens of context")


def fit_prompts(sequences: list[list[int]], limit: int) -> tuple[list[list[int]], list[int]]:
    """Prompts (at most ``limit`` tokens) of the sequences that fit, and those sequences' indices."""
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, (list, tuple)):
        raise EngineError("sequences must be a list of integer lists")
    prompts, fitting = [], []
    for index, sequence in enumerate(sequences):
        ids = encode_terms(prompt_terms(sequence))
        try:
            prompts.append(fit_prompt(ids, limit))
        except EngineError:  # its last term alone fills the context: no model answer
            continue
        fitting.append(index)
    return prompts, fitting


def term_caps(
    sequences: Sequence[Sequence[int]], max_term_tokens: int, adaptive: bool
) -> list[int]:
    """Per-row token budget of one new term: twice the longest of the last terms plus slack.

    A next term rarely has more than twice the digits of its predecessors (squaring doubles
    them); capping there stops an unsure model from spelling digits up to ``max_term_tokens``
    while the rest of its batch waits. ``adaptive`` False: the flat ``max_term_tokens``.
    """
    if not adaptive:
        return [max_term_tokens] * len(sequences)
    return [
        min(
            2 * max((len(str(term)) for term in list(sequence)[-TERM_CAP_WINDOW:]), default=1)
            + TERM_CAP_SLACK,
            max_term_tokens,
        )
        for sequence in sequences
    ]


def split_terms(ids: list[int], n_terms: int) -> list[int | None]:
    """The first ``n_terms`` terms spelled by generated ``ids`` (None for those not finished)."""
    terms: list[int | None] = []
    current: list[int] = []
    for token in ids:
        if token in STOP_IDS:
            terms.append(parse_term_ids(current))
            current = []
        else:
            current.append(token)
    return (terms + [None] * n_terms)[:n_terms]


def finished_term(ids: list[int]) -> int:
    """The value of a term the beam search finished: the grammar masks admit only well-formed
    terms, so a malformed one here is a bug in those masks."""
    value = parse_term_ids(ids)
    if value is None:
        raise AssertionError(f"the term grammar let a malformed term through: {ids}")
    return value


def best_terms(
    found: list[list[tuple[float, list[int]]]], top_k: int
) -> list[list[tuple[int, float]]]:
    """Each row's ``top_k`` finished terms of a beam search, most probable first, as
    ``(value, probability)`` from ``(log-probability, digit ids)``."""
    results = []
    for candidates in found:
        best = sorted(candidates, key=lambda item: -item[0])[:top_k]
        results.append([(finished_term(ids), math.exp(value)) for value, ids in best])
    return results


@dataclass
class ScoringPlan:
    """What :meth:`score_terms` feeds the model: ``prompts`` prefilled once each, and per scored
    candidate its prompt (``owners``), its digit ids (``targets``) and its ``(sequence, slot)``
    place in the result (``places``)."""

    prompts: list[list[int]]
    owners: list[int]
    targets: list[list[int]]
    places: list[tuple[int, int]]


def plan_scoring(
    sequences: list[list[int]],
    candidates: list[list[int]],
    caps: list[int],
    max_context: int,
    context: int | None,
) -> ScoringPlan | None:
    """The rows of a teacher-forced scoring of ``candidates`` (see :meth:`score_terms`), or None
    when no candidate can be scored (each is skipped when it is not shorter than its row's cap,
    or its sequence and it do not fit the context or ``context`` tokens)."""
    if len(candidates) != len(sequences):
        raise EngineError(f"{len(sequences)} sequences but {len(candidates)} candidate lists")
    targets = [[encode_term(int(value)) for value in options] for options in candidates]
    longest = max(
        (len(ids) for options, cap in zip(targets, caps) for ids in options if len(ids) < cap),
        default=0,
    )
    if longest == 0 or longest + 1 >= max_context:
        return None
    prompts, fitting = fit_prompts(sequences, max_context - longest - 1)
    if context is not None:
        cut = []
        for prompt, index in zip(prompts, fitting):
            try:
                cut.append((fit_prompt(prompt, context), index))
            except EngineError:  # its last term alone is longer than ``context``
                continue
        prompts, fitting = [prompt for prompt, _ in cut], [index for _, index in cut]
    kept = [(index, prompt) for index, prompt in zip(fitting, prompts) if candidates[index]]
    owners, flat, places = [], [], []
    for row, (index, _) in enumerate(kept):
        for slot, ids in enumerate(targets[index]):
            if len(ids) >= caps[index]:
                continue  # longer than any term the model would write here (see term_caps)
            owners.append(row)
            flat.append(ids)
            places.append((index, slot))
    if not owners:
        return None
    return ScoringPlan([prompt for _, prompt in kept], owners, flat, places)
