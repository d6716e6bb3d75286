"""Splits and decontamination: planted duplicates and planted runs are removed, nothing else is."""

from __future__ import annotations

import json
import random

import pytest

from nextterm.data.splits import (
    HELDOUT,
    TRAIN,
    VAL,
    SplitConfig,
    SplitReport,
    assign_splits,
    decontaminate,
    find_contaminated,
    hash_split,
    last_terms,
    make_item,
)
from nextterm.tokenizer import encode_terms

CONFIG = SplitConfig(seed=3, heldout_fraction=0.2, val_fraction=0.1, pinned_to_train=frozenset())


def text(terms):
    return "".join(f"{t}," for t in terms)


def anumbers_in(side, count, start=1):
    found, n = [], start
    while len(found) < count:
        anumber = f"A{n:06d}"
        if hash_split(anumber, CONFIG) == side:
            found.append(anumber)
        n += 1
    return found


def test_hash_split_is_deterministic_and_proportional():
    sides = [hash_split(f"A{n:06d}", CONFIG) for n in range(1, 5001)]
    assert sides == [hash_split(f"A{n:06d}", CONFIG) for n in range(1, 5001)]
    assert 0.17 < sides.count(HELDOUT) / 5000 < 0.23
    assert 0.08 < sides.count(VAL) / 5000 < 0.12
    other = SplitConfig(seed=4, heldout_fraction=0.2, val_fraction=0.1)
    assert sides != [hash_split(f"A{n:06d}", other) for n in range(1, 5001)]


def test_planted_duplicates_and_runs_are_removed():
    rng = random.Random(0)
    held = [[rng.randint(100, 10**6) for _ in range(rng.randint(12, 20))] for _ in range(3)]
    held_ids = anumbers_in(HELDOUT, 3)
    train_ids = anumbers_in(TRAIN, 8, start=1000)  # after the held-out ones: they keep theirs
    val_ids = anumbers_in(VAL, 2)
    h = held[0]
    planted = {
        train_ids[0]: [1, 2, 3] + h[-10:] + [7, 8],  # run of the last 10 terms: removed
        train_ids[1]: list(held[1]),  # exact duplicate: removed
        train_ids[2]: [5] + h[-10:-1] + [-1] + [9, 9, 9],  # only 9 of the 10 terms: kept
        train_ids[3]: h[-10:-5] + [0] + h[-5:],  # run broken in the middle: kept
        train_ids[4]: [int(str(h[-10]) + "1")] + h[-9:],  # first term differs by a digit: kept
        train_ids[5]: [1, 2, 3, 4, 5, 6],  # unrelated: kept
        train_ids[6]: [1, 2, 3, 4, 5, 6],  # duplicate inside train: kept
        train_ids[7]: [4, 4] + held[2][-10:],  # run at the end: removed
        val_ids[0]: held[2][-12:],  # contains the run: removed
        val_ids[1]: [2, 4, 6, 8],  # kept
    }
    sequences = sorted(
        [*zip(held_ids, map(text, held)), *((a, text(t)) for a, t in planted.items())]
    )
    report = SplitReport()
    splits = decontaminate(assign_splits(sequences, CONFIG, report), CONFIG, report)
    kept = {side: [a for a, _ in items] for side, items in splits.items()}
    assert kept[HELDOUT] == held_ids
    assert set(kept[TRAIN]) == {train_ids[i] for i in (2, 3, 4, 5, 6)}
    assert kept[VAL] == [val_ids[1]]
    assert report.duplicates_removed == {TRAIN: 1}
    assert report.contaminated_removed == {TRAIN: 2, VAL: 1}


def test_duplicate_goes_to_first_side_only_and_heldout_is_unique():
    h_ids, t_ids = anumbers_in(HELDOUT, 2), anumbers_in(TRAIN, 1)
    terms = text(range(10, 30))
    sequences = sorted([(h_ids[0], terms), (h_ids[1], terms), (t_ids[0], terms)])
    report = SplitReport()
    splits = assign_splits(sequences, CONFIG, report)
    first = sequences[0][0]
    assert [a for side in splits.values() for a, _ in side] == [first]
    assert sum(report.duplicates_removed.values()) == 2


def test_heldout_eligibility():
    h_ids = anumbers_in(HELDOUT, 2)
    short = text(range(1, 8))  # fewer than heldout_min_terms
    huge = text([1, 2, 3, 4, 5, 6, 7, 8, 9, 10**200])  # answer too long for 192 new tokens
    report = SplitReport()
    splits = assign_splits([(h_ids[0], short), (h_ids[1], huge)], CONFIG, report)
    assert not splits[HELDOUT] and len(splits[TRAIN]) == 2
    assert report.heldout_ineligible == 2


def test_find_contaminated_handles_chunks_and_boundaries(monkeypatch):
    monkeypatch.setattr("nextterm.data.splits._CHUNK_TERMS", 2)
    texts = [text([1, 2]), text([3, 4, 5]), text([9, 3, 4, 5, 9]), text([4, 5, 3])]
    # the run 3,4,5 must not be found across the boundary of texts 0/1 or 3's wrap-around
    assert find_contaminated(texts, [text([3, 4, 5])]) == {1, 2}
    assert find_contaminated(texts, [text([2, 3])]) == set()
    assert find_contaminated(texts, [text([-3])]) == set()


def test_make_item_caps_prompt_to_context():
    terms = [10**50 + i for i in range(200)]
    item = make_item("A000001", text(terms), max_prompt_tokens=4096)
    assert item["answer"] == terms[-1] and item["id"] == "A000001"
    assert item["prompt"] == terms[-1 - len(item["prompt"]) : -1]
    used = len(encode_terms(item["prompt"] + [item["answer"]]))
    assert used <= 4096 < used + 52  # one more term (51 digits + separator) would not fit
    small = make_item("A000002", "1,2,3,", 4096)
    assert small == {"id": "A000002", "prompt": [1, 2], "answer": 3}
    assert json.loads(json.dumps(item)) == item
    assert last_terms("1,2,3,", 2) == "2,3,"


def test_bad_config():
    with pytest.raises(ValueError):
        SplitConfig(heldout_fraction=0.7, val_fraction=0.4)


def test_core_sequences_stay_in_training_and_win_over_heldout_relatives():
    rng = random.Random(1)
    config = SplitConfig(
        seed=3, heldout_fraction=0.2, val_fraction=0.1, pinned_to_train=frozenset({"A000045"})
    )
    fibonacci = [0, 1]
    while len(fibonacci) < 30:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    shifted_fib, other = anumbers_in(HELDOUT, 2, start=2000)
    items = sorted(
        [
            ("A000045", text(fibonacci)),
            (shifted_fib, text(fibonacci[3:20])),  # its last 10 terms lie inside Fibonacci
            (other, text([rng.randint(10, 10**6) for _ in range(15)])),
        ]
    )
    report = SplitReport()
    splits = decontaminate(assign_splits(items, config, report), config, report)
    assert [a for a, _ in splits[TRAIN]] == ["A000045"]
    assert [a for a, _ in splits[HELDOUT]] == [other]
    assert report.heldout_inside_core == 1
