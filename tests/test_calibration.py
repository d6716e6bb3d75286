"""Calibrated confidence: fitting, ECE, storage, and the hybrid's one ranking of all sources."""

import json
import random

import pytest

from conftest import TINY_QWEN3
from nextterm.calibration import (
    Calibration,
    CalibrationError,
    CalibrationMap,
    expected_calibration_error,
    plot_reliability,
    reliability_table,
)
from nextterm.candidates import Candidate, source_of
from nextterm.predict import HybridPredictor, PredictorError, load_predictor, predict


def cand(value, confidence, method, **details):
    return Candidate(
        value=value, confidence=confidence, method=method, explanation=method, details=details
    )


def miscalibrated_items(n=3000, seed=0):
    """Model candidates whose true chance of being right is raw**2 (overconfident)."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        raw = rng.random()
        right = rng.random() < raw**2
        items.append(([cand(1 if right else 2, raw, "model")], 1))
    return items


class StaticSource:
    """A predictor giving the same candidates for every sequence."""

    def __init__(self, name, candidates):
        self.name = name
        self.candidates = candidates

    def predict_batch(self, sequences, n_terms=1, top_k=5):
        return [list(self.candidates[:top_k]) for _ in sequences]


def test_source_of_groups_methods_into_families():
    assert source_of(cand(1, 0.9, "c-finite")) == "solver"
    assert (
        source_of(cand(1, 0.9, "rule")) == "rule"
        and source_of(cand(1, 0.1, "forecast")) == "forecast"
    )
    assert source_of(cand(1, 0.9, "differences+polynomial")) == "solver"
    assert source_of(cand(1, 0.2, "interpolation", verified=False)) == "interpolation"
    assert source_of(cand(1, 0.3, "lookup")) == "lookup"
    assert source_of(cand(1, 0.3, "model")) == "model"


def test_fit_recovers_a_known_miscalibration():
    calibration = Calibration.fit(miscalibrated_items())
    mapping = calibration.maps["model"]
    for raw in (0.2, 0.5, 0.8, 0.95):
        assert calibration.calibrate("model", raw) == pytest.approx(raw**2, abs=0.08)
    assert list(mapping.y) == sorted(mapping.y)
    fresh = miscalibrated_items(seed=1)
    raw_conf = [c.confidence for cands, _ in fresh for c in cands]
    right = [c.value == answer for cands, answer in fresh for c in cands]
    fixed = [calibration.calibrate("model", p) for p in raw_conf]
    assert (
        expected_calibration_error(fixed, right)
        < 0.03
        < expected_calibration_error(raw_conf, right)
    )


def test_small_steps_are_smoothed_away_from_certainty():
    mapping = CalibrationMap.fit([0.9] * 5, [True] * 5)
    assert 0.9 < mapping(0.9) < 1.0
    mapping = CalibrationMap.fit([0.3] * 40, [False] * 40)
    assert 0.0 < mapping(0.3) < 0.01
    mapping = CalibrationMap.fit([0.1] * 20 + [0.9] * 3, [False] * 20 + [True] * 3)
    assert 0.5 < mapping(0.9) < 1.0


def test_sources_with_too_few_pairs_keep_their_raw_confidence():
    items = miscalibrated_items(200) + [([cand(5, 0.4, "lookup")], 5)]
    calibration = Calibration.fit(items, min_points=20)
    assert "lookup" not in calibration.maps
    assert calibration.meta["pairs"]["lookup"] == 1
    assert calibration.apply(cand(5, 0.4, "lookup")).confidence == 0.4


def test_ece_on_a_hand_made_example():
    # bin 0.1-0.2: conf 0.1, 0.1 with 1 of 2 right -> |0.5 - 0.1| = 0.4, weight 2/4
    # bin 0.9-1.0: conf 0.9, 1.0 with 2 of 2 right -> |1.0 - 0.95| = 0.05, weight 2/4
    confidences, right = [0.1, 0.1, 0.9, 1.0], [True, False, True, True]
    assert expected_calibration_error(confidences, right, bins=10) == pytest.approx(
        0.5 * 0.4 + 0.5 * 0.05
    )
    table = reliability_table(confidences, right, bins=10)
    assert [row["count"] for row in table] == [0, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table[9]["confidence"] == pytest.approx(0.95)
    assert table[1]["accuracy"] == 0.5
    assert expected_calibration_error([], []) == 0.0


def test_save_load_round_trip_and_bad_files(tmp_path):
    calibration = Calibration.fit(miscalibrated_items(500), meta={"model": "tiny"})
    path = calibration.save(tmp_path / "calibration.json")
    loaded = Calibration.load(path)
    assert loaded.maps == calibration.maps
    assert loaded.meta["model"] == "tiny"
    for raw in (0.0, 0.33, 0.71, 1.0):
        assert loaded.calibrate("model", raw) == calibration.calibrate("model", raw)
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CalibrationError, match="not a nextterm calibration"):
        Calibration.load(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(CalibrationError, match="not valid JSON"):
        Calibration.load(tmp_path / "broken.json")
    with pytest.raises(CalibrationError, match="cannot read"):
        Calibration.load(tmp_path / "missing.json")


def test_apply_keeps_the_raw_confidence():
    calibration = Calibration({"model": CalibrationMap(x=(0.0, 1.0), y=(0.0, 0.5))})
    calibrated = calibration.apply(cand(3, 0.8, "model"))
    assert calibrated.confidence == pytest.approx(0.4)
    assert calibrated.details["raw_confidence"] == 0.8
    assert calibration.apply(calibrated).confidence == pytest.approx(0.4)  # idempotent


def test_hybrid_ranks_by_calibrated_confidence_and_merges_agreeing_sources():
    calibration = Calibration(
        {
            "solver": CalibrationMap(x=(0.0, 1.0), y=(0.0, 0.3)),  # solver raw 0.9 -> 0.27
            "model": CalibrationMap(x=(0.0, 1.0), y=(0.0, 1.0)),
            "lookup": CalibrationMap(x=(0.0, 1.0), y=(0.0, 1.0)),
            "agreement": CalibrationMap(x=(0.0, 1.0), y=(0.0, 0.9)),
        }
    )
    hybrid = HybridPredictor(
        solvers=StaticSource("solvers", [cand(10, 0.9, "c-finite")]),
        model=StaticSource("model", [cand(11, 0.4, "model"), cand(12, 0.2, "model")]),
        lookup=StaticSource("lookup", [cand(12, 0.3, "lookup")]),
        calibration=calibration,
    )
    [ranked] = hybrid.predict_batch([[1, 2, 3, 4]], top_k=5)
    # value 12: lookup 0.3 and model 0.2 agree -> agreement map of 1 - 0.7 * 0.8 = 0.44 -> 0.396
    assert [c.value for c in ranked] == [11, 12, 10]
    assert ranked[0].confidence == pytest.approx(0.4)
    assert ranked[1].confidence == pytest.approx(0.9 * 0.44)
    assert ranked[1].method == "lookup"
    assert ranked[1].details["votes"] == {"model": pytest.approx(0.2)}
    assert ranked[1].details["sources"] == ["lookup", "model"]
    assert ranked[2].confidence == pytest.approx(0.27)
    assert ranked[2].details["raw_confidence"] == 0.9
    uncalibrated = HybridPredictor(
        solvers=hybrid.solvers, model=hybrid.others[1], lookup=hybrid.others[0]
    )
    assert [c.value for c in uncalibrated.predict_batch([[1, 2, 3, 4]])[0]] == [10, 11, 12]


def test_agreement_map_is_fitted_on_values_several_sources_give():
    items = []
    for i in range(40):
        right = i % 4 != 0  # agreeing solver+model answers are right 3 times in 4
        answer = 7 if right else 8
        items.append(([cand(7, 0.9, "polynomial"), cand(7, 0.5, "model")], answer))
    calibration = Calibration.fit(items, min_points=20)
    assert calibration.meta["pairs"]["agreement"] == 40
    [merged] = calibration.rank([cand(7, 0.9, "polynomial"), cand(7, 0.5, "model")])
    assert merged.confidence == pytest.approx(0.75, abs=0.01)


def test_agreement_never_lowers_the_leading_confidence():
    calibration = Calibration({"agreement": CalibrationMap(x=(0.0, 1.0), y=(0.0, 0.5))})
    [merged] = calibration.rank([cand(7, 0.95, "polynomial"), cand(7, 0.1, "model")])
    assert merged.confidence == pytest.approx(0.95)
    assert merged.details["agreement_raw"] == pytest.approx(1 - 0.05 * 0.9)


def test_predict_declines_below_the_calibrated_threshold():
    calibration = Calibration({"model": CalibrationMap(x=(0.0, 1.0), y=(0.0, 0.5))})
    hybrid = HybridPredictor(
        solvers=StaticSource("solvers", []),
        model=StaticSource("model", [cand(4, 0.8, "model")]),
        calibration=calibration,
    )
    assert predict([1, 2, 3], predictor=hybrid, min_confidence=0.6) == []  # raw 0.8 would pass
    [kept] = predict([1, 2, 3], predictor=hybrid, min_confidence=0.3)
    assert kept.confidence == pytest.approx(0.4)


def test_load_predictor_takes_a_calibration_file(tmp_path):
    halve = CalibrationMap(x=(0.0, 1.0), y=(0.0, 0.5))
    path = Calibration({"solver": halve, "rule": halve}).save(tmp_path / "c.json")
    hybrid = load_predictor("hybrid", with_model=False, calibration=path)
    [best] = predict([2, 4, 6, 8, 10, 12, 14], predictor=hybrid)
    assert best.value == 16
    assert best.confidence == pytest.approx(0.5 * best.details["raw_confidence"])
    with pytest.raises(PredictorError, match="hybrid"):
        load_predictor("solvers", calibration=path)


def test_reliability_plot_is_written(tmp_path):
    table = reliability_table([0.1, 0.5, 0.9], [False, True, True])
    path = plot_reliability({"test": table}, tmp_path / "reliability.png")
    assert path.stat().st_size > 1000


def test_load_predictor_finds_calibration_beside_the_model(tmp_path):
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.models.presets import create_model

    model = create_model(
        "nextterm-1m",
        seed=0,
        **TINY_QWEN3,
    )
    directory = save_checkpoint(model, tmp_path / "tiny")
    assert load_predictor("hybrid", model=directory, device="cpu").calibration is None
    Calibration({"model": CalibrationMap(x=(0.0, 1.0), y=(0.0, 0.01))}).save(
        directory / "calibration.json"
    )
    hybrid = load_predictor("hybrid", model=directory, device="cpu")
    assert hybrid.calibration.maps["model"].y == (0.0, 0.01)
    ranked = hybrid.predict_batch([[1, 2, 3]], top_k=5)[0]
    model = [c for c in ranked if c.method == "model"]
    assert model and all(c.confidence <= 0.01 for c in model)
