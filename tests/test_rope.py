"""RoPE conversion: interleaved-RoPE logits == transformers Qwen3 logits on converted weights."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers.models.qwen3 import modeling_qwen3

from nextterm.models.presets import create_model
from nextterm.models.rope import (
    apply_interleaved_rotary_pos_emb,
    convert_model_,
    interleaved_to_split_half,
    split_half_permutation,
)
from nextterm.tokenizer import encode_terms


def test_permutation_pairs_interleaved_dims_into_halves():
    assert split_half_permutation(8).tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    with pytest.raises(ValueError):
        split_half_permutation(7)


@pytest.mark.parametrize("attention_bias", [False, True])
def test_converted_weights_give_identical_logits(monkeypatch, attention_bias):
    trained = create_model(
        "nextterm-1m",
        seed=2,
        num_hidden_layers=2,
        attention_bias=attention_bias,
        initializer_range=0.2,
    ).double()
    with torch.no_grad():  # non-trivial norm weights and biases, so their permutation matters
        for name, parameter in trained.named_parameters():
            if "norm" in name or name.endswith("bias"):
                parameter.copy_(torch.randn_like(parameter))
    ids = torch.tensor(
        [encode_terms([1, -3, 9, -27, 81, -243]), encode_terms([-1, 3, -9, 27, -81, 243])]
    )
    with monkeypatch.context() as patch:
        patch.setattr(modeling_qwen3, "apply_rotary_pos_emb", apply_interleaved_rotary_pos_emb)
        with torch.inference_mode():
            reference = trained(ids).logits
    converted = copy.deepcopy(trained)
    convert_model_(converted)
    with torch.inference_mode():
        # Qwen3's RMSNorm runs in float32, so the permuted sum order costs ~1e-7 relative error
        assert (converted(ids).logits - reference).abs().max() < 1e-5
        # unconverted weights under split-half RoPE do differ: the test can tell the layouts apart
        assert (trained(ids).logits - reference).abs().max() > 1e-2


def test_conversion_touches_only_query_and_key_tensors():
    model = create_model("nextterm-1m", seed=0, num_hidden_layers=1)
    state = {name: torch.randn_like(tensor) for name, tensor in model.state_dict().items()}
    converted = interleaved_to_split_half(state, model.config.head_dim)
    changed = {name for name in state if not torch.equal(state[name], converted[name])}
    prefix = "model.layers.0.self_attn."
    assert changed == {
        prefix + name
        for name in ("q_proj.weight", "k_proj.weight", "q_norm.weight", "k_norm.weight")
    }
