"""The web page of ``nextterm serve``: ``GET /`` for people, beside the JSON API.

The page (:mod:`nextterm.serve.web.page`; HTML, CSS and script in ``static/``, the uPlot chart
library vendored there with its licence) sends what a person typed, as typed, to
``POST /v1/page``; the server parses it with :func:`nextterm.sequences.parse_terms`, so the page
shows the command line's own error messages, and answers with the view of
:mod:`nextterm.serve.web.view`. The page itself is public; ``/v1/page`` is behind the API key like
every ``/v1`` endpoint, and the page asks for the key when it gets a 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from nextterm.sequences import parse_terms
from nextterm.serve import protocol
from nextterm.serve.config import ServeConfig
from nextterm.serve.errors import bad_request
from nextterm.serve.web.page import SECURITY_HEADERS, render_page
from nextterm.serve.web.view import page_answer

STATIC = Path(__file__).resolve().parent / "static"

Answer = Callable[[Request, list[int], int, int], Awaitable[tuple[list, int] | None]]
"""``answer(request, terms, n, top_k)``: ``([(shown, candidate), ...], omitted)`` as
``/v1/next-terms`` computes it, or None when the client went away."""


class PageRequest(BaseModel):
    """``POST /v1/page``: the text as the person typed it."""

    model_config = ConfigDict(strict=True, extra="ignore")

    text: str
    n: int = Field(default=1, ge=1)
    top_k: int = Field(default=5, ge=1)


def add_page(
    app: FastAPI,
    router: APIRouter,
    read_json: Callable[[Request], Awaitable[dict[str, Any]]],
    answer: Answer,
    config: ServeConfig,
    predictor_name: str,
) -> None:
    """Add ``GET /``, ``/static/*`` to ``app`` and ``POST /page`` to the ``/v1`` ``router``."""
    page = render_page(config)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @router.post("/page")
    async def page_next_terms(request: Request):
        body = protocol.validate_model(PageRequest, await read_json(request))
        if body.n > config.max_next_terms:
            raise bad_request(f"n must be at most {config.max_next_terms}, got {body.n}", "n")
        if body.top_k > config.max_top_k:
            raise bad_request(
                f"top_k must be at most {config.max_top_k}, got {body.top_k}", "top_k"
            )
        terms = parse_terms(body.text)  # a SequenceError is a 400 with the CLI's message
        found = await answer(request, terms, body.n, body.top_k)
        if found is None:
            return Response(status_code=499)
        rows, omitted = found
        return page_answer(terms, body.n, rows, predictor_name, omitted)
