"""OpenAI-style API errors: a status code and a ``{"error": {message, type, param, code}}`` body.

:class:`RequestIdMiddleware` gives every request an id (the ``x-request-id`` response header) and
turns any exception that escapes the application into a 500 with that id in its JSON body, while
the traceback goes to the server log under the same id; the connection stays open.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

logger = logging.getLogger("nextterm.serve")
REQUEST_ID_HEADER = "x-request-id"


class APIError(Exception):
    """An error the server reports to the client as JSON, never with a traceback.

    Attributes:
        status: the HTTP status code.
        message: one line saying what was wrong and how to fix it.
        type: OpenAI error type (``invalid_request_error``, ``server_error``, ...).
        param: the request field at fault, if any.
        code: a short machine-readable code, if any.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI clients parse into their error classes."""
        return error_body(self.message, self.type, self.param, self.code)


def _printable(text: str | None) -> str | None:
    # A message may quote the request (a model name); lone surrogates there cannot be encoded.
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_body(
    message: str, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``, always encodable as UTF-8."""
    return {
        "error": {
            "message": _printable(message),
            "type": type,
            "param": _printable(param),
            "code": code,
        }
    }


def json_bytes(payload: dict[str, Any]) -> bytes:
    """``payload`` as compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RequestIdMiddleware:
    """ASGI middleware: a request id on every response; unexpected exceptions become JSON 500s.

    The id is also in ``scope["state"]["request_id"]`` (``request.state.request_id``).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4().hex[:20]}"
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("request %s failed (a bug in nextterm)", request_id)
            if started:  # the status line is out: uvicorn closes the unfinished response
                return
            body = json_bytes(
                error_body(
                    f"internal server error (a bug, logged with request id {request_id})",
                    "server_error",
                    code="internal_error",
                )
            )
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 ``invalid_request_error``."""
    return APIError(400, message, "invalid_request_error", param, code)
