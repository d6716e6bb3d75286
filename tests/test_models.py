"""Presets and checkpoint directories: parameter counts, plain transformers loading, bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import Qwen3ForCausalLM

from nextterm.models.checkpoint import CheckpointError, load_checkpoint, read_meta, save_checkpoint
from nextterm.models.presets import (
    PRESETS,
    PresetError,
    count_parameters,
    create_model,
    make_config,
)
from nextterm.tokenizer import BOS_ID, EOS_ID, PAD_ID, encode_terms


def test_440m_preset_has_the_cards_parameter_count():
    with torch.device("meta"):
        model = Qwen3ForCausalLM(make_config("nextterm-440m"))
    assert count_parameters(model) == 440_500_224
    config = model.config
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (
        28,
        1024,
        3072,
    )
    assert (config.num_attention_heads, config.num_key_value_heads, config.vocab_size) == (
        16,
        8,
        16,
    )
    assert config.max_position_embeddings == 4096


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_share_vocabulary_and_special_ids(preset):
    config = make_config(preset)
    assert (config.vocab_size, config.bos_token_id, config.eos_token_id, config.pad_token_id) == (
        16,
        BOS_ID,
        EOS_ID,
        PAD_ID,
    )


def test_small_presets_are_ordered_by_size():
    sizes = []
    for preset in ("nextterm-1m", "nextterm-3m", "nextterm-10m", "nextterm-50m"):
        with torch.device("meta"):
            sizes.append(count_parameters(Qwen3ForCausalLM(make_config(preset))))
    assert sizes == sorted(sizes) and 0.8e6 < sizes[0] < 1.2e6 and 45e6 < sizes[-1] < 55e6


def test_create_model_is_seeded_and_overridable():
    first = create_model("nextterm-1m", seed=3, num_hidden_layers=2)
    second = create_model("nextterm-1m", seed=3, num_hidden_layers=2)
    third = create_model("nextterm-1m", seed=4, num_hidden_layers=2)
    assert first.config.num_hidden_layers == 2
    assert torch.equal(first.lm_head.weight, second.lm_head.weight)
    assert not torch.equal(first.lm_head.weight, third.lm_head.weight)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(PresetError, match="unknown preset"):
        make_config("nextterm-7b")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    model = create_model("nextterm-1m", seed=1, num_hidden_layers=2)
    directory = save_checkpoint(
        model, tmp_path_factory.mktemp("ck") / "final_latest", meta={"tokens_trained": 123}
    )
    return model, directory


def test_checkpoint_layout_and_meta(tiny_checkpoint):
    model, directory = tiny_checkpoint
    names = {path.name for path in directory.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "oeis_checkpoint_meta.json",
    } <= names
    assert not [path for path in directory.parent.iterdir() if path.name.startswith(".")]
    meta = read_meta(directory)
    assert meta["tokens_trained"] == 123 and meta["parameters"] == count_parameters(model)
    generation = json.loads((directory / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [11, 13, 14] and generation["pad_token_id"] == 14
    assert generation["do_sample"] is False


def test_load_round_trip_and_subfolder(tiny_checkpoint):
    model, directory = tiny_checkpoint
    ids = torch.tensor([encode_terms([1, 2, 3, 5, 8])])
    loaded = load_checkpoint(directory.parent, subfolder=directory.name)
    with torch.inference_mode():
        assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_save_replaces_an_existing_directory(tmp_path):
    target = tmp_path / "ck"
    save_checkpoint(
        create_model("nextterm-1m", seed=0, num_hidden_layers=1), target, meta={"step": 1}
    )
    save_checkpoint(
        create_model("nextterm-1m", seed=0, num_hidden_layers=1), target, meta={"step": 2}
    )
    assert read_meta(target)["step"] == 2
    assert [path.name for path in tmp_path.iterdir()] == ["ck"]


_PLAIN_LOAD = """
import sys, json, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(sys.argv[1]).eval()
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
ids = tokenizer("1, 2, 3, -5,", return_tensors="pt")["input_ids"]
with torch.inference_mode():
    logits = model(ids).logits
