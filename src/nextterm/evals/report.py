"""The Markdown summary: our rows beside the card's published rows, in the card's two tables.

Published numbers are copied from the NextTerm-440M model card (its tables "OEIS-Eval-Neo /
Ryskina & Knight / M1 Competition 111 MAPE" and "Polynomial Continuation"; docs/benchmarks.md).
"""

from __future__ import annotations

import math
from typing import Any

PUBLISHED_MAIN: dict[str, tuple[float, float, float]] = {
    "NextTerm-440M": (34.43, 52.63, 17.6239),
    "NextTerm-47M": (29.49, 70.18, 18.7621),
    "Qwen3-0.6B": (18.44, 33.33, 22.7984),
    "Qwen3-1.7B": (20.77, 49.12, 22.2411),
    "Qwen3-4B": (23.74, 63.16, 19.1731),
    "Qwen3-8B": (24.62, 57.89, 18.4027),
    "Qwen3-14B": (26.00, 59.65, 17.9837),
}
"""Card rows: OEIS-Eval-Neo accuracy %, Ryskina & Knight (IQ-57) accuracy %, M1-111 MAPE."""

PUBLISHED_POLYNOMIAL: dict[str, tuple[float, float, float, float]] = {
    "NextTerm-440M": (94.38, 86.39, 75.20, 67.83),
    "NextTerm-47M": (94.15, 81.07, 37.43, 15.17),
    "Qwen3-0.6B": (90.31, 8.72, 0.30, 0.02),
    "Qwen3-1.7B": (93.10, 41.57, 5.36, 0.71),
    "Qwen3-4B": (93.90, 77.26, 28.18, 5.98),
    "Qwen3-8B": (96.10, 80.59, 32.93, 7.95),
    "Qwen3-14B": (95.60, 84.61, 49.16, 14.98),
}
"""Card rows: arithmetic, quadratic, cubic, quartic exact-match accuracy %."""

DASH = "—"


def _percent(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.2f}%"


def _mape(value: float | None) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{value:.4f}" if value < 1e6 else f"{value:.3g}"


def main_table(label: str, summaries: dict[str, dict[str, Any]]) -> str:
    """The card's first table, with our row (bold) and the classical forecasters' M1 rows."""
    oeis = summaries.get("oeis", {}).get("accuracy")
    iq57 = summaries.get("iq57", {}).get("accuracy")
    m1 = summaries.get("m1", {})
    lines = [
        "| Model | OEIS-Eval-Neo | Ryskina & Knight | M1 Competition 111 MAPE |",
        "|---|---|---|---|",
        f"| **{label}** | {_percent(oeis)} | {_percent(iq57)} | {_mape(m1.get('mape'))} |",
    ]
    for name, scores in m1.get("classical", {}).items():
        lines.append(
            f"| {name} (statsforecast, this run) | {DASH} | {DASH} | {_mape(scores['mape'])} |"
        )
    for name, (o, r, m) in PUBLISHED_MAIN.items():
        lines.append(f"| {name} (card) | {o:.2f}% | {r:.2f}% | {m:.4f} |")
    return "\n".join(lines)


def polynomial_table(label: str, summary: dict[str, Any] | None) -> str:
    """The card's polynomial table with our row first."""
    per_degree = (summary or {}).get("per_degree", {})
    ours = [_percent(per_degree.get(n)) for n in ("arithmetic", "quadratic", "cubic", "quartic")]
    lines = [
        "| Model | Arithmetic | Quadratic | Cubic | Quartic |",
        "|---|---|---|---|---|",
        f"| **{label}** | " + " | ".join(ours) + " |",
    ]
    for name, values in PUBLISHED_POLYNOMIAL.items():
        lines.append(f"| {name} (card) | " + " | ".join(f"{v:.2f}%" for v in values) + " |")
    return "\n".join(lines)


def notes(summaries: dict[str, dict[str, Any]], skipped: dict[str, str]) -> list[str]:
    """One bullet per benchmark: its size, rule and time, so every number carries its protocol."""
    bullets = []
    if "oeis" in summaries:
        s = summaries["oeis"]
        sample = f"seeded sample (seed {s['seed']}) of {s['limit']}" if s.get("limit") else "all"
        split = s.get("split") or {}
        sizes = ", ".join(f"{k} {v}" for k, v in split.get("sizes", {}).items())
        rule = ", ".join(f"{k}={v}" for k, v in split.get("rule", {}).items())
        described = (
            f"split sizes: {sizes}; split rule: {rule}"
            if split
            else ("split rule and size: see the data build's summary.json")
        )
        bullets.append(
            f"OEIS held-out next term: {s['items']} items ({sample} items of `{s['data']}`), "
            f"this project's decontaminated held-out split, not the card's unpublished file; "
            f"{described}; top-k accuracy {_percent(s['top_k_accuracy'])}; {s['seconds']:.1f} s."
        )
    if "iq57" in summaries:
        s = summaries["iq57"]
        bullets.append(
            f"IQ-57 (Ryskina & Knight): {s['items']} sequences, all terms but the last shown; "
            f"top-k accuracy {_percent(s['top_k_accuracy'])}; {s['seconds']:.1f} s."
        )
    if "m1" in summaries:
        s = summaries["m1"]
        periods = ", ".join(f"{p.lower()} {_mape(v)}" for p, v in s["by_period"].items())
        bullets.append(
            f"M1-111: {s['series']} series, macro MAPE (lower is better), term-by-term continuation; "
            f"{s['decimal_rule']} ({s['scaled_series']} series scaled); {s['fallback_steps']} of "
            f"{s['horizon_steps']} horizon steps fell back to the naive value (no answer); "
            f"by period: {periods}; {s['seconds']:.1f} s."
        )
    if "polynomial" in summaries:
        s = summaries["polynomial"]
        bullets.append(
            f"Polynomial continuation: {s['items']} items ({s['protocol']}); {s['seconds']:.1f} s."
        )
    bullets.extend(f"{name}: skipped ({reason})." for name, reason in skipped.items())
    return [f"- {b}" for b in bullets]


def markdown(
    label: str,
    summaries: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    *,
    command: str = "",
    machine: str = "",
) -> str:
    """The whole summary document."""
    parts = [f"# Evaluation: {label}", ""]
    if command:
        parts += [f"Command: `{command}`", ""]
    if machine:
        parts += [f"Machine: {machine}", ""]
    parts += ["## Next term and forecasting", "", main_table(label, summaries), ""]
    parts += [
        "## Polynomial continuation",
        "",
        polynomial_table(label, summaries.get("polynomial")),
        "",
    ]
    parts += ["## Notes", "", *notes(summaries, skipped), ""]
    parts += [
        "Rows marked (card) are the published numbers of the NextTerm-440M model card, measured by "
        "its authors on their own files; they are printed for comparison, not re-measured here.",
        "",
    ]
    return "\n".join(parts)
