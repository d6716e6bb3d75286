"""Load test of ``nextterm serve`` on loopback: throughput, latency percentiles, errors.

Starts ``python -m nextterm.cli serve`` in a subprocess on 127.0.0.1 (a random-weights
``nextterm-1m`` checkpoint unless ``--model`` is given), then for each concurrency level runs that
many clients, each sending greedy ``/v1/completions`` requests (prompts: short arithmetic and
quadratic sequences) back to back until the request count or the time budget is reached. Writes
``benchmarks/results/serve.json``, ``serve.md`` and ``serve_latency.png``.

    .venv/bin/python benchmarks/bench_serve_load.py [--model DIR] [--concurrency 1,200] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from tqdm import tqdm

RESULTS = Path(__file__).resolve().parent / "results"
MODEL_NAME = "bench"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _random_checkpoint(directory: Path) -> Path:
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.models.presets import create_model

    return save_checkpoint(create_model("nextterm-1m", seed=0), directory / "nextterm-1m-random")


def _prompts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    prompts = []
    for _ in range(count):
        a, b, c = rng.randint(0, 9), rng.randint(0, 99), rng.randint(0, 999)
        k = rng.randint(4, 12)
        prompts.append("".join(f"{a * x * x + b * x + c}," for x in range(k)))
    return prompts


def _start_server(model: Path, port: int, args: argparse.Namespace) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "nextterm.cli",
        "serve",
        "--model",
        str(model),
        "--port",
        str(port),
        "--model-name",
        MODEL_NAME,
        "--max-batch",
        str(args.max_batch),
        "--max-queue",
        str(max(args.max_queue, max(args.concurrency))),
        "--timeout",
        str(args.timeout),
        "--threads",
        str(args.threads),
        "--log-level",
        "warning",
    ]
    return start_server(command, "127.0.0.1", port)


def start_server(command: list[str], host: str, port: int, wait_s: float = 180) -> subprocess.Popen:
    """Run a ``nextterm serve`` command and return once its ``/health`` answers."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {process.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://{host}:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"the server did not start within {wait_s:.0f} s")


async def _load(
    url: str, clients: int, total: int, seconds: float, max_tokens: int, prompts: list[str]
) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    tokens = 0
    issued = 0
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them, so that a
    # request is never sent on a connection the server is closing at that moment.
    limits = httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0
    )
    bar = tqdm(total=total, desc=f"{clients} clients", unit="req")
    start = time.perf_counter()
    deadline = start + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal issued, tokens
        while issued < total and time.perf_counter() < deadline:
            prompt = prompts[issued % len(prompts)]
            issued += 1
            body = {
                "model": MODEL_NAME,
                "prompt": prompt,
                "max_tokens": max_tokens,
                "temperature": 0,
            }
            sent = time.perf_counter()
            try:
                response = await http.post(url + "/v1/completions", json=body)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - sent)
                    tokens += response.json()["usage"]["completion_tokens"]
                else:
                    errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
            except httpx.HTTPError as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            bar.update(1)

    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(300.0)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    elapsed = time.perf_counter() - start
    bar.close()
    values = np.array(latencies) if latencies else np.array([float("nan")])
    return {
        "clients": clients,
        "requests": issued,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "seconds": elapsed,
        "requests_per_s": len(latencies) / elapsed,
        "completion_tokens_per_s": tokens / elapsed,
        "latency_p50_ms": float(np.percentile(values, 50) * 1000),
        "latency_p90_ms": float(np.percentile(values, 90) * 1000),
        "latency_p99_ms": float(np.percentile(values, 99) * 1000),
        "latency_max_ms": float(values.max() * 1000),
        "latencies_s": latencies,
    }


