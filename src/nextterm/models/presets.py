"""Named model sizes for Qwen3-style NextTerm models (transformers' ``Qwen3Config``).

``nextterm-440m`` reproduces the NextTerm-440M card: 28 layers, hidden 1024, FFN 3072, 16 query
heads and 8 KV heads of size 128, an untied LM head, vocabulary 16, context 4096. With those
choices the parameter count is exactly the card's 440,500,224 (tests check it on the meta device).

The small presets are CPU-trainable and share the vocabulary, context length and special ids.
``nextterm-25m`` is the size of the timed single-GPU run (``configs/gpu-timed.toml``): in bf16 its
weights fit the four 16 MiB files that such a run may return.
All presets use ``rope_theta = 1_000_000`` (the Qwen3 default; the card does not state the value,
and it keeps position angles distinct over the 4096-token context).
"""

from __future__ import annotations

from typing import Any

from nextterm.errors import NextTermError
from nextterm.tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE

CONTEXT_LENGTH = 4096
ROPE_THETA = 1_000_000.0

_COMMON: dict[str, Any] = {
    "vocab_size": VOCAB_SIZE,
    "max_position_embeddings": CONTEXT_LENGTH,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
    "attention_bias": False,
    "bos_token_id": BOS_ID,
    "eos_token_id": EOS_ID,
    "pad_token_id": PAD_ID,
    "rope_parameters": {"rope_type": "default", "rope_theta": ROPE_THETA},
}


def _shape(
    layers: int, hidden: int, ffn: int, heads: int, kv_heads: int, head_dim: int
) -> dict[str, int]:
    return {
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
    }


PRESETS: dict[str, dict[str, Any]] = {
    "nextterm-1m": _shape(layers=5, hidden=128, ffn=384, heads=4, kv_heads=2, head_dim=32),
    "nextterm-3m": _shape(layers=6, hidden=192, ffn=576, heads=6, kv_heads=2, head_dim=32),
    "nextterm-10m": _shape(layers=12, hidden=256, ffn=768, heads=4, kv_heads=2, head_dim=64),
    "nextterm-25m": _shape(layers=8, hidden=512, ffn=1536, heads=8, kv_heads=4, head_dim=64),
    "nextterm-50m": _shape(layers=16, hidden=512, ffn=1536, heads=8, kv_heads=4, head_dim=64),
    "nextterm-440m": _shape(layers=28, hidden=1024, ffn=3072, heads=16, kv_heads=8, head_dim=128),
}
"""Architecture of each preset (the keys of ``Qwen3Config``); the shared values are added by
:func:`make_config`."""


class PresetError(NextTermError):
    """An unknown preset name or an invalid override."""


def make_config(preset: str, **overrides: Any):
    """The ``Qwen3Config`` of ``preset``; ``overrides`` replace any config value."""
    from transformers import Qwen3Config

    if preset not in PRESETS:
        raise PresetError(f"unknown preset {preset!r}; choose one of: {', '.join(preset_names())}")
    values = {**_COMMON, **PRESETS[preset], **overrides}
    try:
        return Qwen3Config(**values)
    except (TypeError, ValueError) as error:
        raise PresetError(f"invalid config for preset {preset!r}: {error}") from error


def preset_names() -> list[str]:
    """Every preset :func:`create_model` accepts: the Qwen3 ones and the SeqCond hybrids."""
    from nextterm.models.seqcond.presets import SEQCOND_PRESETS

    return [*PRESETS, *SEQCOND_PRESETS]


def create_model(preset: str, seed: int = 0, **overrides: Any):
    """A freshly initialised model of ``preset`` (float32, eval mode), seeded.

    Qwen3 presets give a ``Qwen3ForCausalLM``; the SeqCond presets (``nextterm-sca-*``,
    ``nautile-370m``) a ``SeqCondForCausalLM``, so training, the engine and the predictor accept
    both backbones by name.
    """
    from nextterm.models.seqcond.presets import SEQCOND_PRESETS, create_sca_model

    if preset in SEQCOND_PRESETS:
        return create_sca_model(preset, seed=seed, **overrides)
    import torch
    from transformers import Qwen3ForCausalLM

    config = make_config(preset, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config)
    return model.eval()


def count_parameters(model) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(parameter.numel() for parameter in model.parameters())
