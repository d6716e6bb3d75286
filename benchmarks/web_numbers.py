"""Copy the benchmark numbers the web page shows into the package.

    python benchmarks/web_numbers.py

Reads benchmarks/results/evals-{hybrid,solvers,model}.json, predict.json and web.json and writes
src/nextterm/serve/web/numbers.json (tests/test_web.py checks the two agree).
"""

from __future__ import annotations

from pathlib import Path

from nextterm.serve.web.numbers import NUMBERS_FILE, write

if __name__ == "__main__":
    write(Path(__file__).resolve().parent / "results")
    print(f"wrote {NUMBERS_FILE}")