def _plot(levels: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for level in levels:
        values = np.sort(np.array(level["latencies_s"]) * 1000)
        if len(values):
            axis.plot(
                values,
                np.arange(1, len(values) + 1) / len(values),
                label=f"{level['clients']} clients",
            )
    axis.set_xscale("log")
    axis.set_xlabel("latency (ms, log scale)")
    axis.set_ylabel("fraction of requests")
    axis.set_title("nextterm serve on loopback: latency CDF")
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _markdown(summary: dict, command: str) -> str:
    rows = [
        "| clients | requests | errors | req/s | tokens/s | p50 ms | p90 ms | p99 ms | max ms | mean batch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for level in summary["levels"]:
        rows.append(
            f"| {level['clients']} | {level['ok']} | {level['errors']} | {level['requests_per_s']:.1f} | "
            f"{level['completion_tokens_per_s']:.0f} | {level['latency_p50_ms']:.0f} | "
            f"{level['latency_p90_ms']:.0f} | {level['latency_p99_ms']:.0f} | "
            f"{level['latency_max_ms']:.0f} | {level['mean_batch']:.1f} |"
        )
    return "\n".join(
        [
            "## Serving load test (`nextterm serve`, loopback)",
            "",
            f"Machine: {summary['machine']}. Model: {summary['model']}. Each request: greedy "
            f"`/v1/completions`, `max_tokens` {summary['max_tokens']}, a quadratic-sequence prompt "
            f"of 4-12 terms. Server: `--max-batch {summary['max_batch']} --threads {summary['server_threads']}`; "
            "clients and server share the same cores; the 1-minute load average at the start was "
            f"{summary['load_average_1min_before']:.1f} (above the core count, other jobs competed). "
            '"mean batch" is prompts per engine call (dynamic batching).',
            "",
            *rows,
            "",
            f"Command: `{command}`",
            "",
            "![latency CDF](serve_latency.png)",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, help="checkpoint directory (default: random nextterm-1m)"
    )
    parser.add_argument(
        "--concurrency", default="1,200", help="comma-separated client counts (default 1,200)"
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per level (default 2000)"
    )
    parser.add_argument(
        "--single-requests", type=int, default=100, help="requests for the 1-client level"
    )
    parser.add_argument(
        "--seconds", type=float, default=180, help="time budget per level (default 180)"
    )
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--max-queue", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=1, help="server torch threads (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.concurrency = [int(value) for value in args.concurrency.split(",")]

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or _random_checkpoint(Path(scratch))
        port = _free_port()
        server = _start_server(model, port, args)
        url = f"http://127.0.0.1:{port}"
        prompts = _prompts(500, seed=0)
        levels = []
        try:
            for clients in args.concurrency:
                before = httpx.get(url + "/health").json()
                total = args.single_requests if clients == 1 else args.requests
                level = asyncio.run(
                    _load(url, clients, total, args.seconds, args.max_tokens, prompts)
                )
                after = httpx.get(url + "/health").json()
                batches = after["batches_run"] - before["batches_run"]
                level["mean_batch"] = (after["items_run"] - before["items_run"]) / max(batches, 1)
                levels.append(level)
            healthy = httpx.get(url + "/health").json()["status"] == "ok"
        finally:
            server.terminate()
            server.wait(30)

    summary = {
        "machine": os.environ.get(
            "BENCH_MACHINE",
            f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), no GPU",
        ),
        "model": "random-weights nextterm-1m (5 layers, hidden 128)"
        if args.model is None
        else str(args.model),
        "max_tokens": args.max_tokens,
        "max_batch": args.max_batch,
        "server_threads": args.threads,
        "load_average_1min_before": load_before,
        "server_healthy_after": healthy,
        "levels": levels,
    }
    command = "python benchmarks/bench_serve_load.py " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    _plot(levels, args.out / "serve_latency.png")
    raw = {
        **summary,
        "command": command,
        "levels": [{k: v for k, v in level.items() if k != "latencies_s"} for level in levels],
    }
    (args.out / "serve.json").write_text(json.dumps(raw, indent=2) + "\n")
    (args.out / "serve.md").write_text(_markdown(summary, command.strip()))
    print((args.out / "serve.md").read_text())
    return 0 if all(level["errors"] == 0 for level in levels) and healthy else 1


if __name__ == "__main__":
    sys.exit(main())
