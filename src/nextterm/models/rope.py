"""Convert weights trained with interleaved RoPE to the Hugging Face split-half RoPE layout.

Rotary embeddings rotate pairs of query/key dimensions by position-dependent angles. The NextTerm
training code pairs dimensions ``(2i, 2i+1)`` of each head (the "interleaved" layout); transformers'
Qwen3 pairs ``(i, i + d/2)`` ("split-half", ``rotate_half``), both with frequency ``theta^(-2i/d)``.
Permuting each head's dimensions by ``perm = [0, 2, 4, ..., d-2, 1, 3, ..., d-1]`` maps one layout to
the other, and attention scores (dot products of queries and keys permuted alike) are unchanged.
So the conversion permutes, per head, the output rows of ``q_proj`` and ``k_proj`` (and their biases)
and the ``q_norm`` / ``k_norm`` weights (Qwen3 normalises each head's vector before RoPE with a
per-dimension weight). Values, ``o_proj`` and everything else are untouched.

:func:`apply_interleaved_rotary_pos_emb` is the training layout's rotary function, with the same
signature as transformers' ``apply_rotary_pos_emb``: the reference that the tests compare against.
"""

from __future__ import annotations

import re

import torch

from nextterm.errors import NextTermError

_ATTENTION = re.compile(r"(^|\.)self_attn\.(q_proj|k_proj|q_norm|k_norm)\.(weight|bias)$")


def split_half_permutation(head_dim: int) -> torch.Tensor:
    """Index ``perm`` with ``split_half[j] = interleaved[perm[j]]`` for one head of ``head_dim``."""
    if head_dim % 2:
        raise NextTermError(f"RoPE needs an even head_dim, got {head_dim}")
    return torch.cat([torch.arange(0, head_dim, 2), torch.arange(1, head_dim, 2)])


def interleaved_to_split_half(
    state_dict: dict[str, torch.Tensor], head_dim: int
) -> dict[str, torch.Tensor]:
    """A copy of ``state_dict`` with every attention q/k projection and norm permuted per head."""
    perm = split_half_permutation(head_dim)
    converted = {}
    for name, tensor in state_dict.items():
        match = _ATTENTION.search(name)
        if match is None:
            converted[name] = tensor
            continue
        if tensor.shape[0] % head_dim:
            raise NextTermError(
                f"{name} has {tensor.shape[0]} rows, not a multiple of head_dim {head_dim}"
            )
        heads = tensor.reshape(tensor.shape[0] // head_dim, head_dim, *tensor.shape[1:])
        converted[name] = (
            heads.index_select(1, perm.to(tensor.device)).reshape(tensor.shape).contiguous()
        )
    return converted


def convert_model_(model) -> None:
    """Convert a loaded ``Qwen3ForCausalLM`` holding interleaved-RoPE weights in place."""
    head_dim = model.config.head_dim
    converted = interleaved_to_split_half(model.state_dict(), head_dim)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.copy_(converted[name])


def apply_interleaved_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim: int = 1):
    """Interleaved RoPE (pairs ``2i, 2i+1``) from transformers' ``cos``/``sin`` (``cat(freqs, freqs)``)."""
    half = cos.shape[-1] // 2
    cos = cos[..., :half].repeat_interleave(2, dim=-1).unsqueeze(unsqueeze_dim)
    sin = sin[..., :half].repeat_interleave(2, dim=-1).unsqueeze(unsqueeze_dim)

    def rotate_pairs(x):
        return torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)

    return q * cos + rotate_pairs(q) * sin, k * cos + rotate_pairs(k) * sin
