"""Decode sessions: the cache interface between the engine and a model backbone.

The engine never touches a KV cache itself. It opens a :class:`DecodeSession` for a batch of prompts
and talks to it with three calls: ``prefill`` (prompts -> next-token logits), ``step`` (one token per
row -> next-token logits) and ``select`` (keep, reorder or duplicate rows: finished rows leave,
beams fork). A backbone with O(1) recurrent state (SeqCond) provides its own session through a
``decode_session()`` method on the model; transformer models get :class:`KVCacheSession` (a
``DynamicCache``) or, for fixed-shape GPU decoding, :class:`StaticKVCacheSession` (preallocated
``StaticCache`` buffers, optionally with a ``torch.compile``d step for CUDA graphs).

Prompts of different lengths are left-padded with PAD; each row keeps its own attention mask and
position ids, so a row's logits do not depend on the other rows in the batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from weakref import WeakKeyDictionary

import torch

from nextterm.tokenizer import PAD_ID

if TYPE_CHECKING:
    from transformers import DynamicCache, StaticCache
    from transformers.cache_utils import StaticLayer


@runtime_checkable
class DecodeSession(Protocol):
    """Incremental decoding state of a batch of rows."""

    def prefill(self, prompts: list[list[int]]) -> torch.Tensor:
        """Start the batch; returns ``[B, V]`` logits of the next token after each prompt."""
        ...

    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Append one token per row (``[B]``); returns the ``[B, V]`` logits of the following token."""
        ...

    def select(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` (indices into the current batch, in that order, repeats allowed)."""
        ...


def _left_pad(prompts: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(prompt) for prompt in prompts)
    ids = torch.full((len(prompts), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


def _check_prompts(prompts: list[list[int]]) -> None:
    if not prompts or any(len(prompt) == 0 for prompt in prompts):
        raise ValueError("every prompt needs at least one token")


class KVCacheSession:
    """A transformers causal LM with a ``DynamicCache`` (grows by one position per step)."""

    cache: DynamicCache
    """Made by :meth:`prefill`."""

    def __init__(self, model) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.mask: torch.Tensor | None = None  # None while no row is padded
        self.positions = torch.zeros(0, dtype=torch.long, device=self.device)

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        output = self.model(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=positions,
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return output.logits[:, -1]

    def prefill(self, prompts: list[list[int]]) -> torch.Tensor:
        from transformers import DynamicCache

        _check_prompts(prompts)
        ids, mask = _left_pad(prompts, self.device)
        self.cache = DynamicCache(config=self.model.config)
        padded = bool((mask == 0).any())
        self.mask = mask if padded else None
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        self.positions = positions[:, -1] + 1
        return self._forward(ids, positions)

    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        if self.mask is not None:
            self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
        logits = self._forward(token_ids.view(-1, 1), self.positions.view(-1, 1))
        self.positions = self.positions + 1
        return logits

    def select(self, rows: torch.Tensor) -> None:
        rows = rows.to(self.device)
        # transformers annotates torch.LongTensor, a type no torch operation is declared to return
        self.cache.reorder_cache(rows)  # type: ignore[arg-type]
        self.positions = self.positions.index_select(0, rows)
        if self.mask is not None:
            self.mask = self.mask.index_select(0, rows)


class StaticKVCacheSession:
    """A transformers causal LM with preallocated ``StaticCache`` buffers of ``max_length`` positions.

    Shapes stay fixed during decoding (the batch never shrinks: dropped rows are replaced by copies
    of a kept row whose outputs are ignored), so ``compile=True`` can capture the one-token step in
    CUDA graphs (``torch.compile(mode="reduce-overhead")``). The batch grows only in ``select`` with
    more rows than before (beam forking), which re-allocates the buffers.
    """

    cache: StaticCache
    """Made by :meth:`prefill`."""

    def __init__(self, model, max_length: int, compile: bool = False) -> None:
        self.model = model
        self.max_length = max_length
        self.device = next(model.parameters()).device
        self.rows = 0  # logical batch size; the buffers may hold more rows
        self._forward = _compiled_forward(model) if compile else model.forward

    def prefill(self, prompts: list[list[int]]) -> torch.Tensor:
        from transformers import StaticCache

        _check_prompts(prompts)
        ids, mask = _left_pad(prompts, self.device)
        if ids.shape[1] >= self.max_length:
            raise ValueError(
                f"prompt of {ids.shape[1]} tokens does not fit a {self.max_length}-token cache"
            )
        self.cache = StaticCache(config=self.model.config, max_cache_len=self.max_length)
        self.mask = torch.zeros(
            (len(prompts), self.max_length), dtype=torch.long, device=self.device
        )
        self.mask[:, : ids.shape[1]] = mask
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        self.positions = positions[:, -1:] + 1
        self.length = ids.shape[1]
        self.rows = len(prompts)
        output = self.model(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=positions,
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return output.logits[:, -1]

    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        if self.length >= self.max_length:
            raise ValueError(f"the {self.max_length}-token cache is full")
        capacity = self.mask.shape[0]
        ids = token_ids.view(-1, 1)
        if ids.shape[0] < capacity:
            ids = torch.cat([ids, ids[:1].expand(capacity - ids.shape[0], 1)])
        self.mask[:, self.length] = 1
        logits = self._forward(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=self.positions,
            past_key_values=self.cache,
            use_cache=True,
        ).logits[:, -1]
        self.positions = self.positions + 1
        self.length += 1
        return logits[: self.rows].clone()

    def select(self, rows: torch.Tensor) -> None:
        rows = rows.to(self.device)
        capacity = self.mask.shape[0]
        if len(rows) > capacity:
            for layer, keys, values in _filled_layers(self.cache):
                layer.keys = keys = keys.index_select(0, rows)
                layer.values = values = values.index_select(0, rows)
                torch._dynamo.mark_static_address(keys)
                torch._dynamo.mark_static_address(values)
            self.mask = self.mask.index_select(0, rows)
            self.positions = self.positions.index_select(0, rows)
        else:
            full = torch.cat([rows, rows[:1].expand(capacity - len(rows))])
            for _, keys, values in _filled_layers(self.cache):
                keys.copy_(keys.index_select(0, full))
                values.copy_(values.index_select(0, full))
            self.mask.copy_(self.mask.index_select(0, full))
            self.positions = self.positions.index_select(0, full)
        self.rows = len(rows)


def _filled_layers(cache: StaticCache) -> Iterator[tuple[StaticLayer, torch.Tensor, torch.Tensor]]:
    """The layers of ``cache`` whose buffers exist (a layer allocates them on its first update),
    with their keys and values."""
    from transformers.cache_utils import StaticLayer

    for layer in cache.layers:
        if isinstance(layer, StaticLayer) and layer.keys is not None and layer.values is not None:
            yield layer, layer.keys, layer.values


_COMPILED: WeakKeyDictionary = WeakKeyDictionary()


def _compiled_forward(model):
    """``torch.compile(model.forward)`` in CUDA-graph mode, compiled once per model."""
    if model not in _COMPILED:
        _COMPILED[model] = torch.compile(model.forward, mode="reduce-overhead", fullgraph=False)
    return _COMPILED[model]


def open_session(model, static_length: int | None = None, compile: bool = False) -> DecodeSession:
    """A decode session for ``model``: its own ``decode_session()`` if it has one (SeqCond), else a
    KV-cache session (static buffers of ``static_length`` positions when given)."""
    if hasattr(model, "decode_session"):
        return model.decode_session()
    if static_length is not None:
        return StaticKVCacheSession(model, static_length, compile=compile)
    return KVCacheSession(model)
