"""Run the application with uvicorn: in the foreground (``nextterm serve``) or in a background
thread on a port the operating system picks (tests, benchmarks, notebooks).

Both use the protocol of :mod:`nextterm.serve.transport` (JSON errors for malformed HTTP, a time
limit on request heads).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from nextterm.serve.config import ServeConfig


def served_model_name(model: str | Path) -> str:
    """The model id clients see for ``model``: a checkpoint directory's own name (never its path
    on this machine), or a hub id as given."""
    path = Path(model)
    return path.resolve().name if path.is_dir() else str(model)


def _read_timeout(app) -> float:
    config = getattr(app.state, "config", None)
    return config.read_timeout if config is not None else ServeConfig.read_timeout


def build_app(
    model: str | Path,
    config: ServeConfig,
    device: str | None = None,
    lookup_index: str | Path | None = None,
):
    """Load the checkpoint once and serve it: completions from its engine, next terms from the
    hybrid predictor that ``predict`` builds (solvers and rule search, the lookup index when one
    is given, the same engine, the checkpoint's ranker)."""
    from nextterm.engine import Engine
    from nextterm.predict import build_hybrid
    from nextterm.serve.app import create_app

    engine = Engine.from_pretrained(model, device=device)
    local = Path(model) if Path(model).is_dir() else None
    predictor = build_hybrid(engine, local, beam_width=config.beam_width, lookup_index=lookup_index)
    return create_app(engine, predictor, config)


def run_server(
    app,
    config: ServeConfig,
    log_level: str = "info",
    on_started: Callable[[], object] | None = None,
) -> None:
    """Serve ``app`` on ``config.host:config.port`` until interrupted; ``on_started`` is called
    (from another thread) once the server accepts connections."""
    import uvicorn

    from nextterm.serve.transport import protocol_class

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level=log_level,
            access_log=False,
            http=protocol_class(config.read_timeout),
        )
    )
    if on_started is not None:
        threading.Thread(target=_call_when_started, args=(server, on_started), daemon=True).start()
    server.run()


def _call_when_started(server, callback: Callable[[], object]) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    callback()


class BackgroundServer:
    """A context manager that serves ``app`` from a daemon thread; ``url`` is its base address.

    Example::

        with BackgroundServer(app) as server:
            httpx.get(server.url + "/health")
    """

    def __init__(
        self,
        app,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        start_timeout: float = 60.0,
    ) -> None:
        import uvicorn

        from nextterm.serve.transport import protocol_class

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, log_level=log_level, access_log=False, http=protocol_class(_read_timeout(app))
            )
        )
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            daemon=True,
            name="nextterm-serve",
        )
        self._start_timeout = start_timeout

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                self._socket.close()
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()
