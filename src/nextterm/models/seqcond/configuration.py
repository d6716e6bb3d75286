"""``SeqCondConfig``: the configuration of the SeqCond hybrid (SCA + transformer blocks).

Field names follow the ``config.json`` of the Nautile-370M layout (see docs/seqcond.md), so a
checkpoint published in that layout reads into this class unchanged. ``derivative_order``,
``chunk_size`` and ``use_square_matrix`` are accepted and unused. The standard transformers names
(``hidden_size``, ``num_hidden_layers``, ``max_position_embeddings``, ``tie_word_embeddings`` ...)
are aliases of the SeqCond names.
"""

from __future__ import annotations

from typing import ClassVar

from transformers import PretrainedConfig

from nextterm.errors import NextTermError


class SeqCondConfigError(NextTermError):
    """A SeqCond configuration whose values do not fit together."""


class SeqCondConfig(PretrainedConfig):
    """Hyper-parameters of :class:`~nextterm.models.seqcond.modeling.SeqCondForCausalLM`."""

    model_type: ClassVar[str] = "seqcond"
    attribute_map: ClassVar[dict[str, str]] = {
        "hidden_size": "d_model",
        "intermediate_size": "d_ff",
        "num_hidden_layers": "num_layers",
        "num_attention_heads": "num_heads",
        "num_key_value_heads": "num_kv_heads",
        "max_position_embeddings": "maxlen",
        "tie_word_embeddings": "tie_weights",
    }

    d_model: int = 1024
    d_ff: int = 2730
    num_layers: int = 24
    vocab_size: int = 100300
    maxlen: int = 4096
    dropout: float = 0.0
    tie_weights: bool = True
    num_heads: int = 16
    num_kv_heads: int | None = (
        4  # None: one key/value head per query head (full multi-head attention)
    )
    qk_norm: bool = True
    qk_norm_eps: float = 1e-6
    seqcond_heads: int = 16
    num_query_heads: int = 16
    num_thetas: int = 2
    derivative_order: int = 0
    num_anchor_heads: int = 0
    conv_kernel_size: int = 4
    expand_factor: float = 2.0
    out_expand_factor: int = 3
    use_positional_embedding: bool = False
    seqcond_ratio: int = 2
    chunk_size: int = 0
    use_square_matrix: bool = False
    rope_base: float = 10000.0
    initializer_range: float = 0.02
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = 100279
    pad_token_id: int | None = 0

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.num_kv_heads is None:  # the published implementation's meaning of None
            self.num_kv_heads = self.num_heads
        self.validate_shapes()

    def validate_shapes(self) -> None:
        """Raise :class:`SeqCondConfigError` when the head counts and widths are inconsistent."""
        if self.d_model % self.num_heads:
            raise SeqCondConfigError(
                f"d_model {self.d_model} is not a multiple of num_heads {self.num_heads}"
            )
        if (self.d_model // self.num_heads) % 2:
            raise SeqCondConfigError("the transformer head dimension must be even (RoPE)")
        if self.num_heads % self.num_kv_heads:
            raise SeqCondConfigError(
                f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}"
            )
        if self.seqcond_heads % self.num_query_heads:
            raise SeqCondConfigError(
                f"seqcond_heads {self.seqcond_heads} is not a multiple of num_query_heads {self.num_query_heads}"
            )
        if not 0 <= self.num_anchor_heads <= self.seqcond_heads:
            raise SeqCondConfigError("num_anchor_heads must lie between 0 and seqcond_heads")
        if self.num_thetas < 1 or self.conv_kernel_size < 1 or self.seqcond_ratio < 0:
            raise SeqCondConfigError(
                "num_thetas and conv_kernel_size must be >= 1 and seqcond_ratio >= 0"
            )
        if self.seqcond_state_width < 1:
            raise SeqCondConfigError(
                "int(d_model * expand_factor) must be at least seqcond_heads * num_thetas"
            )
        if self.use_positional_embedding:
            raise SeqCondConfigError(
                "use_positional_embedding=True is not supported (the Nautile layout has none)"
            )

    @property
    def head_dim(self) -> int:
        """Width of one transformer attention head."""
        return self.d_model // self.num_heads

    @property
    def seqcond_state_width(self) -> int:
        """H: the per-head, per-frequency width of an SCA layer."""
        return int(self.d_model * self.expand_factor) // (self.seqcond_heads * self.num_thetas)

    def is_transformer_block(self, index: int) -> bool:
        """Whether block ``index`` (0-based) is a transformer block (else an SCA block)."""
        return (index + 1) % (self.seqcond_ratio + 1) == 0
