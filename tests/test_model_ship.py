"""``nextterm model ship``: installs a checkpoint with its card and ranker, refuses a worse one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY_QWEN3
from nextterm.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nextterm.models.presets import create_model
from nextterm.models.ship import ShipError, compare, ship
from nextterm.train.config import make_config

RANKER = '{"format": "test ranker"}\n'


def _run_directory(root: Path, preset: str = "nextterm-1m", **overrides) -> Path:
    """A training run as ``nextterm train`` leaves it: ``train_config.json`` and ``final_latest``
    with a ranker and the optimizer state."""
    run = root / "run"
    checkpoint = save_checkpoint(
        create_model(preset, seed=3, **overrides),
        run / "final_latest",
        meta={"tokens_trained": 4096, "val_loss": 1.25, "elapsed_s": 7200},
    )
    (checkpoint / "ranker.json").write_text(RANKER)
    (checkpoint / "training_state.pt").write_bytes(b"optimizer state")
    config = make_config({"preset": preset, "data": str(root / "no-data"), "context_len": 48})
    resolved = {**config.to_dict(), "resolved": {"compute_dtype": "float32"}}
    (run / "train_config.json").write_text(json.dumps(resolved))
    return checkpoint


def _summary(path: Path, predictor: str, accuracy: float, limit: int = 2048) -> Path:
    oeis = {"accuracy": accuracy, "data": "runs/data/heldout.jsonl", "limit": limit, "seed": 0}
    summary = {
        "predictor": predictor,
        "command": f"python benchmarks/run_evals.py --tag {path.stem}",
        "machine": "test machine",
        "benchmarks": {"oeis": {**oeis, "items": limit}, "iq57": {"accuracy": 0.5}},
    }
    path.write_text(json.dumps(summary))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return _run_directory(tmp_path_factory.mktemp("ship"), **TINY_QWEN3)


def test_ship_installs_checkpoint_card_and_ranker(checkpoint, tmp_path):
    results = [_summary(tmp_path / "evals-model.json", "nextterm model (runs/x)", 0.0845)]
    target = tmp_path / "assets" / "nextterm-default"
    shipped = ship(checkpoint, results=results, target=target)
    assert shipped.target == target and shipped.ranker and shipped.comparisons == []
    names = {path.name for path in target.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= names
    assert "training_state.pt" not in names
    assert (target / "ranker.json").read_text() == RANKER
    assert not [path for path in target.parent.iterdir() if path.name.startswith(".")]
    card = (target / "README.md").read_text()
    assert card.startswith("# nextterm-default\n")
    assert "| layers / hidden / FFN / heads / KV heads | 1 / 32 / 64 / 2 / 1 |" in card
    assert "| context (trained and served) | 48 tokens |" in card
    assert "| tokens trained | 4,096 |" in card and "| training time | 2.00 h |" in card
    assert "| nextterm model (runs/x) | 8.45% | 50.00% | n/a |" in card
    assert "`python benchmarks/run_evals.py --tag evals-model` (test machine)" in card
    load_checkpoint(target)


def test_card_reads_the_seqcond_config_object(tmp_path):
    overrides = {"num_layers": 3, "d_model": 32, "d_ff": 64}
    checkpoint = _run_directory(tmp_path, "nextterm-sca-1m", **overrides)
    target = ship(checkpoint, target=tmp_path / "out").target
    card = (target / "README.md").read_text()
    assert "A SeqCond hybrid" in card
    assert "| layers / hidden / FFN / heads / KV heads | 3 / 32 / 64 / 4 / 2 |" in card


def test_ship_replaces_only_a_worse_model(checkpoint, tmp_path):
    current = [
        _summary(tmp_path / "m.json", "nextterm model (runs/default-model/final_latest)", 0.08),
        _summary(tmp_path / "h.json", "nextterm hybrid", 0.30),
    ]
    better = [
        _summary(tmp_path / "gm.json", "nextterm model (runs/gpu-run/final_latest)", 0.21),
        _summary(tmp_path / "gh.json", "nextterm hybrid (runs/gpu-run/final_latest)", 0.35),
    ]
    mixed = [
        _summary(tmp_path / "xm.json", "nextterm model", 0.21),
        _summary(tmp_path / "xh.json", "nextterm hybrid", 0.29),
    ]
    target = tmp_path / "assets" / "nextterm-default"
    target.mkdir(parents=True)
    (target / "README.md").write_text("the shipped model")
    with pytest.raises(ShipError, match=r"not better.*hybrid: 30.00% -> 29.00% \(not better\)"):
        ship(checkpoint, results=mixed, current=current, target=target)
    assert [path.name for path in target.iterdir()] == ["README.md"]
    shipped = ship(checkpoint, results=better, current=current, target=target)
    assert [row.line() for row in shipped.comparisons] == [
        "nextterm model: 8.00% -> 21.00% (better)",
        "nextterm hybrid: 30.00% -> 35.00% (better)",
    ]
    assert (target / "README.md").read_text().startswith("# nextterm-default")


def test_summaries_that_do_not_pair_up_are_refused(tmp_path):
    current = [_summary(tmp_path / "m.json", "nextterm model", 0.08)]
    other_items = [_summary(tmp_path / "o.json", "nextterm model", 0.5, limit=100)]
    other_kind = [_summary(tmp_path / "h.json", "nextterm hybrid", 0.5)]
    with pytest.raises(ShipError, match="different items"):
        compare(current, other_items)
    with pytest.raises(ShipError, match="is predictor 'nextterm model'"):
        compare(current, other_kind)
    with pytest.raises(ShipError, match="as many"):
        compare(current, [*other_kind, *other_items])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ShipError, match="not valid JSON"):
        compare(current, [tmp_path / "bad.json"])


def test_too_large_or_unloadable_checkpoints_leave_the_target_alone(
    checkpoint, tmp_path, monkeypatch
):
    import nextterm.models.ship as shipping

    target = tmp_path / "nextterm-default"
    monkeypatch.setattr(shipping, "MAX_BYTES", 1024)
    with pytest.raises(ShipError, match="MiB without its training state"):
        ship(checkpoint, target=target)
    monkeypatch.undo()
    broken = tmp_path / "run" / "final_latest"
    broken.parent.mkdir()
    (broken.parent / "train_config.json").write_bytes(
        (checkpoint.parent / "train_config.json").read_bytes()
    )
    broken.mkdir()
    for path in checkpoint.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        ship(broken, target=target)
    assert not target.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_missing_run_config_names_the_fix(checkpoint, tmp_path):
    bare = tmp_path / "ck"
    bare.mkdir()
    for path in checkpoint.iterdir():
        (bare / path.name).write_bytes(path.read_bytes())
    with pytest.raises(ShipError, match="train_config.json.*--run"):
        ship(bare, target=tmp_path / "out")
    assert ship(bare, target=tmp_path / "out", run=checkpoint.parent).target.is_dir()


def test_cli_ship_and_a_bad_path(checkpoint, tmp_path):
    def nextterm(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "nextterm.cli", "model", "ship", *arguments],
            capture_output=True,
            text=True,
        )

    missing = nextterm(str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: no checkpoint directory at {str(tmp_path / 'nope')!r}"
    assert not (tmp_path / "out").exists()
    shipped = nextterm(str(checkpoint), "--out", str(tmp_path / "out"))
    assert shipped.returncode == 0, shipped.stderr
    assert shipped.stdout.strip().endswith("(with its ranker.json)")
