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
