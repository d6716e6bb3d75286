"""Batched generation for the SeqCond hybrid: greedy or sampled, stop on EOS, optional CUDA graphs.

Sampling follows the usual order: repetition penalty (over the prompt and the tokens generated so
far), temperature, top-k, top-p; ``temperature == 0`` is greedy. The defaults are the Nautile card's
(temperature 0.15, top_p 0.9, top_k 50, repetition_penalty 1.1).

``acceleration``: ``"none"`` runs the decode step eagerly; ``"cuda_graph"`` captures one decode step
in a CUDA graph (static shapes: the key/value buffers are sized for prompt + new tokens) and replays
it; ``"auto"`` picks ``"cuda_graph"`` on a CUDA device and ``"none"`` elsewhere. The last captured
graph is kept on the model and reused by calls with the same batch size and buffer size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nextterm.models.seqcond.modeling import (
    DecodeState,
    SeqCondForCausalLM,
    SeqCondInputError,
    right_padded_lengths,
)

ACCELERATIONS = ("auto", "cuda_graph", "none")
CAPACITY_BUCKET = 256
"""Key/value buffer sizes of CUDA-graph decoding are rounded up to this, so graphs are reused."""


@dataclass
class SamplingConfig:
    """How to pick tokens; ``temperature == 0`` means greedy (the other knobs then only see the penalty)."""

    max_new_tokens: int = 512
    temperature: float = 0.15
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.1
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise SeqCondInputError("max_new_tokens must be >= 0")
        if self.temperature < 0:
            raise SeqCondInputError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise SeqCondInputError("top_p must lie in (0, 1]")
        if self.top_k < 0:
            raise SeqCondInputError("top_k must be >= 0 (0 = no top-k filter)")
        if self.repetition_penalty <= 0:
            raise SeqCondInputError("repetition_penalty must be > 0")


def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """Divide the logit of every token ``seen`` [B, V] so far by ``penalty``, whatever its sign.

    This is the published SeqCond rule (so sampled outputs match its implementation); it differs
    from the transformers rule, which multiplies negative logits instead.
    """
    if penalty == 1.0:
        return logits
    return torch.where(seen, logits / penalty, logits)


def choose_tokens(
    logits: Tensor, seen: Tensor, config: SamplingConfig, generator: torch.Generator | None
) -> Tensor:
    """Next token per row [B] from logits [B, V]."""
    logits = apply_repetition_penalty(logits.float(), seen, config.repetition_penalty)
    if config.temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / config.temperature
    if 0 < config.top_k < logits.shape[-1]:
        kth = torch.topk(logits, config.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if config.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        drop_sorted = (
            cumulative - torch.softmax(sorted_logits, dim=-1) >= config.top_p
        )  # keeps the first token
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


def resolve_acceleration(acceleration: str, device: torch.device) -> str:
    """``"cuda_graph"`` or ``"none"``; raises for an unknown name or CUDA graphs off a CUDA device."""
    if acceleration not in ACCELERATIONS:
        raise SeqCondInputError(
            f"acceleration must be one of {', '.join(ACCELERATIONS)}, not {acceleration!r}"
        )
    if acceleration == "auto":
        return "cuda_graph" if device.type == "cuda" else "none"
    if acceleration == "cuda_graph" and device.type != "cuda":
        raise SeqCondInputError(
            f"acceleration='cuda_graph' needs a CUDA device; the model is on {device.type}"
        )
    return acceleration


class CudaGraphStep:
    """One decode step captured in a CUDA graph over a static state; ``__call__`` replays it."""

    def __init__(self, model: SeqCondForCausalLM, state: DecodeState) -> None:
        self.model = model
        self.state = state
        self.tokens = torch.zeros(state.batch_size, dtype=torch.long, device=state.position.device)
        saved = state.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):  # warm up kernels and allocator outside the capture
                model.decode_step(state, self.tokens, full_cache=True)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = model.decode_step(state, self.tokens, full_cache=True)
        state.copy_(saved)

    def key(self) -> tuple:
        return (
            self.state.batch_size,
            self.state.capacity,
            self.model.dtype,
            self.state.position.device,
        )

    def __call__(self, tokens: Tensor) -> Tensor:
        self.tokens.copy_(tokens)
        self.graph.replay()
        return self.logits


def _graph_stepper(model: SeqCondForCausalLM, state: DecodeState) -> Callable[[Tensor], Tensor]:
    """A CUDA-graph step bound to a static copy of ``state`` (reusing the model's last graph)."""
    key = (state.batch_size, state.capacity, model.dtype, state.position.device)
    cached: CudaGraphStep | None = getattr(model, "_seqcond_cuda_graph", None)
    if cached is None or cached.key() != key:
        cached = CudaGraphStep(model, state.clone())
        model._seqcond_cuda_graph = cached
    cached.state.copy_(state)
    return cached


def generate_ids(
    model: SeqCondForCausalLM,
    prompts: Sequence[Sequence[int]],
    config: SamplingConfig | None = None,
    eos_token_ids: Sequence[int] | None = None,
    acceleration: str = "auto",
) -> list[list[int]]:
    """Generated token ids per prompt (EOS included when reached), batched with right padding."""
    config = config or SamplingConfig()
    if not prompts or any(len(prompt) == 0 for prompt in prompts):
        raise SeqCondInputError(
            "generation needs at least one prompt and every prompt at least one token"
        )
    device = model.device
    mode = resolve_acceleration(acceleration, device)
    vocab = model.config.vocab_size
    if any(not 0 <= token < vocab for prompt in prompts for token in prompt):
        raise SeqCondInputError(f"prompt token ids must lie in [0, {vocab})")
    if eos_token_ids is None:
        eos = model.config.eos_token_id
        eos_token_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
    if config.max_new_tokens == 0:
        return [[] for _ in prompts]

    batch, longest = len(prompts), max(len(prompt) for prompt in prompts)
    pad = model.config.pad_token_id or 0
    input_ids = torch.full((batch, longest), pad, dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        input_ids[row, : len(prompt)] = torch.tensor(list(prompt), dtype=torch.long)
    lengths = torch.tensor([len(prompt) for prompt in prompts], device=device)
    capacity = longest + config.max_new_tokens
    if mode == "cuda_graph":
        capacity = -(-capacity // CAPACITY_BUCKET) * CAPACITY_BUCKET
    logits, state = model.prefill(input_ids, lengths, capacity=capacity)
    step = (
        _graph_stepper(model, state)
        if mode == "cuda_graph"
        else lambda tokens: model.decode_step(state, tokens)
    )

    seen = torch.zeros(batch, vocab, dtype=torch.bool, device=device)
    for row, prompt in enumerate(prompts):
        seen[row, torch.tensor(list(prompt), dtype=torch.long, device=device)] = True
    generator = None
    if config.seed is not None and config.temperature > 0:
        generator = torch.Generator(device=device).manual_seed(config.seed)
    stop = torch.tensor(list(eos_token_ids), dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    produced: list[Tensor] = []
    for index in range(config.max_new_tokens):
        tokens = choose_tokens(logits, seen, config, generator)
        tokens = torch.where(finished, torch.full_like(tokens, pad), tokens)
        produced.append(tokens)
        seen.scatter_(1, tokens.unsqueeze(1), (~finished).unsqueeze(1))
        finished |= torch.isin(tokens, stop)
        if bool(finished.all()) or index == config.max_new_tokens - 1:
            break
        logits = step(tokens)
    table = torch.stack(produced, dim=1).tolist()
    outputs = []
    stop_set = set(eos_token_ids)
    for row in table:
        ends = [position for position, token in enumerate(row) if token in stop_set]
        outputs.append(row[: ends[0] + 1] if ends else row)
    return outputs


def generate_tensor(
    model: SeqCondForCausalLM,
    input_ids: Tensor,
    attention_mask: Tensor | None = None,
    max_new_tokens: int = 512,
    temperature: float = 0.15,
    top_p: float = 0.9,
    top_k: int = 50,
    repetition_penalty: float = 1.1,
    do_sample: bool = True,
    eos_token_id: int | Sequence[int] | None = None,
    seed: int | None = None,
    acceleration: str = "auto",
) -> Tensor:
    """``model.generate``: [B, T + N] = the (right-padded) prompts, then N generated columns.

    Rows that stop early (EOS) are filled with the pad id; ``do_sample=False`` is greedy.
    """
    if input_ids.dim() != 2:
        raise SeqCondInputError(
            f"input_ids must be [batch, time], got shape {tuple(input_ids.shape)}"
        )
    if attention_mask is None:
        lengths = [input_ids.shape[1]] * input_ids.shape[0]
    else:
        lengths = right_padded_lengths(attention_mask).tolist()
    prompts = [row[:length] for row, length in zip(input_ids.tolist(), lengths, strict=True)]
    config = SamplingConfig(
        max_new_tokens=max_new_tokens,
        temperature=temperature if do_sample else 0.0,
        top_p=top_p,
        top_k=top_k,
        repetition_penalty=repetition_penalty,
        seed=seed,
    )
    eos = [eos_token_id] if isinstance(eos_token_id, int) else eos_token_id
    generated = generate_ids(model, prompts, config, eos, acceleration)
    width = max(len(row) for row in generated)
    pad = model.config.pad_token_id or 0
    tail = torch.full((len(generated), width), pad, dtype=torch.long)
    for row, tokens in enumerate(generated):
        tail[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    return torch.cat([input_ids, tail.to(input_ids.device)], dim=1)
