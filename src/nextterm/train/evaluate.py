"""The training loss, validation loss on ``val.packed`` and next-term accuracy on ``val.jsonl``.

Batches from :class:`nextterm.data.batches.TokenBatches` are right-padded, so plain causal attention
already keeps every real token from seeing padding: the forward pass leaves the attention mask
out, which lets SDPA take its fused causal path, and the loss ignores the padded labels (-100).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nextterm.data.batches import IGNORE_INDEX, TokenBatches
from nextterm.data.packed import PackedReader
from nextterm.errors import NextTermError
from nextterm.sequences import SequenceError, parse_terms, validate_terms
from nextterm.tokenizer import encode_terms

ANSWER_RESERVE_TOKENS = 64
"""Context left free after a next-term prompt for the answer's tokens."""


def autocast(device: torch.device, dtype: torch.dtype):
    """bf16 autocast context on CUDA when ``dtype`` is bfloat16, else a no-op (fp32)."""
    if dtype == torch.bfloat16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def loss_sum(
    model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over the batch's real tokens, and how many there are."""
    input_ids = batch["input_ids"].to(device, non_blocking=True)
    labels = batch["labels"][:, 1:].to(device, non_blocking=True)
    with autocast(device, dtype):
        logits = model(input_ids=input_ids, use_cache=False).logits[:, :-1]  # no KV cache to build
    total = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)),
        labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return total, label_tokens(batch)


def label_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Tokens of ``batch`` that carry a loss (the units of the token budgets and the schedule)."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


class ValidationSet:
    """A fixed slice of ``val.packed`` for this rank: the same batches at every evaluation."""

    def __init__(
        self,
        path: str | Path,
        max_tokens: int,
        context_len: int,
        budget_tokens: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        batches = TokenBatches(
            PackedReader(path), max_tokens, context_len, seed=0, rank=rank, world_size=world_size
        )
        share = max(1, budget_tokens // world_size)
        self.batches: list[dict[str, torch.Tensor]] = []
        seen = 0
        for batch in batches:
            if seen >= share or len(self.batches) >= batches.batches_in_epoch:
                break
            self.batches.append(batch)
            seen += label_tokens(batch)

    @torch.no_grad()
    def loss_sums(
        self, model: nn.Module, device: torch.device, dtype: torch.dtype
    ) -> tuple[float, int]:
        """Summed loss and token count of this rank's slice (all-reduce them for the mean)."""
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        for batch in self.batches:
            batch_total, batch_count = loss_sum(model, batch, device, dtype)
            total += float(batch_total)
            count += batch_count
        model.train(was_training)
        return total, count


@dataclass(frozen=True)
class NextTermSample:
    """One validation item: the prompt terms and the term that follows them."""

    prompt: list[int]
    answer: int


def _terms(value) -> list[int]:
    if isinstance(value, str):
        return parse_terms(value)
    return [int(term) for term in value]


def read_next_term_samples(path: str | Path, limit: int) -> list[NextTermSample]:
    """The first ``limit`` usable items of a ``{"id", "prompt", "answer"}`` JSONL file.

    ``prompt`` is a list of terms (or their text), ``answer`` the next term. Items whose prompt
    :func:`nextterm.sequences.validate_terms` rejects are skipped; malformed lines raise :class:`~nextterm.errors.NextTermError`.
    """
    samples: list[NextTermSample] = []
    with Path(path).open() as handle:
        for number, line in enumerate(handle, start=1):
            if len(samples) >= limit:
                break
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                prompt, answer = _terms(record["prompt"]), int(record["answer"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, SequenceError) as error:
                raise NextTermError(
                    f"{path}:{number}: not a prompt/answer record: {error}"
                ) from None
            try:
                validate_terms(prompt)
            except SequenceError:
                continue  # beyond what predictors accept (e.g. a term over MAX_TERM_DIGITS digits)
            samples.append(NextTermSample(prompt, answer))
    return samples


def next_term_accuracy(
    model: nn.Module, samples: list[NextTermSample], device: torch.device, max_prompt_tokens: int
) -> float:
    """Fraction of samples whose greedy next term (:meth:`nextterm.engine.Engine.next_terms`)
    equals the answer. Prompts keep their last terms that fit ``max_prompt_tokens`` (with BOS)."""
    from nextterm.engine import Engine

    if not samples:
        return 0.0
    prompts = []
    for sample in samples:
        terms = list(sample.prompt)
        while len(terms) > 1 and len(encode_terms(terms)) > max_prompt_tokens:
            terms = terms[1:]
        prompts.append(terms)
    was_training = model.training
    predictions = Engine(model, device=device).next_terms(prompts, n_terms=1)
    model.train(was_training)
    correct = sum(
        terms[0] == sample.answer for terms, sample in zip(predictions, samples, strict=True)
    )
    return correct / len(samples)
