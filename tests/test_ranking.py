"""The learned ranker: exported trees equal scikit-learn's, features, files, the hybrid's use of
it, and ``nextterm calibrate`` end to end on a tiny model and data build."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import TINY_QWEN3
from nextterm.candidates import Candidate
from nextterm.cli import main
from nextterm.ranking import FEATURES, Ranker, RankerError, feature_matrix, group_by_value
from nextterm.ranking.model import MAPS, _export


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.models.presets import create_model

    model = create_model("nextterm-1m", seed=0, **TINY_QWEN3)
    return save_checkpoint(model, tmp_path_factory.mktemp("ranker") / "tiny")


def _random_rows(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(count, len(FEATURES)))
    rows[rng.random(rows.shape) < 0.2] = np.nan
    labels = (
        np.nan_to_num(rows[:, 0]) + 0.5 * np.nan_to_num(rows[:, 5]) + rng.normal(size=count) > 0.5
    )
    return rows, labels


def test_exported_trees_equal_scikit_learn():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from nextterm.calibration import CalibrationMap

    rows, labels = _random_rows(3000)
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15).fit(rows, labels)
    identity = CalibrationMap(x=(0.0, 1.0), y=(0.0, 1.0))
    ranker = Ranker(
        [_export(iteration[0]) for iteration in model._predictors],
        float(np.ravel(model._baseline_prediction)[0]),
        dict.fromkeys(MAPS, identity),
    )
    assert ranker.scores(rows) == pytest.approx(model.predict_proba(rows)[:, 1], abs=1e-12)


def test_fit_save_load_round_trip(tmp_path):
    rows, labels = _random_rows(2000, seed=1)
    ranker = Ranker.fit(rows, labels, np.arange(len(rows)) // 4, seed=0)
    prompts = [rows[start : start + 4] for start in range(0, 200, 4)]
    probabilities = np.concatenate([ranker.probabilities(prompt) for prompt in prompts])
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    right, wrong = probabilities[labels[:200]], probabilities[~labels[:200]]
    assert right.mean() > wrong.mean() + 0.2  # it learned the signal
    loaded = Ranker.load(ranker.save(tmp_path / "ranker.json"))
    again = np.concatenate([loaded.probabilities(prompt) for prompt in prompts])
    assert again == pytest.approx(probabilities)


def test_the_answer_has_its_own_map_and_runners_up_stay_below_it():
    from nextterm.calibration import CalibrationMap

    rows, labels = _random_rows(3000)
    fitted = Ranker.fit(rows, labels, np.arange(len(rows)) // 3, seed=0)
    low = CalibrationMap(x=(0.0, 1.0), y=(0.0, 0.1))
    high = CalibrationMap(x=(0.0, 1.0), y=(0.5, 1.0))
    maps = {"short": high, "long": high, "short-top": low, "long-top": low}
    ranker = Ranker(fitted.trees, fitted.baseline, maps)
    prompt = rows[:5]
    scores, probabilities = ranker.scores(prompt), ranker.probabilities(prompt)
    best = int(np.argmax(scores))
    assert probabilities[best] == pytest.approx(low(scores[best]))
    others = np.delete(probabilities, best)
    assert np.all(others < probabilities[best])  # the high map is capped: the order is kept
    assert ranker.probabilities(rows[:0]).shape == (0,)


def test_bad_ranker_files_and_data_are_clear_errors(tmp_path):
    with pytest.raises(RankerError, match="cannot read"):
        Ranker.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(RankerError, match="not a nextterm ranker"):
        Ranker.load(tmp_path / "other.json")
    rows, labels = _random_rows(200)
    ranker = Ranker.fit(rows, labels, np.arange(200) // 2)
    data = ranker.to_dict()
    data["features"] = data["features"][:-1]
    (tmp_path / "old.json").write_text(json.dumps(data))
    with pytest.raises(RankerError, match="other features"):
        Ranker.load(tmp_path / "old.json")
    with pytest.raises(RankerError, match="both right and wrong"):
        Ranker.fit(rows, np.ones(200, dtype=bool), np.arange(200))


def test_features_of_a_value_several_sources_give():
    rule = Candidate(
        13,
        0.9,
        "rule",
        "a(n) = Fibonacci(n)",
        (13,),
        6,
        {"verified": True, "bits": 9.0, "compression_bits": 30.0},
    )
    model = Candidate(13, 0.2, "model", "model probability 0.2", (13,))
    other = Candidate(11, 0.1, "model", "model probability 0.1", (11,))
    groups = group_by_value([rule, model, other])
    rows = feature_matrix([1, 1, 2, 3, 5, 8], groups, [math.log(0.2), math.log(0.1)])
    row = dict(zip(FEATURES, rows[0]))
    assert groups[0].lead is rule
    assert row["rule_confidence"] == 0.9 and row["model_confidence"] == 0.2
    assert row["sources"] == 2 and row["verified"] == 1 and row["evidence"] == 6
    assert row["rule_compression"] == 30.0 and math.isnan(row["lookup_votes"])
    assert row["model_rank"] == 0 and row["model_gap"] == 0
    assert row["continues_direction"] == 1 and row["inside_range"] == 0
    assert row["value_seen"] == 0 and row["step_seen"] == 0  # 13 - 8 is no step of the terms
    runner_up = dict(zip(FEATURES, rows[1]))
    assert runner_up["model_rank"] == 1 and runner_up["step_seen"] == 1  # 11 - 8 = 5 - 2
    repeat = dict(zip(FEATURES, feature_matrix([1, 2, 1, 2, 1], group_by_value([other]), None)[0]))
    assert repeat["value_seen"] == 0 and repeat["step_seen"] == 0
    two = Candidate(2, 0.5, "model", "model probability 0.5", (2,))
    repeat = dict(zip(FEATURES, feature_matrix([1, 2, 1, 2, 1], group_by_value([two]), None)[0]))
    assert repeat["value_seen"] == 2 and repeat["step_seen"] == 1
    assert feature_matrix([5], [], None).shape == (0, len(FEATURES))


def test_calibrate_command_fits_a_ranker_the_hybrid_uses(tiny_model_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for name, count in (("val.jsonl", 40), ("heldout.jsonl", 16)):
        with open(data / name, "w") as handle:
            for i in range(count):
                step, start = int(rng.integers(1, 9)), int(rng.integers(0, 20))
                terms = (
                    [start + step * k for k in range(10)]
                    if i % 2
                    else [int(v) for v in rng.integers(0, 99, 10)]
                )
                handle.write(
                    json.dumps({"id": f"{name}-{i}", "prompt": terms[:-1], "answer": terms[-1]})
                    + "\n"
                )
    out, results = tmp_path / "out", tmp_path / "results"
    status = main(
        [
            "calibrate",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(data),
            "--out",
            str(out),
            "--results",
            str(results),
            "--short-prefixes",
            "20",
            "--puzzle-prefixes",
            "40",
            "--test-limit",
            "16",
            "--device",
            "cpu",
        ]
    )
    assert status == 0
    report = json.loads((results / "calibration.json").read_text())
    assert report["test_items"] == 16 and 0 <= report["held_out"]["ece"] <= 1
    assert (results / "calibration.md").read_text().startswith("## Learned ranker")
    assert (results / "calibration.png").stat().st_size > 1000

    from nextterm.engine import Engine
    from nextterm.predict import build_hybrid

    (tiny_model_dir / "ranker.json").write_bytes((out / "ranker.json").read_bytes())
    try:
        hybrid = build_hybrid(Engine.from_pretrained(tiny_model_dir, device="cpu"), tiny_model_dir)
        assert hybrid.ranker is not None
        [ranked] = hybrid.predict_batch([[3, 5, 7, 9, 11, 13]], top_k=3)
        assert ranked[0].value == 15 and ranked[0].details["source"] in ("rule", "solver")
        assert all(0 <= c.confidence <= 1 for c in ranked)
        assert [c.confidence for c in ranked] == sorted(
            (c.confidence for c in ranked), reverse=True
        )
    finally:
        (tiny_model_dir / "ranker.json").unlink()


def test_calibrate_needs_a_data_build(tmp_path, capsys):
    assert main(["calibrate", "--data", str(tmp_path)]) == 2
    assert "val.jsonl not found" in capsys.readouterr().err
