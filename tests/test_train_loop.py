"""End-to-end training on tiny data: loss falls, checkpoints appear with the card's names and
meta files, a SIGKILLed run resumes onto the same loss curve, and 2-process DDP (gloo) works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import write_progression_data
from nextterm.train.checkpoints import FINAL_LATEST, load_training_state
from nextterm.train.config import make_config
from nextterm.train.loop import TrainError, train

MODEL = {
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "max_position_embeddings": 64,
}
SETTINGS = {
    "preset": "nextterm-1m",
    "model": MODEL,
    "context_len": 64,
    "micro_batch_tokens": 256,
    "step_tokens": 512,
    "val_tokens": 600,
    "accuracy_samples": 4,
    "adamw_lr": 3e-3,
    "device": "cpu",
}


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: tiny matmuls are fastest so, and runs compare bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_progression_data(tmp_path_factory.mktemp("data"), train=400, val=40, items=4)


def _config_file(tmp_path: Path, **values) -> Path:
    lines = []
    for key, value in {**SETTINGS, **values}.items():
        if key != "model":
            lines.append(f"{key} = {json.dumps(value)}")
    lines.append("[model]")
    lines.extend(f"{key} = {json.dumps(value)}" for key, value in MODEL.items())
    path = tmp_path / "train.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _losses(run: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == "train"}


def test_tiny_model_trains_and_writes_checkpoints(data_dir, tmp_path):
    out = tmp_path / "run"
    config = make_config(
        SETTINGS,
        data=str(data_dir),
        out=str(out),
        tokens=12_000,
        eval_every_tokens=4_000,
        checkpoint_every_tokens=3_000,
        keep_last=2,
    )
    result = train(config, progress=False)
    assert result.tokens >= 12_000
    losses = list(_losses(out).values())
    assert len(losses) == result.steps
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.2
    names = sorted(p.name for p in out.iterdir())
    checkpoints = [n for n in names if n.startswith("checkpoint_tokens_")]
    assert len(checkpoints) == 2 and all(
        len(n) == len("checkpoint_tokens_") + 12 for n in checkpoints
    )
    assert {"best_val", "final_latest", "train_config.json", "metrics.jsonl", "loss.png"} <= set(
        names
    )
    meta = json.loads((out / FINAL_LATEST / "oeis_checkpoint_meta.json").read_text())
    assert meta["tokens_trained"] == result.tokens and meta["step"] == result.steps
    assert meta["preset"] == "nextterm-1m" and meta["data"] == str(data_dir.resolve())
    assert meta["val_loss"] == pytest.approx(result.val_loss)
    best = json.loads((out / "best_val" / "oeis_checkpoint_meta.json").read_text())
    assert best["val_loss"] == pytest.approx(result.best_val_loss)
    tokens = int(checkpoints[-1].rsplit("_", 1)[1])
    assert (
        json.loads((out / checkpoints[-1] / "oeis_checkpoint_meta.json").read_text())[
            "tokens_trained"
        ]
        == tokens
    )
    resolved = json.loads((out / "train_config.json").read_text())
    assert resolved["tokens"] == 12_000 and resolved["resolved"]["world_size"] == 1
    assert "lm_head.weight" in resolved["resolved"]["adamw_parameters"]
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "eval" and "next_term_accuracy" in r for r in evals)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(out / FINAL_LATEST)
    assert model.config.vocab_size == 16
    with pytest.raises(TrainError, match="--resume"):
        train(config, progress=False)


def test_loss_without_attention_mask_equals_masked_loss_on_right_padding(data_dir):
    from nextterm.data.batches import TokenBatches
    from nextterm.data.packed import PackedReader
    from nextterm.models.presets import create_model
    from nextterm.train.evaluate import loss_sum

    model = create_model("nextterm-1m", seed=0, **MODEL)
    batch = next(iter(TokenBatches(PackedReader(data_dir / "val.packed"), 256, 64)))
    assert (batch["attention_mask"] == 0).any()
    with torch.no_grad():
        total, count = loss_sum(model, batch, torch.device("cpu"), torch.float32)
        reference = model(**batch).loss
    assert float(total) / count == pytest.approx(float(reference), rel=1e-5)


def test_sigkill_and_resume_reproduces_the_uninterrupted_losses(data_dir, tmp_path):
    common = {"tokens": 20_000, "eval_every_tokens": 6_000, "checkpoint_every_tokens": 2_500}
    straight = tmp_path / "straight"
    train(make_config(SETTINGS, data=str(data_dir), out=str(straight), **common), progress=False)

    killed = tmp_path / "killed"
    config = _config_file(tmp_path, **common)
    command = [
        sys.executable,
        "-m",
        "nextterm.train",
        "--config",
        str(config),
        "--data",
        str(data_dir),
        "--out",
        str(killed),
        "--no-progress",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env()
    )
    deadline = time.monotonic() + 60
    while not list(killed.glob("checkpoint_tokens_*")) and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
    assert not (killed / FINAL_LATEST).exists()

    train(
        make_config(SETTINGS, data=str(data_dir), out=str(killed), **common),
        resume=True,
        progress=False,
    )
    expected, resumed = _losses(straight), _losses(killed)
    assert sorted(resumed) == sorted(expected)
    for step, loss in expected.items():
        assert resumed[step] == pytest.approx(loss, abs=1e-6), step
    first = json.loads((straight / FINAL_LATEST / "oeis_checkpoint_meta.json").read_text())
    second = json.loads((killed / FINAL_LATEST / "oeis_checkpoint_meta.json").read_text())
    assert second["tokens_trained"] == first["tokens_trained"]
    assert second["val_loss"] == pytest.approx(first["val_loss"], abs=1e-6)


def test_two_process_ddp_on_gloo(data_dir, tmp_path):
    out = tmp_path / "ddp"
    config = _config_file(
        tmp_path, tokens=4_000, eval_every_tokens=2_000, checkpoint_every_tokens=2_000
    )
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "nextterm.train",
        "--config",
        str(config),
        "--data",
        str(data_dir),
        "--out",
        str(out),
        "--no-progress",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=240, env=_env())
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("trained ") == 1  # only rank 0 reports
    meta = json.loads((out / FINAL_LATEST / "oeis_checkpoint_meta.json").read_text())
    assert meta["world_size"] == 2 and meta["tokens_trained"] >= 4_000
    state = load_training_state(out / FINAL_LATEST)
    assert len(state["data"]) == 2 and state["data"][0]["world_size"] == 2
    losses = _losses(out)
    assert sorted(losses) == list(range(1, meta["step"] + 1))  # one record per step: rank 0 alone
    assert list(out.glob("checkpoint_tokens_*"))


def test_sca_backbone_trains_and_predicts_like_the_qwen3_presets(data_dir, tmp_path):
    """`nextterm-sca-*` presets go through the same trainer, checkpoints, engine and predictor."""
    from nextterm.engine import Engine
    from nextterm.models.checkpoint import load_checkpoint
    from nextterm.predict import load_predictor

    out = tmp_path / "sca"
    sca_model = {
        "num_layers": 3,
        "d_model": 32,
        "d_ff": 64,
        "num_heads": 2,
        "num_kv_heads": 1,
        "seqcond_heads": 2,
        "num_query_heads": 2,
        "maxlen": 64,
    }
    config = make_config(
        SETTINGS,
        preset="nextterm-sca-1m",
        model=sca_model,
        data=str(data_dir),
        out=str(out),
        tokens=3_000,
        eval_every_tokens=0,
        checkpoint_every_tokens=0,
    )
    result = train(config, progress=False)
    losses = list(_losses(out).values())
    assert result.tokens >= 3_000 and losses[-1] < losses[0]
    model = load_checkpoint(out / FINAL_LATEST)
    assert model.config.model_type == "seqcond"
    [(value, probability)] = Engine(model).greedy_next_term([[3, 5, 7, 9]])
    [candidates] = load_predictor("model", model=out / FINAL_LATEST).predict_batch([[3, 5, 7, 9]])
    if value is None:  # a barely trained model may not finish a term within its budget
        assert candidates == []
    else:
        assert (candidates[0].value, candidates[0].confidence) == (
            value,
            pytest.approx(probability),
        )
