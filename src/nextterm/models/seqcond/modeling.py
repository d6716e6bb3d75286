"""``SeqCondForCausalLM``: the SeqCond hybrid as a transformers ``PreTrainedModel``.

Parameter names follow docs/seqcond.md (``model.embedding.weight``, ``model.blocks.{i}...``); the
output head ``lm_head`` is tied to the embedding and there is no final norm. Besides the usual
``forward`` (parallel; training and scoring), the model decodes recurrently:

* :meth:`SeqCondForCausalLM.prefill` runs the parallel form over a right-padded batch and returns the
  next-token logits of every row together with a :class:`DecodeState`;
* :meth:`SeqCondForCausalLM.decode_step` feeds one token per row and updates the state in place
  (SCA blocks: O(1) running sums; transformer blocks: a key/value buffer).

Importing this module registers the classes with ``AutoConfig`` / ``AutoModelForCausalLM``, and the
text tokenizer with ``AutoTokenizer``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import CausalLMOutput

from nextterm.errors import NextTermError
from nextterm.models.seqcond.configuration import SeqCondConfig
from nextterm.models.seqcond.layers import (
    GatedRMSNorm,
    KVCache,
    SCABlock,
    SCACache,
    SeqCondAttention,
    SeqCondRMSNorm,
    TransformerBlock,
)


class SeqCondInputError(NextTermError):
    """Inputs the SeqCond model cannot take (left padding, empty prompts, bad shapes)."""


@dataclass
class DecodeState:
    """Per-row decoding state: ``position`` [B] (tokens consumed so far) and one cache per block."""

    position: Tensor
    caches: list[SCACache | KVCache]

    @property
    def batch_size(self) -> int:
        return self.position.shape[0]

    @property
    def capacity(self) -> int:
        """Positions the key/value buffers hold (unbounded when the model has no transformer block)."""
        capacities = [cache.capacity for cache in self.caches if isinstance(cache, KVCache)]
        return min(capacities) if capacities else 2**62

    def grow(self, capacity: int) -> None:
        for cache in self.caches:
            if isinstance(cache, KVCache):
                cache.grow(capacity)

    def select(self, rows: Tensor) -> None:
        """Keep / reorder / duplicate batch rows (``rows`` indexes the current batch)."""
        rows = rows.to(self.position.device, torch.long)
        self.position = self.position.index_select(0, rows)
        for cache in self.caches:
            cache.select(rows)

    def clone(self) -> DecodeState:
        return DecodeState(self.position.clone(), [cache.clone() for cache in self.caches])

    def copy_(self, other: DecodeState) -> None:
        """Copy ``other`` into these tensors (same shapes), keeping their storage."""
        self.position.copy_(other.position)
        for mine, theirs in zip(self.caches, other.caches, strict=True):
            mine.copy_(theirs)

    def sca_nbytes(self) -> int:
        """Bytes held by the SCA blocks' states (constant in the sequence length)."""
        return sum(cache.nbytes() for cache in self.caches if isinstance(cache, SCACache))

    def kv_nbytes(self) -> int:
        """Bytes held by the transformer blocks' key/value buffers."""
        return sum(cache.nbytes() for cache in self.caches if isinstance(cache, KVCache))


class SeqCondPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading rules shared by the SeqCond classes."""

    config_class = SeqCondConfig
    config: SeqCondConfig
    base_model_prefix = "model"
    _no_split_modules = ["SCABlock", "TransformerBlock"]
    _keys_to_ignore_on_load_unexpected = [r"model\.cos_emb", r"model\.sin_emb"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, SeqCondRMSNorm):
            init.ones_(module.scale)
        elif isinstance(module, GatedRMSNorm):
            init.ones_(module.weight)
        elif isinstance(module, SeqCondAttention):
            bound = module.kernel**-0.5
            init.uniform_(module.conv_weight, -bound, bound)
            theta = module.theta_raw if module.num_thetas == 1 else module.theta_d_raw
            init.copy_(theta, module.initial_theta_raw())
            init.zeros_(module.w_int_raw)
            if module.num_anchor < module.num_heads:
                init.copy_(
                    module.decay_slopes, module.initial_slopes(module.num_heads - module.num_anchor)
                )
            if module.num_anchor:
                init.copy_(module.anchor_slopes, module.initial_slopes(module.num_anchor))
            init.ones_(module.score_scale)
            init.zeros_(module.score_bias)
            init.ones_(module.phase_scale)
            init.normal_(module.W_readout, mean=0.0, std=std)


class SeqCondModel(SeqCondPreTrainedModel):
    """Embedding and blocks (no final norm)."""

    def __init__(self, config: SeqCondConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(
            TransformerBlock(config) if config.is_transformer_block(index) else SCABlock(config)
            for index in range(config.num_layers)
        )
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embedding = value

    def forward(
        self, input_ids: Tensor, lengths: Tensor | None = None, state: DecodeState | None = None
    ) -> Tensor:
        """Hidden states [B, T, d]; with ``state`` (and ``lengths``), fill the decoding caches."""
        hidden = self.embedding(input_ids)
        for index, block in enumerate(self.blocks):
            hidden = block(hidden, lengths, state.caches[index] if state is not None else None)
        return hidden

    def step(self, token_ids: Tensor, state: DecodeState, kv_length: int) -> Tensor:
        """Hidden state [B, d] of one new token per row; advances ``state`` in place."""
        hidden = self.embedding(token_ids)
        for block, cache in zip(self.blocks, state.caches, strict=True):
            hidden = block.step(hidden, state.position, cache, kv_length)
        state.position.add_(1)
        return hidden


def right_padded_lengths(attention_mask: Tensor) -> Tensor:
    """Row lengths of a right-padded mask; raises :class:`SeqCondInputError` for any other layout."""
    lengths = attention_mask.long().sum(dim=1)
    expected = torch.arange(attention_mask.shape[1], device=attention_mask.device).unsqueeze(
        0
    ) < lengths.unsqueeze(1)
    if not torch.equal(attention_mask.bool(), expected):
        raise SeqCondInputError(
            "SeqCond needs right padding (each attention_mask row is ones then zeros); "
            "left padding would corrupt the SCA running sums"
        )
    return lengths


class SeqCondForCausalLM(SeqCondPreTrainedModel):
    """The SeqCond hybrid language model (Nautile-370M layout)."""

    _tied_weights_keys = {"lm_head.weight": "model.embedding.weight"}

    def __init__(self, config: SeqCondConfig) -> None:
        super().__init__(config)
        self.model = SeqCondModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.embedding = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> CausalLMOutput | tuple:
        """Logits [B, T, V] of a right-padded batch; ``labels`` (-100 = ignored) are shifted inside."""
        if input_ids.dim() != 2:
            raise SeqCondInputError(
                f"input_ids must be [batch, time], got shape {tuple(input_ids.shape)}"
            )
        if attention_mask is not None:
            right_padded_lengths(attention_mask)
        logits = self.lm_head(self.model(input_ids))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                labels[:, 1:].reshape(-1).to(logits.device),
                ignore_index=-100,
            )
        if return_dict is False:
            return (loss, logits) if loss is not None else (logits,)
        return CausalLMOutput(loss=loss, logits=logits)

    # -- recurrent decoding ---------------------------------------------------------------------
    def empty_state(
        self, batch: int, capacity: int, device: torch.device | None = None
    ) -> DecodeState:
        """A zero state for ``batch`` rows whose key/value buffers hold ``capacity`` positions."""
        device = device or self.device
        dtype = self.model.embedding.weight.dtype
        caches = [block.empty_cache(batch, capacity, device, dtype) for block in self.model.blocks]
        return DecodeState(torch.zeros(batch, dtype=torch.long, device=device), caches)

    @torch.no_grad()
    def prefill(
        self, input_ids: Tensor, lengths: Tensor, capacity: int | None = None
    ) -> tuple[Tensor, DecodeState]:
        """Run right-padded prompts ``input_ids`` [B, T] with row ``lengths`` [B] (each >= 1).

        Returns the logits [B, V] of the token after each prompt and the state after it; the
        key/value buffers hold ``capacity`` positions (default T).
        """
        batch, length = input_ids.shape
        lengths = lengths.to(input_ids.device, torch.long)
        if length == 0 or int(lengths.min()) < 1 or int(lengths.max()) > length:
            raise SeqCondInputError(
                "every prompt needs at least one token (and lengths must fit input_ids)"
            )
        state = self.empty_state(batch, max(capacity or length, length), input_ids.device)
        hidden = self.model(input_ids, lengths, state)
        last = hidden.gather(
            1, (lengths - 1).view(batch, 1, 1).expand(-1, 1, hidden.shape[-1])
        ).squeeze(1)
        state.position.copy_(lengths)
        return self.lm_head(last), state

    @torch.no_grad()
    def decode_step(
        self, state: DecodeState, token_ids: Tensor, full_cache: bool = False
    ) -> Tensor:
        """Feed ``token_ids`` [B] (one per row) and return the next logits [B, V].

        The key/value buffers must have room for the new position. ``full_cache=True`` attends over
        the whole buffer (static shapes, no host synchronisation: what CUDA graphs capture);
        otherwise only over the positions in use.
        """
        if full_cache:
            kv_length = state.capacity if state.kv_nbytes() else 1
        else:
            kv_length = int(state.position.max()) + 1
            if kv_length > state.capacity:
                raise SeqCondInputError(
                    f"the key/value buffers hold {state.capacity} positions; grow the state first"
                )
        return self.lm_head(self.model.step(token_ids, state, kv_length))

    def decode_session(self):
        """A :class:`~nextterm.models.seqcond.session.SeqCondSession` (prefill / step / select)."""
        from nextterm.models.seqcond.session import SeqCondSession

        return SeqCondSession(self)

    def generate(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs) -> Tensor:
        """Continue right-padded prompts; see :func:`nextterm.models.seqcond.generation.generate_tensor`."""
        from nextterm.models.seqcond.generation import generate_tensor

        return generate_tensor(self, input_ids, attention_mask, **kwargs)


def register_auto_classes() -> None:
    """Make ``AutoConfig`` / ``AutoModelForCausalLM`` / ``AutoTokenizer`` resolve ``model_type == "seqcond"``."""
    from nextterm.models.seqcond.text_tokenizer import register_auto_tokenizer

    AutoConfig.register("seqcond", SeqCondConfig, exist_ok=True)
    AutoModelForCausalLM.register(SeqCondConfig, SeqCondForCausalLM, exist_ok=True)
    register_auto_tokenizer()


register_auto_classes()
