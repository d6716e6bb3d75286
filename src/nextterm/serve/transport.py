"""The HTTP/1.1 connection protocol of the server: uvicorn's h11 protocol with two changes.

* Requests that are not valid HTTP get the same JSON error body as every other error, instead of
  uvicorn's plain-text ``Invalid HTTP request received.``.
* A connection must deliver a complete request head (request line and headers) within
  ``read_timeout`` seconds of opening or of its previous response; otherwise it gets a 408 (when
  part of a request arrived) and is closed. uvicorn's keep-alive timeout only starts after a
  response, and nothing limits a client that sends its headers slowly. The time limit on the
  request *body* is the application's (:func:`nextterm.serve.app.create_app`).
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from nextterm.serve.errors import error_body, json_bytes

_REASONS = {400: b"Bad Request", 408: b"Request Timeout"}


class JSONErrorH11Protocol(H11Protocol):
    """``H11Protocol`` with JSON protocol errors and a request-head time limit (see the module)."""

    read_timeout: float = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.read_timeout, self._head_timed_out, self.cycle)

    def _head_timed_out(self, cycle_then) -> None:
        # A new request head arrived since the timer was armed: it is the application's now.
        if self.cycle is not cycle_then or self.transport.is_closing():
            return
        if self.conn.trailing_data[0] and self.conn.our_state is h11.IDLE:
            self._send_error(
                408,
                "the request head did not arrive within the server's read timeout",
                "request_timeout",
            )
        else:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._send_error(400, f"invalid HTTP request: {msg.rstrip('.')}", "invalid_http")

    def _send_error(self, status: int, message: str, code: str) -> None:
        # Written as raw bytes: h11 may be in a state (an unparsable or unfinished request) where
        # it refuses to send a response event, and the connection closes right after anyway.
        body = json_bytes(error_body(message, "invalid_request_error", code=code))
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % (status, _REASONS[status], len(body))
        )
        self.transport.write(head + body)
        self.transport.close()


def protocol_class(read_timeout: float) -> type[JSONErrorH11Protocol]:
    """The protocol class with ``read_timeout`` as its request-head time limit (uvicorn's ``http``)."""
    return type("ServeH11Protocol", (JSONErrorH11Protocol,), {"read_timeout": read_timeout})
