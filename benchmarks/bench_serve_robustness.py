"""Robustness of ``nextterm serve`` on loopback: hostile input, 200 clients, timeouts, dropped clients.

Starts ``python -m nextterm.cli serve`` (the shipped model, no ``--model``) on 127.0.0.1 and runs:

1. a bad-input corpus: malformed, hostile or extreme requests over every endpoint, raw malformed
   HTTP and slow clients; each answer's status, and whether its body is JSON, is recorded;
2. a 200-client load of mixed requests (greedy, seeded sampling, streaming, next-terms);
3. on a second server started with ``--timeout 3``: requests that time out, clients that drop a
   plain or a streamed request, each followed by short probes whose status and latency show
   whether the abandoned work still held the model or the queue.

Every loop is bounded (a fixed number of cases, clients and requests). Writes
``benchmarks/results/serve_robustness.json`` and ``serve_robustness.md``.

    .venv/bin/python benchmarks/bench_serve_robustness.py [--clients 200] [--requests-per-client 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from bench_serve_load import start_server  # a sibling script: benchmarks/ is on sys.path

RESULTS = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
MODEL = "nextterm-default"
READ_TIMEOUT = 2.0
BIG = "1" * 100_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _start_server(port: int, *extra: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "nextterm.cli",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--threads",
        "1",
        "--log-level",
        "error",
        "--read-timeout",
        str(READ_TIMEOUT),
        *extra,
    ]
    return start_server(command, HOST, port)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- 1. the bad-input corpus --------------------------------------------------------------------


def _completion(**fields) -> dict:
    return {"model": MODEL, "prompt": "1,2,3,", "max_tokens": 4, "temperature": 0, **fields}


def _corpus() -> list[tuple[str, str, str, object, int]]:
    """(name, kind, path, payload, expected status). kind: "json" (a value sent as JSON), "bytes"
    (a raw body), "method" (payload is the HTTP method), "raw" (bytes on a fresh socket)."""
    c, t = "/v1/completions", "/v1/next-terms"
    cases: list[tuple[str, str, str, object, int]] = []

    def add(name, kind, path, payload, status):
        cases.append((name, kind, path, payload, status))

    # malformed or hostile bodies, on both POST endpoints
    for path in (c, t):
        for name, body in [
            ("empty", b""),
            ("blank", b"  \n "),
            ("truncated", b'{"model": "x", "prompt": '),
            ("trailing garbage", b'{"terms": [1,2]} xyz'),
            ("single quotes", b"{'terms': [1]}"),
            ("comment", b'{"terms": [1] /* c */}'),
            ("NaN", b'{"terms": [1], "n": NaN}'),
            ("Infinity", b'{"terms": [1], "top_k": -Infinity}'),
            ("not UTF-8", b'{"terms": "\xff\xfe"}'),
            ("UTF-16", '{"terms": [1, 2, 3]}'.encode("utf-16")),
            ("BOM", b'\xef\xbb\xbf{"terms": [1]}'),
            ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
            ("null", b"null"),
            ("array", b"[1, 2, 3]"),
            ("string", b'"1,2,3"'),
            ("number", b"123"),
            ("lone surrogate", b'{"model": "\\ud800", "prompt": "1,", "terms": [1]}'),
            ("surrogate in key", b'{"\\udfff": 1, "terms": [1], "prompt": "1,"}'),
            (
                "huge JSON integer",
                f'{{"terms": [1, {BIG}], "prompt": "1,", "max_tokens": {BIG}}}'.encode(),
            ),
            ("1e999", b'{"terms": [1], "prompt": "1,", "temperature": 1e999, "n": 1e999}'),
            ("NUL bytes", b'{"terms": "1\\u0000,2", "prompt": "1\\u00002,"}'),
            ("over the body limit", b'{"prompt": "' + b"1," * 600_000 + b'"}'),
        ]:
            expected = 413 if name == "over the body limit" else 400
            if path == t and name in ("UTF-16", "BOM"):  # JSON's other encodings are read as such
                expected = 200
            add(f"{path} {name}", "bytes", path, body, expected)

    # completions: every field with wrong types and out-of-range values
    for field, values in {
        "model": [5, None, ["x"], {"a": 1}, "gpt-4", "", "x" * 10_000],
        "prompt": [
            5,
            None,
            {"a": 1},
            [[1, 2]],
            [None],
            [],
            ["1,"] * 1000,
            "",
            "   ",
            "1,,2,",
            "01,2,",
            "1,-0,",
            "1 2 3,",
            "abc",
            "1,a,3,",
            "\u0661,\u0662,",
            "\uff11,\uff12,",
            "1,\u00002,",
            f"1,{BIG},",
            "1," * 3000,
            "😀,",
        ],
        "max_tokens": [-1, 0, 10**9, "5", 5.5, True, 2**64, 600],
        "temperature": [-0.5, 2.0001, "0.5", True, -1e-300],
        "top_p": [0, -1, 1.0000001, "1", False],
        "n": [0, -1, 17, 10**6, True, 1.0, "2"],
        "stop": ["", [""], [",", "1", "2", "3", "4"], {"a": 1}, 1, [1]],
        "stop_token_ids": [[-1], [16], [10**30], "x", [True], [1.5]],
        "logprobs": [-1, 6, 100, True, "2"],
        "stream": [1, "yes"],
        "stream_options": [{"include_usage": "yes"}, [], "x"],
        "seed": [-1, 2**63, 2**64, 1.5, "7"],
        "echo": [True],
        "suffix": ["x"],
        "best_of": [2, 0],
        "logit_bias": [{"1": 5}],
        "presence_penalty": [1],
        "frequency_penalty": [-1],
    }.items():
        for value in values:
            expected = 404 if field == "model" and isinstance(value, str) else 400
            add(
                f"completions {field}={str(value)[:24]!r}",
                "json",
                c,
                _completion(**{field: value}),
                expected,
            )
    # valid but extreme: must be answered
    for name, fields in [
        ("temperature 1e-40", {"temperature": 1e-40}),
        ("temperature 5e-324", {"temperature": 5e-324}),
        ("top_p 1e-46", {"temperature": 1.0, "top_p": 1e-46}),
        ("top_p 5e-324", {"temperature": 2.0, "top_p": 5e-324}),
        ("temperature 2 top_p 1", {"temperature": 2.0, "top_p": 1.0, "seed": 3}),
        ("max_tokens at the context", {"prompt": "1,", "max_tokens": 509}),
        ("partial last term", {"prompt": "1,2,3"}),
        ("partial minus", {"prompt": "1,-"}),
        ("stop comma", {"stop": ","}),
        ("stop strings", {"stop": ["3,4", "99", "-"]}),
        ("logprobs 5", {"logprobs": 5}),
        ("logprobs 0", {"logprobs": 0}),
        ("stream with usage", {"stream": True, "stream_options": {"include_usage": True}}),
        ("n 16 of 4 prompts", {"prompt": ["1,", "2,", "3,", "4,"], "n": 16}),
        ("seed 0", {"seed": 0, "temperature": 1.0}),
        ("seed max", {"seed": 2**63 - 1, "temperature": 1.0}),
        ("nulls mean defaults", {"max_tokens": None, "temperature": None, "top_p": None}),
        ("unknown fields ignored", {"foo": [1, {"bar": None}]}),
        ("long user", {"user": "u" * 100_000}),
        ("emoji user", {"user": "\U0001f600"}),
        ("stop_token_ids all", {"stop_token_ids": list(range(16))}),
    ]:
        add(f"completions {name}", "json", c, _completion(**fields), 200)

    # next-terms
    for name, body, expected in [
        ("no terms", {}, 400),
        ("terms null", {"terms": None}, 400),
        ("terms empty", {"terms": []}, 400),
        ("terms object", {"terms": {"a": 1}}, 400),
        ("terms blank text", {"terms": "  "}, 400),
        ("nested list", {"terms": [[1, 2]]}, 400),
        ("null term", {"terms": [1, None]}, 400),
        ("bool term", {"terms": [1, True]}, 400),
        ("float term", {"terms": [1, 2.5]}, 400),
        ("1e3 term", {"terms": [1, 1e3]}, 400),
        ("exponent text", {"terms": "1e3, 2"}, 400),
        ("leading zeros", {"terms": ["1", "02"]}, 400),
        ("negative zero", {"terms": "1, -0"}, 400),
        ("1001-digit text", {"terms": ["1", "9" * 1001]}, 400),
        ("20001 terms", {"terms": [1] * 20_001}, 400),
        ("n 0", {"terms": [1, 2], "n": 0}, 400),
        ("n 33", {"terms": [1, 2], "n": 33}, 400),
        ("n text", {"terms": [1, 2], "n": "2"}, 400),
        ("top_k 0", {"terms": [1, 2], "top_k": 0}, 400),
        ("top_k 21", {"terms": [1, 2], "top_k": 21}, 400),
        ("wrong model", {"terms": [1, 2], "model": "x"}, 404),
        ("unicode digits", {"terms": "\u0661, \u0662, \u0663"}, 400),
        ("one term", {"terms": [5]}, 200),
        ("negative", {"terms": [-1, 2, -3, 4, -5]}, 200),
        ("brackets text", {"terms": "[1, 2, 4, 8]"}, 200),
        ("digit strings", {"terms": ["1", "3", "5"]}, 200),
        ("1000-digit linear", {"terms": [str(k * 10**999 + 1) for k in range(1, 7)], "n": 3}, 200),
        (
            "geometric outgrowing the output",
            {"terms": [str((10**199 + 3) ** k) for k in range(5)], "n": 32},
            200,
        ),
        ("n 32 top_k 20", {"terms": [1, 1, 2, 3, 5, 8], "n": 32, "top_k": 20}, 200),
        ("10000 terms", {"terms": list(range(10_000))}, 200),
    ]:
        add(f"next-terms {name}", "json", t, body, expected)

    # routes and methods
    for name, method, path, expected in [
        ("models", "GET", "/v1/models", 200),
        ("health", "GET", "/health", 200),
        ("POST models", "POST", "/v1/models", 405),
        ("POST health", "POST", "/health", 405),
        ("GET completions", "GET", c, 405),
        ("PUT completions", "PUT", c, 405),
        ("DELETE next-terms", "DELETE", t, 405),
        ("OPTIONS completions", "OPTIONS", c, 405),
        ("HEAD health", "HEAD", "/health", 405),
        ("chat completions", "POST", "/v1/chat/completions", 404),
        ("root", "GET", "/", 404),
        ("models/x", "GET", "/v1/models/x", 404),
        ("traversal", "GET", "/../../etc/passwd", 404),
        ("long path", "GET", "/" + "a" * 10_000, 404),
        ("encoded surrogate", "GET", "/%ED%A0%80", 404),
        ("bad query", "GET", "/health?a=%ZZ&&&=", 200),
        ("docs", "GET", "/docs", 404),
    ]:
        add(f"route {name}", "method", path, method, expected)

    # raw HTTP on fresh connections
    head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
    good = b'{"model":"nextterm-default","prompt":"1,2,","max_tokens":2}'
    for name, data, expected in [
        ("garbage", b"GARBAGE\r\n\r\n", 400),
        ("HTTP/0.9", b"GET /\r\n\r\n", 400),
        ("no Host", b"GET /health HTTP/1.1\r\n\r\n", 400),
        ("negative length", head + b"Content-Length: -5\r\n\r\n", 400),
        ("text length", head + b"Content-Length: ten\r\n\r\n", 400),
        ("two lengths", head + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
        ("bad chunk", head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("header without colon", b"GET /health HTTP/1.1\r\nHost: x\r\nBroken\r\n\r\n", 400),
        ("space before colon", b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (
            "70 KB header",
            b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX: "
            + b"a" * 70_000
            + b"\r\n\r\n",
            200,
        ),
        ("NUL in header", b"GET /health HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
        (
            "HTTP/2 preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            404,
        ),  # then a 400 for "SM" ("TLS hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
        ("unknown method", b"FOO /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
        ("body shorter than declared", head + b'Content-Length: 100\r\n\r\n{"a":', 408),
        ("head never finished", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le", 408),
        (
            "Expect 100-continue",
            head
            + b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(good)
            + good,
            200,
        ),
        (
            "chunked body",
            head
            + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n" % len(good)
            + good
            + b"\r\n0\r\n\r\n",
            200,
        ),
        (
            "pipelined",
            (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 2)[:-4]
            + b"\r\nConnection: close\r\n\r\n",
            200,
        ),
    ]:
        add(f"raw {name}", "raw", "", data, expected)
    return cases


def _raw_exchange(port: int, data: bytes) -> tuple[int | None, bytes]:
    with socket.create_connection((HOST, port), timeout=READ_TIMEOUT + 10) as connection:
        try:
            connection.sendall(data)
        except OSError:
            pass
        chunks = []
        try:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    raw = b"".join(chunks)
    while raw.startswith(b"HTTP/1.1 100 "):  # an interim 100 Continue precedes the answer
        raw = raw.partition(b"\r\n\r\n")[2]
    if not raw.startswith(b"HTTP/1.1 "):
        return None, raw
    head, _, body = raw.partition(b"\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            body = body[: int(line.split(b":")[1])]  # the first answer only (pipelined input)
    return int(head.split()[1]), body


def _is_json_error(body: bytes) -> bool:
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and {"message", "type", "param", "code"} <= set(error)


def run_corpus(port: int) -> dict:
    url = f"http://{HOST}:{port}"
    rows = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for name, kind, path, payload, expected in _corpus():
            started = time.perf_counter()
            if kind == "raw":
                status, body = _raw_exchange(port, payload)
            else:
                try:
                    if kind == "method":
                        response = http.request(payload, path)
                    else:
                        content = payload if kind == "bytes" else json.dumps(payload).encode()
                        response = http.post(
                            path, content=content, headers={"content-type": "application/json"}
                        )
                    status, body = response.status_code, response.content
                except httpx.HTTPError as error:
                    status, body = None, type(error).__name__.encode()
            rows.append(
                {
                    "case": name,
                    "expected": expected,
                    "status": status,
                    "json_error": status is not None
                    and status >= 400
                    and (payload == "HEAD" or _is_json_error(body)),
                    "ms": (time.perf_counter() - started) * 1000,
                }
            )
        healthy = http.get("/health").json()["status"] == "ok"
    errors = [row for row in rows if row["status"] is not None and row["status"] >= 400]
    return {
        "cases": len(rows),
        "by_status": dict(sorted(Counter(str(row["status"]) for row in rows).items())),
        "server_errors_5xx": sum(
            row["status"] is not None and row["status"] >= 500 for row in rows
        ),
        "no_response": sum(row["status"] is None for row in rows),
        "errors_without_json_body": sum(not row["json_error"] for row in errors),
        "unexpected_status": [row for row in rows if row["status"] != row["expected"]],
        "healthy_after": healthy,
        "rows": rows,
    }


# --- 2. load ------------------------------------------------------------------------------------


def _load_request(index: int) -> tuple[str, dict]:
    terms = [index % 7 + k * (index % 5 + 1) for k in range(4 + index % 6)]
    prompt = "".join(f"{term}," for term in terms)
    kind = index % 10
    if kind < 6:
        return "greedy", _completion(prompt=prompt, max_tokens=8)
    if kind < 7:
        return "seeded", _completion(
            prompt=prompt, max_tokens=8, temperature=0.8, top_p=0.9, seed=index, n=2
        )
    if kind < 8:
        return "stream", _completion(prompt=prompt, max_tokens=8, stream=True, logprobs=2)
    return "next-terms", {"terms": terms, "n": 2, "top_k": 3}


async def _load(port: int, clients: int, per_client: int) -> dict:
    url = f"http://{HOST}:{port}"
    latencies: dict[str, list[float]] = {}
    statuses: Counter = Counter()
    limits = httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0
    )

    async def client(http: httpx.AsyncClient, number: int) -> None:
        for request in range(per_client):
            kind, body = _load_request(number * per_client + request)
            path = "/v1/next-terms" if kind == "next-terms" else "/v1/completions"
            sent = time.perf_counter()
            try:
                response = await http.post(url + path, json=body)
                statuses[str(response.status_code)] += 1
                if response.status_code == 200:
                    latencies.setdefault(kind, []).append(time.perf_counter() - sent)
            except httpx.HTTPError as error:
                statuses[type(error).__name__] += 1

    start = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(300.0)) as http:
        await asyncio.gather(*(client(http, number) for number in range(clients)))
    elapsed = time.perf_counter() - start
    every = np.array([value for values in latencies.values() for value in values] or [float("nan")])

    def percentiles(values) -> dict:
        values = np.array(values or [float("nan")]) * 1000
        return {
            "p50_ms": float(np.percentile(values, 50)),
            "p99_ms": float(np.percentile(values, 99)),
        }

    return {
        "clients": clients,
        "requests": clients * per_client,
        "by_status": dict(sorted(statuses.items())),
        "server_errors_5xx": sum(n for status, n in statuses.items() if status.startswith("5")),
        "seconds": elapsed,
        "requests_per_s": sum(len(v) for v in latencies.values()) / elapsed,
        **percentiles(list(every)),
        "by_kind": {
            kind: {"ok": len(values), **percentiles(values)}
            for kind, values in sorted(latencies.items())
        },
    }


# --- 3. timeouts and dropped clients ------------------------------------------------------------

HEAVY = {
    "model": MODEL,
    "prompt": ["1,2,3,", "5,", "7,9,", "2,4,"],
    "n": 16,
    "max_tokens": 400,
    "temperature": 0,
}
PROBE = _completion(max_tokens=2)


def _probes(url: str, count: int, every: float) -> list[dict]:
    results = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(count):
            started = time.perf_counter()
            response = http.post("/v1/completions", json=PROBE)
            results.append(
                {"status": response.status_code, "ms": (time.perf_counter() - started) * 1000}
            )
            time.sleep(max(0.0, every - (time.perf_counter() - started)))
    return results


def _drop_stream(url: str) -> None:
    with httpx.stream(
        "POST", url + "/v1/completions", json={**HEAVY, "stream": True}, timeout=60
    ) as response:
        next(response.iter_lines())


def run_abandoned(port: int) -> dict:
    """The issue's scenarios against a server with ``--timeout 3``."""
    url = f"http://{HOST}:{port}"
    report = {}
    with httpx.Client(base_url=url, timeout=60) as http:
        started = time.perf_counter()
        timed_out = http.post("/v1/completions", json=HEAVY)
        report["heavy_request"] = {
            "status": timed_out.status_code,
            "ms": (time.perf_counter() - started) * 1000,
        }
    report["probes_after_timeout"] = _probes(url, 10, 1.0)
    with ThreadPoolExecutor(4) as pool:
        dropped = [
            pool.submit(httpx.post, url + "/v1/completions", json=HEAVY, timeout=1.0)
            for _ in range(4)
        ]
        for future in dropped:
            try:
                future.result()
            except httpx.TimeoutException:
                pass
    report["probes_after_4_dropped_clients"] = _probes(url, 5, 0.5)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: _drop_stream(url), range(4)))
    report["probes_after_4_dropped_streams"] = _probes(url, 5, 0.5)
    report["health_after"] = httpx.get(url + "/health").json()
    every = [p for key, value in report.items() if key.startswith("probes") for p in value]
    report["probe_statuses"] = dict(Counter(str(p["status"]) for p in every))
    report["probe_max_ms"] = max(p["ms"] for p in every)
    return report


