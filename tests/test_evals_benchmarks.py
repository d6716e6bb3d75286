"""Each benchmark's item generation and runner, on a fake predictor; the suite runner and CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nextterm.candidates import Candidate
from nextterm.evals import commands, iq57, m1, oeis, polynomial
from nextterm.evals.common import EvalError
from nextterm.evals.runner import SuiteConfig, run_suite

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def difference_continuation(terms: list[int], n_terms: int) -> list[int] | None:
    """Continue by the finite-difference table when some difference row is constant."""
    rows = [list(terms)]
    while len(rows[-1]) > 1 and len(set(rows[-1])) > 1:
        rows.append([b - a for a, b in zip(rows[-1], rows[-1][1:])])
    if len(rows[-1]) < 2 and len(terms) > 1:
        return None
    rows = [row[:] for row in rows]
    for _ in range(n_terms):
        rows[-1].append(rows[-1][-1])
        for level in range(len(rows) - 2, -1, -1):
            rows[level].append(rows[level][-1] + rows[level + 1][-1])
    return rows[0][len(terms) :]


class DifferencePredictor:
    """A fake predictor that solves exactly the polynomial sequences (k > degree + 1)."""

    name = "differences"

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def predict_batch(self, sequences, n_terms=1, top_k=5):
        self.calls.append((len(sequences), n_terms))
        answers = []
        for terms in sequences:
            continuation = difference_continuation(list(terms), n_terms)
            answers.append(
                [Candidate(continuation[0], 1.0, "differences", "", tuple(continuation))]
                if continuation
                else []
            )
        return answers


def test_polynomial_items_follow_the_protocol():
    items = polynomial.generate_items()
    assert len(items) == 200 * sum(25 - d for d in (1, 2, 3, 4))
    for item in items:
        degree, k, coefficients = item.meta["degree"], item.meta["k"], item.meta["coefficients"]
        assert degree + 1 <= k <= 25 and len(item.prompt) == k and len(coefficients) == degree + 1
        assert all(0 <= c <= top for c, top in zip(coefficients, polynomial.COEFFICIENT_MAX))
        values = [polynomial.evaluate_polynomial(tuple(coefficients), x) for x in range(k + 1)]
        assert list(item.prompt) == values[:k] and item.answer == values[k]
    cells = {(i.meta["degree"], i.meta["k"]) for i in items}
    assert len(cells) == 90
    assert polynomial.generate_items() == items  # fixed seed
    quick = polynomial.generate_items(polynomial.PolynomialConfig(samples=3))
    assert set(quick) <= set(items) and len(quick) == 3 * 90
    other = polynomial.generate_items(polynomial.PolynomialConfig(samples=3, seed=1))
    assert other != quick
    # the largest coefficient range is actually used
    assert max(i.meta["coefficients"][0] for i in items) > 90_000


@pytest.mark.parametrize("bad", [{"samples": 0}, {"degrees": (5,)}, {"max_k": 3}])
def test_polynomial_config_is_checked(bad):
    with pytest.raises(EvalError):
        polynomial.generate_items(polynomial.PolynomialConfig(**bad))


def test_polynomial_runner_scores_per_degree_and_k():
    predictor = DifferencePredictor()
    result = polynomial.run(predictor, polynomial.PolynomialConfig(samples=2), batch_size=64)
    summary = result.summary
    assert summary["items"] == 180 and len(result.records) == 180
    # k = degree + 1 leaves one value in the top difference row: the fake gives up there
    for name, by_k in summary["per_k"].items():
        degree = {v: k for k, v in polynomial.DEGREE_NAMES.items()}[name]
        assert by_k[str(degree + 1)] == 0.0
        assert all(by_k[str(k)] == 1.0 for k in range(degree + 2, 26))
    assert summary["per_degree"]["arithmetic"] == pytest.approx(23 / 24)
    assert max(size for size, _ in predictor.calls) == 64


def test_iq57_runner(tmp_path):
    data = tmp_path / "iq.jsonl"
    data.write_text('{"seq": [1, 2, 3, 4], "source": "x"}\n{"seq": [1, 2, 4, 8]}\n')
    result = iq57.run(DifferencePredictor(), data)
    assert result.summary["items"] == 2 and result.summary["accuracy"] == 0.5
    assert result.records[0]["prompt"] == "1,2,3," and result.records[0]["correct"] is True
    data.write_text('{"seq": [1]}\n')
    with pytest.raises(EvalError, match="at least 2"):
        iq57.load_items(data)
    data.write_text('{"seq": [1, "a"]}\n')
    with pytest.raises(EvalError, match="bad 'seq'"):
        iq57.load_items(data)


def test_iq57_real_file_has_57_items():
    path = SHARED_DATA / "evals" / "iq57.jsonl"
    if not path.is_file():
        pytest.skip("shared data not present")
    items = iq57.load_items(path)
    assert len(items) == 57 and items[0].prompt == (1, 2, 3, 4) and items[0].answer == 5


def test_oeis_runner_and_deterministic_sample(tmp_path):
    lines = [
        {"id": "A1", "prompt": "1,2,3,", "answer": 4},
        {"id": "A2", "prompt": [2, 4, 8, 16, 32], "answer": "64"},
        {"id": "A3", "prompt": "5,5,5,5,5,5,5,5,", "answer": "5"},
    ]
    (tmp_path / "heldout.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = oeis.run(DifferencePredictor(), tmp_path)
    assert result.summary["items"] == 3 and result.summary["accuracy"] == pytest.approx(2 / 3)
    assert result.summary["by_prompt_length"] == {
        "2-3": {"items": 1, "accuracy": 1.0},
        "4-7": {"items": 1, "accuracy": 0.0},
        "8-15": {"items": 1, "accuracy": 1.0},
    }
    assert result.summary["split"] == {}
    (tmp_path / "summary.json").write_text(
        json.dumps(
            {"splits": {"heldout": 3, "train": 9}, "config": {"split": {"seed": 0, "pins": ["A1"]}}}
        )
    )
    assert oeis.split_info(tmp_path) == {"sizes": {"heldout": 3, "train": 9}, "rule": {"seed": 0}}
    sample = oeis.load_items(tmp_path, limit=2, seed=3)
    assert sample == oeis.load_items(tmp_path / "heldout.jsonl", limit=2, seed=3)
    assert len(sample) == 2 and [i.id for i in sample] == sorted(i.id for i in sample)
    (tmp_path / "bad.jsonl").write_text('{"id": "A9", "prompt": "1,x,", "answer": 1}\n')
    with pytest.raises(EvalError, match="A9"):
        oeis.load_items(tmp_path / "bad.jsonl")


def _m1_file(tmp_path: Path) -> Path:
    rows = [
        {
            "sn": "Y1",
            "period": "YEARLY",
            "type": "T",
            "x": [10, 20, 30, 40],
            "xx": [50, 60],
            "h": 2,
        },
        {
            "sn": "Y2",
            "period": "YEARLY",
            "type": "T",
            "x": [1.5, 2.0, 2.5],
            "xx": [3.0, 4.0],
            "h": 2,
        },
        {
            "sn": "Q1",
            "period": "QUARTERLY",
            "type": "T",
            "x": [4, 8, 16, 32, 64, 128, 256, 512, 1024],
            "xx": [2048, 4096, 8192],
            "h": 3,
        },
    ]
    path = tmp_path / "m1.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_m1_runner_scales_continues_and_falls_back(tmp_path):
    predictor = DifferencePredictor()
    result = m1.run(predictor, _m1_file(tmp_path), classical=True)
    by_id = {r["id"]: r for r in result.records}
    assert by_id["Y1"]["prediction"] == [50, 60] and by_id["Y1"]["mape"] == 0.0
    assert by_id["Y1"]["correct"] is True
    # 15, 20, 25 continued as integers -> 30, 35 -> 3.0, 3.5 (APE 0 and 12.5)
    assert by_id["Y2"]["scale_decimals"] == 1 and by_id["Y2"]["prompt"] == "15,20,25,"
    assert by_id["Y2"]["prediction"] == [3.0, 3.5] and by_id["Y2"]["mape"] == 6.25
    # powers of two have no constant difference row: naive fallback on all 3 steps
    assert by_id["Q1"]["method"] == "none" and by_id["Q1"]["fallback_steps"] == 3
    assert by_id["Q1"]["prediction"] == [1024] * 3
    q1 = (50 + 75 + 87.5) / 3
    assert result.summary["mape"] == pytest.approx((0 + 6.25 + q1) / 3)
    assert result.summary["by_step"] == pytest.approx([50 / 3, (12.5 + 75) / 3, 87.5])
    assert result.summary["scaled_series"] == 1 and result.summary["fallback_steps"] == 3
    assert sorted(n for n, _ in predictor.calls) == [1, 2]  # grouped by horizon
    assert sorted(h for _, h in predictor.calls) == [2, 3]
    classical = result.summary["classical"]
    assert set(classical) == set(m1.CLASSICAL)
    assert classical["Naive"]["naive_fallbacks"] == 0
    assert classical["AutoETS"]["naive_fallbacks"] >= 2  # too short for ETS: naive instead
    naive = [r for r in result.tables["m1_classical"] if r["model"] == "Naive"]
    assert {r["id"]: r["prediction"] for r in naive}["Y1"] == [40.0, 40.0]
    assert classical["Naive"]["mape"] == pytest.approx(
        ((20 + 100 / 3) / 2 + (100 / 6 + 37.5) / 2 + q1) / 3
    )


def test_m1_loader_rejects_bad_rows(tmp_path):
    path = tmp_path / "m1.jsonl"
    path.write_text('{"sn": "A", "period": "WEEKLY", "x": [1], "xx": [2], "h": 1}\n')
    with pytest.raises(EvalError, match="period"):
        m1.load_series(path)
    path.write_text('{"sn": "A", "period": "YEARLY", "x": [1], "xx": [2], "h": 3}\n')
    with pytest.raises(EvalError, match="h=3"):
        m1.load_series(path)


def test_suite_writes_every_output_and_skips_missing_data(tmp_path):
    evals = tmp_path / "data" / "evals"
    evals.mkdir(parents=True)
    (evals / "iq57.jsonl").write_text('{"seq": [3, 6, 9, 12]}\n')
    _m1_file(tmp_path).rename(evals / "m1_111.jsonl")
    config = SuiteConfig(data_dir=tmp_path / "data", samples=1, classical=False)
    out = tmp_path / "out"
    summary = run_suite(
        DifferencePredictor(), ["polynomial", "iq57", "oeis", "m1"], out, config, skip_missing=True
    )
    assert summary["skipped"] == {"oeis": "no --heldout given"}
    assert summary["benchmarks"]["iq57"]["accuracy"] == 1.0
    for name in (
        "polynomial.jsonl",
        "iq57.jsonl",
        "m1.jsonl",
        "summary.json",
        "summary.md",
        "polynomial_accuracy_by_k.png",
        "m1_mape_by_step.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert (out / "polynomial_accuracy_by_k.png").read_bytes()[:4] == b"\x89PNG"
    record = json.loads((out / "iq57.jsonl").read_text().splitlines()[0])
    assert {"prompt", "answer", "prediction", "method", "correct"} <= set(record)
    document = (out / "summary.md").read_text()
    assert "| **differences** | — | 100.00% |" in document and "oeis: skipped" in document
    with pytest.raises(EvalError, match="--heldout"):
        run_suite(DifferencePredictor(), ["oeis"], out, config)


def test_cli_eval_runs_a_benchmark(tmp_path, monkeypatch, capsys):
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    (tmp_path / "heldout.jsonl").write_text('{"id": "A1", "prompt": "1,3,5,", "answer": 7}\n')
    args = parser.parse_args(
        [
            "eval",
            "oeis",
            "--predictor",
            "solvers",
            "--heldout",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    monkeypatch.setattr(commands, "_load", lambda _args: DifferencePredictor())
    assert args.func(args) == 0
    assert "oeis: accuracy 100.00%" in capsys.readouterr().out
    assert (tmp_path / "out" / "oeis_accuracy_by_length.png").is_file()
