"""Deterministic train / validation / held-out split by A-number, with decontamination.

Rules, applied in this order (each counted in the :class:`SplitReport`):

1. **Hash split.** ``u = blake2b(f"{seed}:{A-number}") / 2**64``; ``u < heldout_fraction`` is
   held-out, ``u < heldout_fraction + val_fraction`` validation, the rest training. A hashed
   held-out sequence is *eligible* only with at least ``heldout_min_terms`` terms and an answer
   (its last term) of at most ``max_answer_digits`` digits; ineligible ones go to training.
   Famous sequences (:data:`CORE_SEQUENCES`, the OEIS ``core`` keyword list) are pinned to
   training: a user typing Fibonacci expects the lookup index, built from training only, to know it.
2. **Exact duplicates.** Sequences are visited in A-number order; a sequence whose terms equal
   those of an earlier one is removed when the earlier one sits in another split, and when both
   are held-out (so every held-out item is unique). Duplicates inside train or inside validation
   stay: they were never on two sides.
3. **Contiguous runs.** A held-out item whose key (below) occurs inside a pinned core sequence is
   dropped from the held-out set (the core sequence wins). The *key* of a held-out item is its last ``decontam_terms`` terms (the
   answer included), or all of it when shorter. A training or validation sequence containing any
   key as a contiguous run of terms is removed. Detection: every term gets a 64-bit hash, every
   window of each key length gets a polynomial hash (numpy, vectorised over a chunk of
   sequences), windows found in the key set are then confirmed by an exact text comparison.

Held-out and validation items are ``{"id", "prompt", "answer"}``: all terms but the last shown,
with the prompt cut from the front so that ``BOS + prompt + answer + separator`` fits in
``max_prompt_tokens`` tokens (the last terms are kept).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from nextterm.data import DataError

TRAIN, VAL, HELDOUT = "train", "val", "heldout"
_PRIME = np.uint64(0x100000001B3)
_CHUNK_TERMS = 1 << 21

CORE_SEQUENCES = frozenset(
    "A000001 A000002 A000004 A000005 A000007 A000009 A000010 A000012 A000014 A000019 A000027 "
    "A000029 A000031 A000032 A000035 A000040 A000041 A000043 A000045 A000048 A000055 A000058 "
    "A000069 A000079 A000081 A000085 A000088 A000105 A000108 A000109 A000110 A000111 A000112 "
    "A000120 A000124 A000129 A000140 A000142 A000161 A000166 A000169 A000182 A000203 A000204 "
    "A000217 A000219 A000225 A000244 A000262 A000272 A000290 A000292 A000302 A000311 A000312 "
    "A000326 A000330 A000364 A000396 A000521 A000578 A000583 A000593 A000594 A000609 A000670 "
    "A000688 A000720 A000793 A000796 A000798 A000959 A000961 A000984 A001003 A001006 A001034 "
    "A001037 A001045 A001055 A001057 A001065 A001097 A001113 A001147 A001157 A001190 A001221 "
    "A001222 A001228 A001358 A001405 A001462 A001477 A001478 A001481 A001489 A001511 A001615 "
    "A001699 A001700 A001764 A001906 A001969 A002033 A002083 A002106 A002110 A002113 A002275 "
    "A002322 A002378 A002426 A002487 A002530 A002531 A002572 A002620 A002654 A002658 A002808 "
    "A003094 A003136 A003418 A003484 A004011 A004018 A004526 A005036 A005100 A005101 A005117 "
    "A005130 A005230 A005408 A005470 A005588 A005811 A005843 A006318 A006530 A006882 A006894 "
    "A006966 A007318 A008275 A008277 A008279 A008292 A008683 A010060 A018252 A020639 A020652 "
    "A020653 A027641 A027642 A035099 A038566 A038567 A038568 A038569 A049310 A055512 A070939 "
    "A074206 A104725 A226898 A246655".split()
)
"""The OEIS ``keyword:core`` sequences, which never enter the held-out set."""


@dataclass
class SplitConfig:
    """Where each sequence goes and what counts as contamination."""

    seed: int = 0
    heldout_fraction: float = 0.06
    val_fraction: float = 0.01
    min_terms: int = 4
    """Sequences with fewer terms are degenerate and skipped entirely."""
    heldout_min_terms: int = 10
    max_answer_digits: int = 190
    """Held-out answers must fit the 192 new tokens the card's evaluation allows."""
    decontam_terms: int = 10
    max_prompt_tokens: int = 4096
    pinned_to_train: frozenset[str] = CORE_SEQUENCES

    def __post_init__(self) -> None:
        self.pinned_to_train = frozenset(self.pinned_to_train)
        if not (
            0 <= self.heldout_fraction
            and 0 <= self.val_fraction
            and self.heldout_fraction + self.val_fraction < 1
        ):
            raise DataError("split fractions must be >= 0 and sum to less than 1")
        if self.min_terms < 2 or self.decontam_terms < 1 or self.heldout_min_terms < self.min_terms:
            raise DataError("min_terms >= 2, decontam_terms >= 1, heldout_min_terms >= min_terms")


