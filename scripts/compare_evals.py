"""Whether a candidate model beats the shipped one on the OEIS held-out split (exit status 0 if so).

    python scripts/compare_evals.py \\
        --current benchmarks/results/evals-model.json benchmarks/results/evals-hybrid.json \\
        --candidate benchmarks/results/evals-gpu-model.json benchmarks/results/evals-gpu-hybrid.json

Each pair (the same predictor kind, as written by ``benchmarks/run_evals.py``) must have been
measured on the same held-out items (same data file, limit and seed); the candidate must be more
accurate in every pair. Prints one line per pair and exits 1 when any pair is not an improvement,
2 when the summaries cannot be compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_SAME = ("data", "limit", "seed", "items")
"""Fields of the OEIS benchmark that must agree for two accuracies to be comparable."""


class NotComparable(Exception):
    """Two summaries cannot be compared (unreadable, other predictor, other items)."""


def _oeis(path: Path) -> tuple[str, dict]:
    try:
        summary = json.loads(path.read_text())
        return summary["predictor"], summary["benchmarks"]["oeis"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise NotComparable(
            f"{path} is not a run_evals summary with an OEIS result ({error})"
        ) from None


def compare(current: list[Path], candidate: list[Path]) -> list[tuple[str, float, float]]:
    """``(predictor, current accuracy, candidate accuracy)`` per pair (:class:`NotComparable` if not)."""
    if len(current) != len(candidate):
        raise NotComparable("give as many --candidate summaries as --current ones")
    rows = []
    for old_path, new_path in zip(current, candidate, strict=True):
        (old_kind, old), (new_kind, new) = _oeis(old_path), _oeis(new_path)
        if old_kind != new_kind:
            raise NotComparable(f"{old_path} is predictor {old_kind!r}, {new_path} is {new_kind!r}")
        differ = [field for field in _SAME if old.get(field) != new.get(field)]
        if differ:
            raise NotComparable(f"{old_path} and {new_path} differ in {', '.join(differ)}")
        rows.append((old_kind, old["accuracy"], new["accuracy"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--current", type=Path, nargs="+", required=True, help="the shipped model's summaries"
    )
    parser.add_argument(
        "--candidate", type=Path, nargs="+", required=True, help="the candidate's summaries"
    )
    args = parser.parse_args(argv)
    try:
        rows = compare(args.current, args.candidate)
    except NotComparable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for kind, old, new in rows:
        print(
            f"{kind}: {100 * old:.2f}% -> {100 * new:.2f}% ({'better' if new > old else 'not better'})"
        )
    return 0 if all(new > old for _, old, new in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
