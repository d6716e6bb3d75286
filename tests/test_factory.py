"""One predictor everywhere: ``nextterm data fetch`` makes the lookup index a local resource that
``predict`` finds by itself, and ``predict``, ``serve`` and ``eval`` give the same candidates."""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys

import httpx
import pytest

from conftest import TINY_QWEN3

SEQUENCES = {
    "A000045": ("Fibonacci numbers", [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377]),
    "A000290": ("The squares", [n * n for n in range(15)]),
    "A000040": ("The primes", [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]),
    "A000079": ("Powers of 2", [2**n for n in range(15)]),
}


@pytest.fixture(scope="module")
def oeis_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oeis")
    with gzip.open(folder / "stripped.gz", "wt") as handle:
        for anum, (_, terms) in SEQUENCES.items():
            handle.write(f"{anum} ,{','.join(map(str, terms))},\n")
    with gzip.open(folder / "names.gz", "wt") as handle:
        for anum, (name, _) in SEQUENCES.items():
            handle.write(f"{anum} {name}\n")
    return folder


def _nextterm(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nextterm.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_fetch_from_a_local_folder_then_predict_names_the_sequence(oeis_dir, tmp_path):
    env = {"NEXTTERM_CACHE": str(tmp_path / "cache")}
    before = _nextterm("predict", "--no-model", "5,8,13,21,34", env=env)
    assert "A000045" not in before.stdout
    assert "nextterm data fetch" in before.stderr  # the one-line hint
    fetched = _nextterm("data", "fetch", "--from", str(oeis_dir), env=env)
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "cache" / "lookup.idx").is_file()
    after = _nextterm("predict", "--no-model", "5,8,13,21,34", env=env)
    assert after.returncode == 0 and after.stdout.splitlines()[0] == "55"
    assert "A000045 Fibonacci numbers" in after.stdout and after.stderr == ""
    quiet = _nextterm("predict", "--no-model", "--no-lookup", "5,8,13,21,34", env=env)
    assert "A000045" not in quiet.stdout and quiet.stderr == ""


def test_predict_serve_and_eval_give_the_same_candidates(oeis_dir, tmp_path):
    from nextterm.evals.commands import _load
    from nextterm.lookup import LookupIndex
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.models.presets import create_model
    from nextterm.predict import load_predictor, predict
    from nextterm.serve.config import ServeConfig
    from nextterm.serve.server import BackgroundServer, build_app

    model = save_checkpoint(create_model("nextterm-1m", seed=0, **TINY_QWEN3), tmp_path / "tiny")
    index = LookupIndex.build(oeis_dir / "stripped.gz", oeis_dir / "names.gz").save(
        tmp_path / "lookup.idx"
    )
    terms = [5, 8, 13, 21, 34]

    def summary(candidates):
        return [(c["value"], c["explanation"]) for c in candidates]

    library = load_predictor("hybrid", model=model, device="cpu", lookup_index=index)
    from_predict = summary([c.to_dict() for c in predict(terms, top_k=3, predictor=library)])
    arguments = argparse.Namespace(
        predictor="hybrid",
        model=str(model),
        device="cpu",
        beam=4,
        effort="default",
        lookup_index=str(index),
        no_lookup=False,
        benchmark="iq57",
    )
    from_eval = summary([c.to_dict() for c in predict(terms, top_k=3, predictor=_load(arguments))])
    app = build_app(model, ServeConfig(model_name="tiny"), device="cpu", lookup_index=index)
    with BackgroundServer(app) as server:
        body = httpx.post(
            server.url + "/v1/next-terms", json={"terms": terms, "top_k": 3}, timeout=60
        ).json()
    from_serve = summary(body["candidates"])
    assert from_predict == from_eval == from_serve
    assert from_predict[0][0] == 55 and "A000045" in from_predict[0][1]
