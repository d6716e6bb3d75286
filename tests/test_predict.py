"""The predictor layer: how model and solver candidates are combined and ranked."""

import pytest

from nextterm.candidates import Candidate
from nextterm.predict import (
    HybridPredictor,
    ModelPredictor,
    PredictorError,
    load_predictor,
    predict,
)


class FakeEngine:
    """Stands in for nextterm.engine.Engine: answers 'last term + 1' and 'last term + 2'."""

    def __init__(self):
        self.calls = []

    def beam_next_term(self, sequences, beam_width=8, top_k=5):
        self.calls.append(("beam", beam_width, top_k))
        return [[(seq[-1] + 1, 0.6), (seq[-1] + 2, 0.3)][:top_k] for seq in sequences]

    def greedy_next_term(self, sequences):
        self.calls.append(("greedy",))
        return [(seq[-1] + 1, 0.6) for seq in sequences]

    def next_terms(self, sequences, n_terms=1):
        return [[seq[-1] + 1 + i for i in range(n_terms)] for seq in sequences]


class FakeSolvers:
    name = "solvers"

    def predict_batch(self, sequences, n_terms=1, top_k=5):
        return [
            [
                Candidate(
                    value=seq[-1] + 2, confidence=0.99, method="fake", explanation="a(n)=a(n-1)+2"
                )
            ]
            if len(seq) > 3
            else []
            for seq in sequences
        ]


def test_model_predictor_ranks_with_probabilities_and_continues():
    engine = FakeEngine()
    predictor = ModelPredictor(engine, beam_width=4)
    [candidates] = predictor.predict_batch([[1, 2, 3]], n_terms=3, top_k=2)
    assert [c.value for c in candidates] == [4, 5]
    assert [c.confidence for c in candidates] == [0.6, 0.3]
    assert candidates[0].continuation == (4, 5, 6)
    assert candidates[1].continuation == (5, 6, 7)
    assert engine.calls == [("beam", 4, 2)]


def test_greedy_model_predictor_decodes_greedily():
    engine = FakeEngine()
    [[candidate]] = ModelPredictor(engine, beam_width=1).predict_batch([[1, 2]], top_k=3)
    assert (candidate.value, candidate.confidence) == (3, 0.6)
    assert engine.calls == [("greedy",)]


def test_hybrid_puts_verified_answers_first_and_records_model_vote():
    hybrid = HybridPredictor(
        solvers=FakeSolvers(), model=ModelPredictor(FakeEngine(), beam_width=2)
    )
    long, short = hybrid.predict_batch([[1, 3, 5, 7], [1, 2, 3]], top_k=3)
    assert [c.method for c in long] == ["fake", "model"]
    assert [c.value for c in long] == [9, 8]
    assert long[0].details["votes"] == {"model": 0.3}
    assert [c.method for c in short] == ["model", "model"]


def test_hybrid_ranks_lookup_and_model_by_confidence():
    class FakeLookup:
        name = "lookup"

        def predict_batch(self, sequences, n_terms=1, top_k=5):
            return [[Candidate(value=5, confidence=0.45, method="lookup", explanation="A000000")]]

    hybrid = HybridPredictor(
        solvers=FakeSolvers(), model=ModelPredictor(FakeEngine()), lookup=FakeLookup()
    )
    [ranked] = hybrid.predict_batch([[1, 2, 3]], top_k=3)
    assert [(c.value, c.method) for c in ranked] == [(4, "model"), (5, "lookup")]


def test_predict_validates_and_filters():
    hybrid = HybridPredictor(solvers=FakeSolvers(), model=ModelPredictor(FakeEngine()))
    assert [c.value for c in predict(["1", 2, 3], predictor=hybrid, min_confidence=0.5)] == [4]
    with pytest.raises(ValueError, match="not an integer"):
        predict([1, "x"], predictor=hybrid)
    with pytest.raises(PredictorError, match="n_terms"):
        predict([1, 2], n_terms=0, predictor=hybrid)


def test_load_predictor_rejects_unknown_kind():
    with pytest.raises(PredictorError, match="unknown predictor"):
        load_predictor("oracle")
