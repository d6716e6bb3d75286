"""Latency of the web page of ``nextterm serve``: per query through HTTP, and in a browser.

Starts ``nextterm serve`` in a subprocess on 127.0.0.1 (the shipped model unless ``--model``,
``--lookup-index`` if given, else none; ``--threads``), then:

* sends each 20-term input below as typed text to ``POST /v1/page`` (the page's own request)
  with each ``--n`` (next terms asked), ``--repeats`` times after a warm-up, over one keep-alive
  connection: p50/p95 end to end, and the server process's CPU time per query (which, unlike
  the wall time, does not grow when other work shares the cores);
* where Chromium, chromedriver and selenium are installed, opens the shared link
  ``/?q=...&n=3`` of each input in headless Chromium and reads the time from navigation to the
  rendered answer (the page marks it with ``performance.mark("nextterm-rendered")``);
* with ``--screenshot FILE``, saves the page answering ``--screenshot-query`` there.

Writes ``benchmarks/results/web.json`` and ``web.md``.

    .venv/bin/python benchmarks/bench_web.py [--lookup-index FILE] [--repeats 20] [--screenshot docs/web-page.png]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from bench_serve_load import start_server  # a sibling script: benchmarks/ is on sys.path

RESULTS = Path(__file__).resolve().parent / "results"
N = range(1, 21)
INPUTS = {
    "fibonacci": [round(((1 + 5**0.5) / 2) ** n / 5**0.5) for n in N],
    "squares": [n * n for n in N],
    "primes": [p for p in range(2, 72) if all(p % d for d in range(2, p))][:20],
    "catalan": [math.comb(2 * n, n) // (n + 1) for n in range(20)],
    "powers of 2 minus 1": [2**n - 1 for n in N],
    "interleaved n, 2n": [(k // 2 + 1) * (1 + k % 2) for k in range(20)],
    "digits of pi": [int(d) for d in "31415926535897932384"],
    "n^2 mod 7": [n * n % 7 for n in N],
}
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): unlike the wall time, it does not
    grow when other work on a shared machine takes the cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _http(url: str, n: int, repeats: int, pid: int) -> tuple[list[dict], list[float], float]:
    rows, every, cpu = [], [], 0.0
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, terms in INPUTS.items():
            body = {"text": ", ".join(map(str, terms)), "n": n}
            client.post("/v1/page", json=body).raise_for_status()  # warm-up
            times = []
            cpu_before = _cpu_seconds(pid)
            for _ in range(repeats):
                start = time.perf_counter()
                response = client.post("/v1/page", json=body)
                times.append(time.perf_counter() - start)
                response.raise_for_status()
            cpu_used = _cpu_seconds(pid) - cpu_before
            cpu += cpu_used
            best = response.json()["candidates"][0]
            every += times
            rows.append(
                {
                    "input": name,
                    **_percentiles(times),
                    "server_cpu_ms": 1000 * cpu_used / repeats,
                    "answer": ", ".join(best["continuation"]),
                    "source": best["source_label"],
                }
            )
    return rows, every, cpu


def _browser():
    """Headless Chromium, or None (with the reason printed) where it is not installed."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        print("no selenium: browser timing skipped", file=sys.stderr)
        return None
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        print("no chromium/chromedriver: browser timing skipped", file=sys.stderr)
        return None
    options = Options()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='bench-web-')}")
    options.add_argument("--window-size=1000,900")
    service = Service(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def _rendered_ms(driver, link: str) -> float:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(link)
    script = "const m = performance.getEntriesByName('nextterm-rendered'); return m.length ? m[0].startTime : null;"
    return WebDriverWait(driver, 60).until(lambda d: d.execute_script(script))


def _render_times(driver, url: str, repeats: int) -> list[float]:
    times = []
    for terms in INPUTS.values():
        link = f"{url}/?q={','.join(map(str, terms))}&n=3"
        _rendered_ms(driver, link)  # warm-up (caches the page's files)
        times += [_rendered_ms(driver, link) / 1000 for _ in range(repeats)]
    return times


def _screenshot(driver, url: str, query: str, path: Path) -> None:
    driver.set_window_size(1000, 900)
    _rendered_ms(driver, f"{url}/?q={query}&n=5")
    driver.find_element("css selector", "input[value=log]").click()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1000, height + 140)  # the window's frame takes part of it
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    # A page of flat colours loses nothing visible in a 256-colour palette, and a lot of bytes.
    Image.open(path).convert("RGB").quantize(colors=256).save(path, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint directory (default: the shipped model)")
    parser.add_argument("--lookup-index", help="OEIS lookup index the hybrid consults")
    parser.add_argument("--n", default="1,3", help="next terms asked, comma-separated")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--browser-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--screenshot", type=Path, help="save the page's picture here (PNG)")
    parser.add_argument("--screenshot-query", default="1,1,2,5,14,42,132,429")
    args = parser.parse_args()
    port = _free_port()
    command = [sys.executable, "-m", "nextterm.cli", "serve", "--port", str(port)]
    command += ["--threads", str(args.threads), "--log-level", "warning"]
    command += ["--model", args.model] if args.model else []
    command += ["--lookup-index", args.lookup_index] if args.lookup_index else ["--no-lookup"]
    url = f"http://127.0.0.1:{port}"
    server = start_server(command, "127.0.0.1", port)
    driver = _browser()
    by_n = {}
    try:
        for n in (int(k) for k in args.n.split(",")):
            rows, every, cpu = _http(url, n, args.repeats, server.pid)
            by_n[n] = {
                "rows": rows,
                **_percentiles(every),
                "server_cpu_ms": 1000 * cpu / len(every),
                "calls": len(every),
            }
        renders = _render_times(driver, url, args.browser_repeats) if driver else []
        if args.screenshot and driver:
            _screenshot(driver, url, args.screenshot_query, args.screenshot)
    finally:
        if driver:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()}, {args.threads} torch thread(s) in the server, no GPU",
        "model": args.model or "shipped (nextterm-default)",
        "lookup_index": args.lookup_index,
        "terms_per_input": 20,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "by_n": by_n,
        "render": {**_percentiles(renders), "loads": len(renders)} if renders else None,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "## Web page latency (`nextterm serve`, `/`)",
        "",
        f"Command: `{result['command']}`; machine: {result['machine']}; model: {result['model']}; "
        f"lookup index: {args.lookup_index or 'none'}; load average at the end (1, 5, 15 min; "
        f"the machine is shared): {', '.join(map(str, result['load_average']))}. "
        "`nextterm serve` in a subprocess on "
        f"127.0.0.1; each input has 20 terms, sent as text to `POST /v1/page` (the page's "
        f"request, 5 candidates) {args.repeats} times after a warm-up, over one keep-alive "
        "connection; times are end to end through HTTP.",
        "",
        "| input | "
        + " | ".join(f"n = {n}: p50 ms | p95 ms | server CPU ms" for n in by_n)
        + " | answer | source |",
        "|---|" + "---:|---:|---:|" * len(by_n) + "---|---|",
    ]
    last = by_n[max(by_n)]["rows"]
    for index, row in enumerate(last):
        cells = " | ".join(
            f"{by_n[n]['rows'][index]['p50_ms']:.1f} | {by_n[n]['rows'][index]['p95_ms']:.1f} | "
            f"{by_n[n]['rows'][index]['server_cpu_ms']:.1f}"
            for n in by_n
        )
        lines.append(f"| {row['input']} | {cells} | {row['answer']} | {row['source']} |")
    for n, summary in by_n.items():
        lines.append("")
        lines.append(
            f"All {summary['calls']} queries with n = {n}: **p50 {summary['p50_ms']:.1f} ms, "
            f"p95 {summary['p95_ms']:.1f} ms** wall time; the server process used "
            f"{summary['server_cpu_ms']:.1f} ms of CPU per query (user + system, one torch "
            "thread: about the wall time on an idle core)."
        )
    if renders:
        lines += [
            "",
            "In headless Chromium, from opening the shared link `/?q=...&n=3` to the rendered "
            f"answer (page, scripts, query, candidates and plot; {len(renders)} loads, files "
            f"cached): p50 {result['render']['p50_ms']:.1f} ms, p95 "
            f"{result['render']['p95_ms']:.1f} ms.",
        ]
    (RESULTS / "web.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
