"""The timed training run (scripts/gpu_train.sh, nextterm.train.timed): the CPU rehearsal of the
GPU command end to end, and its parts: time limits, the batch probe, bundles, limits on files."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import torch

from conftest import write_progression_data
from nextterm.data.packed import PackedReader
from nextterm.train.autobatch import candidates, probe_micro_batch
from nextterm.train.config import make_config
from nextterm.train.loop import TrainError, train
from nextterm.train.timed import (
    MAX_FILE_BYTES,
    TimedRunError,
    bundle_data,
    check_limits,
    prepare_data,
)

ROOT = Path(__file__).resolve().parents[1]
REHEARSAL_BUDGET_S = 30


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_progression_data(tmp_path_factory.mktemp("data"), train=2000, val=60, items=16)


@pytest.fixture(scope="module")
def bundle(data_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "data.tar.xz"
    bundle_data(data_dir, path)
    return path


def test_cpu_rehearsal_of_the_gpu_command(bundle, tmp_path):
    """scripts/gpu_train.sh with the tiny preset and a 30 s budget, without python-flint."""
    shim = tmp_path / "shim" / "flint"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        "raise ImportError('python-flint is not on the GPU machine')\n"
    )
    out = tmp_path / "out"
    command = [
        "bash",
        str(ROOT / "scripts" / "gpu_train.sh"),
        str(out),
        "--config",
        str(ROOT / "configs" / "cpu-rehearsal.toml"),
        "--input",
        str(bundle),
        "--work",
        str(tmp_path / "work"),
        "--budget-s",
        str(REHEARSAL_BUDGET_S),
        "--train-s",
        str(REHEARSAL_BUDGET_S),
        "--reserve-s",
        "6",
    ]
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PYTHONPATH": str(shim.parent),
        "OMP_NUM_THREADS": "1",
    }
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    wall = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert wall < REHEARSAL_BUDGET_S + 10

    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "checkpoint.tar",
        "loss.png",
        "metrics.jsonl",
        "model.safetensors",
        "results.json",
    ]
    assert check_limits(out) == []
    results = json.loads((out / "results.json").read_text())
    assert results["within_budget"] and results["total_s"] <= REHEARSAL_BUDGET_S
    assert results["input"]["kind"] == "bundle" and results["machine"]["device"] == "cpu"
    assert results["micro_batch_tokens"] == 2048 and results["probe"][0]["fits"]
    run = results["run"]
    assert (
        run["steps"] >= 3
        and math.isfinite(run["val_loss"])
        and run["next_term_accuracy"] is not None
    )
    losses = [
        r["loss"]
        for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
        if r["kind"] == "train"
    ]
    assert sum(losses[-3:]) / 3 < losses[0]
    assert set(results["phases_s"]) == {"imports", "prepare", "setup", "train_loop", "export"}

    from nextterm.models.checkpoint import load_checkpoint

    with tarfile.open(out / "checkpoint.tar") as archive:
        archive.extractall(out, filter="data")
    model = load_checkpoint(out)
    assert next(model.parameters()).dtype == torch.bfloat16
    assert json.loads((out / "train_config.json").read_text())["compile"] is True


@pytest.fixture
def one_thread():
    """One intra-op thread (tiny matmuls are fastest so), restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_time_limit_ends_the_run_with_the_cooldown(data_dir, tmp_path, one_thread):
    model = {
        "num_hidden_layers": 1,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "max_position_embeddings": 64,
    }
    config = make_config(
        {
            "preset": "nextterm-1m",
            "model": model,
            "context_len": 64,
            "micro_batch_tokens": 256,
            "step_tokens": 256,
            "val_tokens": 256,
            "accuracy_samples": 0,
            "device": "cpu",
        },
        data=str(data_dir),
        out=str(tmp_path / "run"),
        tokens=10**9,
        time_budget_s=3.0,
        eval_every_tokens=0,
        checkpoint_every_tokens=0,
        warmup_frac=0.0,
        cooldown_frac=0.5,
    )
    result = train(config, progress=False)
    assert result.steps >= 5 and result.tokens < 10**9
    records = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    rates = [r["lr_muon"] for r in records if r["kind"] == "train"]
    assert rates[0] > 0.9 * config.muon_lr  # the clock, not the 10**9 tokens, drives the schedule
    assert rates[-1] < 0.2 * config.min_lr_ratio * config.muon_lr
    assert result.loop_seconds < 3.0 + 2.0  # the last step, evaluation and checkpoint
    past = dataclasses.replace(config, out=str(tmp_path / "late"))
    with pytest.raises(TrainError, match="deadline passed"):
        train(past, progress=False, deadline=time.monotonic() - 1)


def test_batch_probe_candidates_and_cpu_choice():
    from nextterm.models.presets import create_model

    assert candidates(524_288, 1024) == [
        524_288,
        262_144,
        131_072,
        65_536,
        32_768,
        16_384,
        8_192,
        4_096,
        2_048,
        1_024,
    ]
    assert candidates(1000, 1000) == [1000]
    model = create_model(
        "nextterm-1m",
        num_hidden_layers=1,
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
    ).train()
    chosen, probes = probe_micro_batch(
        model, model, 256, 64, torch.device("cpu"), torch.float32, timed_passes=1
    )
    assert chosen == 256 and len(probes) == 1 and probes[0].tokens_per_second > 0
    assert all(p.grad is None for p in model.parameters())


def test_bundle_fraction_and_prepare(data_dir, tmp_path):
    report = bundle_data(data_dir, tmp_path / "half.tar.xz", fraction=0.5, seed=3)
    assert report["train_sequences"] == 1000
    prepared, kind = prepare_data(tmp_path / "half.tar.xz", tmp_path / "work")
    assert kind == "bundle" and len(PackedReader(prepared / "train.packed")) == 1000
    assert prepare_data(data_dir, tmp_path / "unused") == (data_dir, "directory")
    with pytest.raises(TimedRunError, match="fraction"):
        bundle_data(data_dir, tmp_path / "none.tar.xz", fraction=0.0)
    with tarfile.open(tmp_path / "other.tar", "w") as archive:
        archive.add(data_dir / "val.jsonl", arcname="val.jsonl")
    with pytest.raises(TimedRunError, match="not a data bundle"):
        prepare_data(tmp_path / "other.tar", tmp_path / "work2")
    with pytest.raises(TimedRunError, match="no input"):
        prepare_data(tmp_path / "missing.tar.xz", tmp_path / "work3")


def test_check_limits_names_each_problem(tmp_path):
    for index in range(9):
        (tmp_path / f"f{index}").write_bytes(b"x")
    (tmp_path / "big").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    problems = check_limits(tmp_path)
    assert any("10 entries" in p for p in problems) and any(
        p.startswith("big has") for p in problems
    )


def test_sharded_bf16_export_loads_back(tmp_path):
    from nextterm.models.checkpoint import load_checkpoint, save_checkpoint
    from nextterm.models.presets import create_model

    model = create_model("nextterm-1m").to(torch.bfloat16)
    directory = save_checkpoint(model, tmp_path / "sharded", max_shard_size=600_000)
    shards = sorted(directory.glob("model-*.safetensors"))
    assert len(shards) > 1 and all(p.stat().st_size < 700_000 for p in shards)
    loaded = load_checkpoint(directory)
    assert next(loaded.parameters()).dtype == torch.bfloat16
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
