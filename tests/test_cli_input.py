"""Careless input and option values: each gets its exact one-line message (exit status 2, no
traceback) before any model or index loads; accepted spellings get their answer; batch mode,
``--version``, JSON errors and the help texts."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nextterm.cli import build_parser, main

LONG = "9" * 1001
BRACKETS = "only one pair of brackets may enclose the whole sequence"
NO_TERMS = "no terms given: enter integers such as 1,1,2,3,5,8"


class ModelLoaded(Exception):
    """Raised by the patched loaders: reaching them means a check came too late."""


@pytest.fixture
def nothing_loads(monkeypatch):
    """Loading a predictor or a lookup index is impossible."""

    def refuse(*args, **kwargs):
        raise ModelLoaded("a predictor or an index was loaded before the input was checked")

    monkeypatch.setattr("nextterm.predict.load_predictor", refuse)
    monkeypatch.setattr("nextterm.lookup.LookupIndex.load", refuse)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def _files(tmp_path):
    (tmp_path / "bad.txt").write_text("1,2,3\n1,a,3\n")
    (tmp_path / "empty.txt").write_text("\n\n")
    (tmp_path / "good.txt").write_text("1,2,3\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "nockpt").mkdir()


CASES = [
    # the input grammar (predict)
    (["predict", "1,,2"], "term 2 is empty (two separators in a row)"),
    (["predict", ",1,2"], "term 1 is empty (a separator before the first term)"),
    (["predict", "1,2,,"], "term 3 is empty (two separators in a row)"),
    (["predict", "1;;2"], "term 2 is empty (two separators in a row)"),
    (["predict", "1, ,2"], "term 2 is empty (two separators in a row)"),
    (["predict", "-1,,2"], "term 2 is empty (two separators in a row)"),
    (["predict", "(1),(2),(3)"], f"term 1 contains ')': {BRACKETS}"),
    (["predict", "1,[2],3"], f"term 2 contains '[': {BRACKETS}"),
    (["predict", "((1,2))"], f"term 1 contains '(': {BRACKETS}"),
    (["predict", "1,2,3]"], f"term 3 contains ']': {BRACKETS}"),
    (["predict", "1,2,3}"], f"term 3 contains '}}': {BRACKETS}"),
    (["predict", "[1,2,3"], "the opening '[' is never closed: end the sequence with ']'"),
    (["predict", "{1,2,3"], "the opening '{' is never closed: end the sequence with '}'"),
    (["predict", "[1,2,3)"], "the opening '[' is closed by ')': use [...]"),
    (["predict", "{1,2,3]"], "the opening '{' is closed by ']': use {...}"),
    (["predict", "[]"], NO_TERMS),
    (["predict", "{ }"], NO_TERMS),
    (["predict", ","], NO_TERMS),
    (["predict", ""], NO_TERMS),
    (["predict"], NO_TERMS),
    (["predict", "1,a,3"], "term 2 is not an integer: 'a'"),
    (["predict", "1.5,2"], "term 1 is not an integer: '1.5'"),
    (["predict", "+3,4"], "term 1 is not an integer: '+3'"),
    (["predict", "1e5"], "term 1 is not an integer: '1e5'"),
    (["predict", "1/2,3"], "term 1 is not an integer: '1/2'"),
    (["predict", "0x10"], "term 1 is not an integer: '0x10'"),
    (["predict", "1", "2", "three"], "term 3 is not an integer: 'three'"),
    (["predict", "1|2|3"], "term 1 is not an integer: '1|2|3'"),
    (["predict", "\uff11,\uff12"], "term 1 is not an integer: '\uff11'"),
    (["predict", "\u22121,2"], "term 1 is not an integer: '\u22121'"),
    (["predict", "-"], "term 1 is not an integer: '-'"),
    (["predict", "01,02"], "term 1 has leading zeros: '01' (write it without them)"),
    (["predict", "5,-007"], "term 2 has leading zeros: '-007' (write it without them)"),
    (["predict", "-0,1"], "term 1 is negative zero: write 0"),
    (["predict", f"1,2,3,{LONG}"], "term 4 has 1001 digits; the limit is 1000"),
    # predict's option values
    (["predict", "-n", "0", "1,2,3"], "-n must be between 1 and 100, got 0"),
    (["predict", "-n", "-1", "1,2,3"], "-n must be between 1 and 100, got -1"),
    (["predict", "-n", "1000", "1,2,3"], "-n must be between 1 and 100, got 1000"),
    (["predict", "-n", "x", "1,2,3"], "-n must be a whole number from 1 to 100, got 'x'"),
    (["predict", "-n", "1.5", "1,2,3"], "-n must be a whole number from 1 to 100, got '1.5'"),
    (["predict", "1,2,3", "-n"], "-n: expected one argument"),
    (["predict", "--top-k", "0", "1,2"], "--top-k must be between 1 and 50, got 0"),
    (["predict", "--top-k=-3", "1,2"], "--top-k must be between 1 and 50, got -3"),
    (["predict", "--top-k", "51", "1,2"], "--top-k must be between 1 and 50, got 51"),
    (["predict", "--beam", "0", "1,2"], "--beam must be between 1 and 64, got 0"),
    (
        ["predict", "--beam", "wide", "1,2"],
        "--beam must be a whole number from 1 to 64, got 'wide'",
    ),
    (
        ["predict", "--min-confidence", "-1", "1,2"],
        "--min-confidence must be between 0 and 1, got -1",
    ),
    (
        ["predict", "--min-confidence", "2", "1,2"],
        "--min-confidence must be between 0 and 1, got 2",
    ),
    (
        ["predict", "--min-confidence", "nan", "1,2"],
        "--min-confidence must be between 0 and 1, got nan",
    ),
    (
        ["predict", "--min-confidence", "high", "1,2"],
        "--min-confidence must be a number from 0 to 1, got 'high'",
    ),
    (
        ["predict", "--device", "bogus", "1,2"],
        "--device must be cpu, cuda, cuda:N or mps, got 'bogus'",
    ),
    (["predict", "--device", "gpu", "1,2"], "--device must be cpu, cuda, cuda:N or mps, got 'gpu'"),
    (["predict", "--device", "cpu:1", "1,2"], "--device cpu takes no number, got 'cpu:1'"),
    (
        ["predict", "--predictor", "best", "1,2"],
        "--predictor: invalid choice: 'best' (choose from 'hybrid', 'solvers', 'model', "
        "'model-beam')",
    ),
    (
        ["predict", "--effort", "max", "1,2"],
        "--effort: invalid choice: 'max' (choose from 'default', 'deep')",
    ),
    (
        ["predict", "--model", "/nonexistent/ckpt", "1,2"],
        "--model /nonexistent/ckpt: no such checkpoint folder",
    ),
    (
        ["predict", "--model", "{tmp}/nockpt", "1,2"],
        "--model {tmp}/nockpt: not a checkpoint folder (no config.json in it)",
    ),
    (
        ["predict", "--lookup-index", "/nonexistent.idx", "1,2"],
        "--lookup-index /nonexistent.idx: no such file",
    ),
    (["predict", "--bogus", "1,2"], "unrecognized arguments: --bogus"),
    # predict --file
    (["predict", "--file", "/nonexistent.txt"], "--file /nonexistent.txt: no such file"),
    (["predict", "--file", "{tmp}/folder"], "--file {tmp}/folder: is a folder, not a file"),
    (
        ["predict", "--file", "{tmp}/bad.txt"],
        "{tmp}/bad.txt, line 2: term 2 is not an integer: 'a'",
    ),
    (
        ["predict", "--file", "{tmp}/empty.txt"],
        "{tmp}/empty.txt holds no sequences: write one sequence a line",
    ),
    (["predict", "--file", "{tmp}/good.txt", "1,2"], "give the terms or --file, not both"),
    (["predict", "--jobs", "2", "1,2"], "--jobs applies to --file: give a file of sequences"),
    (
        ["predict", "--jobs", "0", "--file", "{tmp}/good.txt"],
        "--jobs must be between 1 and 256, got 0",
    ),
    # lookup takes the same terms
    (["lookup", "1,,2"], "term 2 is empty (two separators in a row)"),
    (["lookup", "(1),(2)"], f"term 1 contains ')': {BRACKETS}"),
    (["lookup", "1", "2", "x"], "term 3 is not an integer: 'x'"),
    (["lookup", "-1,2,-0"], "term 3 is negative zero: write 0"),
    (["lookup"], "give TERMS to look up (or --build --oeis DIR to build the index)"),
    (["lookup", "--limit", "0", "1,2"], "--limit must be between 1 and 1000, got 0"),
    (
        ["lookup", "--limit", "many", "1,2"],
        "--limit must be a whole number from 1 to 1000, got 'many'",
    ),
    (["lookup", "--index", "/nonexistent.idx", "1,2,3"], "--index /nonexistent.idx: no such file"),
    (["lookup", "--build", "1,,2"], "term 2 is empty (two separators in a row)"),
    (["lookup", "--build", "1,2"], "--build needs --oeis DIR (the directory holding stripped.gz)"),
    # other commands
    (["serve", "--device", "bogus"], "--device must be cpu, cuda, cuda:N or mps, got 'bogus'"),
    (["eval", "iq57", "--device", "tpu"], "--device must be cpu, cuda, cuda:N or mps, got 'tpu'"),
    (
        ["calibrate", "--device", "cuda:x"],
        "--device must be cpu, cuda, cuda:N or mps, got 'cuda:x'",
    ),
    ([], "the following arguments are required: COMMAND"),
    (
        ["eval", "bogus"],
        "benchmark: invalid choice: 'bogus' (choose from 'polynomial', 'iq57', 'oeis', 'm1', "
        "'all')",
    ),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_careless_input_is_one_line_before_loading(argv, message, tmp_path, capsys, nothing_loads):
    _files(tmp_path)
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    status = main(argv)
    out, err = capsys.readouterr()
    assert (status, out, err) == (2, "", f"error: {message.replace('{tmp}', str(tmp_path))}\n")


def test_the_table_is_long_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_on_a_build_without_it(device, monkeypatch, capsys, nothing_loads):
    import torch

    monkeypatch.setattr(torch.version, "cuda", None)
    assert main(["predict", "--device", device, "1,2,3"]) == 2
    message = "--device: CUDA is not available in this PyTorch build; use --device cpu"
    assert capsys.readouterr() == ("", f"error: {message}\n")


def test_cuda_device_number_beyond_the_machine(monkeypatch, capsys, nothing_loads):
    import torch

    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert main(["predict", "--device", "cuda:2", "1,2,3"]) == 2
    message = "--device cuda:2: this machine has 1 CUDA device(s), cuda:0 to cuda:0"
    assert capsys.readouterr().err == f"error: {message}\n"


def test_stdin_is_parsed_by_the_same_grammar(monkeypatch, capsys, nothing_loads):
    monkeypatch.setattr(sys, "stdin", io.StringIO("1;;2\n"))
    assert main(["lookup"]) == 2
    assert capsys.readouterr().err == "error: term 2 is empty (two separators in a row)\n"


def test_train_refuses_less_than_one_step(capsys):
    argv = ["train", "--preset", "nextterm-1m", "--data", "d", "--out", "o", "--tokens", "20000"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "error: --tokens 20,000 is less than one optimizer step (65,536 tokens, --step-tokens): "
        "train for more tokens or lower --step-tokens\n"
    )


def test_json_errors(capsys, nothing_loads):
    assert main(["predict", "--json", "-n", "0", "1,2,3"]) == 2
    out, err = capsys.readouterr()
    assert err == ""
    assert json.loads(out) == {
        "error": {
            "message": "-n must be between 1 and 100, got 0",
            "type": "UsageError",
            "exit_status": 2,
        }
    }
    assert main(["lookup", "--json", "1,a"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == {
        "message": "term 2 is not an integer: 'a'",
        "type": "SequenceError",
        "exit_status": 2,
    }


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"nextterm {version('nextterm')}\n"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("{1,2,3,4,5}", "6"),
        ("1;2;3;4;5", "6"),
        ("[1, 2, 3, 4, 5]", "6"),
        ("(1 2 3 4 5)", "6"),
        ("1,2,3,4,5,", "6"),
        ("1\n2\n3\n4\n5\n", "6"),
    ],
)
def test_accepted_spellings_answer(text, answer, capsys):
    assert main(["predict", "--no-model", "--no-lookup", text]) == 0
    assert capsys.readouterr().out.splitlines()[0] == answer


def test_lookup_takes_separate_arguments(tmp_path, capsys):
    from nextterm.lookup import LookupIndex

    stripped = tmp_path / "stripped.gz"
    import gzip

    with gzip.open(stripped, "wt") as handle:
        handle.write("A000045 ,0,1,1,2,3,5,8,13,21,34,55,89,\n")
    index = LookupIndex.build(stripped, None).save(tmp_path / "lookup.idx")
    assert main(["lookup", "--index", str(index), "5", "8", "13", "21"]) == 0
    assert capsys.readouterr().out.startswith("A000045  at term 6  next: 34, 55, 89")


def test_no_answer_above_the_threshold_is_status_1(capsys):
    status = main(["predict", "--no-model", "--no-lookup", "--min-confidence", "1", "1,2,3,4,5"])
    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    assert "no credible continuation found" in err


def test_batch_file_one_result_per_line(tmp_path, capsys):
    path = tmp_path / "seqs.txt"
    path.write_text("1,1,2,3,5,8\n\n2 4 8 16 32\n[1, 4, 9, 16, 25]\n")
    assert main(["predict", "--no-model", "--no-lookup", "--file", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["13", "64", "36"]
    assert (
        main(["predict", "--no-model", "--no-lookup", "--json", "-n", "2", "--file", str(path)])
        == 0
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in records] == [1, 3, 4]
    assert [r["candidates"][0]["continuation"] for r in records] == [[13, 21], [64, 128], [36, 49]]


def test_batch_from_stdin_with_a_model(tmp_path, monkeypatch, capsys):
    from conftest import TINY_QWEN3
    from nextterm.models.checkpoint import save_checkpoint
    from nextterm.models.presets import create_model

    save_checkpoint(create_model("nextterm-1m", **TINY_QWEN3), tmp_path / "tiny")
    monkeypatch.setattr(sys, "stdin", io.StringIO("3,1,4,1,5\n2,7,1,8\n"))
    argv = ["predict", "--predictor", "model", "--model", str(tmp_path / "tiny"), "--json"]
    assert main([*argv, "--file", "-"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["terms"] for r in records] == [[3, 1, 4, 1, 5], [2, 7, 1, 8]]
    assert all(r["candidates"][0]["method"] == "model" for r in records)


def _parsers(parser):
    yield parser
    for action in parser._actions:
        for child in getattr(action, "choices", None) or {}:
            if hasattr(action, "_name_parser_map"):
                yield from _parsers(action._name_parser_map[child])


def _texts(parser):
    yield parser.description or ""
    yield parser.epilog or ""
    for action in parser._actions:
        yield action.help or ""
        for choice in getattr(action, "_choices_actions", []):
            yield choice.help or ""


def _resolves(parser, words: list[str]) -> bool:
    """Whether ``nextterm WORDS...`` names commands that exist (arguments after the last one are
    not checked)."""
    for word in words:
        commands = [a for a in parser._actions if hasattr(a, "_name_parser_map")]
        if not commands:
            return True
        if word not in commands[0]._name_parser_map:
            return False
        parser = commands[0]._name_parser_map[word]
    return True


def test_every_command_named_in_a_help_text_exists():
    import re

    root = build_parser()
    named = {
        match.group(1)
        for parser in _parsers(root)
        for text in _texts(parser)
        for match in re.finditer(r"`nextterm((?: [a-z][a-z0-9-]*)+)", text)
    }
    assert named, "no help text names a command: the check would pass vacuously"
    missing = sorted(words for words in named if not _resolves(root, words.split()))
    assert missing == []
    assert not _resolves(root, ["models", "presets"])  # the check can fail


def test_model_create_help_lists_every_preset(capsys):
    from nextterm.models.presets import preset_names

    with pytest.raises(SystemExit):
        main(["model", "create", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in preset_names():
        assert name in help_text


def _run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "nextterm.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "0", "1,2,3"], "error: -n must be between 1 and 100, got 0\n"),
        (
            ["--model", "/nonexistent", "--device", "bogus", "1,2,3"],
            "error: --model /nonexistent: no such checkpoint folder\n",
        ),
        (["{1,2,3]"], "error: the opening '{' is closed by ']': use {...}\n"),
    ],
)
def test_subprocess_errors_have_no_traceback(args, message):
    result = _run("predict", *args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


def test_subprocess_batch_from_stdin():
    result = _run(
        "predict", "--no-model", "--no-lookup", "--file", "-", stdin="1,2,3,4\n5;10;15;20\n"
    )
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["5", "25"]


def test_shell_completion_through_argcomplete():
    pytest.importorskip("argcomplete")
    import os
    import shlex

    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": "nextterm predict --min",
        "COMP_POINT": "22",
    }
    command = f"{shlex.quote(sys.executable)} -m nextterm.cli 8>&1 9>/dev/null"
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["--min-confidence"]


def test_a_short_continuation_says_so():
    from nextterm.candidates import Candidate, describe_candidate

    short = Candidate(7, 0.25, "model", "model probability 0.250", continuation=(7, 9))
    assert describe_candidate(short, 1, 5) == (
        "1. 7, 9    confidence 0.250 (low), model: model probability 0.250; "
        "only 2 of the 5 terms asked for"
    )
    assert "only" not in describe_candidate(short, 1, 2)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_fetch_from_copies_the_eval_files_and_eval_runs_from_the_cache(
    tmp_path, monkeypatch, capsys
):
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEXTTERM_CACHE", str(cache))
    monkeypatch.delenv("NEXTTERM_DATA", raising=False)
    assert main(["data", "fetch", "--from", str(SHARED_DATA / "oeis"), "--no-index"]) == 0
    assert "`nextterm data fetch --from DIR` copies them" in capsys.readouterr().out
    assert not (cache / "evals").exists()
    assert main(["data", "fetch", "--from", str(SHARED_DATA), "--no-index"]) == 0
    out = capsys.readouterr().out
    assert "CC BY-SA 4.0" in out and "LGPL-3.0" in out
    assert len((cache / "evals" / "iq57.jsonl").read_text().splitlines()) == 57
    assert len((cache / "evals" / "m1_111.jsonl").read_text().splitlines()) == 111
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # far from any checkout's ../shared/data
    argv = ["eval", "iq57", "--predictor", "solvers", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("iq57: accuracy ")


@pytest.mark.parametrize("benchmark, name", [("iq57", "iq57.jsonl"), ("m1", "m1_111.jsonl")])
def test_eval_without_its_data_file_says_how_to_fetch_it(
    benchmark, name, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("NEXTTERM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NEXTTERM_DATA", raising=False)
    argv = ["eval", benchmark, "--predictor", "solvers", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert str(tmp_path / "cache" / "evals" / name) in error
    assert "nextterm data fetch --from DIR" in error
    monkeypatch.setenv("NEXTTERM_DATA", str(tmp_path / "data"))
    assert main(argv) == 2
    assert str(tmp_path / "data" / "evals" / name) in capsys.readouterr().err
    from nextterm.resources import require_eval_data_file

    found = require_eval_data_file(benchmark, SHARED_DATA)  # --data-dir comes before the rest
    assert found == SHARED_DATA / "evals" / name
