"""SeqCond hybrid: spec layout, parameter count, checkpoints, parallel == recurrent decoding."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM

from nextterm.models.seqcond import SeqCondConfig, SeqCondForCausalLM, SeqCondInputError
from nextterm.models.seqcond.presets import (
    SCA_PRESETS,
    SeqCondPresetError,
    create_sca_model,
    make_seqcond_config,
)
from nextterm.tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE

SMALL = {
    "d_model": 32,
    "d_ff": 40,
    "num_layers": 6,
    "vocab_size": 50,
    "maxlen": 64,
    "num_heads": 4,
    "num_kv_heads": 2,
    "seqcond_heads": 4,
    "num_query_heads": 2,
    "num_thetas": 2,
    "conv_kernel_size": 3,
    "expand_factor": 2.0,
    "out_expand_factor": 2,
    "initializer_range": 0.15,
}


def small_model(seed: int = 0, **overrides) -> SeqCondForCausalLM:
    """A tiny random model whose scalar parameters are perturbed away from their initial values."""
    torch.manual_seed(seed)
    model = SeqCondForCausalLM(SeqCondConfig(**{**SMALL, **overrides})).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if any(
                key in name
                for key in ("score_", "phase_scale", "w_int_raw", "norm", "slopes", "theta")
            ):
                parameter.add_(0.3 * torch.randn_like(parameter))
    return model


def spec_shapes(config: SeqCondConfig) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes as docs/seqcond.md lists them (written out independently of the model)."""
    d, k_heads, kq, m = (
        config.d_model,
        config.seqcond_heads,
        config.num_query_heads,
        config.num_thetas,
    )
    h = int(d * config.expand_factor) // (k_heads * m)
    channels = k_heads * h + k_heads + kq * h * m * 2
    kv = config.num_kv_heads * (d // config.num_heads)
    out_e = config.out_expand_factor
    shapes = {"model.embedding.weight": (config.vocab_size, d)}
    for i in range(config.num_layers):
        p = f"model.blocks.{i}."
        if (i + 1) % (config.seqcond_ratio + 1) == 0:
            shapes |= {
                p + "norm1.scale": (d,),
                p + "norm2.scale": (d,),
                p + "attn.q_proj.weight": (d, d),
                p + "attn.k_proj.weight": (kv, d),
                p + "attn.v_proj.weight": (kv, d),
                p + "attn.out_proj.weight": (d, d),
                p + "ff_in.weight": (2 * config.d_ff, d),
                p + "ff_in.bias": (2 * config.d_ff,),
                p + "ff_out.weight": (d, config.d_ff),
                p + "ff_out.bias": (d,),
            }
        else:
            shapes |= {
                p + "norm.scale": (d,),
                p + "attn.in_proj.weight": (channels, d),
                p + "attn.conv_weight": (channels, 1, config.conv_kernel_size),
                p + "attn.theta_d_raw": (1, 1, k_heads, h, m),
                p + "attn.w_int_raw": (1, 1, kq, k_heads // kq, h, m),
                p + "attn.decay_slopes": (k_heads,),
                p + "attn.score_scale": (k_heads,),
                p + "attn.score_bias": (k_heads,),
                p + "attn.phase_scale": (k_heads,),
                p + "attn.gate_proj.weight": (k_heads * 2 * h, d),
                p + "attn.gated_norm.weight": (k_heads * 2 * h,),
                p + "attn.W_readout": (k_heads, 2 * h, 2 * out_e * h),
                p + "attn.out_proj.weight": (d, k_heads * out_e * h),
            }
    return shapes


def test_nautile_preset_has_the_card_parameter_count_and_spec_layout():
    config = make_seqcond_config("nautile-370m")
    with torch.device("meta"):
        model = SeqCondForCausalLM(config)
    assert sum(parameter.numel() for parameter in model.parameters()) == 371_901_088
    assert [config.is_transformer_block(i) for i in range(6)] == [False, False, True] * 2
    ours = {
        name: tuple(t.shape) for name, t in model.state_dict().items() if name != "lm_head.weight"
    }
    assert ours == spec_shapes(config)
    assert model.state_dict()["model.blocks.0.attn.in_proj.weight"].shape == (5136, 1024)
    assert model.lm_head.weight is model.model.embedding.weight


def test_checkpoint_in_spec_layout_loads_without_missing_or_unexpected_keys(tmp_path):
    config = SeqCondConfig(**SMALL)
    torch.manual_seed(1)
    tensors = {name: torch.randn(shape) for name, shape in spec_shapes(config).items()}
    half = config.d_model // config.num_heads // 2
    tensors["model.cos_emb"] = torch.randn(config.maxlen, half)  # optional buffers of the layout
    tensors["model.sin_emb"] = torch.randn(config.maxlen, half)
    config.save_pretrained(tmp_path)
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    model, info = SeqCondForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    state = model.state_dict()
    for name in spec_shapes(config):
        assert torch.equal(state[name], tensors[name]), name
    assert torch.equal(model.lm_head.weight, tensors["model.embedding.weight"])


def test_save_and_reload_round_trip_also_through_auto_classes(tmp_path):
    model = small_model()
    ids = torch.randint(1, SMALL["vocab_size"], (2, 9))
    expected = model(ids).logits
    model.save_pretrained(tmp_path)
    reloaded = SeqCondForCausalLM.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(ids).logits, expected)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "seqcond"
    auto = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(auto, SeqCondForCausalLM)
    assert torch.equal(auto(ids).logits, expected)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"num_anchor_heads": 1, "num_thetas": 1, "conv_kernel_size": 1, "seqcond_ratio": 1},
        {"num_query_heads": 4, "qk_norm": False, "maxlen": 8},
    ],
)
def test_step_decoding_reproduces_the_parallel_forward(overrides):
    model = small_model(seed=3, **overrides)
    torch.manual_seed(4)
    lengths = torch.tensor([14, 6, 10])
    ids = torch.randint(1, SMALL["vocab_size"], (3, 14))
    ids[1, 6:] = 0  # right padding
    ids[2, 10:] = 0
    with torch.no_grad():
        reference = model(ids).logits
    scale = float(reference.abs().max())
    assert scale > 1.0  # the comparison below is not vacuous
    prefix = torch.tensor([4, 1, 3])
    logits, state = model.prefill(ids, prefix, capacity=8)
    for row in range(3):
        torch.testing.assert_close(
            logits[row], reference[row, prefix[row] - 1], rtol=0, atol=1e-5 * scale
        )
    position = prefix.clone()
    compared = 0
    for step in range(13):
        if int(position.max()) + 1 > state.capacity:
            state.grow(2 * state.capacity)
        tokens = ids.gather(1, position.clamp(max=13).view(-1, 1)).squeeze(1)
        out = model.decode_step(state, tokens, full_cache=step % 2 == 1)
        for row in range(3):
            if position[row] < lengths[row]:
                torch.testing.assert_close(
                    out[row], reference[row, position[row]], rtol=0, atol=1e-5 * scale
                )
                compared += 1
        position += 1
    assert compared == int((lengths - prefix).sum())


