"""GGUF export, checked by llama.cpp itself (llama-cpp-python): metadata and tensor names, logits
and greedy/beam next terms against the torch engine, llama.cpp's tokenizer, and clear errors."""

from __future__ import annotations

import gguf
import llama_cpp
import numpy as np
import pytest
import torch

from nextterm.cli import main
from nextterm.engine import Engine
from nextterm.export.gguf_export import GGUFExportError, export_gguf
from nextterm.export.llamacpp import LlamaCppError, LlamaCppModel
from nextterm.models.checkpoint import CheckpointError, save_checkpoint
from nextterm.models.presets import create_model
from nextterm.predict import default_model_path
from nextterm.tokenizer import BOS_ID, EOS_ID, PAD_ID, encode_terms

PROMPTS = [
    [1, 2, 3, 4, 5],
    [1, 1, 2, 3, 5, 8, 13, 21],
    [2, 4, 8, 16, 32],
    [1, 4, 9, 16, 25, 36],
    [-3, 9, -27, 81],
    [0],
    [7],
    [10, 20, 30],
    [1, 3, 6, 10, 15, 21],
    [2, 3, 5, 7, 11, 13, 17, 19],
    [100, 99, 98, 97],
    [5, -5, 5, -5],
    [1, 2, 6, 24, 120],
    [0, 1, 0, 1, 0],
    [12, 345, 6789],
    [1, 11, 21, 1211, 111221],
    [3, 1, 4, 1, 5, 9, 2, 6],
    [-1, -2, -3],
    [42],
    [1, 0, 0, 1, 0, 0, 0, 1],
    [8, 6, 7, 5, 3, 0, 9],
    [1000, 2000, 4000],
    [1, 2, 4, 7, 11, 16],
    [9, 8, 7, 6, 5, 4, 3, 2, 1],
    [2, 2, 2, 2],
    [1, 5, 14, 30, 55],
    [-10, 0, 10, 20],
    [31, 41, 59, 26, 53],
    [1, 2, 1, 2, 1],
    [6, 28, 496],
]
"""30 prompts of varied lengths, signs and term sizes."""


def _random_checkpoint(directory, seed: int = 0, **overrides):
    """A 2-layer nextterm-1m-shaped model with large random weights: its greedy terms depend on
    the prompt and differ in length, so decoding compares many distinct tokens."""
    model = create_model(
        "nextterm-1m", seed=seed, num_hidden_layers=2, initializer_range=0.3, **overrides
    )
    return model, save_checkpoint(model, directory, meta={"preset": "nextterm-1m"})


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("gguf")
    model, checkpoint = _random_checkpoint(root / "ck")
    files = {
        kind: export_gguf(checkpoint, root / f"{kind}.gguf", kind).path
        for kind in ("f32", "f16", "q8_0")
    }
    return model, checkpoint, files


def _llama(path, **kwargs) -> LlamaCppModel:
    return LlamaCppModel(path, threads=2, **kwargs)


def _torch_logits(model, ids: list[int]) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0].double().numpy()


def test_metadata_vocabulary_and_tensor_names(random_model):
    model, _, files = random_model
    reader = gguf.GGUFReader(files["f16"])

    def value(key):
        return reader.get_field(key).contents()

    config = model.config
    assert value("general.architecture") == "qwen3"
    assert value("qwen3.block_count") == 2
    assert value("qwen3.context_length") == config.max_position_embeddings
    assert value("qwen3.embedding_length") == 128
    assert value("qwen3.feed_forward_length") == 384
    assert (value("qwen3.attention.head_count"), value("qwen3.attention.head_count_kv")) == (4, 2)
    assert value("qwen3.attention.key_length") == value("qwen3.attention.value_length") == 32
    assert value("qwen3.rope.freq_base") == 1_000_000.0
    assert value("qwen3.attention.layer_norm_rms_epsilon") == pytest.approx(1e-6)
    assert value("tokenizer.ggml.model") == "gpt2"
    assert value("tokenizer.ggml.tokens") == [
        *"0123456789-,",
        "<bos>",
        "<eos>",
        "<pad>",
        "<reserved>",
    ]
    assert (
        value("tokenizer.ggml.bos_token_id"),
        value("tokenizer.ggml.eos_token_id"),
        value("tokenizer.ggml.padding_token_id"),
    ) == (BOS_ID, EOS_ID, PAD_ID)
    assert value("tokenizer.ggml.add_bos_token") is True
    per_block = [
        "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm",
        "ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
    ]  # fmt: skip
    expected = {"token_embd.weight", "output_norm.weight", "output.weight"} | {
        f"blk.{block}.{name}.weight" for block in range(2) for name in per_block
    }
    types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}
    assert set(types) == expected
    assert types["blk.0.attn_q.weight"] == "F16" and types["blk.1.attn_k_norm.weight"] == "F32"
    assert {t.name: t.tensor_type.name for t in gguf.GGUFReader(files["q8_0"]).tensors}[
        "blk.1.ffn_down.weight"
    ] == "Q8_0"


