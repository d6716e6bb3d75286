"""Scoring of the evaluation suite on small hand-made items: exact match, MAPE, the decimal rule."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nextterm.candidates import Candidate
from nextterm.evals import m1, oeis, report
from nextterm.evals.common import (
    EvalError,
    EvalItem,
    accuracy,
    chunks,
    method_counts,
    run_items,
    top_k_accuracy,
)


class TablePredictor:
    """Answers from a fixed table keyed by the prompt; records the batch sizes it saw."""

    name = "table"

    def __init__(self, table: dict[tuple[int, ...], list[int]]) -> None:
        self.table = table
        self.batches: list[int] = []

    def predict_batch(self, sequences, n_terms=1, top_k=5):
        self.batches.append(len(sequences))
        return [
            [
                Candidate(value=v, confidence=0.5 / (rank + 1), method=f"m{rank}", explanation="")
                for rank, v in enumerate(self.table.get(tuple(s), []))
            ][:top_k]
            for s in sequences
        ]


ITEMS = [
    EvalItem("a", (1, 2, 3), 4),
    EvalItem("b", (2, 4, 8), 16),
    EvalItem("c", (1, 1, 2), 3),
    EvalItem("d", (5, 5), 5),
]


def test_exact_match_top1_topk_and_no_answer():
    predictor = TablePredictor({(1, 2, 3): [4], (2, 4, 8): [10, 16], (1, 1, 2): [3, 4]})
    results = run_items(predictor, ITEMS, batch_size=3)
    assert predictor.batches == [3, 1]
    assert [r.correct for r in results] == [True, False, True, False]
    assert accuracy(results) == 0.5
    assert top_k_accuracy(results) == 0.75
    assert results[3].prediction is None and results[3].method == "none"
    assert method_counts(results) == {
        "m0": {"answered": 3, "correct": 2},
        "none": {"answered": 1, "correct": 0},
    }
    record = results[1].to_dict()
    assert record["prompt"] == "2,4,8," and record["answer"] == 16
    assert record["prediction"] == 10 and record["correct"] is False and record["top_k"] == [10, 16]


def test_big_integers_compare_exactly():
    big = 10**60 + 1
    results = run_items(TablePredictor({(1,): [big - 1]}), [EvalItem("x", (1,), big)])
    assert not results[0].correct and accuracy([]) == 0.0


def test_predictor_returning_wrong_count_is_an_error():
    class Short:
        name = "short"

        def predict_batch(self, sequences, n_terms=1, top_k=5):
            return []

    with pytest.raises(EvalError, match="0 answers for 4"):
        run_items(Short(), ITEMS)
    with pytest.raises(EvalError):
        list(chunks([1, 2], 0))


def test_mape_arithmetic_by_hand():
    assert m1.ape([100, 200], [110, 150]) == [10.0, 25.0]
    assert m1.mape([100, 200], [110, 150]) == 17.5
    assert m1.mape([-50], [-25]) == 50.0
    assert m1.macro_mape([17.5, 2.5]) == 10.0
    assert math.isnan(m1.macro_mape([]))
    assert m1.mape_by_step([[10.0, 20.0], [30.0]]) == [20.0, 20.0]
    with pytest.raises(EvalError, match="undefined"):
        m1.mape([0, 1], [1, 1])
    with pytest.raises(EvalError):
        m1.ape([1, 2], [1])
    assert m1.ape([5], [10**400]) == [math.inf]  # absurd forecasts score, they do not crash


def test_decimal_rule_by_hand():
    assert m1.decimals(2.56817) == 5 and m1.decimals(2.50) == 1 and m1.decimals(1200) == 0
    assert m1.to_integers([2.56817, 2.5, 3]) == ([256817, 250000, 300000], 5)
    assert m1.to_integers([7650, 12.0]) == ([7650, 12], 0)
    assert m1.to_integers([0.1, 0.2]) == ([1, 2], 1)  # exact: no 0.30000000000000004 drift
    assert m1.from_integers([256818], 5) == [2.56818]
    assert m1.from_integers([7650], 0) == [7650]


@given(
    st.lists(
        st.decimals(min_value=-(10**6), max_value=10**6, places=4, allow_nan=False), min_size=1
    )
)
def test_decimal_rule_round_trip(values):
    floats = [float(v) for v in values]
    integers, d = m1.to_integers(floats)
    assert all(isinstance(n, int) for n in integers)
    assert m1.from_integers(integers, d) == floats


def test_oeis_length_bins():
    assert [oeis.length_bin(n) for n in (1, 2, 3, 4, 7, 8, 100)] == [
        "1",
        "2-3",
        "2-3",
        "4-7",
        "4-7",
        "8-15",
        "64-127",
    ]


def test_report_tables_put_our_row_beside_the_card():
    summaries = {
        "iq57": {"accuracy": 0.5},
        "m1": {"mape": 20.5, "classical": {"Naive": {"mape": 19.25}}},
        "polynomial": {"per_degree": {"arithmetic": 1.0, "quadratic": 0.5}},
    }
    main = report.main_table("ours", summaries)
    assert "| **ours** | — | 50.00% | 20.5000 |" in main
    assert "| Naive (statsforecast, this run) | — | — | 19.2500 |" in main
    assert "| NextTerm-440M (card) | 34.43% | 52.63% | 17.6239 |" in main
    assert "| **ours** | — | 50.00% | 1.23e+190 |" in report.main_table(
        "ours", {**summaries, "m1": {"mape": 1.23e190}}
    )
    poly = report.polynomial_table("ours", summaries["polynomial"])
    assert "| **ours** | 100.00% | 50.00% | — | — |" in poly
    assert "| Qwen3-14B (card) | 95.60% | 84.61% | 49.16% | 14.98% |" in poly
