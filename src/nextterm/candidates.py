"""The answer type every predictor returns: one candidate next term with how sure and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Candidate:
    """One candidate continuation of a sequence.

    Attributes:
        value: the predicted next term.
        confidence: estimated probability (0..1) that ``value`` is the right next term.
        method: the source, e.g. ``"polynomial"``, ``"c-finite"``, ``"model"``, ``"lookup"``.
        explanation: a one-line human-readable reason, e.g. ``a(n) = a(n-1) + a(n-2)``.
        continuation: the next terms this candidate predicts, starting with ``value``.
        evidence: number of given terms that confirmed the rule beyond those used to fit it.
        details: method-specific extras (formula coefficients, A-number, token probability...).
    """

    value: int
    confidence: float
    method: str
    explanation: str
    continuation: tuple[int, ...] = ()
    evidence: int = 0
    details: dict = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict:
        """JSON-ready dict; integers stay exact (JSON numbers of any size)."""
        data = asdict(self)
        data["continuation"] = list(self.continuation or (self.value,))
        return data


SOURCES = ("solver", "rule", "interpolation", "lookup", "model", "forecast")
"""Where a candidate comes from: the linear solvers (verified), the Occam rule search, unverified
interpolation guesses, the OEIS lookup, the model, and the statistical forecast."""


def source_of(candidate: Candidate) -> str:
    """The source (one of :data:`SOURCES`) a candidate comes from, by its method family."""
    method = candidate.method
    if method == "lookup":
        return "lookup"
    if method.startswith("model"):
        return "model"
    if method in ("rule", "forecast", "interpolation"):
        return method
    if candidate.details.get("verified", True) is False:
        return "interpolation"
    return "solver"


def confidence_label(confidence: float) -> str:
    """The word a confidence reads as: high (>= 0.9), medium (>= 0.5) or low."""
    if confidence >= 0.9:
        return "high"
    if confidence >= 0.5:
        return "medium"
    return "low"


def describe_candidate(candidate: Candidate, rank: int | None, n_terms: int) -> str:
    """One line on a candidate: its terms, confidence and why (numbered when ``rank`` is given)."""
    values = ", ".join(
        str(term) for term in (candidate.continuation or (candidate.value,))[:n_terms]
    )
    line = (
        f"{'' if rank is None else f'{rank}. '}{values}    confidence {candidate.confidence:.3f} "
        f"({confidence_label(candidate.confidence)}), {candidate.method}: {candidate.explanation}"
    )
    given = len(candidate.continuation or (candidate.value,))
    if given < n_terms:  # e.g. the model's context is full: say so rather than pad or hide it
        line += f"; only {given} of the {n_terms} terms asked for"
    if candidate.evidence and candidate.method == "lookup":
        line += f"; matched {candidate.evidence} given terms"
    elif candidate.evidence >= 2:  # fewer: the explanation itself says how unconfirmed it is
        line += f"; confirmed by {candidate.evidence} further given terms"
    return line
