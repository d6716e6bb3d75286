"""The page's HTML: ``index.html`` with the server's limits and the benchmark numbers filled in.

Every value is escaped here (:func:`html.escape`); the script writes the answers it receives as
text nodes only, so a sequence name holding markup stays text. The security headers forbid
inline scripts and any origin but the server's own.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template
from typing import Any

from nextterm.serve.config import ServeConfig
from nextterm.serve.web.numbers import load

TEMPLATE = Path(__file__).resolve().parent / "index.html"
TERM_CHOICES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _options(max_terms: int) -> str:
    choices = sorted({k for k in TERM_CHOICES if k <= max_terms} | {1, min(max_terms, 32)})
    return "".join(
        f'<option value="{k}"{" selected" if k == min(3, max_terms) else ""}>{k}</option>'
        for k in choices
    )


def _accuracy_rows(numbers: dict[str, Any]) -> str:
    cells = ("oeis_heldout_percent", "iq57_percent", "m1_mape", "polynomial_percent")
    rows = []
    for row in numbers["accuracy"]:
        values = "".join(
            f"<td>{escape(f'{row[key]:g}')}{'' if key == 'm1_mape' else '%'}</td>" for key in cells
        )
        rows.append(f'<tr><th scope="row">{escape(row["predictor"])}</th>{values}</tr>')
    return "".join(rows)


def render_page(config: ServeConfig, numbers: dict[str, Any] | None = None) -> str:
    """The page for a server with ``config`` (``numbers``: the shipped benchmark numbers)."""
    numbers = numbers or load()
    hybrid, latency, page = numbers["accuracy"][0], numbers["latency"], numbers["page"]
    return Template(TEMPLATE.read_text()).substitute(
        model=escape(config.model_name),
        term_options=_options(config.max_next_terms),
        accuracy_rows=_accuracy_rows(numbers),
        oeis_items=escape(f"{hybrid['oeis_items']:,}"),
        eval_command=escape(hybrid["command"]),
        eval_machine=escape(hybrid["machine"]),
        p50_ms=escape(f"{latency['p50_ms']:g}"),
        p95_ms=escape(f"{latency['p95_ms']:g}"),
        latency_command=escape(latency["command"]),
        latency_machine=escape(latency["machine"]),
        page_n=escape(str(page["n"])),
        page_terms=escape(str(page["terms"])),
        page_p50_ms=escape(f"{page['p50_ms']:g}"),
        page_p95_ms=escape(f"{page['p95_ms']:g}"),
        page_command=escape(page["command"]),
        page_machine=escape(page["machine"]),
    )