def test_llama_cpp_logits_match_torch(random_model):
    """Every position within 0.01% (f32) and 1% (f16) of the largest logit (measured: 0.0002%
    and 0.22%). A wrong tensor mapping, transposition or RoPE layout is off by tens of percent
    (q/k permuted as in the interleaved layout: 66%). llama.cpp's default f16 attention alone
    moves f32 by 0.14%, so these runs keep attention exact."""
    model, _, files = random_model
    prompts = [encode_terms(p) for p in PROMPTS[:8]]
    for kind, tolerance in (("f32", 1e-4), ("f16", 1e-2)):
        with _llama(files[kind]) as llama:
            for ids in prompts:
                expected = _torch_logits(model, ids)
                assert np.abs(llama.logits(ids) - expected).max() < tolerance * max(
                    1.0, np.abs(expected).max()
                ), kind


def test_f16_greedy_next_terms_equal_the_torch_engines(random_model):
    model, _, files = random_model
    expected = Engine(model).next_terms(PROMPTS, n_terms=3)
    # The comparison means something: the terms vary with the prompt and are mostly complete.
    assert len({tuple(row) for row in expected}) > 10
    assert sum(term is not None for row in expected for term in row) > 60
    with _llama(files["f16"]) as llama:
        assert Engine(llama).next_terms(PROMPTS, n_terms=3) == expected


def test_f16_beam_terms_equal_the_torch_engines(random_model):
    """The beam forks rows (llama.cpp sequence copies) and ranks whole terms by probability."""
    model, _, files = random_model
    expected = Engine(model).beam_next_term(PROMPTS[:6], beam_width=4, top_k=3)
    with _llama(files["f16"]) as llama:
        found = Engine(llama).beam_next_term(PROMPTS[:6], beam_width=4, top_k=3)
    assert [[term for term, _ in row] for row in found] == [[t for t, _ in row] for row in expected]
    for row, reference in zip(found, expected):
        assert [p for _, p in row] == pytest.approx([p for _, p in reference], rel=0.05)


def test_q8_0_agrees_on_most_prompts(random_model):
    model, _, files = random_model
    expected = Engine(model).next_terms(PROMPTS, n_terms=1)
    with _llama(files["q8_0"]) as llama:
        found = Engine(llama).next_terms(PROMPTS, n_terms=1)
    agreement = sum(a == b for a, b in zip(found, expected)) / len(PROMPTS)
    assert agreement >= 0.7, agreement  # measured 28 of 30


def test_shipped_model_agrees_through_llama_cpp(tmp_path):
    """The trained model, whose greedy terms are meaningful, gives the same terms in f16."""
    path = export_gguf(default_model_path(), tmp_path / "nextterm.gguf", "f16").path
    engine = Engine.from_pretrained(default_model_path(), device="cpu")
    expected = engine.next_terms(PROMPTS, n_terms=2)
    assert expected[0] == [6, 7]  # 1, 2, 3, 4, 5 -> 6, 7: the model is the trained one
    with _llama(path) as llama:
        assert Engine(llama).next_terms(PROMPTS, n_terms=2) == expected


def test_plain_llama_cpp_completion_with_a_comma_stop_gives_the_engines_term(tmp_path):
    """The README's recipe: llama-cpp-python's own completion of the prompt text, greedy, stopped
    at ','. The trained model's greedy terms follow the term grammar, so no mask is needed."""
    path = export_gguf(default_model_path(), tmp_path / "nextterm.gguf", "f16").path
    expected = Engine.from_pretrained(default_model_path(), device="cpu").next_terms(PROMPTS[:10])
    llm = llama_cpp.Llama(str(path), n_ctx=512, n_threads=2, verbose=False)
    found = []
    for prompt in PROMPTS[:10]:
        text = "".join(f"{term}," for term in prompt)
        choice = llm(text, max_tokens=16, temperature=0.0, stop=[","])["choices"][0]
        assert choice["finish_reason"] == "stop"
        found.append([int(choice["text"])])
    llm.close()
    assert found == expected


