"""Request bodies of the API: JSON parsing, types, limits, and prompt text checks.

Everything a client sends is checked here before it reaches the queue, so that bad input gets a
400 with an OpenAI-style error (see :mod:`nextterm.serve.errors`) and never reaches the model.
Prompts are text in the model's alphabet: terms of digits with an optional ``-``, each followed
by ``,``; whitespace around terms is allowed (the tokenizer drops it), a last term may be
unfinished, and terms with leading zeros, ``-0`` or more than
:data:`~nextterm.sequences.MAX_TERM_DIGITS` digits are refused.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nextterm.sequences import MAX_TERM_DIGITS, SequenceError, parse_terms, validate_terms
from nextterm.serve.errors import APIError, bad_request
from nextterm.tokenizer import EOS_ID, PAD_ID, VOCAB_SIZE, encode_text

DEFAULT_MAX_TOKENS = 16
MAX_STOP_SEQUENCES = 4
BASE_STOP_IDS = (EOS_ID, PAD_ID)
"""Completions always end at EOS or PAD; pass ``stop=","`` to stop after one term."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class StreamOptions(_Strict):
    include_usage: bool = False


class CompletionRequest(_Strict):
    """``POST /v1/completions`` (the OpenAI legacy completions API, plus vLLM's ``stop_token_ids``)."""

    model: str
    prompt: str | list[str]
    max_tokens: int | None = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    temperature: float | None = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float | None = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1)
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    seed: int | None = Field(default=None, ge=0, lt=2**63)
    echo: bool | None = False
    suffix: str | None = None
    best_of: int | None = Field(default=None, ge=1)
    presence_penalty: float | None = 0.0
    frequency_penalty: float | None = 0.0
    logit_bias: dict[str, float] | None = None
    user: str | None = None

    @model_validator(mode="after")
    def _fill_defaults(self) -> CompletionRequest:
        # OpenAI accepts null for these and means the defaults.
        self.max_tokens = DEFAULT_MAX_TOKENS if self.max_tokens is None else self.max_tokens
        self.temperature = 1.0 if self.temperature is None else self.temperature
        self.top_p = 1.0 if self.top_p is None else self.top_p
        return self


