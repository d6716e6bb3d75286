"""End-to-end build on small data, the OEIS readers, and the ``nextterm data`` commands."""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
from pathlib import Path

import pytest

from nextterm.data import commands
from nextterm.data.augment import AugmentConfig
from nextterm.data.build import BuildConfig, build, config_from_dict, load_config
from nextterm.data.oeis import (
    OeisFormatError,
    bfile_path,
    extend_with_bfile,
    read_bfile,
    read_names,
    read_stripped,
)
from nextterm.data.packed import PackedReader
from nextterm.data.splits import SplitConfig, last_terms
from nextterm.data.synthetic import SyntheticConfig
from nextterm.tokenizer import decode, decode_terms

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "oeis"


def small_config(**overrides) -> BuildConfig:
    values = {
        "split": SplitConfig(heldout_fraction=0.15, val_fraction=0.1),
        "augment": AugmentConfig(copies=1),
        "synthetic": SyntheticConfig(count=40),
        "val_items": 10,
    }
    return BuildConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def stripped(tmp_path_factory):
    """A few hundred real lines when the shared data is there, else a made-up file."""
    path = tmp_path_factory.mktemp("oeis") / "stripped.gz"
    if (SHARED / "stripped.gz").is_file():
        with gzip.open(SHARED / "stripped.gz", "rt") as handle:
            lines = list(itertools.islice(handle, 400))
    else:
        lines = ["# made up\n"] + [
            f"A{n:06d} ,"
            + "".join(f"{(n * k * k + k) % 997 - 50}," for k in range(n % 30 + 2))
            + "\n"
            for n in range(1, 400)
        ]
    lines.append("A900001 ,1,2,\n")  # degenerate: too few terms
    with gzip.open(path, "wt") as handle:
        handle.writelines(lines)
    return path


def test_build_outputs(stripped, tmp_path):
    summary = build(stripped, tmp_path / "out", small_config(), progress=False)
    out = tmp_path / "out"
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["sequences"]["degenerate_skipped"] >= 1
    heldout = [json.loads(line) for line in (out / "heldout.jsonl").read_text().splitlines()]
    val_items = [json.loads(line) for line in (out / "val.jsonl").read_text().splitlines()]
    assert len(heldout) == summary["splits"]["heldout"] > 0
    assert len(val_items) == summary["val_jsonl_items"] == min(10, summary["splits"]["val"])
    for item in heldout + val_items:
        assert set(item) == {"id", "prompt", "answer"} and isinstance(item["answer"], int)
    train_ids = (out / "train_ids.txt").read_text().split()
    assert len(train_ids) == summary["splits"]["train"]
    assert not set(train_ids) & {item["id"] for item in heldout}

    train = PackedReader(out / "train.packed")
    assert len(train) == summary["train_packed"]["sequences"]
    assert train.total_tokens == summary["train_packed"]["tokens"]
    assert (
        sum(summary["synthetic_families"].values())
        == summary["train_packed"]["synthetic_sequences"]
    )
    keys = [
        last_terms("".join(f"{t}," for t in item["prompt"] + [item["answer"]]), 10)
        for item in heldout
    ]
    for index in range(len(train)):
        text = "," + decode(train[index])
        assert decode_terms(train[index])  # every stored sequence decodes
        if index < 50:
            assert not any("," + key in text for key in keys)
    val = PackedReader(out / "val.packed")
    assert len(val) == summary["splits"]["val"]


def test_build_is_deterministic(stripped, tmp_path):
    build(stripped, tmp_path / "a", small_config(), progress=False)
    build(stripped, tmp_path / "b", small_config(), progress=False)
    for name in ("train.packed", "val.packed", "heldout.jsonl", "val.jsonl", "train_ids.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    build(stripped, tmp_path / "c", small_config(seed=1), progress=False)
    assert (tmp_path / "a" / "train.packed").read_bytes() != (
        tmp_path / "c" / "train.packed"
    ).read_bytes()


def test_config_files(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {"seed": 4, "augment": {"copies": 0, "scale_range": [2, 3]}, "synthetic": {"count": 5}}
        )
    )
    config = load_config(path)
    assert config.seed == 4 and config.augment.copies == 0 and config.augment.scale_range == (2, 3)
    assert config.synthetic.count == 5 and config.split == SplitConfig()
    with pytest.raises(ValueError, match="unknown"):
        config_from_dict({"sed": 1})
    with pytest.raises(ValueError, match="augment"):
        config_from_dict({"augment": {"copy": 1}})
    path.write_text("{")
    with pytest.raises(ValueError, match="cannot read"):
        load_config(path)


