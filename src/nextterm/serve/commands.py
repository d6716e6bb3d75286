"""``nextterm serve``: serve a checkpoint (by default the shipped model, as ``nextterm predict``
uses) over an OpenAI-compatible HTTP API."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from nextterm.cli_args import device

API_KEY_VARIABLE = "NEXTTERM_API_KEY"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _run_serve(args: argparse.Namespace) -> int:
    from nextterm.predict import default_model_path
    from nextterm.resources import lookup_index_from, note_missing_index
    from nextterm.serve.config import ServeConfig, ServeConfigError
    from nextterm.serve.server import build_app, run_server, served_model_name

    model = args.model if args.model is not None else default_model_path()
    if model is None:
        raise ServeConfigError("no --model given and this build ships no model: pass --model DIR")
    config = ServeConfig(
        host=args.host,
        port=args.port,
        model_name=args.model_name or served_model_name(model),
        api_key=args.api_key or os.environ.get(API_KEY_VARIABLE) or None,
        max_batch=args.max_batch,
        max_queue=args.max_queue,
        timeout=args.timeout,
        read_timeout=args.read_timeout,
        max_body_bytes=args.max_body_bytes,
        beam_width=args.beam,
    )
    if args.threads is not None:
        if args.threads < 1:
            raise ServeConfigError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    if not _is_loopback(config.host) and config.api_key is None:
        print(
            f"warning: serving on {config.host} without an API key: anyone who can reach it may use it",
            file=sys.stderr,
        )
    index = lookup_index_from(args)
    app = build_app(model, config, device=args.device, lookup_index=index)
    note_missing_index(args, index)
    base = f"http://{config.host}:{config.port}"
    print(f"serving {config.model_name!r} on {base}/v1; the web page: {base}/", file=sys.stderr)
    opener = None
    if args.open:
        import webbrowser

        opener = lambda: webbrowser.open(base + "/")  # noqa: E731
    run_server(app, config, log_level=args.log_level, on_started=opener)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    from nextterm.resources import add_lookup_arguments

    parser = subparsers.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible HTTP API",
        description="Serve a checkpoint: POST /v1/completions (OpenAI-compatible, streaming), "
        "GET /v1/models, POST /v1/next-terms (ranked candidates from the hybrid predictor), "
        "GET /health, and a web page for people at /.",
    )
    parser.add_argument(
        "--model", help="checkpoint directory or hub id (default: the shipped model)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument(
        "--api-key",
        help=f"require 'Authorization: Bearer KEY' on /v1 (default: ${API_KEY_VARIABLE} if set)",
    )
    parser.add_argument(
        "--model-name",
        help="model id clients send (default: the checkpoint folder's name, or the hub id)",
    )
    parser.add_argument(
        "--max-batch", type=int, default=64, help="most prompts decoded together (default 64)"
    )
    parser.add_argument(
        "--max-queue", type=int, default=256, help="most waiting requests before 503s (default 256)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="per-request time limit in seconds; work is cancelled (default 60)",
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=30.0,
        help="seconds a client has to send a request's head, and its body (default 30)",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=1 << 20, help="largest request body (default 1 MiB)"
    )
    parser.add_argument(
        "--beam", type=int, default=4, help="beam width of model candidates in /v1/next-terms"
    )
    add_lookup_arguments(parser)
    parser.add_argument(
        "--device",
        type=device,
        help="cpu, cuda, cuda:N or mps (default: cuda if available, else cpu)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's choice; 1 avoids oversubscribed cores)",
    )
    parser.add_argument(
        "--open", action="store_true", help="open the web page in a browser once serving"
    )
    parser.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )
    parser.set_defaults(func=_run_serve)
