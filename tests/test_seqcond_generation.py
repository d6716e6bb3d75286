"""SeqCond generation: greedy == argmax over the parallel forward, EOS stops, sampling knobs, acceleration."""

from __future__ import annotations

import pytest
import torch

from nextterm.models.seqcond import (
    SamplingConfig,
    SeqCondConfig,
    SeqCondForCausalLM,
    SeqCondInputError,
)
from nextterm.models.seqcond.generation import apply_repetition_penalty, choose_tokens, generate_ids

GREEDY = SamplingConfig(max_new_tokens=6, temperature=0.0, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def model() -> SeqCondForCausalLM:
    torch.manual_seed(0)
    config = SeqCondConfig(
        d_model=32, d_ff=40, num_layers=3, vocab_size=40, maxlen=64, num_heads=4, num_kv_heads=2,
        seqcond_heads=4, num_query_heads=4, initializer_range=0.3, eos_token_id=None, pad_token_id=0,
    )  # fmt: skip
    return SeqCondForCausalLM(config).eval()


def greedy_reference(model: SeqCondForCausalLM, prompt: list[int], steps: int) -> list[int]:
    tokens = list(prompt)
    with torch.no_grad():
        for _ in range(steps):
            tokens.append(int(model(torch.tensor([tokens])).logits[0, -1].argmax()))
    return tokens[len(prompt) :]


def test_batched_greedy_generation_matches_argmax_over_the_parallel_forward(model):
    prompts = [[5, 6, 7, 8], [9], [10, 11]]
    generated = generate_ids(model, prompts, GREEDY, eos_token_ids=[], acceleration="auto")
    assert generated == [greedy_reference(model, prompt, 6) for prompt in prompts]
    assert len(set(map(tuple, generated))) > 1


def test_generation_stops_each_row_at_eos(model):
    prompts = [[5, 6, 7, 8], [9]]
    free = generate_ids(model, prompts, GREEDY, eos_token_ids=[])
    eos = free[0][2]
    stopped = generate_ids(model, prompts, GREEDY, eos_token_ids=[eos])
    assert stopped[0] == free[0][: free[0].index(eos) + 1]
    assert stopped[1] == (free[1][: free[1].index(eos) + 1] if eos in free[1] else free[1])


def test_generate_tensor_appends_columns_and_pads_finished_rows(model):
    input_ids = torch.tensor([[5, 6, 7], [9, 0, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    free = generate_ids(model, [[5, 6, 7], [9]], GREEDY, eos_token_ids=[])
    eos = free[1][0]
    out = model.generate(input_ids, attention_mask=mask, max_new_tokens=6, do_sample=False,
                         repetition_penalty=1.0, eos_token_id=eos)  # fmt: skip
    assert torch.equal(out[:, :3], input_ids)
    expected_first = free[0][: free[0].index(eos) + 1] if eos in free[0] else free[0]
    assert out[0, 3 : 3 + len(expected_first)].tolist() == expected_first
    assert out[1, 3:].tolist() == [eos] + [0] * (out.shape[1] - 4)


def test_seeded_sampling_is_reproducible_and_top_k_one_is_greedy(model):
    prompts = [[5, 6, 7], [8, 9]]
    config = SamplingConfig(
        max_new_tokens=8, temperature=1.5, top_p=1.0, top_k=0, repetition_penalty=1.0, seed=3
    )
    first = generate_ids(model, prompts, config, eos_token_ids=[])
    assert first == generate_ids(model, prompts, config, eos_token_ids=[])
    other_seed = SamplingConfig(**{**config.__dict__, "seed": 4})
    assert first != generate_ids(model, prompts, other_seed, eos_token_ids=[])
    top1 = SamplingConfig(
        max_new_tokens=6, temperature=1.0, top_k=1, repetition_penalty=1.0, seed=0
    )
    assert generate_ids(model, prompts, top1, eos_token_ids=[]) == generate_ids(
        model, prompts, GREEDY, []
    )


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    seen = torch.zeros(1, 4, dtype=torch.bool)
    config = SamplingConfig(temperature=1.0, top_p=0.7, top_k=0, repetition_penalty=1.0)
    generator = torch.Generator().manual_seed(0)
    picks = {int(choose_tokens(logits, seen, config, generator)) for _ in range(200)}
    assert picks == {0, 1}


def test_repetition_penalty_divides_every_seen_logit_as_the_published_implementation():
    """The transformers rule (multiply negative logits) made seen negative tokens less likely
    than the published SeqCond code does."""
    logits = torch.tensor([[2.0, 1.9, -1.0]])
    seen = torch.tensor([[True, False, True]])
    penalised = apply_repetition_penalty(logits, seen, 1.1)
    torch.testing.assert_close(penalised, torch.tensor([[2.0 / 1.1, 1.9, -1.0 / 1.1]]))
    assert int(choose_tokens(logits, seen, SamplingConfig(temperature=0.0), None)) == 1


def test_card_defaults_and_invalid_options():
    defaults = SamplingConfig()
    assert (defaults.temperature, defaults.top_p, defaults.top_k, defaults.repetition_penalty) == (
        0.15,
        0.9,
        50,
        1.1,
    )
    with pytest.raises(SeqCondInputError):
        SamplingConfig(top_p=0.0)
    with pytest.raises(SeqCondInputError):
        SamplingConfig(temperature=-1.0)


def test_acceleration_modes_on_cpu(model):
    prompts = [[5, 6]]
    plain = generate_ids(model, prompts, GREEDY, [], acceleration="none")
    assert generate_ids(model, prompts, GREEDY, [], acceleration="auto") == plain
    with pytest.raises(SeqCondInputError, match="CUDA"):
        generate_ids(model, prompts, GREEDY, [], acceleration="cuda_graph")
    with pytest.raises(SeqCondInputError):
        generate_ids(model, prompts, GREEDY, [], acceleration="triton")
    with pytest.raises(SeqCondInputError):
        generate_ids(model, [[]], GREEDY, [])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_decoding_matches_plain_decoding(model):
    cuda_model = SeqCondForCausalLM(model.config).cuda().eval()
    cuda_model.load_state_dict(model.state_dict())
    prompts = [[5, 6, 7], [9]]
    plain = generate_ids(cuda_model, prompts, GREEDY, [], acceleration="none")
    assert generate_ids(cuda_model, prompts, GREEDY, [], acceleration="cuda_graph") == plain
    assert (
        generate_ids(cuda_model, prompts, GREEDY, [], acceleration="cuda_graph") == plain
    )  # reused graph
