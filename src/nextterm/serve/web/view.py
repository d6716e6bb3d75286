"""The page's answer: the ranked candidates in the words and numbers a person reads.

Integers travel as decimal strings (a browser's JSON numbers lose digits beyond 2^53), each
candidate carries its confidence word, its source, its rule without the OEIS part, and the OEIS
sequence (A-number, name, address) it was found as or that agrees with it. ``text`` is what
``nextterm predict`` prints for the same answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nextterm.candidates import Candidate, confidence_label, describe_candidate, source_of

SOURCE_LABELS = {
    "solver": "exact solver",
    "rule": "rule search",
    "interpolation": "interpolation guess",
    "lookup": "OEIS lookup",
    "model": "language model",
    "forecast": "statistical forecast",
}
OEIS_URL = "https://oeis.org/"


def _oeis(anum: str, name: str, transform: str) -> dict[str, str]:
    return {
        "anum": anum,
        "name": name,
        "transform": "" if transform == "identity" else transform,
        "url": OEIS_URL + anum,
    }


def _rule(candidate: Candidate) -> str:
    """The explanation without the OEIS naming the predictor appended (shown as a link)."""
    details, text = candidate.details, candidate.explanation
    if candidate.method == "lookup" and "anum" in details:
        head = f"{details['anum']} {details.get('name', '')}".strip()
        rest = text.split("; OEIS ")[0].removeprefix(head).lstrip(", ").strip()
        return f"continues this OEIS sequence{' ' + rest if rest else ''}"
    oeis = details.get("oeis")
    if oeis:
        via = (
            "" if oeis.get("transform", "identity") == "identity" else f" (via {oeis['transform']})"
        )
        text = text.removesuffix(f"; OEIS {oeis['anum']} {oeis['name']}{via}".rstrip())
    return text


def _evidence(candidate: Candidate) -> str:
    if candidate.method == "lookup" and candidate.evidence:
        return f"matched {candidate.evidence} given terms"
    if candidate.evidence >= 2:
        return f"confirmed by {candidate.evidence} further given terms"
    return ""


def _candidate_view(shown: dict[str, Any], candidate: Candidate) -> dict[str, Any]:
    details = candidate.details
    source = source_of(candidate)
    if candidate.method == "lookup" and "anum" in details:  # the rule names the transform
        oeis = _oeis(details["anum"], details.get("name", ""), "identity")
    elif details.get("oeis"):
        found = details["oeis"]
        oeis = _oeis(found["anum"], found.get("name", ""), found.get("transform", "identity"))
    else:
        oeis = None
    relatives = [
        _oeis(chain["anum"], chain.get("name", ""), chain.get("transform", "identity"))
        for chain in details.get("chains", [])
        if oeis is None or chain["anum"] != oeis["anum"]
    ]
    return {
        "rank": shown["rank"],
        "value": str(shown["value"]),
        "continuation": [str(term) for term in shown["continuation"]],
        "truncated": shown["truncated"],
        "probability": round(shown["probability"], 4),
        "confidence": confidence_label(shown["probability"]),
        "source": source,
        "source_label": SOURCE_LABELS.get(source, source),
        "method": candidate.method,
        "rule": _rule(candidate),
        "evidence": _evidence(candidate),
        "oeis": oeis,
        "relatives": relatives,
    }


def _text(terms: list[int], rows: list[tuple[dict[str, Any], Candidate]], n: int) -> str:
    """The answer as ``nextterm predict`` prints it, after a line naming the question."""
    lines = [f"{', '.join(map(str, terms))}, ?"]
    if not rows:
        return lines[0] + "\nno credible continuation found\n"
    best = rows[0][0]["continuation"]
    lines.append(", ".join(map(str, best)))
    for shown, candidate in rows:
        cut = replace(candidate, continuation=tuple(shown["continuation"]))
        lines.append(describe_candidate(cut, shown["rank"], n))
    return "\n".join(lines) + "\n"


def page_answer(
    terms: list[int],
    n: int,
    rows: list[tuple[dict[str, Any], Candidate]],
    predictor: str,
    omitted: int,
) -> dict[str, Any]:
    """The page's JSON for ``terms``: ``rows`` pairs each candidate as ``/v1/next-terms`` shows
    it (continuation cut to what fits) with the candidate itself."""
    return {
        "object": "page_answer",
        "query": ",".join(map(str, terms)),
        "terms": [str(term) for term in terms],
        "n": n,
        "predictor": predictor,
        "candidates": [_candidate_view(shown, candidate) for shown, candidate in rows],
        "omitted": omitted,
        "text": _text(terms, rows, n),
    }
