"""Named SeqCond configurations: ``nautile-370m`` and the digit-vocabulary ``nextterm-sca-*`` sizes.

``nautile-370m`` is the Nautile-370M card (371,901,088 parameters, cl100k vocabulary). The
``nextterm-sca-*`` presets share the digit vocabulary, special ids and 4096-token context of the
Qwen3 ``nextterm-*`` presets and have about the same parameter counts (1.1M, 2.7M, 10.3M against
1.0M, 2.6M, 9.5M), so both backbones can be trained and compared on the same data.
"""

from __future__ import annotations

from typing import Any

from nextterm.errors import NextTermError
from nextterm.tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE

DIGIT_CONTEXT = 4096

NAUTILE_370M: dict[str, Any] = {
    "d_model": 1024,
    "d_ff": 2730,
    "num_layers": 24,
    "vocab_size": 100300,
    "maxlen": 4096,
    "num_heads": 16,
    "num_kv_heads": 4,
    "qk_norm": True,
    "qk_norm_eps": 1e-6,
    "seqcond_heads": 16,
    "num_query_heads": 16,
    "num_thetas": 2,
    "num_anchor_heads": 0,
    "conv_kernel_size": 4,
    "expand_factor": 2.0,
    "out_expand_factor": 3,
    "seqcond_ratio": 2,
    "tie_weights": True,
    "bos_token_id": None,
    "eos_token_id": 100279,
    "pad_token_id": 0,
}

_DIGITS: dict[str, Any] = {
    "vocab_size": VOCAB_SIZE,
    "maxlen": DIGIT_CONTEXT,
    "bos_token_id": BOS_ID,
    "eos_token_id": EOS_ID,
    "pad_token_id": PAD_ID,
    "tie_weights": True,
    "num_thetas": 2,
    "expand_factor": 2.0,
    "conv_kernel_size": 4,
    "seqcond_ratio": 2,
}


def _digit_shape(
    layers: int, d: int, d_ff: int, heads: int, kv_heads: int, sca_heads: int, out_expand: int
) -> dict:
    return {
        **_DIGITS,
        "num_layers": layers,
        "d_model": d,
        "d_ff": d_ff,
        "num_heads": heads,
        "num_kv_heads": kv_heads,
        "seqcond_heads": sca_heads,
        "num_query_heads": sca_heads,
        "out_expand_factor": out_expand,
    }


SCA_PRESETS: dict[str, dict[str, Any]] = {
    "nextterm-sca-1m": _digit_shape(
        layers=6, d=128, d_ff=352, heads=4, kv_heads=2, sca_heads=4, out_expand=2
    ),
    "nextterm-sca-3m": _digit_shape(
        layers=6, d=192, d_ff=576, heads=6, kv_heads=2, sca_heads=6, out_expand=3
    ),
    "nextterm-sca-10m": _digit_shape(
        layers=15, d=256, d_ff=704, heads=4, kv_heads=2, sca_heads=8, out_expand=2
    ),
}
"""Digit-vocabulary SCA hybrids (2 SCA : 1 transformer), full ``SeqCondConfig`` values."""

SEQCOND_PRESETS: dict[str, dict[str, Any]] = {**SCA_PRESETS, "nautile-370m": NAUTILE_370M}


class SeqCondPresetError(NextTermError):
    """An unknown SeqCond preset or an invalid override."""


def make_seqcond_config(preset: str, **overrides: Any):
    """The ``SeqCondConfig`` of ``preset`` with ``overrides`` applied."""
    from nextterm.models.seqcond.configuration import SeqCondConfig

    if preset not in SEQCOND_PRESETS:
        raise SeqCondPresetError(
            f"unknown SeqCond preset {preset!r}; choose one of: {', '.join(SEQCOND_PRESETS)}"
        )
    try:
        return SeqCondConfig(**{**SEQCOND_PRESETS[preset], **overrides})
    except (TypeError, ValueError) as error:
        raise SeqCondPresetError(f"invalid config for preset {preset!r}: {error}") from error


def create_sca_model(preset: str, seed: int = 0, **overrides: Any):
    """A freshly initialised ``SeqCondForCausalLM`` of ``preset`` (float32, eval mode), seeded."""
    import torch

    from nextterm.models.seqcond.modeling import SeqCondForCausalLM

    config = make_seqcond_config(preset, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SeqCondForCausalLM(config)
    return model.eval()
