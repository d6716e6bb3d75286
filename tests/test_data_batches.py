"""TokenBatches: budget, layout, determinism, exact resume, sharding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from nextterm.data.batches import TokenBatches
from nextterm.data.encode import encode_sequence
from nextterm.data.packed import PackedReader, write_packed
from nextterm.tokenizer import BOS_ID, PAD_ID, SEP_ID, decode_terms


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    rng = np.random.default_rng(1)
    sequences = []
    for _ in range(300):
        terms = rng.integers(-(10**6), 10**6, size=int(rng.integers(1, 40))).tolist()
        sequences.append(encode_sequence(terms))
    sequences.append(encode_sequence([10**70, 1]))  # first term longer than the context
    path = tmp_path_factory.mktemp("batches") / "b.packed"
    write_packed(path, sequences)
    return PackedReader(path)


def take(batches, n):
    return list(itertools.islice(iter(batches), n))


def test_layout_budget_and_labels(reader):
    batches = TokenBatches(reader, max_tokens=512, context_len=64, seed=3)
    assert batches.skipped == 1
    seen = set()
    for batch in take(batches, batches.batches_in_epoch):
        ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        assert ids.dtype == mask.dtype == labels.dtype == torch.long
        assert ids.numel() <= 512 and ids.shape[1] <= 64
        assert (ids[:, 0] == BOS_ID).all()
        assert torch.equal(mask.bool(), ids != PAD_ID)
        assert torch.equal(labels[mask.bool()], ids[mask.bool()])
        assert (labels[~mask.bool()] == -100).all()
        assert (mask.sum(1) == mask.sum(1).max()).any()  # the longest example sets the width
        for row in range(ids.shape[0]):
            real = ids[row, : int(mask[row].sum())].tolist()
            assert real[-1] in (SEP_ID, 13)  # ends on a term boundary (or at EOS)
            seen.add(tuple(real))
    full = {tuple(reader[i].tolist()) for i in range(len(reader)) if len(reader[i]) <= 64}
    assert full <= seen  # every short sequence appears whole in one epoch


def test_truncation_keeps_prefix(reader):
    batches = TokenBatches(reader, max_tokens=64, context_len=16)
    for index in np.flatnonzero(reader.lengths > 16)[:20]:
        row = batches.collate(np.array([index]))["input_ids"][0].tolist()
        assert len(row) <= 16 and row[-1] == SEP_ID
        full_terms = decode_terms(reader[index])
        assert decode_terms(row) == full_terms[: len(decode_terms(row))]


def test_deterministic_and_reshuffled(reader):
    a = take(TokenBatches(reader, 256, 64, seed=7), 30)
    b = take(TokenBatches(reader, 256, 64, seed=7), 30)
    c = take(TokenBatches(reader, 256, 64, seed=8), 30)
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))
    assert [x["input_ids"].shape for x in a] != [x["input_ids"].shape for x in c]
    batches = TokenBatches(reader, 256, 64, seed=7)
    assert not np.array_equal(
        np.concatenate(batches._epoch_plan(0)), np.concatenate(batches._epoch_plan(1))
    )


def test_exact_resume_across_epochs(reader):
    reference = TokenBatches(reader, 256, 64, seed=5)
    per_epoch = reference.batches_in_epoch
    expected = take(reference, per_epoch + 20)
    first = TokenBatches(reader, 256, 64, seed=5)
    iterator = iter(first)
    cut = per_epoch - 5
    head = [next(iterator) for _ in range(cut)]
    state = first.state_dict()
    resumed = TokenBatches(reader, 256, 64, seed=5)
    resumed.load_state_dict(state)
    tail = take(resumed, per_epoch + 20 - cut)
    assert resumed.epoch == 1
    for got, want in zip(head + tail, expected):
        assert torch.equal(got["input_ids"], want["input_ids"])
        assert torch.equal(got["labels"], want["labels"])


def test_resume_rejects_other_settings(reader):
    state = TokenBatches(reader, 256, 64, seed=5).state_dict()
    with pytest.raises(ValueError, match="seed"):
        TokenBatches(reader, 256, 64, seed=6).load_state_dict(state)
    with pytest.raises(ValueError, match="out of range"):
        TokenBatches(reader, 256, 64, seed=5).load_state_dict({**state, "step": 10**6})


def test_sharding_partitions_batches(reader):
    whole = TokenBatches(reader, 256, 64, seed=2)
    shards = [TokenBatches(reader, 256, 64, seed=2, rank=r, world_size=3) for r in range(3)]
    counts = {shard.batches_in_epoch for shard in shards}
    assert len(counts) == 1
    plans = [shard._epoch_plan(0) for shard in shards]
    used = [tuple(b.tolist()) for plan in plans for b in plan]
    assert len(used) == len(set(used))  # no batch on two ranks
    assert set(used) <= {tuple(b.tolist()) for b in whole._epoch_plan(0)}
    assert len(used) >= whole.batches_in_epoch - 2


def test_bad_arguments(reader):
    with pytest.raises(ValueError, match="max_tokens"):
        TokenBatches(reader, 32, 64)
    with pytest.raises(ValueError, match="rank"):
        TokenBatches(reader, 256, 64, rank=2, world_size=2)
    with pytest.raises(ValueError, match="world_size"):
        TokenBatches(reader, 256, 64, world_size=10**6)