@dataclass
class SplitReport:
    """Counts of what each rule did."""

    assigned: Counter = field(default_factory=Counter)
    heldout_ineligible: int = 0
    heldout_inside_core: int = 0
    duplicates_removed: Counter = field(default_factory=Counter)
    contaminated_removed: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {
            "assigned_by_hash": dict(self.assigned),
            "heldout_ineligible_moved_to_train": self.heldout_ineligible,
            "heldout_dropped_inside_core_sequence": self.heldout_inside_core,
            "duplicates_removed": dict(self.duplicates_removed),
            "contaminated_removed": dict(self.contaminated_removed),
        }


def hash_split(anumber: str, config: SplitConfig) -> str:
    """The split the seeded hash gives ``anumber`` (before eligibility and decontamination)."""
    digest = hashlib.blake2b(f"{config.seed}:{anumber}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "little") / 2.0**64
    if u < config.heldout_fraction:
        return HELDOUT
    return VAL if u < config.heldout_fraction + config.val_fraction else TRAIN


def term_count(text: str) -> int:
    """Terms in canonical text ``"1,2,3,"``."""
    return text.count(",")


def last_terms(text: str, count: int) -> str:
    """Canonical text of the last ``count`` terms of canonical ``text``."""
    terms = text.split(",")[:-1]
    return "".join(f"{term}," for term in terms[-count:])


def _heldout_eligible(text: str, config: SplitConfig) -> bool:
    if term_count(text) < config.heldout_min_terms:
        return False
    answer = text[text.rfind(",", 0, len(text) - 1) + 1 : -1]
    return len(answer.lstrip("-")) <= config.max_answer_digits


def assign_splits(
    sequences: Iterable[tuple[str, str]], config: SplitConfig, report: SplitReport
) -> dict[str, list[tuple[str, str]]]:
    """Rules 1 and 2: ``{"train"|"val"|"heldout": [(A-number, text), ...]}`` in input order.

    ``sequences`` must already exclude degenerate ones and come in A-number order.
    """
    splits: dict[str, list[tuple[str, str]]] = {TRAIN: [], VAL: [], HELDOUT: []}
    first_side: dict[str, str] = {}
    for anumber, text in sequences:
        side = TRAIN if anumber in config.pinned_to_train else hash_split(anumber, config)
        report.assigned[side] += 1
        if side == HELDOUT and not _heldout_eligible(text, config):
            side = TRAIN
            report.heldout_ineligible += 1
        earlier = first_side.get(text)
        if earlier is None:
            first_side[text] = side
        elif earlier != side or side == HELDOUT:
            report.duplicates_removed[side] += 1
            continue
        splits[side].append((anumber, text))
    return splits


def _window_hashes(hashes: np.ndarray, length: int) -> np.ndarray:
    """Polynomial hash of every window of ``length`` consecutive entries of ``hashes``."""
    count = len(hashes) - length + 1
    windows = hashes[:count].copy()
    for k in range(1, length):
        windows *= _PRIME
        windows += hashes[k : k + count]
    return windows


def _hash_terms(terms: list[str]) -> np.ndarray:
    return np.fromiter(map(hash, terms), dtype=np.int64, count=len(terms)).view(np.uint64)


def _chunks(texts: list[str]) -> Iterator[tuple[int, list[str]]]:
    start, total = 0, 0
    for end, text in enumerate(texts, 1):
        total += len(text)
        if total >= 8 * _CHUNK_TERMS or end == len(texts):
            yield start, texts[start:end]
            start, total = end, 0


def find_contaminated(texts: list[str], keys: Iterable[str]) -> set[int]:
    """Indices of ``texts`` that contain some key (canonical text of terms) as a contiguous run."""
    by_length: dict[int, set[str]] = {}
    for key in keys:
        by_length.setdefault(term_count(key), set()).add(key)
    key_hashes = {
        length: np.unique(
            np.array(
                [_window_hashes(_hash_terms(key.split(",")[:-1]), length)[0] for key in group],
                dtype=np.uint64,
            )
        )
        for length, group in by_length.items()
        if length > 0
    }
    found: set[int] = set()
    for start, chunk in _chunks(texts):
        terms = "".join(chunk).split(",")[:-1]
        owner = np.repeat(np.arange(start, start + len(chunk)), [term_count(t) for t in chunk])
        hashes = _hash_terms(terms)
        for length, targets in key_hashes.items():
            if len(terms) < length:
                continue
            windows = _window_hashes(hashes, length)
            same = owner[: len(windows)] == owner[length - 1 :]
            for position in np.flatnonzero(np.isin(windows, targets) & same).tolist():
                index = int(owner[position])
                if index in found:
                    continue
                run = "".join(f"{term}," for term in terms[position : position + length])
                if run in by_length[length]:
                    found.add(index)
    return found


def _core_windows(train: list[tuple[str, str]], config: SplitConfig) -> set[str]:
    """Every run of ``decontam_terms`` terms inside the pinned core sequences, as canonical text."""
    length = config.decontam_terms
    windows: set[str] = set()
    for anumber, text in train:
        if anumber in config.pinned_to_train:
            terms = text.split(",")[:-1]
            windows.update(
                "".join(f"{term}," for term in terms[i : i + length])
                for i in range(max(len(terms) - length + 1, 1))
            )
    return windows


def decontaminate(
    splits: dict[str, list[tuple[str, str]]], config: SplitConfig, report: SplitReport
) -> dict[str, list[tuple[str, str]]]:
    """Rule 3: drop training and validation sequences holding a held-out key as a run."""
    core_windows = _core_windows(splits[TRAIN], config)
    heldout = [
        item
        for item in splits[HELDOUT]
        if last_terms(item[1], config.decontam_terms) not in core_windows
    ]
    report.heldout_inside_core += len(splits[HELDOUT]) - len(heldout)
    keys = {last_terms(text, config.decontam_terms) for _, text in heldout}
    result = {HELDOUT: heldout}
    for side in (TRAIN, VAL):
        items = splits[side]
        bad = find_contaminated([text for _, text in items], keys)
        report.contaminated_removed[side] += len(bad)
        result[side] = [item for index, item in enumerate(items) if index not in bad]
    return result


def make_item(anumber: str, text: str, max_prompt_tokens: int) -> dict:
    """``{"id", "prompt", "answer"}``: the last term is the answer, the prompt the terms before it
    (oldest dropped first) such that BOS + prompt + answer + separator fit ``max_prompt_tokens``."""
    terms = text.split(",")[:-1]
    answer = terms[-1]
    budget = max_prompt_tokens - 1 - (len(answer) + 1)
    start = len(terms) - 1
    while start > 0 and budget - (len(terms[start - 1]) + 1) >= 0:
        start -= 1
        budget -= len(terms[start]) + 1
    return {"id": anumber, "prompt": [int(t) for t in terms[start:-1]], "answer": int(answer)}