def test_sca_state_size_is_independent_of_the_sequence_length():
    model = small_model()
    _, short = model.prefill(torch.randint(1, 50, (1, 3)), torch.tensor([3]))
    _, long = model.prefill(torch.randint(1, 50, (1, 60)), torch.tensor([60]))
    assert short.sca_nbytes() == long.sca_nbytes() > 0
    assert long.kv_nbytes() == 20 * short.kv_nbytes()


def test_session_prefill_step_and_select_match_the_parallel_forward():
    model = small_model(seed=5)
    session = model.decode_session()
    session.initial_capacity = 4  # forces the key/value buffers to grow
    prompts = [[3, 4, 5], [7], [9, 10, 11, 12, 13]]
    continuation = [21, 22, 23, 24, 25, 26]

    @torch.no_grad()
    def reference(tokens: list[int]) -> torch.Tensor:
        return model(torch.tensor([tokens])).logits[0, -1]

    logits = session.prefill(prompts)
    scale = max(float(reference(p).abs().max()) for p in prompts)
    for row, prompt in enumerate(prompts):
        torch.testing.assert_close(logits[row], reference(prompt), rtol=0, atol=1e-5 * scale)
    histories = [list(p) for p in prompts]
    for token in continuation[:3]:
        logits = session.step(torch.tensor([token] * 3))
        for row in range(3):
            histories[row].append(token)
            torch.testing.assert_close(
                logits[row], reference(histories[row]), rtol=0, atol=1e-5 * scale
            )
    session.select(torch.tensor([2, 2, 0]))  # duplicate row 2, keep row 0, drop row 1
    histories = [list(histories[2]), list(histories[2]), histories[0]]
    for token in continuation[3:]:
        tokens = torch.tensor([token, token + 1, token + 2])
        logits = session.step(tokens)
        for row in range(3):
            histories[row].append(int(tokens[row]))
            torch.testing.assert_close(
                logits[row], reference(histories[row]), rtol=0, atol=1e-5 * scale
            )