# --- report -------------------------------------------------------------------------------------


def _markdown(summary: dict, command: str) -> str:
    corpus, load, abandoned = summary["corpus"], summary["load"], summary["abandoned"]
    kinds = ", ".join(
        f"{kind} {values['ok']} (p50 {values['p50_ms']:.0f} ms, p99 {values['p99_ms']:.0f} ms)"
        for kind, values in load["by_kind"].items()
    )
    probes = abandoned["probe_statuses"]
    unexpected = corpus["unexpected_status"]
    lines = [
        "## Server robustness: hostile input, 200 clients, timeouts and dropped clients",
        "",
        f"Machine: {summary['machine']}. Server: `nextterm serve` with the shipped model (no `--model`), "
        f"`--threads 1 --read-timeout {READ_TIMEOUT:g}`, on 127.0.0.1; clients share the cores. "
        f"1-minute load average at the start: {summary['load_average_1min_before']:.1f}.",
        "",
        "| phase | cases / requests | 5xx | other outcome | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
        f"| bad-input corpus (every endpoint, raw HTTP, slow clients) | {corpus['cases']} | "
        f"{corpus['server_errors_5xx']} | statuses {corpus['by_status']}; errors without a JSON body: "
        f"{corpus['errors_without_json_body']}; no response: {corpus['no_response']} | - | - |",
        f"| {load['clients']}-client mixed load | {load['requests']} | {load['server_errors_5xx']} | "
        f"statuses {load['by_status']}, {load['requests_per_s']:.1f} req/s | {load['p50_ms']:.0f} | {load['p99_ms']:.0f} |",
        f"| probes after a 504, 4 dropped clients, 4 dropped streams (`--timeout 3`) | "
        f"{sum(probes.values())} | {sum(n for s, n in probes.items() if s.startswith('5'))} | "
        f"statuses {probes}; slowest probe {abandoned['probe_max_ms']:.0f} ms | - | - |",
        "",
        f"Server RSS: {summary['rss_mib_before']:.0f} MiB after start, {summary['rss_mib_after']:.0f} MiB after "
        f"the corpus and the load. Load by kind: {kinds}. The heavy request (64 greedy rows x 400 tokens, "
        f"~10 s of work) got {abandoned['heavy_request']['status']} after "
        f"{abandoned['heavy_request']['ms']:.0f} ms. Server healthy after every phase: "
        f"{summary['healthy_after_all']}.",
        "",
        "Corpus cases whose status differed from the expected one: "
        + (
            "none."
            if not unexpected
            else "; ".join(
                f"{row['case']} ({row['status']}, expected {row['expected']})" for row in unexpected
            )
        ),
        "",
        f"Command: `{command}`",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests-per-client", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    port = _free_port()
    server = _start_server(port, "--max-queue", str(max(256, args.clients)))
    try:
        rss_before = _rss_mib(server.pid)
        corpus = run_corpus(port)
        load = asyncio.run(_load(port, args.clients, args.requests_per_client))
        healthy = httpx.get(f"http://{HOST}:{port}/health").json()["status"] == "ok"
        rss_after = _rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    port = _free_port()
    server = _start_server(port, "--timeout", "3")
    try:
        abandoned = run_abandoned(port)
    finally:
        server.terminate()
        server.wait(30)

    summary = {
        "machine": f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), no GPU",
        "load_average_1min_before": load_before,
        "rss_mib_before": rss_before,
        "rss_mib_after": rss_after,
        "healthy_after_all": corpus["healthy_after"]
        and healthy
        and abandoned["health_after"]["status"] == "ok",
        "corpus": corpus,
        "load": load,
        "abandoned": abandoned,
    }
    command = "python benchmarks/bench_serve_robustness.py " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve_robustness.json").write_text(
        json.dumps({**summary, "command": command.strip()}, indent=2) + "\n"
    )
    (args.out / "serve_robustness.md").write_text(_markdown(summary, command.strip()))
    print((args.out / "serve_robustness.md").read_text())
    failures = (
        corpus["server_errors_5xx"] + load["server_errors_5xx"] + corpus["errors_without_json_body"]
    )
    return 0 if failures == 0 and summary["healthy_after_all"] else 1


if __name__ == "__main__":
    sys.exit(main())
