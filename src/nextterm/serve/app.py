"""The FastAPI application: OpenAI-compatible completions and a next-terms endpoint.

Endpoints: ``POST /v1/completions`` (OpenAI legacy completions, streaming included),
``GET /v1/models``, ``POST /v1/next-terms`` (ranked candidates from the hybrid predictor) and
``GET /health``. Every request is checked (:mod:`nextterm.serve.protocol`) before it is queued;
model work goes through one :class:`~nextterm.serve.batching.DynamicBatcher`, so requests that
arrive together are decoded together. Every error is an OpenAI-style JSON body; tracebacks go to
the server log only.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Hashable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nextterm.candidates import Candidate
from nextterm.serve import protocol
from nextterm.serve.batching import DynamicBatcher, QueueFullError
from nextterm.serve.completions import completion_response, finish, stream_events
from nextterm.serve.config import ServeConfig
from nextterm.serve.errors import APIError, error_body

logger = logging.getLogger("nextterm.serve")

MAX_OUTPUT_DIGITS = 4000
"""Candidates with a term longer than this are left out of next-terms answers (Python refuses to
write integers over 4300 digits as text by default)."""

_ALPHABET_IDS = {char: index for index, char in enumerate("0123456789-,")}


def _context_groups(items: list[tuple[list[int], int]], max_context: int) -> list[list[int]]:
    """Indices of ``items`` (prompt, max_tokens) in groups that one engine call can decode.

    An engine call generates up to the largest ``max_tokens`` of its group and cuts prompts that
    leave less room than that; grouping so that every prompt fits keeps each answer the same as
    if its request had been decoded alone.
    """
    groups: list[list[int]] = []
    budgets: list[int] = []
    for index in sorted(range(len(items)), key=lambda i: -items[i][1]):
        prompt, limit = items[index]
        for group, budget in zip(groups, budgets):
            if len(prompt) + budget <= max_context:
                group.append(index)
                break
        else:
            groups.append([index])
            budgets.append(limit)
    return groups


def _run_batch(engine, predictor, key: Hashable, items: list) -> list:
    """Called in the model thread with one group of queued items."""
    if key[0] == "completion":
        _, temperature, top_p, stop_ids, seed = key
        results: list = [None] * len(items)
        for group in _context_groups(items, int(engine.max_context)):
            generations = engine.generate_tokens(
                [items[index][0] for index in group],
                max_new_tokens=items[group[0]][1],
                temperature=temperature,
                top_p=top_p,
                stop_ids=stop_ids,
                seed=seed,
            )
            for index, generation in zip(group, generations):
                results[index] = generation
        return results
    _, n_terms, top_k = key
    return predictor.predict_batch(items, n_terms=n_terms, top_k=top_k)


def _candidate_json(rank: int, candidate: Candidate, n_terms: int) -> dict[str, Any]:
    continuation = list(candidate.continuation or (candidate.value,))[:n_terms]
    return {
        "rank": rank,
        "value": candidate.value,
        "continuation": continuation,
        "probability": float(candidate.confidence),
        "method": candidate.method,
        "explanation": candidate.explanation,
        "evidence": candidate.evidence,
    }


def _fits_output(candidate: Candidate) -> bool:
    limit = MAX_OUTPUT_DIGITS * 3.33
    return all(abs(term).bit_length() <= limit for term in (candidate.continuation or (candidate.value,)))


def create_app(engine, predictor, config: ServeConfig | None = None) -> FastAPI:
    """The server application over a loaded ``engine`` and ``predictor``.

    Args:
        engine: a :class:`nextterm.engine.Engine` (``generate_tokens``, ``max_context``).
        predictor: a :class:`nextterm.predict.Predictor` for ``/v1/next-terms``.
        config: limits and the served model name (defaults: :class:`ServeConfig`).
    """
    config = config or ServeConfig()
    max_context = int(engine.max_context)
    batcher = DynamicBatcher(
        lambda key, items: _run_batch(engine, predictor, key, items),
        max_batch=config.max_batch,
        max_queue=config.max_queue,
    )
    started = int(time.time())

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="nextterm", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher = batcher
    app.state.config = config

    @app.exception_handler(APIError)
    async def _api_error(_: Request, error: APIError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        return JSONResponse(
            error_body(str(error.detail), kind), status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected error", exc_info=error)
        return JSONResponse(error_body("internal server error", "server_error"), status_code=500)

    async def authorize(request: Request) -> None:
        if config.api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), config.api_key.encode()
        ):
            raise APIError(
                401,
                "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def read_json(request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length", "")
        too_large = APIError(
            413,
            f"request body is larger than {config.max_body_bytes} bytes",
            code="request_too_large",
        )
        if declared.isdigit() and int(declared) > config.max_body_bytes:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > config.max_body_bytes:
                raise too_large
            chunks.append(chunk)
        return protocol.parse_json_object(b"".join(chunks))

    async def submit(key: Hashable, items: list) -> list:
        try:
            return await asyncio.wait_for(batcher.submit(key, items), config.timeout)
        except QueueFullError:
            raise APIError(
                503,
                f"the server is busy ({config.max_queue} requests waiting): retry shortly",
                type="server_error",
                code="server_overloaded",
                headers={"Retry-After": "1"},
            ) from None
        except TimeoutError:
            raise APIError(
                504,
                f"the request did not finish within the server's time limit of {config.timeout:g} s",
                type="server_error",
                code="timeout",
            ) from None
        except ValueError as error:  # input that passed the checks but the model refused
            raise APIError(400, str(error)) from None

    router = APIRouter(prefix="/v1", dependencies=[Depends(authorize)])

    @router.get("/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": config.model_name,
                    "object": "model",
                    "created": started,
                    "owned_by": "nextterm",
                    "max_model_len": max_context,
                }
            ],
        }

    @router.post("/completions")
    async def completions(request: Request):
        body = protocol.validate_model(protocol.CompletionRequest, await read_json(request))
        protocol.check_model_name(body.model, config.model_name)
        protocol.check_completion(body, config.max_n, config.max_batch, max_context)
        prompts = protocol.completion_prompts(body, max_context)
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        stop_ids = set(protocol.BASE_STOP_IDS) | set(body.stop_token_ids or [])
        stop_ids |= {_ALPHABET_IDS[stop] for stop in stops if stop in _ALPHABET_IDS}
        text_stops = [stop for stop in stops if stop not in _ALPHABET_IDS]
        greedy = body.temperature == 0
        key = (
            "completion",
            body.temperature,
            1.0 if greedy else body.top_p,
            tuple(sorted(stop_ids)),
            None if greedy else body.seed,
        )
        items = [(prompt, body.max_tokens) for prompt in prompts for _ in range(body.n)]
        generations = await submit(key, items)
        choices = [
            finish(g.token_ids, g.logprobs, g.finish_reason, body.max_tokens, key[3], text_stops)
            for g in generations
        ]
        prompt_tokens = sum(len(prompt) for prompt in prompts)
        with_logprobs = body.logprobs is not None
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            events = stream_events(config.model_name, choices, prompt_tokens, with_logprobs, include_usage)
            return StreamingResponse(events, media_type="text/event-stream")
        return completion_response(config.model_name, choices, prompt_tokens, with_logprobs)

    @router.post("/next-terms")
    async def next_terms(request: Request) -> dict[str, Any]:
        body = protocol.validate_model(protocol.NextTermsRequest, await read_json(request))
        protocol.check_model_name(body.model, config.model_name)
        terms = protocol.next_terms_sequence(body, config.max_next_terms, config.max_top_k)
        candidates = (await submit(("next-terms", body.n, body.top_k), [terms]))[0]
        shown = [candidate for candidate in candidates if _fits_output(candidate)]
        return {
            "object": "next_terms",
            "model": config.model_name,
            "predictor": getattr(predictor, "name", type(predictor).__name__),
            "n": body.n,
            "candidates": [_candidate_json(rank, c, body.n) for rank, c in enumerate(shown, start=1)],
        }

    app.include_router(router)

    @app.get("/health")
    async def health() -> JSONResponse:
        running = batcher.running
        payload = {
            "status": "ok" if running else "stopped",
            "model": config.model_name,
            "queued": batcher.pending(),
            "batches_run": batcher.batches_run,
            "items_run": batcher.items_run,
        }
        return JSONResponse(payload, status_code=200 if running else 503)

    return app
