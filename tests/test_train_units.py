"""Unit tests of the training pieces that need no data: schedule, optimizer groups, config,
checkpoint manager, RNG state and metrics."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

from conftest import TINY_QWEN3
from nextterm.train.checkpoints import (
    BEST_VAL,
    CheckpointManager,
    capture_rng_state,
    checkpoint_name,
    restore_rng_state,
)
from nextterm.train.config import ConfigError, load_config, make_config
from nextterm.train.metrics import MetricsLog, mfu, peak_flops
from nextterm.train.optim import HybridOptimizer, split_parameters
from nextterm.train.schedule import Schedule


def tiny_model(**overrides):
    from nextterm.models.presets import create_model

    return create_model("nextterm-1m", seed=0, **{**TINY_QWEN3, **overrides})


# -- schedule --------------------------------------------------------------------------------------


def test_schedule_shape():
    schedule = Schedule(total_tokens=1000, warmup_tokens=100, cooldown_tokens=200, min_ratio=0.1)
    assert schedule.multiplier(0) == 0.0
    assert schedule.multiplier(50) == pytest.approx(0.5)
    assert schedule.multiplier(100) == pytest.approx(1.0)
    assert schedule.multiplier(450) == pytest.approx(0.55)  # cosine midpoint between 1 and 0.1
    assert schedule.multiplier(800) == pytest.approx(0.1)
    assert schedule.multiplier(900) == pytest.approx(0.05)
    assert schedule.multiplier(1000) == 0.0
    assert schedule.multiplier(5000) == 0.0
    after_warmup = [schedule.multiplier(t) for t in range(100, 1001, 7)]
    assert all(a >= b for a, b in zip(after_warmup, after_warmup[1:]))


def test_schedule_without_warmup_or_cooldown():
    schedule = Schedule.from_fractions(1000, 0.0, 0.0, 0.1)
    assert schedule.multiplier(0) == 1.0
    assert schedule.multiplier(999) == pytest.approx(0.1, abs=1e-4)
    assert schedule.multiplier(1000) == 0.0


def test_schedule_rejects_bad_values():
    with pytest.raises(ValueError):
        Schedule(total_tokens=100, warmup_tokens=80, cooldown_tokens=40)
    with pytest.raises(ValueError):
        Schedule(total_tokens=0)


# -- optimizer groups --------------------------------------------------------------------------------


def test_split_puts_hidden_matrices_in_muon_and_the_rest_in_adamw():
    model = tiny_model()
    split = split_parameters(model)
    muon = {name for name, _ in split.muon}
    adamw = {name for name, _ in split.adamw}
    assert not muon & adamw
    assert muon | adamw == {name for name, _ in model.named_parameters()}
    assert "model.embed_tokens.weight" in adamw and "lm_head.weight" in adamw
    assert all(p.ndim == 2 for _, p in split.muon)
    for suffix in (
        "q_proj.weight",
        "k_proj.weight",
        "v_proj.weight",
        "o_proj.weight",
        "gate_proj.weight",
        "up_proj.weight",
        "down_proj.weight",
    ):
        assert any(name.endswith(suffix) for name in muon), suffix
    assert any("norm" in name for name in adamw)


def test_split_counts_tied_embeddings_once():
    model = tiny_model(tie_word_embeddings=True)
    split = split_parameters(model)
    params = [p for _, p in split.adamw] + [p for _, p in split.muon]
    assert len({id(p) for p in params}) == len(params)
    assert sum(p.numel() for p in params) == sum(p.numel() for p in model.parameters())


def test_hybrid_optimizer_sets_rates_steps_and_round_trips_state():
    model = tiny_model().train()
    optimizer = HybridOptimizer(model, muon_lr=1e-2, adamw_lr=1e-4)
    optimizer.set_multiplier(0.5)
    assert optimizer.lrs() == {"muon": pytest.approx(5e-3), "adamw": pytest.approx(5e-5)}
    ids = torch.randint(0, 16, (2, 12))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    assert all(not torch.equal(before[name], p) for name, p in model.named_parameters())
    clone = HybridOptimizer(tiny_model().train())
    clone.load_state_dict(optimizer.state_dict())
    momentum = clone.optimizers[0].state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(
        momentum, optimizer.optimizers[0].state_dict()["state"][0]["momentum_buffer"]
    )
    with pytest.raises(ValueError):
        clone.load_state_dict(optimizer.state_dict()[:1])


# -- config ----------------------------------------------------------------------------------------


def test_config_toml_then_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        'preset = "nextterm-3m"\ncontext_len = 128\nmicro_batch_tokens = 512\n'
        "adamw_betas = [0.8, 0.9]\n[model]\nnum_hidden_layers = 2\n"
    )
    config = load_config(path, data="d", out="o", context_len=256, preset=None)
    assert config.preset == "nextterm-3m"
    assert config.context_len == 256  # the flag wins over the file
    assert config.adamw_betas == (0.8, 0.9)
    assert config.model == {"num_hidden_layers": 2}
    assert json.loads(json.dumps(config.to_dict()))["context_len"] == 256


@pytest.mark.parametrize(
    "values, message",
    [
        ({"bogus": 1}, "unknown"),
        ({"tokens": "many"}, "integer"),
        ({"tokens": 0}, "positive"),
        ({"tokens": 20_000, "step_tokens": 65_536}, "less than one optimizer step"),
        ({"micro_batch_tokens": 8, "context_len": 64}, "at least"),
        ({"warmup_frac": 0.6, "cooldown_frac": 0.6}, "exceed"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        make_config({"data": "d", "out": "o", **values}).validate()


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", data="d", out="o")
    bad = tmp_path / "bad.toml"
    bad.write_text("tokens = = 3")
    with pytest.raises(ConfigError, match="TOML"):
        load_config(bad, data="d", out="o")
    with pytest.raises(ConfigError, match="--data"):
        load_config(None, out="o")


# -- checkpoints -------------------------------------------------------------------------------------


def test_checkpoint_names_and_pruning(tmp_path):
    assert checkpoint_name(12_000_258_345) == "checkpoint_tokens_012000258345"
    model = tiny_model()
    manager = CheckpointManager(tmp_path, keep_last=2)
    for tokens in (100, 250, 400):
        manager.save_tokens(tokens, model, {"tokens_trained": tokens}, {"tokens": tokens})
    assert [t for t, _ in manager.checkpoints()] == [250, 400]
    assert manager.latest_resumable() == tmp_path / checkpoint_name(400)
    manager.save(BEST_VAL, model, {"tokens_trained": 250})
    manager.save(BEST_VAL, model, {"tokens_trained": 400})  # replaced in place
    meta = json.loads((tmp_path / BEST_VAL / "oeis_checkpoint_meta.json").read_text())
    assert meta["tokens_trained"] == 400
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_recover_cleans_a_killed_write(tmp_path):
    manager = CheckpointManager(tmp_path)
    (tmp_path / ".tmp-checkpoint_tokens_000000000009").mkdir()
    (tmp_path / "..tmp-best_val.tmp-1234abcd").mkdir()
    old = tmp_path / ".old-best_val"
    old.mkdir()
    (old / "marker").write_text("x")
    manager.recover()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_val"]
    assert (tmp_path / "best_val" / "marker").is_file()
    assert manager.latest_resumable() is None


def test_rng_state_round_trip():
    state = capture_rng_state()
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    restore_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected


# -- metrics ---------------------------------------------------------------------------------------


def test_metrics_log_truncates_and_skips_torn_lines(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    for step in (1, 2, 3):
        log.append({"kind": "train", "step": step, "loss": 1.0 / step})
    with log.path.open("a") as handle:
        handle.write('{"kind": "tra')
    assert [r["step"] for r in log.records()] == [1, 2, 3]
    log.truncate_after(2)
    assert [r["step"] for r in log.records()] == [1, 2]


def test_mfu_estimate():
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("x86_64") is None
    assert peak_flops("x86_64", configured_tflops=2.0) == 2e12
    assert mfu(440_000_000, 100_000, 989e12) == pytest.approx(6 * 440e6 * 1e5 / 989e12)
    assert mfu(10, 10.0, None) is None
    assert math.isfinite(mfu(1, 1.0, 1.0))


# -- command line ----------------------------------------------------------------------------------


def test_commands_module_is_cheap_to_import():
    import subprocess
    import sys

    code = (
        "import sys, nextterm.train.commands; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_module_entry_reports_user_errors(tmp_path, capsys):
    from nextterm.train.__main__ import main

    code = main(
        [
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "run"),
            "--tokens",
            "100",
            "--context-len",
            "32",
            "--micro-batch-tokens",
            "64",
            "--step-tokens",
            "64",
            "--device",
            "cpu",
        ]
    )
    assert code == 2
    assert "has no train.packed" in capsys.readouterr().err
    assert main(["--data", str(tmp_path), "--out", "o", "--tokens", "0"]) == 2
    assert "tokens must be positive" in capsys.readouterr().err


def test_register_adds_the_train_subcommand():
    import argparse

    from nextterm.train.commands import register, run

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "train",
            "--preset",
            "nextterm-1m",
            "--data",
            "d",
            "--tokens",
            "5",
            "--out",
            "o",
            "--resume",
            "--muon-lr",
            "0.02",
            "--threads",
            "1",
        ]
    )
    assert args.func is run and args.resume and args.muon_lr == 0.02 and args.threads == 1


def test_next_term_samples_reader(tmp_path):
    from nextterm.train.evaluate import read_next_term_samples

    path = tmp_path / "val.jsonl"
    lines = [
        {"id": "a", "prompt": [1, 2, 3], "answer": 4},
        {"id": "b", "prompt": "2,4,6,", "answer": "8"},
        {"id": "c", "prompt": [int("9" * 1001)], "answer": 1},  # over MAX_TERM_DIGITS: skipped
        {"id": "d", "prompt": [5], "answer": 6},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    samples = read_next_term_samples(path, limit=3)
    assert [(s.prompt, s.answer) for s in samples] == [([1, 2, 3], 4), ([2, 4, 6], 8), ([5], 6)]
    assert len(read_next_term_samples(path, limit=1)) == 1
    path.write_text('{"id": "x", "prompt": [1]}\n')
    with pytest.raises(ValueError, match="val.jsonl:1"):
        read_next_term_samples(path, limit=5)