def test_tied_embeddings_use_token_embd_as_the_head(tmp_path):
    model, checkpoint = _random_checkpoint(tmp_path / "tied", seed=3, tie_word_embeddings=True)
    path = export_gguf(checkpoint, tmp_path / "tied.gguf", "f32").path
    assert "output.weight" not in {tensor.name for tensor in gguf.GGUFReader(path).tensors}
    ids = encode_terms([1, 2, 3, 5, 8])
    with _llama(path) as llama:
        assert np.abs(llama.logits(ids) - _torch_logits(model, ids)).max() < 1e-2


def test_q8_0_keeps_rows_not_a_multiple_of_32_in_f16(tmp_path):
    model, checkpoint = _random_checkpoint(
        tmp_path / "odd", hidden_size=48, head_dim=16, num_attention_heads=3, num_key_value_heads=1
    )
    report = export_gguf(checkpoint, tmp_path / "odd.gguf", "q8_0")
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(report.path).tensors}
    assert "blk.0.attn_q.weight" in report.kept_f16 and types["blk.0.attn_q.weight"] == "F16"
    assert types["blk.0.ffn_down.weight"] == "Q8_0"  # rows of 384
    assert "blk.0.ffn_down.weight" not in report.kept_f16
    with _llama(report.path) as llama:
        found = Engine(llama).next_terms(PROMPTS[:10])
    assert sum(a == b for a, b in zip(found, Engine(model).next_terms(PROMPTS[:10]))) >= 7


def test_llama_cpp_tokenizer_reads_the_digit_vocabulary(random_model, capfd):
    _, _, files = random_model
    capfd.readouterr()
    with _llama(files["f16"]) as llama:
        assert capfd.readouterr().err == ""  # llama.cpp's load warnings are kept quiet
        lib, vocab = llama_cpp, llama._vocab
        assert (lib.llama_vocab_bos(vocab), lib.llama_vocab_eos(vocab)) == (BOS_ID, EOS_ID)
        assert lib.llama_vocab_is_eog(vocab, EOS_ID) and not lib.llama_vocab_is_eog(vocab, 11)
        assert llama.tokenize("1,1,2,3,5,8,") == encode_terms([1, 1, 2, 3, 5, 8])
        assert llama.tokenize("-12,340,", add_bos=False) == encode_terms([-12, 340], bos=False)
        # Like the Hugging Face tokenizer, characters outside the vocabulary are dropped.
        assert llama.tokenize("1, 2, 3,") == encode_terms([1, 2, 3])


def test_cli_export(tmp_path, capsys):
    _, checkpoint = _random_checkpoint(tmp_path / "ck")
    out = tmp_path / "model.gguf"
    assert main(["export", "gguf", str(checkpoint), str(out), "--type", "q8_0"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "q8_0" in printed and "stop on ','" in printed
    assert gguf.GGUFReader(out).get_field("general.file_type").contents() == 7  # MOSTLY_Q8_0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_seqcond_checkpoint_is_refused(tmp_path, capsys):
    checkpoint = save_checkpoint(create_model("nextterm-sca-1m"), tmp_path / "sca")
    with pytest.raises(GGUFExportError, match="llama.cpp has no SeqCond architecture"):
        export_gguf(checkpoint, tmp_path / "sca.gguf")
    assert main(["export", "gguf", str(checkpoint), str(tmp_path / "sca.gguf")]) == 2
    assert "error: " in capsys.readouterr().err and not (tmp_path / "sca.gguf").exists()


def test_user_mistakes_are_clear_errors(tmp_path, capsys):
    _, checkpoint = _random_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        export_gguf(tmp_path / "missing", tmp_path / "out.gguf")
    with pytest.raises(GGUFExportError, match="unknown GGUF type 'q4_0'"):
        export_gguf(checkpoint, tmp_path / "out.gguf", "q4_0")
    with pytest.raises(GGUFExportError, match="does not exist"):
        export_gguf(checkpoint, tmp_path / "no" / "such" / "out.gguf")
    with pytest.raises(GGUFExportError, match="is a directory"):
        export_gguf(checkpoint, tmp_path)
    try:  # the option is refused while parsing: a usage error, exit status 2
        status = main(
            ["export", "gguf", str(checkpoint), str(tmp_path / "out.gguf"), "--type", "q4_0"]
        )
    except SystemExit as exit_info:
        status = exit_info.code
    assert status == 2
    assert "invalid choice: 'q4_0'" in capsys.readouterr().err
    with pytest.raises(LlamaCppError, match="no GGUF file"):
        LlamaCppModel(tmp_path / "out.gguf")
    path = export_gguf(checkpoint, tmp_path / "out.gguf", "f16").path
    with pytest.raises(LlamaCppError, match="context must be between 1 and the model's 4096"):
        LlamaCppModel(path, context=5000)