def test_readers(tmp_path):
    (tmp_path / "s").write_text("# c\nA000001 ,1,-2,3,\nA000002 ,\n")
    assert list(read_stripped(tmp_path / "s")) == [("A000001", "1,-2,3,"), ("A000002", "")]
    (tmp_path / "bad").write_text("A000001 1,2,3\n")
    with pytest.raises(OeisFormatError, match="bad:1"):
        list(read_stripped(tmp_path / "bad"))
    with gzip.open(tmp_path / "names.gz", "wt") as handle:
        handle.write("# names\nA000045 Fibonacci numbers: F(n) = F(n-1) + F(n-2).\n")
    assert read_names(tmp_path / "names.gz") == {
        "A000045": "Fibonacci numbers: F(n) = F(n-1) + F(n-2)."
    }
    bfile = bfile_path(tmp_path, "A000045")
    assert bfile.name == "b000045.txt"
    bfile.write_text("# comment\n0 0\n1 1\n2 1\n\n3 2\n4 3\n")
    assert read_bfile(bfile) == "0,1,1,2,3,"
    assert extend_with_bfile("0,1,1,", "0,1,1,2,3,") == "0,1,1,2,3,"
    assert extend_with_bfile("0,1,2,", "0,1,1,2,3,") == "0,1,2,"
    assert extend_with_bfile("0,1,1,", "0,1,12,5,") == "0,1,1,"  # term boundary respected
    bfile.write_text("0 0\n2 1\n")
    with pytest.raises(OeisFormatError, match="does not follow"):
        read_bfile(bfile)
    with pytest.raises(OeisFormatError, match="cannot read"):
        read_names(tmp_path / "missing.gz")


def test_build_with_bfiles(tmp_path):
    (tmp_path / "stripped").write_text(
        "".join(f"A{n:06d} ," + "".join(f"{n + k}," for k in range(8)) + "\n" for n in range(1, 60))
    )
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "b000001.txt").write_text("".join(f"{k} {1 + k}\n" for k in range(30)))
    config = small_config(synthetic=SyntheticConfig(count=0))
    summary = build(
        tmp_path / "stripped", tmp_path / "out", config, bfiles=tmp_path / "b", progress=False
    )
    assert summary["sequences"]["extended_by_bfile"] == 1


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_pack_and_decode_commands(tmp_path, capsys):
    source = tmp_path / "seqs.txt"
    source.write_text("# comment\n1,2,3\nA000045 ,0,1,1,2,\n-5 10 -15\n\n")
    assert run_cli(["data", "pack", str(source), "--out", str(tmp_path / "s.packed")]) == 0
    assert run_cli(["data", "decode", str(tmp_path / "s.packed")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3:] == ["0\t1,2,3,", "1\t0,1,1,2,", "2\t-5,10,-15,"]
    assert (
        run_cli(
            ["data", "decode", str(tmp_path / "s.packed"), "--start", "1", "--limit", "1", "--raw"]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == ["1\t<bos>0,1,1,2,<eos>"]
    source.write_text("1,x,3\n")
    with pytest.raises(ValueError, match="seqs.txt:1"):
        run_cli(["data", "pack", str(source), "--out", str(tmp_path / "t.packed")])
    with pytest.raises(ValueError, match="packed token file"):
        run_cli(["data", "decode", str(source)])


def test_build_command(stripped, tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"synthetic": {"count": 3}, "augment": {"copies": 0}}))
    assert (
        run_cli(
            [
                "data",
                "build",
                "--stripped",
                str(stripped),
                "--out",
                str(tmp_path / "o"),
                "--config",
                str(config),
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert '"heldout_jsonl_items"' in printed and (tmp_path / "o" / "summary.json").is_file()
    with pytest.raises(ValueError, match="no stripped file"):
        run_cli(
            ["data", "build", "--oeis", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p")]
        )


def test_config_round_trip():
    config = small_config(seed=7)
    assert config_from_dict(config.to_dict()) == config
