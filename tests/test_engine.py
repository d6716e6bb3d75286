"""Engine: greedy == transformers generate, batching invariance, beam search, raw generation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from nextterm.engine import (
    Engine,
    EngineError,
    KVCacheSession,
    StaticKVCacheSession,
    fit_prompt,
    open_session,
)
from nextterm.engine.grammar import TermGrammar
from nextterm.models.presets import create_model
from nextterm.tokenizer import BOS_ID, SEP_ID, STOP_IDS, encode_term, encode_terms, parse_term_ids

SEQUENCES = [
    [1, 2, 3, 4, 5],
    [1, 1, 2, 3, 5, 8, 13, 21, 34],
    [-3, 9, -27],
    [0],
    [7],
    [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47],
]


@pytest.fixture(scope="module", params=[0, 1])
def any_model(request):
    return _random_model(request.param)


def _random_model(seed: int):
    """A small random Qwen3 in float64 (so padded and unpadded batches agree to ~1e-15); large
    initial weights make its greedy terms depend on the input and end at varied lengths."""
    return create_model(
        "nextterm-1m", seed=seed, num_hidden_layers=2, initializer_range=0.3
    ).double()


@pytest.fixture(scope="module")
def model():
    return _random_model(0)


@pytest.fixture(scope="module")
def engine(model):
    return Engine(model, adaptive_term_cap=False)


def _generate_first_term(model, prompt: list[int], grammar: TermGrammar | None) -> list[int]:
    start = len(prompt)
    kwargs = {}
    if grammar is not None:
        kwargs["prefix_allowed_tokens_fn"] = lambda _, ids: grammar.allowed_ids(
            ids[start:].tolist()
        )
    output = model.generate(
        torch.tensor([prompt]),
        max_new_tokens=192,
        do_sample=False,
        eos_token_id=list(STOP_IDS),
        pad_token_id=14,
        **kwargs,
    )
    return output[0, start:].tolist()


def test_greedy_next_term_equals_generate_with_the_same_grammar(any_model):
    model, engine = any_model, Engine(any_model, adaptive_term_cap=False)
    expected = []
    for sequence in SEQUENCES:
        ids = _generate_first_term(model, encode_terms(sequence), engine.grammar)
        expected.append([parse_term_ids(ids[:-1]) if ids[-1] in STOP_IDS else None])
    assert engine.next_terms(SEQUENCES) == expected


def test_generate_tokens_greedy_equals_generate(model, engine):
    prompts = [encode_terms(sequence) for sequence in SEQUENCES]
    results = engine.generate_tokens(prompts, max_new_tokens=12)
    for prompt, result in zip(prompts, results):
        expected = _generate_first_term(model, prompt, None)[:12]
        assert result.token_ids == expected
        assert result.finish_reason == ("stop" if expected[-1] in STOP_IDS else "length")
        assert len(result.logprobs) == len(expected) and all(
            value <= 0 for value in result.logprobs
        )


def test_mixed_length_batch_equals_one_by_one(engine):
    batched = engine.next_terms(SEQUENCES, n_terms=2)
    assert batched == [engine.next_terms([sequence], n_terms=2)[0] for sequence in SEQUENCES]
    beams = engine.beam_next_term(SEQUENCES[:4], beam_width=3, top_k=2)
    for sequence, result in zip(SEQUENCES, beams):
        alone = engine.beam_next_term([sequence], beam_width=3, top_k=2)[0]
        assert [value for value, _ in result] == [value for value, _ in alone]
        assert [p for _, p in result] == pytest.approx([p for _, p in alone], rel=1e-9)


def test_multi_term_equals_repeated_single_terms(engine):
    sequence = [1, 2, 4, 8]
    terms = engine.next_terms([sequence], n_terms=3)[0]
    assume_complete = [term for term in terms if term is not None]
    step_by_step, current = [], list(sequence)
    for _ in assume_complete:
        term = engine.next_terms([current])[0][0]
        step_by_step.append(term)
        current.append(term)
    assert assume_complete == step_by_step


def test_beam_probabilities_are_exact_and_ranked(model, engine):
    sequence = [1, 2, 3]
    results = engine.beam_next_term([sequence], beam_width=8, top_k=5)[0]
    values = [value for value, _ in results]
    probabilities = [p for _, p in results]
    assert len(values) == 5 == len(set(values))
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1 + 1e-12
    # each probability is the model's: product of digit probabilities times P(any stop id)
    for value, probability in results:
        ids = encode_terms(sequence)
        log_probability = 0.0
        for token in encode_terms([value], bos=False)[:-1]:
            with torch.inference_mode():
                logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1], -1)
            log_probability += float(logp[token])
            ids.append(token)
        with torch.inference_mode():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1], -1)
        log_probability += float(torch.logsumexp(logp[list(STOP_IDS)], -1))
        assert probability == pytest.approx(math.exp(log_probability), rel=1e-9)


class _MarkovModel(torch.nn.Module):
    """A bigram "language model" with its own decode session (the way SeqCond plugs in): the next
    token's logits depend only on the last token, so term probabilities have a closed form."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        table = torch.randn((16, 16), generator=generator, dtype=torch.float64)
        table[:10, list(STOP_IDS)] += 3.0  # after a digit, stopping is likely
        self.table = torch.nn.Parameter(table, requires_grad=False)
        self.probabilities = torch.softmax(table, -1).tolist()
        self.config = SimpleNamespace(max_position_embeddings=4096)

    def decode_session(self):
        return _MarkovSession(self.table)

    def prefix_probability(self, ids: list[int]) -> float:
        result, previous = 1.0, SEP_ID
        for token in ids:
            result *= self.probabilities[previous][token]
            previous = token
        return result

    def term_probability(self, ids: list[int]) -> float:
        return self.prefix_probability(ids) * sum(
            self.probabilities[ids[-1]][stop] for stop in STOP_IDS
        )