def test_session_and_forward_reject_bad_input():
    model = small_model()
    session = model.decode_session()
    with pytest.raises(SeqCondInputError):
        session.step(torch.tensor([1]))
    with pytest.raises(SeqCondInputError):
        session.prefill([[1, 2], []])
    with pytest.raises(SeqCondInputError):
        session.prefill([[1, 999]])
    session.prefill([[1, 2], [3]])
    with pytest.raises(SeqCondInputError):
        session.step(torch.tensor([1, 2, 3]))
    with pytest.raises(SeqCondInputError):
        session.select(torch.tensor([2]))
    left_padded = torch.tensor([[0, 1, 1], [1, 1, 1]])
    with pytest.raises(SeqCondInputError, match="right padding"):
        model(torch.ones(2, 3, dtype=torch.long), attention_mask=left_padded)


def test_training_loss_is_the_shifted_cross_entropy_and_backpropagates():
    model = small_model().train()
    ids = torch.randint(1, 50, (2, 8))
    labels = ids.clone()
    labels[1, 5:] = -100
    mask = (labels != -100).long()
    out = model(ids, attention_mask=mask, labels=labels)
    logits = out.logits
    expected = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 50), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.model.blocks[0].attn.theta_d_raw.grad.abs().sum() > 0


def test_sca_presets_use_the_digit_vocabulary_and_are_seeded():
    assert set(SCA_PRESETS) >= {"nextterm-sca-1m", "nextterm-sca-3m", "nextterm-sca-10m"}
    model = create_sca_model("nextterm-sca-1m", seed=7)
    again = create_sca_model("nextterm-sca-1m", seed=7)
    config = model.config
    assert (config.vocab_size, config.bos_token_id, config.eos_token_id, config.pad_token_id) == (
        VOCAB_SIZE,
        BOS_ID,
        EOS_ID,
        PAD_ID,
    )
    assert 0.8e6 < sum(p.numel() for p in model.parameters()) < 1.5e6
    ids = torch.tensor([[BOS_ID, 1, 11, 2, 11]])
    assert torch.equal(model(ids).logits, again(ids).logits)
    assert model(ids).logits.shape == (1, 5, VOCAB_SIZE)
    with pytest.raises(SeqCondPresetError):
        create_sca_model("nextterm-sca-7b")
    with pytest.raises(SeqCondPresetError):
        make_seqcond_config("nextterm-sca-1m", num_kv_heads=3)


def test_num_kv_heads_none_means_full_multi_head_attention():
    """None (the published default) raised a TypeError in the shape checks."""
    config = SeqCondConfig(**{**SMALL, "num_kv_heads": None})
    assert config.num_kv_heads == config.num_heads
    model = SeqCondForCausalLM(config)
    block = next(block for block in model.model.blocks if hasattr(block, "norm1"))
    assert block.attn.k_proj.weight.shape == (config.d_model, config.d_model)


def test_every_head_an_anchor_head_saves_and_loads_with_no_missing_key(tmp_path):
    """An empty decay_slopes parameter was created, and reported missing when loading."""
    model = small_model(num_anchor_heads=SMALL["seqcond_heads"])
    assert not any(name.endswith("decay_slopes") for name, _ in model.named_parameters())
    model.save_pretrained(tmp_path)
    reloaded, info = SeqCondForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    ids = torch.randint(1, SMALL["vocab_size"], (2, 7))
    assert torch.equal(reloaded.eval()(ids).logits, model(ids).logits)


def test_positions_past_maxlen_read_the_tables_at_maxlen_minus_one():
    """Decoding past maxlen kept counting positions; the published implementation clamps them."""
    model = small_model(num_anchor_heads=1, maxlen=8)
    sca = next(block.attn for block in model.model.blocks if hasattr(block.attn, "position_prior"))
    attention = next(block.attn for block in model.model.blocks if hasattr(block, "norm1"))
    late, last = torch.tensor([8, 20]), torch.tensor([7, 7])
    assert torch.equal(sca.position_prior(late), sca.position_prior(last))
    x = torch.randn(2, SMALL["d_model"])
    for got, expected in zip(attention._project(x, late), attention._project(x, last)):
        assert torch.equal(got, expected)
    assert not torch.equal(
        sca.position_prior(torch.tensor([6])), sca.position_prior(torch.tensor([7]))
    )
