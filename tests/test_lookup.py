"""OEIS lookup: built from a slice of the real OEIS files, it finds Fibonacci and respects the
allowed ids."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from nextterm.lookup import LookupIndex, LookupIndexError, fingerprint, lookup_candidates

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "oeis"
LINES = 3000


def _slice(source: Path, target: Path, lines: int) -> Path:
    with gzip.open(source, "rt") as handle, gzip.open(target, "wt") as out:
        for number, line in enumerate(handle):
            if number >= lines:
                break
            out.write(line)
    return target


@pytest.fixture(scope="module")
def oeis_slice(tmp_path_factory) -> Path:
    if not (DATA / "stripped.gz").exists() or not (DATA / "names.gz").exists():
        pytest.skip("OEIS data not available")
    directory = tmp_path_factory.mktemp("oeis")
    _slice(DATA / "stripped.gz", directory / "stripped.gz", LINES)
    _slice(DATA / "names.gz", directory / "names.gz", LINES)
    return directory


@pytest.fixture(scope="module")
def index(oeis_slice: Path) -> LookupIndex:
    built = LookupIndex.build(
        oeis_slice / "stripped.gz", oeis_slice / "names.gz", progress=False
    )
    return LookupIndex.load(built.save(oeis_slice / "lookup.idx"))


def test_finds_fibonacci_with_its_name(index: LookupIndex):
    matches = index.search([5, 8, 13, 21, 34], limit=10)
    fibonacci = [m for m in matches if m.anum == "A000045"]
    assert fibonacci, [m.anum for m in matches]
    assert fibonacci[0].name.startswith("Fibonacci numbers")
    assert fibonacci[0].offset == 5
    assert fibonacci[0].next_terms[:3] == (55, 89, 144)
    candidates = lookup_candidates(index, [5, 8, 13, 21, 34], n_terms=2)
    assert candidates[0].value == 55 and candidates[0].continuation == (55, 89)
    # A000044 (Fibonacci until its 13th term) ties with A000045 in this small slice.
    assert "A000045" in candidates[0].details["agreeing"]
    assert candidates[0].explanation.startswith(("A000045 Fibonacci numbers", "A000044"))
    assert candidates[0].method == "lookup" and 0 < candidates[0].confidence <= 0.5


def test_ranking_prefers_matches_at_the_start(index: LookupIndex):
    matches = index.search([0, 1, 1, 2, 3, 5, 8], limit=20)
    assert matches[0].offset == 0
    scores = [m.score for m in matches]
    assert scores == sorted(scores)


def test_signs_and_ignore_sign(index: LookupIndex):
    negated = [-5, -8, -13, -21, -34]
    assert all(m.anum != "A000045" for m in index.search(negated, limit=50))
    assert any(m.anum == "A000045" for m in index.search(negated, limit=50, ignore_sign=True))


def test_huge_terms_are_exact(index: LookupIndex):
    factorials = [1]
    for n in range(1, 30):
        factorials.append(factorials[-1] * n)
    assert fingerprint(factorials[25]) >> 63  # beyond int64: stored as a hash plus its digits
    matches = index.search(factorials[20:24], limit=5)
    found = [m for m in matches if m.anum == "A000142"]
    assert found and found[0].next_terms[:3] == tuple(factorials[24:27])


def test_disallowed_ids_are_never_found(oeis_slice: Path):
    lines = gzip.open(oeis_slice / "stripped.gz", "rt").read().splitlines()
    every = [line.split(" ", 1)[0] for line in lines if line.startswith("A")]
    allowed = [anum for anum in every if anum != "A000045"]
    index = LookupIndex.build(
        oeis_slice / "stripped.gz", oeis_slice / "names.gz", allowed_ids=allowed, progress=False
    )
    assert len(index) == len(every) - 1
    for query in ([0, 1, 1, 2, 3, 5, 8, 13], [5, 8, 13, 21, 34], [55, 89, 144, 233]):
        assert all(m.anum != "A000045" for m in index.search(query, limit=100))


def test_short_queries_and_bad_files(index: LookupIndex, tmp_path: Path):
    assert index.search([1, 2]) == []
    assert lookup_candidates(index, [987654321, 123456789, 555555555]) == []
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"not an index")
    with pytest.raises(LookupIndexError):
        LookupIndex.load(bad)
    with pytest.raises(LookupIndexError):
        LookupIndex.load(tmp_path / "missing.idx")


def test_cli_builds_and_looks_up(oeis_slice: Path, tmp_path: Path):
    ids = tmp_path / "train_ids.txt"
    ids.write_text("A000045\nA000108\n")
    index_path = tmp_path / "small.idx"
    command = [sys.executable, "-c", "from nextterm.cli import main; raise SystemExit(main())"]
    built = subprocess.run(
        command + ["lookup", "--build", "--oeis", str(oeis_slice), "--allowed", str(ids),
                   "--index", str(index_path), "5,8,13,21,34"],
        capture_output=True, text=True, timeout=120,
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("A000045  at term 6  next: 55, 89, 144")
    assert "Fibonacci numbers" in built.stdout
    missing = subprocess.run(
        command + ["lookup", "--index", str(index_path), "2,3,5,7,11"],
        capture_output=True, text=True, timeout=120,
    )
    assert missing.returncode == 1
    predicted = subprocess.run(
        command + ["predict", "--no-model", "--lookup-index", str(index_path), "5,8,13,21,34"],
        capture_output=True, text=True, timeout=120,
    )
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.splitlines()[0] == "55"
    assert "A000045 Fibonacci numbers" in predicted.stdout
