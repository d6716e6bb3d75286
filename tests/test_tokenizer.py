"""The 16-token digit vocabulary and its Hugging Face tokenizer files."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextterm.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SEP_ID,
    decode,
    decode_terms,
    encode_terms,
    encode_text,
    parse_term_ids,
    save_hf_tokenizer,
)

integers = st.integers(min_value=-(10**40), max_value=10**40)


def test_card_example():
    assert encode_terms([1, 2, 3]) == [12, 1, 11, 2, 11, 3, 11]
    assert encode_terms([-4], bos=False) == [10, 4, 11]


def test_other_characters_are_ignored():
    assert encode_text("1, 2; x-3,") == [1, 11, 2, 10, 3, 11]


def test_decode_skips_specials():
    ids = [BOS_ID, 1, SEP_ID, 2, SEP_ID, EOS_ID, PAD_ID]
    assert decode(ids) == "1,2,"
    assert decode(ids, skip_special=False) == "<bos>1,2,<eos><pad>"
    with pytest.raises(ValueError, match="outside"):
        decode([16])


def test_term_grammar():
    assert parse_term_ids([10, 4, 2]) == -42
    assert parse_term_ids([0]) == 0
    for bad in ([], [10], [0, 1], [10, 0], [1, 10, 2], [1, SEP_ID]):
        assert parse_term_ids(bad) is None


@given(st.lists(integers, max_size=50))
def test_round_trip(terms):
    ids = encode_terms(terms)
    assert decode_terms(ids) == terms
    assert encode_text(decode(ids), bos=True) == ids


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    save_hf_tokenizer(directory)
    return directory


@settings(max_examples=50, deadline=None)
@given(st.lists(integers, min_size=1, max_size=30), st.sampled_from(["", " ", ", ", "x"]))
def test_hf_tokenizer_agrees_with_ours(hf_dir, terms, junk):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    text = junk.join(f"{term}," for term in terms)
    assert tokenizer(text)["input_ids"] == encode_text(text, bos=True)
    assert tokenizer.decode(encode_terms(terms), skip_special_tokens=True) == decode(
        encode_terms(terms)
    )


def test_plain_autotokenizer_without_nextterm(hf_dir):
    """A process that never imports nextterm loads the files with plain transformers."""
    script = (
        "import json, sys\n"
        "from transformers import AutoTokenizer\n"
        f"t = AutoTokenizer.from_pretrained({str(hf_dir)!r})\n"
        "assert 'nextterm' not in sys.modules\n"
        "print(json.dumps([t('1,-2,3,')['input_ids'], t.bos_token_id, t.eos_token_id,"
        " t.pad_token_id, t.convert_tokens_to_ids(',')]))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(output) == [[12, 1, 11, 10, 2, 11, 3, 11], 12, 13, 14, 11]
