"""From engine generations to OpenAI completion responses (whole, or server-sent-event chunks).

A batch is decoded with the largest ``max_tokens`` among its requests, so each generation is cut
back to its own request's ``max_tokens`` and stop conditions here: the result is the same as if
the request had been decoded alone (exactly so for greedy decoding). The stop token or stop string
itself is not part of the returned text, as in the OpenAI API.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nextterm.tokenizer import decode

MIN_LOGPROB = -9999.0
"""Stand-in for a log-probability of minus infinity (JSON has no infinity)."""


@dataclass
class Choice:
    """One finished completion: kept token ids, their log-probabilities, and why it ended."""

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str

    @property
    def pieces(self) -> list[str]:
        """Text of each token (special tokens are empty)."""
        return [decode([token_id]) for token_id in self.token_ids]

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def finish(
    token_ids: Sequence[int],
    logprobs: Sequence[float],
    finish_reason: str,
    max_tokens: int,
    stop_ids: Sequence[int],
    stop_strings: Sequence[str] = (),
) -> Choice:
    """Cut one engine generation back to ``max_tokens``, its first stop token and stop string."""
    ids = [int(token_id) for token_id in token_ids]
    scores = [float(value) for value in logprobs]
    stop_at = next((index for index, token_id in enumerate(ids[:max_tokens]) if token_id in stop_ids), None)
    if stop_at is not None:
        ids, reason = ids[:stop_at], "stop"
    elif len(ids) >= max_tokens:
        ids, reason = ids[:max_tokens], "length"
    else:
        reason = finish_reason
    choice = Choice(ids, scores[: len(ids)], reason)
    if stop_strings:
        text = choice.text
        found = [index for index in (text.find(stop) for stop in stop_strings) if index >= 0]
        if found:
            keep, length = 0, 0
            pieces = choice.pieces
            while keep < len(pieces) and length + len(pieces[keep]) <= min(found):
                length += len(pieces[keep])
                keep += 1
            choice = Choice(choice.token_ids[:keep], choice.logprobs[:keep], "stop")
    return choice


def _safe_logprob(value: float) -> float:
    return value if math.isfinite(value) else MIN_LOGPROB


def logprobs_block(choice: Choice, offset: int = 0) -> dict:
    """The ``logprobs`` object of a legacy completion choice.

    ``top_logprobs`` is null: the engine reports the probability of the chosen token only.
    """
    tokens = [decode([token_id], skip_special=False) for token_id in choice.token_ids]
    offsets, position = [], offset
    for piece in choice.pieces:
        offsets.append(position)
        position += len(piece)
    return {
        "tokens": tokens,
        "token_logprobs": [_safe_logprob(value) for value in choice.logprobs],
        "top_logprobs": None,
        "text_offset": offsets,
    }


def new_id() -> str:
    """A fresh completion id."""
    return f"cmpl-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, choices: Sequence[Choice]) -> dict:
    completion_tokens = sum(len(choice.token_ids) for choice in choices)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_response(
    model: str, choices: Sequence[Choice], prompt_tokens: int, with_logprobs: bool
) -> dict:
    """The JSON body of a non-streaming ``/v1/completions`` answer."""
    return {
        "id": new_id(),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": index,
                "text": choice.text,
                "logprobs": logprobs_block(choice) if with_logprobs else None,
                "finish_reason": choice.finish_reason,
            }
            for index, choice in enumerate(choices)
        ],
        "usage": usage(prompt_tokens, choices),
    }


def _event(payload: dict | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n"


def stream_events(
    model: str,
    choices: Sequence[Choice],
    prompt_tokens: int,
    with_logprobs: bool,
    include_usage: bool,
) -> Iterator[str]:
    """Server-sent events of a streamed answer: one chunk per token, a closing chunk per choice
    with its ``finish_reason``, optionally a usage chunk, then ``data: [DONE]``."""
    completion_id, created = new_id(), int(time.time())

    def chunk(index: int, text: str, logprobs: dict | None, reason: str | None) -> str:
        return _event(
            {
                "id": completion_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": index, "text": text, "logprobs": logprobs, "finish_reason": reason}
                ],
            }
        )

    for index, choice in enumerate(choices):
        offset = 0
        for position, piece in enumerate(choice.pieces):
            single = Choice(choice.token_ids[position : position + 1], choice.logprobs[position : position + 1], "")
            yield chunk(index, piece, logprobs_block(single, offset) if with_logprobs else None, None)
            offset += len(piece)
        yield chunk(index, "", None, choice.finish_reason)
    if include_usage:
        yield _event(
            {
                "id": completion_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage(prompt_tokens, choices),
            }
        )
    yield _event("[DONE]")
