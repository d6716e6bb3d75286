"""The evaluation suite behind ``nextterm eval``: the model card's four benchmarks for any predictor.

Modules: :mod:`~nextterm.evals.polynomial` (polynomial continuation), :mod:`~nextterm.evals.iq57`
(IQ-57 / Ryskina & Knight), :mod:`~nextterm.evals.oeis` (OEIS held-out next term),
:mod:`~nextterm.evals.m1` (M1-111 MAPE with classical forecasters), :mod:`~nextterm.evals.runner`
(runs any of them and writes JSONL, plots, ``summary.json`` and ``summary.md``),
:mod:`~nextterm.evals.openai_predictor` (any OpenAI-compatible completions endpoint as a
predictor) and :mod:`~nextterm.evals.commands` (the CLI).
"""