class NextTermsRequest(_Strict):
    """``POST /v1/next-terms``: ``terms`` as a list (integers or digit strings) or as text."""

    terms: list[int | str] | str
    n: int = Field(default=1, ge=1)
    top_k: int = Field(default=5, ge=1)
    model: str | None = None


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_TERM_DIGITS:
        raise bad_request(
            f"a number in the request has {len(text.lstrip('-'))} digits; "
            f"the limit is {MAX_TERM_DIGITS}",
            code="number_too_large",
        )
    return int(text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string with a lone surrogate (json.loads joins the
    escaped pairs of real characters, so any surrogate left is alone and not valid Unicode)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _refuse_constant(name: str) -> float:
    raise bad_request(
        f"request body is not valid JSON: {name} is not a JSON number", code="invalid_json"
    )


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    if not body.strip():
        raise bad_request("request body is empty: send a JSON object", code="invalid_json")
    try:
        value = json.loads(body, parse_int=_parse_int, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise bad_request("request body is not UTF-8 text", code="invalid_json") from None
    except json.JSONDecodeError as error:
        raise bad_request(
            f"request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
            code="invalid_json",
        ) from None
    except RecursionError:
        raise bad_request("request body is nested too deeply", code="invalid_json") from None
    if not isinstance(value, dict):
        raise bad_request(
            f"request body must be a JSON object, got {type(value).__name__}", code="invalid_json"
        )
    if _has_lone_surrogate(value):
        raise bad_request(
            "request body has a string with a lone surrogate (such as \\ud800): not valid Unicode",
            code="invalid_json",
        )
    return value


def _field_path(location: tuple) -> str:
    # Union branches appear in pydantic locations as type names such as "list[str]"; drop them.
    parts = [
        str(part)
        for part in location
        if not (isinstance(part, str) and ("[" in part or part in ("str", "int")))
    ]
    path = parts[0] if parts else "body"
    for part in parts[1:]:
        path += f"[{part}]" if part.isdigit() else f".{part}"
    return path


def validate_model(model_class: type[BaseModel], data: dict[str, Any]) -> Any:
    """``model_class`` built from ``data``, or a 400 naming the first field at fault."""
    try:
        return model_class.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        path = _field_path(first["loc"])
        raise bad_request(
            f"invalid '{path}': {first['msg']}", param=path.split("[")[0].split(".")[0]
        ) from None


def _check_term(piece: str, where: str, position: int, partial: bool) -> None:
    token = piece.strip()
    if not token:
        raise bad_request(
            f"{where}: term {position} is empty (two commas in a row?)", param="prompt"
        )
    if any(char.isspace() for char in token):
        raise bad_request(
            f"{where}: term {position} contains whitespace; separate terms with commas",
            param="prompt",
        )
    if partial and token == "-":
        return
    try:
        parse_terms(token)
    except SequenceError as error:
        message = str(error).replace("term 1", f"term {position}", 1)
        raise bad_request(f"{where}: {message}", param="prompt") from None


def prompt_ids(text: str, where: str = "prompt") -> list[int]:
    """Token ids (with BOS) of a completion prompt such as ``"1,2,3,"``; raises a 400 if invalid."""
    if not text.strip():
        raise bad_request(f"{where} is empty: send terms such as 1,1,2,3,5,8,", param="prompt")
    pieces = text.split(",")
    for position, piece in enumerate(pieces[:-1], start=1):
        _check_term(piece, where, position, partial=False)
    if pieces[-1].strip():
        _check_term(pieces[-1], where, len(pieces), partial=True)
    return encode_text(text, bos=True)


def check_completion(
    request: CompletionRequest, max_n: int, max_batch: int, max_context: int
) -> None:
    """Limits and unsupported options of a completion request (400 when broken)."""
    if request.echo:
        raise bad_request("echo is not supported", param="echo")
    if request.suffix:
        raise bad_request("suffix is not supported", param="suffix")
    if request.best_of is not None and request.best_of != request.n:
        raise bad_request("best_of is not supported (use n)", param="best_of")
    if request.logit_bias:
        raise bad_request("logit_bias is not supported", param="logit_bias")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(request, name):
            raise bad_request(f"{name} is not supported (leave it 0)", param=name)
    if request.n > max_n:
        raise bad_request(f"n must be at most {max_n}, got {request.n}", param="n")
    if request.max_tokens > max_context:
        raise bad_request(
            f"max_tokens must be at most {max_context} (the model's context), got {request.max_tokens}",
            param="max_tokens",
        )
    prompts = [request.prompt] if isinstance(request.prompt, str) else request.prompt
    if not prompts:
        raise bad_request("prompt is an empty list: send at least one prompt", param="prompt")
    if len(prompts) * request.n > max_batch:
        raise bad_request(
            f"{len(prompts)} prompts x n={request.n} is {len(prompts) * request.n} completions; "
            f"this server allows at most {max_batch} per request",
            param="n",
        )
    stops = [request.stop] if isinstance(request.stop, str) else (request.stop or [])
    if len(stops) > MAX_STOP_SEQUENCES:
        raise bad_request(
            f"at most {MAX_STOP_SEQUENCES} stop sequences, got {len(stops)}", param="stop"
        )
    if any(not stop for stop in stops):
        raise bad_request("stop sequences must not be empty", param="stop")
    for token_id in request.stop_token_ids or []:
        if not 0 <= token_id < VOCAB_SIZE:
            raise bad_request(
                f"stop_token_ids: {token_id} is outside the vocabulary 0..{VOCAB_SIZE - 1}",
                param="stop_token_ids",
            )


def completion_prompts(request: CompletionRequest, max_context: int) -> list[list[int]]:
    """Token ids of every prompt, each checked against the context with ``max_tokens``."""
    prompts = [request.prompt] if isinstance(request.prompt, str) else request.prompt
    result = []
    for index, text in enumerate(prompts):
        where = "prompt" if isinstance(request.prompt, str) else f"prompt[{index}]"
        ids = prompt_ids(text, where)
        wanted = len(ids) + request.max_tokens
        if wanted > max_context:
            raise bad_request(
                f"this model's maximum context length is {max_context} tokens; {where} has "
                f"{len(ids)} tokens and max_tokens is {request.max_tokens}: shorten the prompt "
                "or lower max_tokens",
                param="prompt",
                code="context_length_exceeded",
            )
        result.append(ids)
    return result


def next_terms_sequence(
    request: NextTermsRequest, max_next_terms: int, max_top_k: int
) -> list[int]:
    """The validated terms of a next-terms request (400 when broken)."""
    if request.n > max_next_terms:
        raise bad_request(f"n must be at most {max_next_terms}, got {request.n}", param="n")
    if request.top_k > max_top_k:
        raise bad_request(f"top_k must be at most {max_top_k}, got {request.top_k}", param="top_k")
    try:
        return validate_terms(request.terms)
    except SequenceError as error:
        raise bad_request(f"terms: {error}", param="terms") from None


def check_model_name(requested: str | None, served: str) -> None:
    """A 404 unless ``requested`` is this server's model (None means the default)."""
    if requested is not None and requested != served:
        raise APIError(
            404,
            f"the model '{requested}' does not exist; this server serves '{served}'",
            param="model",
            code="model_not_found",
        )