class _MarkovSession:
    def __init__(self, table):
        self.table, self.last = table, None

    def prefill(self, prompts):
        self.last = torch.tensor([prompt[-1] for prompt in prompts])
        return self.table[self.last]

    def step(self, token_ids):
        self.last = token_ids.clone()
        return self.table[self.last]

    def select(self, rows):
        self.last = self.last[rows]


def test_wide_beam_finds_the_most_probable_terms_of_a_pluggable_model():
    model = _MarkovModel(seed=3)
    engine = Engine(model)
    assert isinstance(open_session(model), _MarkovSession)
    short = [*range(-99, 1000)]  # every term of at most 3 tokens
    exhaustive = {value: model.term_probability(encode_term(value)) for value in short}
    ranked = sorted(exhaustive, key=exhaustive.get, reverse=True)[:3]
    # every longer term starts with one of these 4-token prefixes: their mass bounds all of them
    longer = sum(
        model.prefix_probability(encode_term(value))
        for value in [*range(-999, -99), *range(1000, 10_000)]
    )
    assert longer < exhaustive[ranked[2]]
    results = engine.beam_next_term([[3, 1, 4], [5]], beam_width=16, top_k=3)
    assert results[0] == results[1]  # the bigram model only sees the last token (a separator)
    assert [value for value, _ in results[0]] == ranked
    assert [p for _, p in results[0]] == pytest.approx([exhaustive[v] for v in ranked], rel=1e-9)


