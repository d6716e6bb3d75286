"""The decode session the digit-vocabulary engine drives: ``prefill`` / ``step`` / ``select``.

A session owns one :class:`~nextterm.models.seqcond.modeling.DecodeState`. Prompts of different
lengths are right-padded (never left-padded: that would corrupt the SCA running sums) and each row
keeps its own position, so rows advance independently. Key/value buffers double when full.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from nextterm.models.seqcond.modeling import DecodeState, SeqCondForCausalLM, SeqCondInputError


class SeqCondSession:
    """Recurrent decoding over a batch of rows; every method returns next-token logits [B, V]."""

    def __init__(self, model: SeqCondForCausalLM, initial_capacity: int = 256) -> None:
        self.model = model
        self.initial_capacity = initial_capacity
        self.state: DecodeState | None = None

    def prefill(self, prompts: Sequence[Sequence[int]]) -> Tensor:
        """Start the session on ``prompts`` (each at least one token); logits after each prompt."""
        if not prompts or any(len(prompt) == 0 for prompt in prompts):
            raise SeqCondInputError(
                "prefill needs at least one prompt and every prompt at least one token"
            )
        vocab = self.model.config.vocab_size
        if any(not 0 <= token < vocab for prompt in prompts for token in prompt):
            raise SeqCondInputError(f"token ids must lie in [0, {vocab})")
        device = self.model.device
        longest = max(len(prompt) for prompt in prompts)
        pad = self.model.config.pad_token_id or 0
        input_ids = torch.full((len(prompts), longest), pad, dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, : len(prompt)] = torch.tensor(list(prompt), dtype=torch.long)
        lengths = torch.tensor([len(prompt) for prompt in prompts])
        capacity = max(self.initial_capacity, 2 * longest)
        logits, self.state = self.model.prefill(
            input_ids.to(device), lengths.to(device), capacity=capacity
        )
        return logits

    def _require_state(self) -> DecodeState:
        if self.state is None:
            raise SeqCondInputError("call prefill() before step() or select()")
        return self.state

    def step(self, token_ids: Tensor) -> Tensor:
        """Append one token per row (``token_ids`` [B]); logits of the token after it."""
        state = self._require_state()
        token_ids = (
            torch.as_tensor(token_ids, dtype=torch.long).to(state.position.device).reshape(-1)
        )
        if token_ids.shape[0] != state.batch_size:
            raise SeqCondInputError(
                f"step() got {token_ids.shape[0]} tokens for {state.batch_size} rows"
            )
        needed = int(state.position.max()) + 1
        if needed > state.capacity:
            state.grow(max(2 * state.capacity, needed))
        return self.model.decode_step(state, token_ids)

    def select(self, rows: Tensor) -> None:
        """Keep, reorder or duplicate rows: row ``i`` becomes the old row ``rows[i]``."""
        state = self._require_state()
        rows = torch.as_tensor(rows, dtype=torch.long).reshape(-1)
        if rows.numel() == 0 or int(rows.min()) < 0 or int(rows.max()) >= state.batch_size:
            raise SeqCondInputError(f"select() needs row indices in [0, {state.batch_size})")
        state.select(rows)
