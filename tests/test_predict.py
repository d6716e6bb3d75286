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


class ScriptedModel(ModelPredictor):
    """A model whose beam gives the listed (value, probability) pairs for every prompt."""

    def __init__(self, options):
        super().__init__(FakeEngine(), beam_width=len(options))
        self.options = options

    def predict_batch(self, sequences, n_terms=1, top_k=5):
        return [
            [
                Candidate(value=v, confidence=p, method="model", explanation=f"p {p}")
                for v, p in self.options
            ]
            for _ in sequences
        ]


class NoSolvers:
    name = "solvers"

    def predict_batch(self, sequences, n_terms=1, top_k=5):
        return [[] for _ in sequences]


def test_a_model_guess_below_the_last_term_of_a_growing_sequence_does_not_come_first():
    hybrid = HybridPredictor(solvers=NoSolvers(), model=ScriptedModel([(3, 0.6), (203, 0.2)]))
    [ranked] = hybrid.predict_batch([[1, 1, 2, 5, 15, 52]], top_k=3)
    assert [c.value for c in ranked] == [203, 3]
    assert "breaks the trend" in ranked[1].explanation
    assert ranked[1].confidence <= ranked[0].confidence
    assert "breaks_trend" not in ranked[0].details


def test_when_every_candidate_breaks_the_trend_the_answer_says_so():
    hybrid = HybridPredictor(solvers=NoSolvers(), model=ScriptedModel([(3, 0.6)]))
    [[only]] = hybrid.predict_batch([[2, 3, 7, 25, 121]], top_k=3)
    assert only.value == 3 and only.confidence == pytest.approx(0.3)
    assert only.explanation.endswith(
        "breaks the trend: not above the last term of the increasing given terms"
    )
    # without a trend the same guess stands as it is
    [[plain]] = hybrid.predict_batch([[5, 1, 4, 1, 5]], top_k=3)
    assert plain.confidence == 0.6 and "trend" not in plain.explanation


def test_a_model_guess_off_the_series_level_gives_way_to_the_forecast():
    series = [5774, 7650, 9271, 21447, 28998, 40991, 69030, 53926, 81376, 50023, 170673, 161909]
    series += [199636, 233006, 214539, 208055, 251314, 273587, 276606, 237456, 327433, 275882]
    hybrid = HybridPredictor(solvers=NoSolvers(), model=ScriptedModel([(3, 0.6)]))
    [ranked] = hybrid.predict_batch([series], n_terms=2, top_k=3)
    assert ranked[0].method == "forecast" and len(ranked[0].continuation) == 2
    assert 150_000 < ranked[0].value < 450_000
    assert [c.value for c in ranked[1:]] == [3]
    # a guess near the level stands
    near = HybridPredictor(solvers=NoSolvers(), model=ScriptedModel([(300_000, 0.6)]))
    assert near.predict_batch([series], top_k=3)[0][0].method == "model"


class NamingLookup:
    """Gives ``last + step`` and then ``later`` for the further terms, named A000045."""

    name = "lookup"

    def __init__(self, step=2, later=0):
        self.step, self.later = step, later

    def predict_batch(self, sequences, n_terms=1, top_k=5):
        details = {"anum": "A000045", "name": "Fibonacci numbers", "transform": "identity"}
        return [
            [
                Candidate(
                    value=seq[-1] + self.step,
                    confidence=0.2,
                    method="lookup",
                    explanation="A000045 Fibonacci numbers",
                    continuation=(seq[-1] + self.step, *[self.later] * (n_terms - 1)),
                    details=details,
                )
            ]
            for seq in sequences
        ]


def test_every_answer_a_lookup_agrees_with_names_the_sequence():
    hybrid = HybridPredictor(
        solvers=FakeSolvers(), model=ModelPredictor(FakeEngine()), lookup=NamingLookup()
    )
    [ranked] = hybrid.predict_batch([[1, 3, 5, 7]], top_k=3)
    first = ranked[0]
    assert first.method == "fake" and first.value == 9
    assert first.details["oeis"] == {
        "anum": "A000045",
        "name": "Fibonacci numbers",
        "transform": "identity",
    }
    assert first.explanation.endswith("; OEIS A000045 Fibonacci numbers")
    assert all("oeis" not in c.details for c in ranked if c.value != 9)
    # the model's 8, 9 is named by a lookup giving 8, 9, not by one giving 8, 0
    for later, named in ((9, True), (0, False)):
        hybrid = HybridPredictor(
            solvers=FakeSolvers(),
            model=ModelPredictor(FakeEngine()),
            lookup=NamingLookup(step=1, later=later),
        )
        [ranked] = hybrid.predict_batch([[1, 3, 5, 7]], n_terms=2, top_k=3)
        [model] = [c for c in ranked if c.method == "model"]
        assert model.continuation == (8, 9)
        assert ("oeis" in model.details) is named
