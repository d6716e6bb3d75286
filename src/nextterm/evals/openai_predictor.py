"""A predictor over any OpenAI-compatible completions endpoint (vLLM, SGLang, ``nextterm serve``).

Each next term is one greedy completion: the prompt is the sequence in the model's text format
(``1,2,3,``), generation stops at ``,`` (``max_tokens`` at most 192, the card's budget), and the
text before the first comma, stripped of whitespace, must be an integer written without leading
zeros (``-?(0|[1-9][0-9]*)``); anything else is "no answer". Further terms (``n_terms`` > 1) are
asked one at a time with the previous answers appended, so a general LLM is measured term by term
exactly like a NextTerm model. A completion carries no calibrated probability, so candidates have
confidence 0.

Prompts go out ``prompts_per_request`` to a request (the completions API takes a list of prompts;
set 1 for servers that do not) with ``concurrency`` requests in flight. ``OPENAI_API_KEY``, when
set, is sent as the bearer token.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from nextterm.candidates import Candidate
from nextterm.errors import NextTermError
from nextterm.sequences import format_terms

MAX_TOKENS_LIMIT = 192
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


class EndpointError(NextTermError):
    """The endpoint cannot be reached or refused a request."""


@dataclass
class OpenAIPredictorConfig:
    """Settings of :class:`OpenAIPredictor` (see the module docstring)."""

    endpoint: str = "http://127.0.0.1:8000/v1"
    model: str | None = None
    max_tokens: int = MAX_TOKENS_LIMIT
    prompts_per_request: int = 16
    concurrency: int = 4
    timeout: float = 120.0
    api_key: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_tokens <= MAX_TOKENS_LIMIT:
            raise EndpointError(
                f"max_tokens must be in 1..{MAX_TOKENS_LIMIT}, got {self.max_tokens}"
            )
        if self.prompts_per_request < 1 or self.concurrency < 1:
            raise EndpointError("prompts_per_request and concurrency must be at least 1")
        if not self.endpoint.startswith(("http://", "https://")):
            raise EndpointError(f"endpoint must be an http(s) URL, got {self.endpoint!r}")


def base_url(endpoint: str) -> str:
    """``.../v1`` from an endpoint given as host, ``.../v1`` or ``.../v1/completions``."""
    url = endpoint.rstrip("/")
    if url.endswith("/completions"):
        url = url[: -len("/completions")]
    return url if url.endswith("/v1") else url + "/v1"


def parse_completion(text: str) -> int | None:
    """The integer before the first comma of a completion, or None if it is not one."""
    head = text.split(",", 1)[0].strip()
    return int(head) if _INTEGER.fullmatch(head) else None


class OpenAIPredictor:
    """Greedy next terms from an OpenAI-compatible ``/v1/completions`` endpoint."""

    def __init__(
        self,
        config: OpenAIPredictorConfig | None = None,
        *,
        client: httpx.Client | None = None,
    ) -> None:
        self.config = config or OpenAIPredictorConfig()
        self.url = base_url(self.config.endpoint)
        api_key = self.config.api_key or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(timeout=self.config.timeout)
        self.client.headers.update(headers)
        self.model = self.config.model or self._first_model()
        self.name = f"openai:{self.model}"

    def _request(self, method: str, path: str, **kwargs: Any) -> dict:
        try:
            response = self.client.request(method, self.url + path, **kwargs)
        except httpx.HTTPError as error:
            raise EndpointError(f"cannot reach {self.url}{path}: {error}") from error
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise EndpointError(f"{self.url}{path} answered {response.status_code}: {message}")
        try:
            return response.json()
        except ValueError as error:
            raise EndpointError(f"{self.url}{path} did not answer JSON") from error

    def _first_model(self) -> str:
        models = self._request("GET", "/models").get("data") or []
        if not models:
            raise EndpointError(f"{self.url}/models lists no model; pass the model name")
        return str(models[0]["id"])

    def _complete(self, prompts: list[str]) -> list[str]:
        body = {
            "model": self.model,
            "prompt": prompts,
            "max_tokens": self.config.max_tokens,
            "temperature": 0.0,
            "stop": [","],
        }
        choices = self._request("POST", "/completions", json=body).get("choices") or []
        texts = [""] * len(prompts)
        for position, choice in enumerate(choices):
            index = choice.get("index", position)
            if 0 <= index < len(prompts):
                texts[index] = choice.get("text") or ""
        return texts

    def next_terms(self, sequences: list[list[int]]) -> list[int | None]:
        """One greedy next term per sequence (None where the completion is not an integer)."""
        size = self.config.prompts_per_request
        groups = [
            [format_terms(s) for s in sequences[start : start + size]]
            for start in range(0, len(sequences), size)
        ]
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            texts = [text for group in pool.map(self._complete, groups) for text in group]
        return [parse_completion(text) for text in texts]

    def predict_batch(
        self, sequences: list[list[int]], n_terms: int = 1, top_k: int = 5
    ) -> list[list[Candidate]]:
        """At most one candidate per sequence: its greedy continuation of up to ``n_terms``."""
        continuations: list[list[int]] = [[] for _ in sequences]
        active = list(range(len(sequences)))
        for _ in range(n_terms):
            if not active:
                break
            answers = self.next_terms([list(sequences[i]) + continuations[i] for i in active])
            for i, value in zip(active, answers):
                if value is not None:
                    continuations[i].append(value)
            active = [i for i, value in zip(active, answers) if value is not None]
        return [
            [
                Candidate(
                    value=terms[0],
                    confidence=0.0,
                    method="openai",
                    explanation=f"greedy completion from {self.model}",
                    continuation=tuple(terms),
                )
            ]
            if terms
            else []
            for terms in continuations
        ]

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()
