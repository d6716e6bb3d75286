"""OEIS lookup: built from a slice of the real OEIS files, it finds Fibonacci and respects the
allowed ids; built from tiny files, it finds relatives through every transform and maps their
next terms back exactly."""

from __future__ import annotations

import gzip
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from nextterm.lookup import (
    LOOKUP_CONFIDENCE,
    LookupIndex,
    LookupIndexError,
    fingerprint,
    lookup_candidates,
)
from nextterm.lookup.transforms import TRANSFORMS

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
    built = LookupIndex.build(oeis_slice / "stripped.gz", oeis_slice / "names.gz", progress=False)
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
    assert candidates[0].method == "lookup" and 0 < candidates[0].confidence <= LOOKUP_CONFIDENCE
    assert candidates[0].details["transform"] == "identity"
    assert candidates[0].details["whole_prompt"]


def test_ranking_prefers_matches_at_the_start(index: LookupIndex):
    matches = index.search([0, 1, 1, 2, 3, 5, 8], limit=20)
    assert matches[0].offset == 0
    covered = [m.before for m in matches]
    assert covered == sorted(covered)


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
        command
        + [
            "lookup",
            "--build",
            "--oeis",
            str(oeis_slice),
            "--allowed",
            str(ids),
            "--index",
            str(index_path),
            "5,8,13,21,34",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("A000045  at term 6  next: 55, 89, 144")
    assert "Fibonacci numbers" in built.stdout
    missing = subprocess.run(
        command + ["lookup", "--index", str(index_path), "2,3,5,7,11"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1
    predicted = subprocess.run(
        command + ["predict", "--no-model", "--lookup-index", str(index_path), "5,8,13,21,34"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.splitlines()[0] == "55"
    assert "A000045 Fibonacci numbers" in predicted.stdout


# --- lookup of relatives, on tiny indexes -----------------------------------------------------

RNG = random.Random(14)
BASE = [RNG.randrange(1_000, 1_000_000) for _ in range(30)]
"""A sequence no transform of another one in these tests resembles."""


def _tiny_index(tmp_path: Path, sequences: dict[str, list[int]]) -> LookupIndex:
    stripped = tmp_path / "stripped"
    stripped.write_text(
        "# test\n" + "".join(f"{a} ,{','.join(map(str, t))},\n" for a, t in sequences.items())
    )
    names = tmp_path / "names"
    names.write_text("".join(f"{a} Sequence {a}\n" for a in sequences))
    built = LookupIndex.build(stripped, names, progress=False)
    return LookupIndex.load(built.save(tmp_path / "tiny.idx"))


def _binomial(terms: list[int], sign: int = 1) -> list[int]:
    return [
        sum(math.comb(n, k) * sign ** (n - k) * terms[k] for k in range(n + 1))
        for n in range(len(terms))
    ]


def _partial_sums(terms: list[int]) -> list[int]:
    return [sum(terms[: i + 1]) for i in range(len(terms))]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: t.name)
def test_every_inverse_undoes_its_transform(transform):
    # divisible by 2, 3, 4, n and n+1, so every exact quotient is defined
    full = [12 * n * (n + 1) * RNG.randrange(-50, 50) + (0 if n else 7) for n in range(40)]
    given, extra = full[:30], full[30:33]
    if transform.name == "bisection":
        # the bisection continuing a(30) holds a(0), a(2), ..., a(28); its next term is a(30)
        assert transform.forward(given, 5) == given[20:30:2]
        assert transform.inverse(given, [full[30], full[32]]) == [full[30]]
        return
    transformed = transform.forward(full[:33], 33)
    assert transformed[-12:-3] == transform.forward(given, 12)[-9:]
    assert transform.inverse(given, transformed[-3:]) == extra


@pytest.mark.parametrize(
    ("label", "prompt", "indexed", "transform", "expected"),
    [
        (
            "differences",
            _partial_sums([100] + BASE[:12]),
            BASE,
            "differences",
            sum([100] + BASE[:13]),
        ),
        ("partial sums", BASE[:12], _partial_sums(BASE), "partial sums", BASE[12]),
        ("twice an indexed one", [2 * t for t in BASE[:12]], BASE, "divided by 2", 2 * BASE[12]),
        ("half an indexed one", BASE[:12], [2 * t for t in BASE], "times 2", BASE[12]),
        ("shifted", [t - 1 for t in BASE[:12]], BASE, "plus 1", BASE[12] - 1),
        ("binomial transform", BASE[:12], _binomial(BASE[:20]), "binomial", BASE[12]),
        (
            "inverse binomial transform",
            BASE[:12],
            _binomial(BASE[:20], -1),
            "inverse binomial",
            BASE[12],
        ),
        (
            "a(n)/(n+1)",
            [(n + 1) * t for n, t in enumerate(BASE[:12])],
            BASE,
            "over n+1",
            13 * BASE[12],
        ),
        (
            "bisection",
            [x for pair in zip(BASE[:6], range(6)) for x in pair],
            BASE,
            "bisection",
            BASE[6],
        ),
    ],
)
def test_relatives_map_back_through_their_transform(
    tmp_path: Path, label, prompt, indexed, transform, expected
):
    index = _tiny_index(tmp_path, {"A000100": indexed, "A000200": list(range(2, 40, 3))})
    candidates = lookup_candidates(index, prompt, n_terms=2)
    assert candidates, label
    top = candidates[0]
    assert top.value == expected, (label, top.explanation)
    details = top.details
    assert details["anum"] == "A000100" and details["name"] == "Sequence A000100"
    assert details["transform"] == transform
    assert 5 <= details["window"] <= 12 and details["votes"] == 1
    assert details["chains"][0] == {
        "anum": "A000100",
        "name": "Sequence A000100",
        "transform": transform,
        "window": details["window"],
        "votes": 1,
    }
    assert top.explanation.startswith("A000100 Sequence A000100, via ")
    assert top.explanation.endswith(f"(last {details['window']} terms)")
    assert top.method == "lookup" and 0 < top.confidence <= LOOKUP_CONFIDENCE
    if transform != "bisection":  # a bisection gives one term; the others give the next two
        assert len(top.continuation) == 2


def test_differences_continuation_is_exact(tmp_path: Path):
    index = _tiny_index(tmp_path, {"A000100": BASE})
    prompt = _partial_sums([100] + BASE[:10])
    top = lookup_candidates(index, prompt, n_terms=3)[0]
    assert top.continuation == tuple(_partial_sums([100] + BASE[:13])[-3:])
    assert top.explanation == "A000100 Sequence A000100, via differences (last 10 terms)"


def test_whole_prompt_match_outranks_relatives(tmp_path: Path):
    # A000300 holds the prompt itself; A000100 its differences with another next term
    prompt = _partial_sums([100] + BASE[:9])
    index = _tiny_index(tmp_path, {"A000100": BASE[:9] + [7, 7], "A000300": prompt + [5, 5]})
    candidates = lookup_candidates(index, prompt)
    assert [c.value for c in candidates] == [5, prompt[-1] + 7]
    assert candidates[0].details["whole_prompt"]
    assert candidates[0].details["transform"] == "identity"
    assert candidates[0].confidence > candidates[1].confidence
    assert candidates[1].details["transform"] == "differences"
    assert [c.value for c in lookup_candidates(index, prompt, relatives=False)] == [5]


def test_agreeing_sequences_merge_into_one_candidate(tmp_path: Path):
    window = BASE[:8]
    index = _tiny_index(
        tmp_path,
        {
            "A000100": window + [1, 2],
            "A000200": [9, 9] + window + [1, 3],
            "A000300": [4] + window + [1],
            "A000400": window + [2],
        },
    )
    candidates = lookup_candidates(index, [5, 5] + window)
    assert [c.value for c in candidates] == [1, 2]
    merged = candidates[0]
    assert merged.details["votes"] == 3
    assert set(merged.details["agreeing"]) == {"A000100", "A000200", "A000300"}
    assert merged.details["chains"][0]["votes"] == 3
    assert candidates[1].details["votes"] == 1
    assert merged.confidence > candidates[1].confidence


def test_votes_merge_across_transforms(tmp_path: Path):
    # the prompt's differences are A000100 and its values plus one are A000200: both give 1000
    prompt = _partial_sums([100] + BASE[:9])
    index = _tiny_index(
        tmp_path,
        {
            "A000100": BASE[:9] + [1000 - prompt[-1]],
            "A000200": [t + 1 for t in prompt] + [1001],
        },
    )
    candidates = lookup_candidates(index, prompt)
    assert [c.value for c in candidates] == [1000]
    details = candidates[0].details
    assert details["votes"] == 2
    assert {chain["transform"] for chain in details["chains"]} == {"differences", "plus 1"}


def test_next_terms_that_do_not_map_back_are_dropped(tmp_path: Path):
    # twice the prompt is indexed, followed by an odd term: no integer next term for the prompt
    index = _tiny_index(tmp_path, {"A000100": [2 * t for t in BASE[:10]] + [3]})
    assert lookup_candidates(index, BASE[:10]) == []


def test_awkward_inputs_do_not_crash(tmp_path: Path):
    index = _tiny_index(
        tmp_path,
        {
            "A000100": BASE,
            "A000200": [0] * 30,
            "A000300": [-t for t in BASE],
        },
    )
    for prompt in (
        [],
        [0],
        [1, 2],
        [0, 0, 0],
        [0] * 40,
        [10**500] * 8,
        [10**5000, 1, 2, 3, 4, 5],
        [-t for t in BASE[:3]],
        list(range(-3000, 0)),
        [7] * 300,
    ):
        for candidate in lookup_candidates(index, prompt, n_terms=3):
            assert isinstance(candidate.value, int) and candidate.continuation
    negated = lookup_candidates(index, [-t for t in BASE[:10]])
    assert negated[0].value == -BASE[10] and negated[0].details["anum"] == "A000300"
    assert lookup_candidates(index, [0] * 12)[0].value == 0
    assert fingerprint(10**5000) >> 63 and fingerprint(-(10**5000)) == fingerprint(10**5000)


# --- ranking of the hits, as the OEIS page lists them -----------------------------------------


def _rows_index(tmp_path: Path, rows: dict[str, list[int]], names: dict[str, str]) -> LookupIndex:
    stripped = tmp_path / "rows"
    stripped.write_text("".join(f"{a} ,{','.join(map(str, t))},\n" for a, t in rows.items()))
    named = tmp_path / "row-names"
    named.write_text("".join(f"{a} {name}\n" for a, name in names.items()))
    built = LookupIndex.build(stripped, named, progress=False)
    return LookupIndex.load(built.save(tmp_path / "rows.idx"))


FIBONACCI = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377]
DYING_RABBITS = [1, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 232, 375]


def test_search_ranks_the_sequence_the_query_covers_from_its_start(tmp_path: Path):
    rows = {
        "A000012": [1] * 15,
        "A000044": DYING_RABBITS,
        "A000045": FIBONACCI,
        "A000071": [0, 0, 1, 2, 4, 7, 12, 20, 33, 54, 88, 143, 232],
        "A020695": [1, 2, 3, 5, 8, 13, 21, 34, 55],
        "A039834": [1, 1, 2, 3, 5, 8, 13],
        "A212804": [1, 0, 1, 1, 2, 3, 5, 8, 13, 21],
    }
    names = {
        "A000012": "The simplest sequence of positive numbers: the all 1's sequence.",
        "A000044": "Dying rabbits: a(0) = 1; for 1 <= n <= 12, a(n) = Fibonacci(n).",
        "A000045": "Fibonacci numbers: F(n) = F(n-1) + F(n-2) with F(0) = 0 and F(1) = 1.",
        "A212804": "Expansion of (1 - x)/(1 - x - x^2).",
    }
    index = _rows_index(tmp_path, rows, names)
    matches = index.search([1, 1, 2, 3, 5, 8])
    # A000045 and the unnamed A039834 cover their sequence from the start (a leading 0 is an
    # index convention) and the name decides between them; Dying rabbits has a 1 before the match
    assert [m.anum for m in matches] == ["A000045", "A039834", "A000044", "A212804"]
    assert [m.before for m in matches] == [0, 0, 1, 2]
    assert matches[0].offset == 1 and matches[0].next_terms[:2] == (13, 21)
    assert matches == index.search([1, 1, 2, 3, 5, 8])


def test_search_puts_a_match_with_a_next_term_first(tmp_path: Path):
    rows = {"A000045": FIBONACCI, "A000046": FIBONACCI[:7], "A000047": FIBONACCI[:7] + [14]}
    names = {anum: "Fibonacci-like" for anum in rows}
    index = _rows_index(tmp_path, rows, names)
    assert [m.anum for m in index.search([1, 1, 2, 3, 5, 8])] == ["A000045", "A000047", "A000046"]


def test_lookup_candidates_are_named_by_the_sequence_covered_from_its_start(tmp_path: Path):
    rows = {"A000044": DYING_RABBITS, "A000045": FIBONACCI}
    names = {"A000044": "Dying rabbits", "A000045": "Fibonacci numbers"}
    index = _rows_index(tmp_path, rows, names)
    top = lookup_candidates(index, [1, 1, 2, 3, 5, 8])[0]
    assert top.value == 13 and top.details["anum"] == "A000045"
    assert lookup_candidates(index, [1, 1, 2, 3, 5, 8]) == [top]