def test_grammar_allows_exactly_the_term_syntax(engine):
    grammar = engine.grammar
    assert grammar.allowed_ids([]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert grammar.allowed_ids([10]) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert grammar.allowed_ids([0]) == list(STOP_IDS)
    assert grammar.allowed_ids([10, 4, 0]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, *STOP_IDS]


def test_long_inputs_are_cut_at_a_term_boundary():
    ids = encode_terms([123, 45, 6789, 1])
    assert fit_prompt(ids, 16) == ids
    assert fit_prompt(ids, 9) == [BOS_ID, 6, 7, 8, 9, 11, 1, 11]
    assert fit_prompt(ids, 7) == [BOS_ID, 1, 11]
    assert fit_prompt(ids, 4) == [BOS_ID, 1, 11]
    with pytest.raises(EngineError, match="does not fit"):
        fit_prompt(encode_terms([123456]), 4)
    model = create_model("nextterm-1m", seed=0, num_hidden_layers=1, max_position_embeddings=64)
    engine = Engine(model)
    long_sequence = list(range(100, 200))
    # one term keeps 64 // 4 = 16 positions free: BOS + 11 terms of 4 tokens fit in the other 48
    assert engine.next_terms([long_sequence]) == engine.next_terms([long_sequence[-11:]])
    assert engine.beam_next_term([long_sequence], beam_width=2, top_k=2) == engine.beam_next_term(
        [long_sequence[-11:]], beam_width=2, top_k=2
    )
    assert len(engine.next_terms([long_sequence], n_terms=2)[0]) == 2


def test_raw_sampling_is_seeded_and_respects_limits(engine):
    prompts = [encode_terms([1, 2, 3]), encode_terms([5])]
    first = engine.generate_tokens(prompts, max_new_tokens=20, temperature=1.0, top_p=0.9, seed=7)
    again = engine.generate_tokens(prompts, max_new_tokens=20, temperature=1.0, top_p=0.9, seed=7)
    assert first == again
    for generation in first:
        assert 1 <= len(generation.token_ids) <= 20
        stops = [i for i, t in enumerate(generation.token_ids) if t in STOP_IDS]
        assert stops == (
            [len(generation.token_ids) - 1] if generation.finish_reason == "stop" else []
        )
    no_stop = engine.generate_tokens(prompts, max_new_tokens=5, stop_ids=())
    assert all(len(g.token_ids) == 5 and g.finish_reason == "length" for g in no_stop)


def test_bad_requests_are_clear_errors(engine):
    with pytest.raises(EngineError):
        engine.generate_tokens([[12, 99]], max_new_tokens=3)
    with pytest.raises(EngineError):
        engine.generate_tokens([[12]], max_new_tokens=0)
    with pytest.raises(EngineError):
        engine.next_terms([[1, 2]], n_terms=0)
    with pytest.raises(EngineError):
        engine.beam_next_term([[1, 2]], beam_width=0)
    with pytest.raises(ValueError):
        engine.next_terms([[1, True]])
    assert engine.next_terms([]) == [] and engine.beam_next_term([]) == []


def test_static_session_matches_dynamic_session(model):
    prompts = [encode_terms(sequence) for sequence in SEQUENCES[:4]]
    dynamic, static = KVCacheSession(model), StaticKVCacheSession(model, max_length=128)
    assert isinstance(open_session(model), KVCacheSession)
    assert torch.allclose(dynamic.prefill(prompts), static.prefill(prompts), atol=1e-10)
    rows = torch.tensor([2, 0, 0, 3, 1])  # reorder + duplicate (beam fork) then shrink
    for session in (dynamic, static):
        session.select(rows)
    tokens = torch.tensor([1, 2, 11, 5, 0])
    assert torch.allclose(dynamic.step(tokens), static.step(tokens), atol=1e-10)
    keep = torch.tensor([4, 1])
    for session in (dynamic, static):
        session.select(keep)
    tokens = torch.tensor([7, 11])
    assert torch.allclose(dynamic.step(tokens), static.step(tokens), atol=1e-10)


class _CountingSession(KVCacheSession):
    calls = 0

    def step(self, token_ids):
        _CountingSession.calls += 1
        return super().step(token_ids)


def test_model_supplied_session_is_used(model):
    class WithSession(type(model)):
        def decode_session(self):
            return _CountingSession(self)

    custom = WithSession(model.config).double()
    custom.load_state_dict(model.state_dict())
    engine = Engine(custom)
    assert engine.next_terms([[1, 2, 3]]) == Engine(model).next_terms([[1, 2, 3]])
    assert _CountingSession.calls > 0


def test_static_cache_engine_gives_the_same_answers(model, engine):
    static = Engine(model, static_cache=True, adaptive_term_cap=False)
    static.max_context = 256  # small buffers keep the test fast; prompts here are short
    assert static.next_terms(SEQUENCES[:2]) == engine.next_terms(SEQUENCES[:2])
    for got, expected in zip(
        static.beam_next_term(SEQUENCES[:2], beam_width=2, top_k=2),
        engine.beam_next_term(SEQUENCES[:2], beam_width=2, top_k=2),
    ):
        assert [value for value, _ in got] == [value for value, _ in expected]
        assert [p for _, p in got] == pytest.approx([p for _, p in expected], rel=1e-9)


def test_adaptive_term_cap_budgets_each_term_by_the_given_ones(model):
    engine = Engine(model)
    assert engine._term_caps([[1, 22, 333], [10**100, 1]]).tolist() == [14, 192]
    flat = Engine(model, adaptive_term_cap=False)
    assert flat._term_caps([[1, 22, 333]]).tolist() == [192]
    for [term] in engine.next_terms([[1, 22, 333], [5, 6, 7]]):
        assert term is None or len(str(abs(term))) <= 14


def test_greedy_next_term_probability_is_the_models(engine):
    """The greedy term's probability equals the one beam search computes for the same term."""
    greedy = engine.greedy_next_term(SEQUENCES[:3])
    assert [value for value, _ in greedy] == [row[0] for row in engine.next_terms(SEQUENCES[:3])]
    for (value, probability), options in zip(
        greedy, engine.beam_next_term(SEQUENCES[:3], beam_width=8, top_k=8)
    ):
        found = dict(options)
        if value is not None and value in found:
            assert probability == pytest.approx(found[value], rel=1e-6)
        assert 0 <= probability <= 1


def test_scored_candidates_match_beam_probabilities(engine):
    sequences = [[1, 1, 2, 3, 5, 8], [2, 4, 6], [-3, 7]]
    beams = engine.beam_next_term(sequences, beam_width=4, top_k=3)
    scores = engine.score_terms(sequences, [[term for term, _ in options] for options in beams])
    for options, row in zip(beams, scores):
        assert [math.exp(value) for value in row] == pytest.approx(
            [p for _, p in options], rel=1e-9
        )
    # Any candidate can be scored, also ones the model would never generate; a batch mixing
    # candidate counts and lengths gives what each sequence gives alone.
    mixed = engine.score_terms([[1, 2, 3], [5], [9, 9]], [[4, 123456789], [], [-1]])
    alone = [
        engine.score_terms([s], [c])[0] for s, c in [([1, 2, 3], [4, 123456789]), ([9, 9], [-1])]
    ]
    assert mixed[1] == []
    assert mixed[0] == pytest.approx(alone[0]) and mixed[2] == pytest.approx(alone[1])
    assert all(value < 0 for value in mixed[0] + mixed[2])


def test_scoring_a_candidate_that_does_not_fit_gives_none(engine):
    huge = int("9" * (engine.max_context + 5))
    assert engine.score_terms([[1, 2]], [[huge]]) == [[None]]
    with pytest.raises(EngineError):
        engine.score_terms([[1, 2]], [])


def test_scoring_with_a_shorter_context_sees_only_the_last_terms(engine):
    long = list(range(1, 60))
    short = engine.score_terms([long], [[60]], context=24)  # BOS + 7 terms of 3 tokens = 22
    tail = engine.score_terms([list(range(53, 60))], [[60]])
    assert short[0][0] == pytest.approx(tail[0][0])
    assert short[0][0] != engine.score_terms([long], [[60]])[0][0]
