"""Engine.generate: per-row sampling settings, numerically safe sampling, step callbacks,
cancellation, top log-probabilities, sequences too long for the context, the default device."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import TINY_QWEN3
from nextterm.engine import Cancelled, Engine, EngineError, Sampling, cancel_when, derive_seed
from nextterm.models.presets import create_model
from nextterm.tokenizer import BOS_ID, VOCAB_SIZE, encode_terms

PROMPTS = [encode_terms([1, 2, 3]), encode_terms([5]), encode_terms([2, 4, 8, 16])]
NO_STOP = frozenset()


@pytest.fixture(scope="module")
def engine():
    return Engine(create_model("nextterm-1m", seed=0, initializer_range=0.3, **TINY_QWEN3))


def test_tiny_temperature_and_top_p_sample_like_greedy(engine):
    """temperature 1e-40 overflowed logits/temperature to inf and top_p 1e-46 (0 in float32) dropped
    every token: both gave 'probability tensor contains inf/nan'."""
    greedy = engine.generate(PROMPTS, [Sampling(8, stop_ids=NO_STOP)] * 3)
    for temperature, top_p, seed in (
        (1e-40, 1.0, None),
        (1e-300, 1.0, 1),
        (1.0, 1e-46, None),
        (2.0, 5e-324, 3),
    ):
        setting = Sampling(8, temperature=temperature, top_p=top_p, seed=seed, stop_ids=NO_STOP)
        sampled = engine.generate(PROMPTS, [setting] * 3)
        assert [g.token_ids for g in sampled] == [g.token_ids for g in greedy]


def test_a_seeded_row_samples_the_same_whatever_it_is_batched_with(engine):
    """One generator per batch made a seeded request's tokens depend on its batch neighbours."""
    mine = Sampling(12, temperature=1.0, top_p=0.95, seed=1234, stop_ids=NO_STOP)
    alone = engine.generate([PROMPTS[0]], [mine])[0].token_ids
    crowd = [Sampling(12, 1.5, seed=7, stop_ids=NO_STOP), mine, Sampling(5, 1.0, stop_ids=NO_STOP)]
    batched = engine.generate([PROMPTS[1], PROMPTS[0], PROMPTS[2]], crowd)
    assert batched[1].token_ids == alone
    other_seed = Sampling(12, temperature=1.0, top_p=0.95, seed=1235, stop_ids=NO_STOP)
    assert engine.generate([PROMPTS[0]], [other_seed])[0].token_ids != alone
    seeded = engine.generate_tokens([PROMPTS[0]] * 2, 12, temperature=1.0, stop_ids=(), seed=5)
    assert (
        seeded[0].token_ids != seeded[1].token_ids
    )  # rows of one seeded call get their own streams
    assert derive_seed(5, 0) != derive_seed(5, 1) and derive_seed(5, 1) != derive_seed(6, 0)


def test_each_row_keeps_its_own_budget_and_stops(engine):
    every_id = frozenset(range(VOCAB_SIZE))
    settings = [
        Sampling(3, stop_ids=NO_STOP),
        Sampling(9, stop_ids=NO_STOP),
        Sampling(6, stop_ids=every_id),
    ]
    generations = engine.generate(PROMPTS, settings)
    assert [len(g.token_ids) for g in generations] == [3, 9, 1]
    assert [g.finish_reason for g in generations] == ["length", "length", "stop"]


def test_the_step_callback_sees_every_token_and_ends_rows(engine):
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}

    def on_step(rows, tokens, logprobs, tops):
        assert len(rows) == len(tokens) == len(logprobs) == len(tops)
        for row, token in zip(rows, tokens):
            seen[row].append(token)
        return [1] if len(seen[1]) == 2 else []

    generations = engine.generate(PROMPTS, [Sampling(6, stop_ids=NO_STOP)] * 3, on_step=on_step)
    assert [g.token_ids for g in generations] == [seen[0], seen[1], seen[2]]
    assert [len(g.token_ids) for g in generations] == [6, 2, 6]
    assert [g.finish_reason for g in generations] == ["length", "cancelled", "length"]


def test_top_logprobs_are_the_most_probable_tokens(engine):
    [generation] = engine.generate([PROMPTS[0]], [Sampling(5, stop_ids=NO_STOP)], top_logprobs=3)
    assert len(generation.top_logprobs) == 5
    for token, logprob, top in zip(
        generation.token_ids, generation.logprobs, generation.top_logprobs
    ):
        assert len(top) == 3 and top[0][0] == token and top[0][1] == pytest.approx(logprob)
        assert [value for _, value in top] == sorted((value for _, value in top), reverse=True)
        assert sum(math.exp(value) for _, value in top) <= 1 + 1e-6


def test_cancel_when_stops_decoding_at_the_next_step(engine):
    steps = []
    with pytest.raises(Cancelled), cancel_when(lambda: len(steps) >= 3):
        engine.generate(
            [PROMPTS[0]], [Sampling(40, stop_ids=NO_STOP)], on_step=lambda *_: steps.append(1) or []
        )
    assert len(steps) == 3
    with pytest.raises(Cancelled), cancel_when(lambda: True):
        engine.beam_next_term([[1, 2, 3]])
    assert (
        engine.next_terms([[1, 2, 3]]) and len(steps) == 3
    )  # outside the block nothing is checked


def test_a_last_term_longer_than_the_context_gets_no_model_answer(engine):
    """It raised 'does not fit in N tokens', which failed whole hybrid requests."""
    huge = [1, 10**70]  # 71 digits: more than the 64-token context leaves a prompt
    assert engine.next_terms([huge, [1, 2, 3]], n_terms=2)[0] == [None, None]
    assert engine.greedy_next_term([huge]) == [(None, 0.0)]
    assert engine.beam_next_term([huge, [1, 2, 3]], beam_width=2, top_k=2)[0] == []
    with pytest.raises(EngineError, match="does not fit"):
        engine.generate([[BOS_ID] + encode_terms([10**70], bos=False)], [Sampling(4)])


def test_bad_sampling_settings_are_engine_errors(engine):
    for setting in (
        Sampling(0),
        Sampling(4, temperature=-1.0),
        Sampling(4, temperature=math.inf),
        Sampling(4, top_p=0.0),
        Sampling(4, stop_ids=frozenset({VOCAB_SIZE})),
    ):
        with pytest.raises(EngineError):
            engine.generate([PROMPTS[0]], [setting])
    with pytest.raises(EngineError):
        engine.generate(PROMPTS, [Sampling(4)])


def test_models_load_on_cuda_by_default_when_torch_sees_one(monkeypatch):
    """The CLI says 'default: cuda if available'; the engine used `device or "cpu"`."""
    import nextterm.models.checkpoint as checkpoint

    devices = []

    def fake_load(path, subfolder=None, device=None, dtype=None):
        devices.append(device)
        return create_model("nextterm-1m", seed=0, **TINY_QWEN3)

    monkeypatch.setattr(checkpoint, "load_checkpoint", fake_load)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    Engine.from_pretrained("some/dir")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    Engine.from_pretrained("some/dir")
    Engine.from_pretrained("some/dir", device="cpu")
    assert devices == ["cuda", "cpu", "cpu"]
