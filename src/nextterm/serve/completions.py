"""From generated tokens to OpenAI completion choices, whole or as server-sent-event chunks.

A :class:`ChoiceBuilder` follows one completion token by token, as the engine makes them: it ends
the choice at the request's first stop id, its ``max_tokens`` or its first stop string, and says
which tokens may be shown so far. The stop token or stop string itself is never part of the text,
as in the OpenAI API; while streaming, text that could still turn out to start a stop string is
held back until it cannot. The same builder serves whole answers, so both agree token for token.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nextterm.tokenizer import decode

MIN_LOGPROB = -9999.0
"""Stand-in for a log-probability of minus infinity (JSON has no infinity)."""


@dataclass(frozen=True)
class Token:
    """One generated token: its id, log-probability and the most probable alternatives there."""

    id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()

    @property
    def text(self) -> str:
        """Its text in the answer (special tokens have none)."""
        return decode([self.id])


@dataclass
class Choice:
    """One finished completion: the tokens it keeps and why it ended."""

    tokens: list[Token]
    finish_reason: str

    @property
    def text(self) -> str:
        return "".join(token.text for token in self.tokens)


@dataclass
class ChoiceBuilder:
    """One completion followed token by token (see the module docstring).

    Attributes:
        max_tokens: the request's token budget (a stop id counts as generated).
        stop_ids: ids that end the choice (not shown).
        stop_strings: texts that end the choice (cut before the first one).
    """

    max_tokens: int
    stop_ids: frozenset[int]
    stop_strings: tuple[str, ...] = ()
    tokens: list[Token] = field(default_factory=list)
    finish_reason: str | None = None
    shown: int = 0
    generated: int = 0

    @property
    def text(self) -> str:
        return "".join(token.text for token in self.tokens)

    def add(self, token: Token) -> list[Token]:
        """Take the next generated token; returns the tokens that became safe to show."""
        if self.finish_reason is not None:
            return []
        self.generated += 1
        if token.id in self.stop_ids:
            return self._end("stop")
        self.tokens.append(token)
        text = self.text
        found = [index for index in (text.find(stop) for stop in self.stop_strings) if index >= 0]
        if found:
            keep, length = 0, 0
            while keep < len(self.tokens) and length + len(self.tokens[keep].text) <= min(found):
                length += len(self.tokens[keep].text)
                keep += 1
            del self.tokens[keep:]
            return self._end("stop")
        if self.generated >= self.max_tokens:
            return self._end("length")
        return self._release(len(text) - self._held_back(text))

    def choice(self) -> Choice:
        """The finished choice (``length`` when the engine ended it without a stop)."""
        return Choice(list(self.tokens), self.finish_reason or "length")

    def _held_back(self, text: str) -> int:
        """Characters at the end of ``text`` that could begin a stop string."""
        longest = 0
        for stop in self.stop_strings:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def _release(self, characters: int) -> list[Token]:
        length, upto = 0, 0
        for position, token in enumerate(self.tokens):
            length += len(token.text)
            if length > characters:
                break
            upto = position + 1
        released = self.tokens[self.shown : upto]
        self.shown = max(self.shown, upto)
        return released

    def _end(self, reason: str) -> list[Token]:
        self.finish_reason = reason
        released = self.tokens[self.shown :]
        self.shown = len(self.tokens)
        return released


def _safe_logprob(value: float) -> float:
    return value if math.isfinite(value) else MIN_LOGPROB


def _token_name(token_id: int) -> str:
    return decode([token_id], skip_special=False)


def logprobs_block(tokens: Sequence[Token], top_logprobs: int, offset: int = 0) -> dict:
    """The ``logprobs`` object of a legacy completion choice (or of one streamed chunk).

    As in the OpenAI API, ``top_logprobs`` holds per token the ``top_logprobs`` most probable
    tokens with their log-probabilities, plus the chosen token (so up to ``top_logprobs + 1``).
    """
    offsets, position = [], offset
    for token in tokens:
        offsets.append(position)
        position += len(token.text)
    tops = []
    for token in tokens:
        best = {_token_name(i): _safe_logprob(value) for i, value in token.top[:top_logprobs]}
        best.setdefault(_token_name(token.id), _safe_logprob(token.logprob))
        tops.append(best)
    return {
        "tokens": [_token_name(token.id) for token in tokens],
        "token_logprobs": [_safe_logprob(token.logprob) for token in tokens],
        "top_logprobs": tops,
        "text_offset": offsets,
    }


def new_id() -> str:
    """A fresh completion id."""
    return f"cmpl-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, generated: Iterable[int]) -> dict:
    """The ``usage`` object; ``generated`` is the number of tokens of each choice."""
    completion_tokens = sum(generated)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_response(
    model: str, choices: Sequence[Choice], prompt_tokens: int, top_logprobs: int | None
) -> dict:
    """The JSON body of a non-streaming ``/v1/completions`` answer (``top_logprobs`` None: the
    request asked for no log-probabilities)."""
    return {
        "id": new_id(),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": index,
                "text": choice.text,
                "logprobs": None
                if top_logprobs is None
                else logprobs_block(choice.tokens, top_logprobs),
                "finish_reason": choice.finish_reason,
            }
            for index, choice in enumerate(choices)
        ],
        "usage": usage(prompt_tokens, (len(choice.tokens) for choice in choices)),
    }


def sse(payload: dict | str) -> str:
    """One server-sent event."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n"


@dataclass
class ChunkWriter:
    """Server-sent events of one streamed completion: a chunk per token, a closing chunk per
    choice with its ``finish_reason``, optionally a usage chunk, then ``data: [DONE]``."""

    model: str
    top_logprobs: int | None
    completion_id: str = field(default_factory=new_id)
    created: int = field(default_factory=lambda: int(time.time()))

    def _chunk(self, choices: list[dict], **extra) -> str:
        return sse(
            {
                "id": self.completion_id,
                "object": "text_completion",
                "created": self.created,
                "model": self.model,
                "choices": choices,
                **extra,
            }
        )

    def tokens(self, index: int, tokens: Sequence[Token], offset: int) -> Iterable[str]:
        """One chunk per token of choice ``index``; ``offset`` is its text length so far."""
        for token in tokens:
            logprobs = (
                None
                if self.top_logprobs is None
                else logprobs_block([token], self.top_logprobs, offset)
            )
            offset += len(token.text)
            yield self._chunk(
                [{"index": index, "text": token.text, "logprobs": logprobs, "finish_reason": None}]
            )

    def finish(self, index: int, reason: str) -> str:
        return self._chunk(
            [{"index": index, "text": "", "logprobs": None, "finish_reason": reason}]
        )

    def usage(self, prompt_tokens: int, generated: Iterable[int]) -> str:
        return self._chunk([], usage=usage(prompt_tokens, generated))
