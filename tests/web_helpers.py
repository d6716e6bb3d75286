"""Shared by the web page tests and the page benchmark: a tiny served app, and a predictor whose
answers name an OEIS sequence with markup in its name."""

from __future__ import annotations

from nextterm.candidates import Candidate

HOSTILE_NAME = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">'
HOSTILE_FIRST_TERM = 999


class NamingPredictor:
    """The hybrid predictor, except that a sequence starting with 999 gets one lookup candidate
    named :data:`HOSTILE_NAME` (as an OEIS name could read)."""

    name = "hybrid"

    def __init__(self, inner) -> None:
        self.inner = inner

    def predict_batch(self, sequences, n_terms: int = 1, top_k: int = 5):
        answers = self.inner.predict_batch(sequences, n_terms=n_terms, top_k=top_k)
        return [
            [hostile(n_terms)] if terms[0] == HOSTILE_FIRST_TERM else answer
            for terms, answer in zip(sequences, answers)
        ]


def hostile(n_terms: int) -> Candidate:
    return Candidate(
        value=7,
        confidence=0.6,
        method="lookup",
        explanation=f"A000001 {HOSTILE_NAME}, via differences",
        continuation=tuple(range(7, 7 + n_terms)),
        evidence=3,
        details={
            "anum": "A000001",
            "name": HOSTILE_NAME,
            "transform": "differences",
            "chains": [
                {"anum": "A000002", "name": "<b>bold</b>", "transform": "identity", "votes": 1}
            ],
        },
    )


def tiny_engine(directory):
    """The smallest served engine (random weights: the rules answer, the model only guesses)."""
    from nextterm.engine import Engine
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.models.presets import create_model

    return Engine.from_pretrained(save_checkpoint(create_model("nextterm-1m", seed=0), directory))


def page_app(engine, api_key: str | None = None):
    """The served app over ``engine`` with the naming hybrid predictor (no lookup index)."""
    from nextterm.predict import HybridPredictor, ModelPredictor
    from nextterm.serve.app import create_app
    from nextterm.serve.config import ServeConfig

    predictor = NamingPredictor(
        HybridPredictor(model=ModelPredictor(engine, beam_width=2, name="model"))
    )
    return create_app(engine, predictor, ServeConfig(model_name="tiny", api_key=api_key))