assert "nextterm" not in sys.modules
print(json.dumps({"ids": ids[0].tolist(), "logits": logits[0].tolist(),
                  "decoded": tokenizer.decode(ids[0], skip_special_tokens=True)}))
"""


def test_plain_transformers_load_gives_identical_logits(tiny_checkpoint):
    model, directory = tiny_checkpoint
    result = subprocess.run(
        [sys.executable, "-c", _PLAIN_LOAD, str(directory)],
        capture_output=True,
        text=True,
        check=True,
        cwd=directory,
    )
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["ids"] == encode_terms([1, 2, 3, -5])
    assert output["decoded"] == "1,2,3,-5,"
    with torch.inference_mode():
        expected = model(torch.tensor([output["ids"]])).logits[0]
    assert torch.equal(torch.tensor(output["logits"]), expected)


def _copy(directory: Path, destination: Path) -> Path:
    destination.mkdir()
    for path in directory.iterdir():
        (destination / path.name).write_bytes(path.read_bytes())
    return destination


def test_truncated_weights_are_a_clear_error(tiny_checkpoint, tmp_path):
    copy = _copy(tiny_checkpoint[1], tmp_path / "bad")
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(copy)
    weights.write_bytes(b"\x00\x01")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(copy)


def test_missing_or_wrong_config_is_a_clear_error(tiny_checkpoint, tmp_path):
    copy = _copy(tiny_checkpoint[1], tmp_path / "bad")
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "vocab_size": 151936}))
    with pytest.raises(CheckpointError, match="vocab_size 151936"):
        load_checkpoint(copy)
    deeper = {key: value for key, value in config.items() if key != "layer_types"}
    (copy / "config.json").write_text(json.dumps({**deeper, "num_hidden_layers": 3}))
    with pytest.raises(CheckpointError, match="does not match its config.*missing_keys"):
        load_checkpoint(copy)
    (copy / "config.json").write_text(json.dumps({**config, "intermediate_size": 100}))
    with pytest.raises(CheckpointError):
        load_checkpoint(copy)
    (copy / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(copy)
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        load_checkpoint(tmp_path / "absent")


def _run(*arguments: str) -> int:
    """Run our subcommands in-process through their own argparse registration."""
    import argparse

    from nextterm.models.commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(arguments)
    return args.func(args)


def test_cli_create_info_and_convert(tmp_path, capsys):
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "nextterm.cli",
            "model",
            "create",
            "--preset",
            "nextterm-1m",
            "--out",
            str(tmp_path / "fresh"),
        ],
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    assert "988,864 parameters" in created.stdout
    assert _run("model", "info", str(tmp_path / "fresh")) == 0
    output = capsys.readouterr().out
    assert "parameters: 988,864" in output and '"preset": "nextterm-1m"' in output
    with pytest.raises(CheckpointError, match="already in the split-half"):
        _run("convert", str(tmp_path / "fresh"), str(tmp_path / "converted"))
    training = save_checkpoint(
        create_model("nextterm-1m", seed=0, num_hidden_layers=1),
        tmp_path / "run" / "ck",
        meta={"tokens_trained": 77},
    )
    assert (
        _run(
            "convert",
            str(tmp_path / "run"),
            str(tmp_path / "converted"),
            "--subfolder",
            "ck",
            "--dtype",
            "bfloat16",
        )
        == 0
    )
    meta = read_meta(tmp_path / "converted")
    assert meta["tokens_trained"] == 77 and meta["rope_layout"] == "split-half"
    assert meta["source_checkpoint"] == str(training)
    assert load_checkpoint(tmp_path / "converted").dtype == torch.bfloat16
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        _run("model", "info", str(tmp_path / "absent"))
