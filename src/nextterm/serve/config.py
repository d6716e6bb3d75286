"""Settings of the HTTP server, with the defaults ``nextterm serve`` uses."""

from __future__ import annotations

from dataclasses import dataclass

from nextterm.errors import NextTermError


class ServeConfigError(NextTermError):
    """Server settings that cannot work."""


@dataclass
class ServeConfig:
    """Server settings.

    Attributes:
        host: interface to bind; loopback by default so that nothing is exposed by accident.
        port: TCP port.
        model_name: the id clients pass as ``model`` and ``GET /v1/models`` lists.
        api_key: when set, ``/v1/*`` requires ``Authorization: Bearer <api_key>``.
        max_batch: most prompts decoded together in one engine call; also the most prompts
            (``len(prompt) * n``) one request may ask for.
        max_queue: most requests waiting for the engine; beyond it requests get a 503.
        timeout: seconds a request may wait and run before it gets a 504 (its work is cancelled).
        read_timeout: seconds a client has to send a request's head, and again its body, before
            it gets a 408 and the connection is closed.
        max_body_bytes: largest request body accepted (413 beyond).
        max_n: largest ``n`` (completions per prompt).
        max_next_terms: largest ``n`` of ``/v1/next-terms`` (terms to predict).
        max_top_k: largest ``top_k`` of ``/v1/next-terms``.
        beam_width: beam width of the model part of the hybrid predictor.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "nextterm"
    api_key: str | None = None
    max_batch: int = 64
    max_queue: int = 256
    timeout: float = 60.0
    read_timeout: float = 30.0
    max_body_bytes: int = 1 << 20
    max_n: int = 16
    max_next_terms: int = 32
    max_top_k: int = 20
    beam_width: int = 4

    def __post_init__(self) -> None:
        for name in (
            "max_batch",
            "max_queue",
            "max_body_bytes",
            "max_n",
            "max_next_terms",
            "max_top_k",
            "beam_width",
        ):
            if getattr(self, name) < 1:
                raise ServeConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ServeConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            raise ServeConfigError(f"port must be in 0..65535, got {self.port}")
        if self.api_key is not None and not self.api_key:
            raise ServeConfigError("api_key must not be empty")
