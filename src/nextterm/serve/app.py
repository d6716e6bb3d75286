"""The FastAPI application: OpenAI-compatible completions and a next-terms endpoint.

Endpoints: ``POST /v1/completions`` (OpenAI legacy completions, streaming included),
``GET /v1/models``, ``POST /v1/next-terms`` (ranked candidates from the hybrid predictor),
``GET /health``, and the web page at ``/`` with its ``POST /v1/page``
(:mod:`nextterm.serve.web`). Every request is checked (:mod:`nextterm.serve.protocol`) before it
is queued; model work goes through one :class:`~nextterm.serve.batching.DynamicBatcher`, so
requests that arrive together are decoded together, each completion row with its own sampling
settings.

A request's work is cancelled when it runs out of time (504) or its client goes away: a waiting
job leaves the queue at once, a running one stops at its next decode step. Streamed completions
send each token as the engine makes it. Every error is an OpenAI-style JSON body; a user error
(:class:`~nextterm.errors.NextTermError`) is a 4xx with its message, anything else a 500 whose
body names the request id under which the server logged the traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from nextterm.candidates import Candidate
from nextterm.engine import Sampling, cancel_when, derive_seed
from nextterm.errors import NextTermError
from nextterm.serve import protocol
from nextterm.serve.batching import DynamicBatcher, QueueFullError
from nextterm.serve.completions import ChoiceBuilder, ChunkWriter, Token, completion_response, sse
from nextterm.serve.config import ServeConfig
from nextterm.serve.errors import APIError, RequestIdMiddleware, error_body, logger
from nextterm.serve.web import add_page

MAX_OUTPUT_DIGITS = 4000
"""Longest term written in a next-terms answer (Python refuses to write integers over 4300 digits
as text by default): a continuation stops before a longer term and is marked ``truncated``."""

_ALPHABET_IDS = {char: index for index, char in enumerate("0123456789-,")}
_COMPLETION = "completion"


@dataclass
class CompletionItem:
    """One completion row of a request, as queued.

    ``emit`` (streaming only) is called from the model thread with ``(index, tokens, start)``
    when ``tokens`` became safe to show (``start``: how many of the row's tokens came before
    them) and with ``(index, None, finish_reason)`` when the row ends.
    """

    prompt: list[int]
    sampling: Sampling
    stop_strings: tuple[str, ...]
    top_logprobs: int
    index: int
    emit: Callable[[int, list[Token] | None, Any], None] | None = None


def _run_completions(engine, items: list[CompletionItem], cancels: list[threading.Event]) -> list:
    """Decode one batch of completion rows (in the model thread)."""
    builders = [
        ChoiceBuilder(item.sampling.max_new_tokens, item.sampling.stop_ids, item.stop_strings)
        for item in items
    ]

    def on_step(rows, tokens, logprobs, tops):
        ended = []
        for row, token_id, logprob, top in zip(rows, tokens, logprobs, tops):
            item, builder = items[row], builders[row]
            start = builder.shown
            released = builder.add(Token(token_id, logprob, tuple(top[: item.top_logprobs])))
            if item.emit is not None and released:
                item.emit(item.index, released, start)
            if builder.finish_reason is not None:
                if item.emit is not None:
                    item.emit(item.index, None, builder.finish_reason)
                ended.append(row)
            elif cancels[row].is_set():
                ended.append(row)
        return ended

    with cancel_when(lambda: all(cancel.is_set() for cancel in cancels)):
        engine.generate(
            [item.prompt for item in items],
            [item.sampling for item in items],
            top_logprobs=max(item.top_logprobs for item in items),
            on_step=on_step,
        )
    return [builder.choice() for builder in builders]


def _run_batch(
    engine, predictor, key: Hashable, items: list, cancels: list[threading.Event]
) -> list:
    """Called in the model thread with one group of queued items."""
    if key == _COMPLETION:
        return _run_completions(engine, items, cancels)
    _, n_terms, top_k = key
    with cancel_when(lambda: all(cancel.is_set() for cancel in cancels)):
        return predictor.predict_batch(items, n_terms=n_terms, top_k=top_k)


def _fits_output(term: int) -> bool:
    return abs(term).bit_length() <= MAX_OUTPUT_DIGITS * 3.32


def _candidate_json(rank: int, candidate: Candidate, n_terms: int) -> dict[str, Any]:
    continuation = list(candidate.continuation or (candidate.value,))[:n_terms]
    shown = next(
        (i for i, term in enumerate(continuation) if not _fits_output(term)), len(continuation)
    )
    return {
        "rank": rank,
        "value": candidate.value,
        "continuation": continuation[:shown],
        "truncated": shown < len(continuation),
        "probability": float(candidate.confidence),
        "method": candidate.method,
        "explanation": candidate.explanation,
        "evidence": candidate.evidence,
    }


async def _wait_for_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def create_app(engine, predictor, config: ServeConfig | None = None) -> FastAPI:
    """The server application over a loaded ``engine`` and ``predictor``.

    Args:
        engine: a :class:`nextterm.engine.Engine` (``generate``, ``max_context``).
        predictor: a :class:`nextterm.predict.Predictor` for ``/v1/next-terms``.
        config: limits and the served model name (defaults: :class:`ServeConfig`).
    """
    config = config or ServeConfig()
    max_context = int(engine.max_context)
    batcher = DynamicBatcher(
        lambda key, items, cancels: _run_batch(engine, predictor, key, items, cancels),
        max_batch=config.max_batch,
        max_queue=config.max_queue,
    )
    started = int(time.time())
    predictor_name = getattr(predictor, "name", type(predictor).__name__)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="nextterm", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.add_middleware(RequestIdMiddleware)
    app.state.batcher = batcher
    app.state.config = config

    @app.exception_handler(APIError)
    async def _api_error(_: Request, error: APIError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(NextTermError)
    async def _user_error(_: Request, error: NextTermError) -> JSONResponse:
        return JSONResponse(error_body(str(error), "invalid_request_error"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        return JSONResponse(
            error_body(str(error.detail), kind),
            status_code=error.status_code,
            headers=error.headers,
        )

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
        try:
            async with asyncio.timeout(config.read_timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > config.max_body_bytes:
                        raise too_large
                    chunks.append(chunk)
        except TimeoutError:
            raise APIError(
                408,
                f"the request body did not arrive within the server's read timeout of {config.read_timeout:g} s",
                code="request_timeout",
                headers={"Connection": "close"},
            ) from None
        except ClientDisconnect:
            raise APIError(
                400, "the client went away while sending the body", code="client_disconnected"
            ) from None
        return protocol.parse_json_object(b"".join(chunks))

    def enqueue(key: Hashable, items: list) -> asyncio.Future:
        try:
            return batcher.enqueue(key, items)
        except QueueFullError:
            raise APIError(
                503,
                f"the server is busy ({config.max_queue} requests waiting): retry shortly",
                type="server_error",
                code="server_overloaded",
                headers={"Retry-After": "1"},
            ) from None

    def timeout_error() -> APIError:
        return APIError(
            504,
            f"the request did not finish within the server's time limit of {config.timeout:g} s",
            type="server_error",
            code="timeout",
        )

    async def results(request: Request, key: Hashable, items: list) -> list | None:
        """The job's results; None when the client went away. The job is cancelled on timeout
        (504) and on disconnect."""
        job = enqueue(key, items)
        gone = asyncio.ensure_future(_wait_for_disconnect(request))
        try:
            done, _ = await asyncio.wait(
                {job, gone}, timeout=config.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            gone.cancel()
            if not job.done():
                job.cancel()
        if job in done and not job.cancelled():
            return job.result()  # raises the job's error: NextTermError is a 400, others a 500
        if gone in done:
            return None
        raise timeout_error()

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
        text_stops = tuple(stop for stop in stops if stop not in _ALPHABET_IDS)
        top_logprobs = body.logprobs or 0
        items = []
        for index in range(len(prompts) * body.n):
            # Every sampled row gets a seed, so that a retried batch replays the same tokens.
            seed = random.getrandbits(63) if body.seed is None else derive_seed(body.seed, index)
            sampling = Sampling(
                body.max_tokens, body.temperature, body.top_p, seed, frozenset(stop_ids)
            )
            items.append(
                CompletionItem(prompts[index // body.n], sampling, text_stops, top_logprobs, index)
            )
        prompt_tokens = sum(len(prompt) for prompt in prompts)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            writer = ChunkWriter(config.model_name, body.logprobs)
            return stream_completion(
                request, items, writer, prompt_tokens if include_usage else None
            )
        choices = await results(request, _COMPLETION, items)
        if choices is None:
            return Response(status_code=499)
        return completion_response(config.model_name, choices, prompt_tokens, body.logprobs)

    def stream_failure(request: Request, job: asyncio.Future) -> str:
        """The error event of a stream whose job failed (the response status is already out)."""
        request_id = request.state.request_id
        if job.cancelled():
            return sse(error_body("the request was cancelled", "server_error", code="cancelled"))
        error = job.exception()
        if isinstance(error, NextTermError):
            return sse(error_body(str(error), "invalid_request_error"))
        logger.error(
            "request %s failed while streaming (a bug in nextterm)", request_id, exc_info=error
        )
        return sse(
            error_body(
                f"internal server error (a bug, logged with request id {request_id})",
                "server_error",
                code="internal_error",
            )
        )

    def stream_completion(
        request: Request,
        items: list[CompletionItem],
        writer: ChunkWriter,
        usage_prompt_tokens: int | None,
    ) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def emit(index: int, tokens: list[Token] | None, extra: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (index, tokens, extra))

        for item in items:
            item.emit = emit
        job = enqueue(_COMPLETION, items)  # a 503 is still an HTTP error: nothing is sent yet
        job.add_done_callback(lambda _: events.put_nowait(None))  # after every emit of the job

        async def chunks() -> AsyncIterator[str]:
            sent = [0] * len(
                items
            )  # tokens sent per choice (a retried batch replays from the start)
            lengths = [0] * len(items)  # characters sent per choice
            finished: set[int] = set()
            deadline = loop.time() + config.timeout
            try:
                while len(finished) < len(items):
                    try:
                        async with asyncio.timeout_at(deadline):
                            event = await events.get()
                    except TimeoutError:
                        yield sse(timeout_error().body())
                        return
                    if event is None:  # the job ended before every choice did: it failed
                        yield stream_failure(request, job)
                        return
                    index, tokens, extra = event
                    if tokens is None:
                        if index not in finished:
                            finished.add(index)
                            yield writer.finish(index, extra)
                        continue
                    fresh = tokens[max(0, sent[index] - extra) :]
                    for chunk in writer.tokens(index, fresh, lengths[index]):
                        yield chunk
                    sent[index] += len(fresh)
                    lengths[index] += sum(len(token.text) for token in fresh)
                if (
                    usage_prompt_tokens is not None
                ):  # every kept token was sent: no need to wait for the batch
                    yield writer.usage(usage_prompt_tokens, sent)
                yield sse("[DONE]")
            finally:
                if not job.done():
                    job.cancel()  # the client went away or the time ran out: stop its decoding

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @router.post("/next-terms")
    async def next_terms(request: Request):
        body = protocol.validate_model(protocol.NextTermsRequest, await read_json(request))
        protocol.check_model_name(body.model, config.model_name)
        terms = protocol.next_terms_sequence(body, config.max_next_terms, config.max_top_k)
        answer = await results(request, ("next-terms", body.n, body.top_k), [terms])
        if answer is None:
            return Response(status_code=499)
        shown = [candidate for candidate in answer[0] if _fits_output(candidate.value)]
        return {
            "object": "next_terms",
            "model": config.model_name,
            "predictor": predictor_name,
            "n": body.n,
            "candidates": [
                _candidate_json(rank, c, body.n) for rank, c in enumerate(shown, start=1)
            ],
            "omitted": len(answer[0]) - len(shown),
        }

    async def page_answer(request: Request, terms: list[int], n: int, top_k: int):
        answer = await results(request, ("next-terms", n, top_k), [terms])
        if answer is None:
            return None
        shown = [candidate for candidate in answer[0] if _fits_output(candidate.value)]
        rows = [(_candidate_json(rank, c, n), c) for rank, c in enumerate(shown, start=1)]
        return rows, len(answer[0]) - len(shown)

    add_page(app, router, read_json, page_answer, config, predictor_name)
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
