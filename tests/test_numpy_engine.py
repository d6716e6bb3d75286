"""Numpy engine: the same beams, scores and greedy terms as the torch engine; the engine choice."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from nextterm.engine import Engine, EngineError, NumpyEngine, load_engine
from nextterm.engine.loading import ENGINE_VARIABLE
from nextterm.models.checkpoint import save_checkpoint
from nextterm.models.presets import create_model
from nextterm.predict import build_hybrid, default_model_path

SEQUENCES = [
    [1, 2, 4, 8, 16],
    [1, 1, 2, 3, 5, 8, 13, 21],
    [3, 1, 4, 1, 5, 9, 2, 6],
    [-5, 10, -20],
    [0],
    [7] * 30,
    list(range(0, 3000, 7)),  # longer than the context: cut at a term boundary
]
CANDIDATES = [[32, 31, 0, -1, 123456], [34, 33], [5, 3], [40, -40], [1, 0], [7, 70], [3003, 3]]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    """A small random float32 Qwen3 whose large weights make its answers depend on the input."""
    model = create_model("nextterm-1m", seed=3, num_hidden_layers=2, initializer_range=0.3)
    return save_checkpoint(model, tmp_path_factory.mktemp("random") / "model")


@pytest.fixture(scope="module", params=["random", "shipped"])
def engines(request, random_checkpoint):
    path = random_checkpoint if request.param == "random" else default_model_path()
    return Engine.from_pretrained(path, device="cpu"), NumpyEngine.from_pretrained(path)


def _same_ranking(expected, found) -> None:
    assert [value for value, _ in found] == [value for value, _ in expected]
    for (_, p), (_, q) in zip(found, expected):
        assert abs(p - q) <= TOLERANCE


def test_beam_search_matches_torch(engines):
    torch_engine, numpy_engine = engines
    expected = torch_engine.beam_next_term(SEQUENCES, beam_width=5, top_k=5)
    found = numpy_engine.beam_next_term(SEQUENCES, beam_width=5, top_k=5)
    assert any(len(row) == 5 for row in found)
    for row_expected, row_found in zip(expected, found):
        _same_ranking(row_expected, row_found)


@pytest.mark.parametrize("context", [None, 16])
def test_scores_match_torch(engines, context):
    torch_engine, numpy_engine = engines
    expected = torch_engine.score_terms(SEQUENCES, CANDIDATES, context=context)
    found = numpy_engine.score_terms(SEQUENCES, CANDIDATES, context=context)
    assert any(value is not None for row in found for value in row)
    for row_expected, row_found in zip(expected, found):
        assert [v is None for v in row_found] == [v is None for v in row_expected]
        for a, b in zip(row_expected, row_found):
            if a is not None:
                assert abs(math.exp(a) - math.exp(b)) <= TOLERANCE
                assert abs(a - b) <= 1e-4


def test_greedy_matches_torch(engines):
    torch_engine, numpy_engine = engines
    assert numpy_engine.next_terms(SEQUENCES, n_terms=3) == torch_engine.next_terms(
        SEQUENCES, n_terms=3
    )
    _same_ranking(
        torch_engine.greedy_next_term(SEQUENCES), numpy_engine.greedy_next_term(SEQUENCES)
    )


def test_beam_probabilities_are_the_scores(engines):
    """exp of a beam term's teacher-forced score is its beam probability (as in the torch engine),
    to float32 rounding: the two group their rows' queries over a prompt's keys differently."""
    _, numpy_engine = engines
    beams = numpy_engine.beam_next_term(SEQUENCES[:3], beam_width=4, top_k=3)
    scores = numpy_engine.score_terms(SEQUENCES[:3], [[v for v, _ in row] for row in beams])
    for row, logps in zip(beams, scores):
        for (_, probability), logp in zip(row, logps):
            assert math.isclose(math.exp(logp), probability, rel_tol=1e-5)


def test_hybrid_answers_match_torch():
    path = default_model_path()
    prompts = [[1, 2, 4, 8, 16], [2, 3, 5, 7, 11], [5, 1, 8, 2, 9], [10, 7, 3, 12]]
    found = {}
    for kind, engine in (
        ("torch", Engine.from_pretrained(path, device="cpu")),
        ("numpy", NumpyEngine.from_pretrained(path)),
    ):
        found[kind] = build_hybrid(engine, path).predict_batch(prompts, n_terms=2, top_k=5)
    for expected, answer in zip(found["torch"], found["numpy"]):
        assert [c.continuation for c in answer] == [c.continuation for c in expected]
        for a, b in zip(answer, expected):
            assert abs(a.confidence - b.confidence) <= TOLERANCE


def test_choice_of_engine(monkeypatch, random_checkpoint):
    monkeypatch.delenv(ENGINE_VARIABLE, raising=False)
    assert isinstance(load_engine(random_checkpoint), NumpyEngine)
    assert isinstance(load_engine(random_checkpoint, device="cpu"), Engine)
    monkeypatch.setenv(ENGINE_VARIABLE, "torch")
    assert isinstance(load_engine(random_checkpoint), Engine)
    monkeypatch.setenv(ENGINE_VARIABLE, "numpy")
    assert isinstance(load_engine(random_checkpoint, device="cpu"), NumpyEngine)
    with pytest.raises(EngineError, match="CPU"):
        load_engine(random_checkpoint, device="cuda")
    monkeypatch.setenv(ENGINE_VARIABLE, "jax")
    with pytest.raises(EngineError, match="NEXTTERM_ENGINE must be one of"):
        load_engine(random_checkpoint)


def test_models_it_cannot_run_go_to_torch(monkeypatch, tmp_path):
    seqcond = save_checkpoint(create_model("nextterm-sca-1m", seed=0), tmp_path / "seqcond")
    monkeypatch.delenv(ENGINE_VARIABLE, raising=False)
    assert isinstance(load_engine(seqcond), Engine)
    with pytest.raises(EngineError, match="model_type 'seqcond'"):
        NumpyEngine.from_pretrained(seqcond)
    with pytest.raises(EngineError, match="parameters"):
        NumpyEngine.from_pretrained(default_model_path(), max_parameters=1000)


def test_predict_command_imports_no_torch(tmp_path):
    """`nextterm predict` with the shipped model answers without importing torch or transformers
    (the seconds of its start-up); NEXTTERM_ENGINE=torch brings them back."""
    code = (
        "import sys\n"
        "from nextterm.cli import main\n"
        "assert main(['predict', '--no-lookup', '1,2,4,8,16']) == 0\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != ENGINE_VARIABLE}
    for extra, imported in (({}, "[]"), ({ENGINE_VARIABLE: "torch"}, "['torch', 'transformers']")):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env | extra,
            cwd=tmp_path,
            check=True,
        )
        lines = result.stdout.splitlines()
        assert lines[0] == "32"
        assert lines[-1] == imported


def test_attention_in_row_groups_changes_nothing(monkeypatch, random_checkpoint):
    import nextterm.engine.numpy_engine as numpy_engine

    engine = NumpyEngine.from_pretrained(random_checkpoint)
    whole = engine.beam_next_term(SEQUENCES, beam_width=4, top_k=3)
    scores = engine.score_terms(SEQUENCES, CANDIDATES)
    monkeypatch.setattr(numpy_engine, "ATTENTION_CHUNK", 1)  # one row at a time
    assert engine.beam_next_term(SEQUENCES, beam_width=4, top_k=3) == whole
    assert engine.score_terms(SEQUENCES, CANDIDATES) == scores
