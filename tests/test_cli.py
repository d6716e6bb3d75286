"""`nextterm predict` through a real subprocess, as a user runs it."""

import json
import subprocess
import sys

import pytest

from conftest import TINY_QWEN3


def run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "nextterm.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
    )


def test_fibonacci_by_name():
    result = run("predict", "--no-model", "1,1,2,3,5,8")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "13"
    assert "a(n) = Fibonacci(n) (n >= 1)" in result.stdout


def test_several_terms():
    result = run("predict", "--no-model", "-n", "3", "1,4,9,16,25")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "36, 49, 64"


def test_primes_are_named_and_noise_is_declined():
    primes = run("predict", "--no-model", "2,3,5,7,11,13")
    assert primes.returncode == 0 and primes.stdout.splitlines()[0] == "17"
    assert "rule: primes; confirmed by 6 further given terms" in primes.stdout
    noise = run("predict", "--no-model", "--min-confidence", "0.5", "7,19,2,44,3,91,18")
    assert noise.returncode == 1
    assert "no credible continuation" in noise.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["1,a,3"], "term 2 is not an integer"), ([","], "no terms"), (["01,02,03"], "leading zeros")],
)
def test_bad_input_is_one_line_and_exit_2(arguments, message):
    result = run("predict", "--no-model", *arguments)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().startswith("error:") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_negative_terms_stdin_and_json():
    negative = run("predict", "--no-model", "-1,2,-3,4,-5,6,-7")
    assert negative.returncode == 0 and negative.stdout.splitlines()[0] == "8"
    piped = run("predict", "--no-model", "--json", stdin="1 2 4 8 16 32 64\n")
    payload = json.loads(piped.stdout)
    assert payload["terms"] == [1, 2, 4, 8, 16, 32, 64]
    assert payload["candidates"][0]["value"] == 128
    assert payload["candidates"][0]["method"] == "rule"
    assert payload["candidates"][0]["explanation"] == "a(n) = 2^n (n >= 0)"


def test_model_checkpoint_answers_with_probabilities(tmp_path):
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.models.presets import create_model

    model = create_model("nextterm-1m", **TINY_QWEN3)
    save_checkpoint(model, tmp_path / "tiny")
    result = run(
        "predict",
        "--predictor",
        "model",
        "--model",
        str(tmp_path / "tiny"),
        "--json",
        "3,1,4,1,5,9,2,6",
    )
    assert result.returncode == 0, result.stderr
    [best, *_] = json.loads(result.stdout)["candidates"]
    assert best["method"] == "model" and 0 < best["confidence"] <= 1
    missing = run("predict", "--model", str(tmp_path / "absent"), "1,2,3")
    assert missing.returncode == 2 and "error:" in missing.stderr
