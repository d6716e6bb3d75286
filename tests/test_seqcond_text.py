"""Nautile text tokenizer (cl100k_base + 1, chat specials) and the ``nextterm generate`` command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from nextterm.models.seqcond.text_tokenizer import (
    EOS_ID,
    SPECIAL_IDS,
    SeqCondTextTokenizer,
    TokenizerFileError,
)

RANKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tokenizers" / "cl100k_base.tiktoken"


@pytest.fixture(scope="module")
def tokenizer() -> SeqCondTextTokenizer:
    if not RANKS.is_file():
        pytest.skip("shared cl100k_base.tiktoken not available")
    return SeqCondTextTokenizer(RANKS)


def test_special_ids_and_the_plus_one_offset(tokenizer):
    from tiktoken.load import load_tiktoken_bpe

    assert SPECIAL_IDS == {
        "<|im_start|>": 100278,
        "<|im_end|>": 100279,
        "<|think_start|>": 100280,
        "<|think_end|>": 100281,
    }
    assert EOS_ID == tokenizer.eos_token_id == 100279 and tokenizer.pad_token_id == 0
    ranks = load_tiktoken_bpe(str(RANKS))
    assert tokenizer.encode("hello") == [ranks[b"hello"] + 1]
    assert tokenizer.encode("!") == [1]  # rank 0 becomes id 1: id 0 stays padding
    text = "Rapamycin inhibits mTOR; 12345 <|im_end|> é"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert SPECIAL_IDS["<|im_end|>"] not in tokenizer.encode("<|im_end|>")  # no injection from text


def test_chat_template_string_and_ids(tokenizer):
    text = tokenizer.apply_chat_template([{"role": "user", "content": "What is rapamycin?"}], tokenize=False)
    assert text == "<|im_start|>user\nWhat is rapamycin?\n<|im_end|><|im_start|>assistant\n<|think_start|>"
    ids = tokenizer.encode_chat("What is rapamycin?")
    assert ids[0] == 100278 and ids[-1] == 100280
    assert ids == tokenizer.apply_chat_template([{"role": "user", "content": "What is rapamycin?"}])
    assert tokenizer.decode(ids, skip_special_tokens=False) == text
    assert tokenizer.decode(ids) == "user\nWhat is rapamycin?\nassistant\n"
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "2+2?"},
    ]
    multi = tokenizer.apply_chat_template(turns, add_generation_prompt=False, tokenize=False)
    assert multi == (
        "<|im_start|>user\nHi\n<|im_end|><|im_start|>assistant\nHello!\n<|im_end|><|im_start|>user\n2+2?\n<|im_end|>"
    )
    with pytest.raises(ValueError):
        tokenizer.apply_chat_template([{"role": "robot", "content": "x"}])


def test_split_reply_separates_reasoning_and_answer(tokenizer):
    reply_ids = [*tokenizer.encode("Think about it."), 100281, *tokenizer.encode("\nForty-two"), EOS_ID, 5, 6]
    reply = tokenizer.split_reply(reply_ids)
    assert (reply.reasoning, reply.answer) == ("Think about it.", "Forty-two")
    unfinished = tokenizer.split_reply(tokenizer.encode("still thinking"))
    assert (unfinished.reasoning, unfinished.answer) == ("still thinking", "")


def test_missing_or_wrong_ranks_file_gives_a_clear_error(tmp_path):
    with pytest.raises(TokenizerFileError, match="not found"):
        SeqCondTextTokenizer(tmp_path / "absent.tiktoken")
    bad = tmp_path / "cl100k_base.tiktoken"
    bad.write_text("IQ== 0\n")
    with pytest.raises(TokenizerFileError, match="not the cl100k_base"):
        SeqCondTextTokenizer(bad)


def test_generate_command_prints_an_answer(tokenizer, tmp_path, capsys):
    import torch

    from nextterm.models.seqcond import SeqCondConfig, SeqCondForCausalLM
    from nextterm.models.seqcond.commands import GenerateCommandError, register

    torch.manual_seed(0)
    config = SeqCondConfig(d_model=16, d_ff=16, num_layers=3, num_heads=2, num_kv_heads=1, seqcond_heads=2,
                           num_query_heads=2, maxlen=128)  # fmt: skip
    SeqCondForCausalLM(config).save_pretrained(tmp_path)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    common = ["--model", str(tmp_path), "--tokenizer-file", str(RANKS), "--max-new-tokens", "4", "--seed", "1"]
    args = parser.parse_args(["generate", "Say hi", *common, "--show-reasoning"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Reasoning:\n") and "\n\nAnswer:\n" in printed
    args = parser.parse_args(["generate", "   ", *common])
    with pytest.raises(GenerateCommandError):
        args.func(args)
    args = parser.parse_args(["generate", "hi", "--model", str(tmp_path / "none"), "--tokenizer-file", str(RANKS)])
    with pytest.raises(GenerateCommandError):
        args.func(args)
