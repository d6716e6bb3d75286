"""The 16-token digit vocabulary of the NextTerm models, and its Hugging Face tokenizer files.

Ids: ``0``-``9`` are the digits, ``-`` is 10, ``,`` (term separator) is 11, BOS 12, EOS 13, PAD 14,
15 is reserved. Text is read character by character; characters other than digits, ``,`` and
``-`` are ignored, as the NextTerm card specifies. A prompt is BOS followed by ``t1,t2,...,tn,``.

:func:`save_hf_tokenizer` writes the same vocabulary as a ``tokenizer.json`` for the
``tokenizers`` library, so that plain ``AutoTokenizer.from_pretrained(dir)`` (and vLLM or SGLang)
load a checkpoint's tokenizer with no import of nextterm and no remote code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

MINUS_ID = 10
SEP_ID = 11
BOS_ID = 12
EOS_ID = 13
PAD_ID = 14
RESERVED_ID = 15
VOCAB_SIZE = 16
STOP_IDS = (SEP_ID, EOS_ID, PAD_ID)
"""A generated term ends at any of these ids (the checkpoints card: stop on [11, 13, 14])."""

BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, RESERVED_TOKEN = "<bos>", "<eos>", "<pad>", "<reserved>"
TOKENS: tuple[str, ...] = (
    *"0123456789",
    "-",
    ",",
    BOS_TOKEN,
    EOS_TOKEN,
    PAD_TOKEN,
    RESERVED_TOKEN,
)
SPECIAL_IDS = frozenset({BOS_ID, EOS_ID, PAD_ID, RESERVED_ID})
_CHAR_TO_ID = {char: index for index, char in enumerate(TOKENS[:12])}


def encode_text(text: str, bos: bool = False) -> list[int]:
    """Encode raw text character by character, dropping characters outside ``0-9 , -``."""
    ids = [_CHAR_TO_ID[char] for char in text if char in _CHAR_TO_ID]
    return [BOS_ID, *ids] if bos else ids


def encode_term(term: int) -> list[int]:
    """Ids of one integer without its separator: ``-12`` -> ``[10, 1, 2]``."""
    return encode_text(str(term))


def encode_terms(terms: Iterable[int], bos: bool = True) -> list[int]:
    """Ids of a prompt: ``[1, 2, 3]`` -> ``[12, 1, 11, 2, 11, 3, 11]`` (with BOS)."""
    ids = [BOS_ID] if bos else []
    for term in terms:
        ids.extend(encode_term(term))
        ids.append(SEP_ID)
    return ids


def decode(ids: Iterable[int], skip_special: bool = True) -> str:
    """Text of ``ids``; special tokens are dropped unless ``skip_special`` is False."""
    pieces = []
    for token_id in ids:
        token_id = int(token_id)
        if not 0 <= token_id < VOCAB_SIZE:
            raise ValueError(f"token id {token_id} is outside the 16-token vocabulary")
        if token_id in SPECIAL_IDS and skip_special:
            continue
        pieces.append(TOKENS[token_id])
    return "".join(pieces)


def parse_term_ids(ids: Sequence[int]) -> int | None:
    """The integer spelled by ``ids`` (no separator), or None if they do not spell one.

    Enforces the term grammar the models are trained on: optional ``-``, then digits with no
    leading zero (``0`` alone is fine, ``-0`` is not).
    """
    text = decode(ids, skip_special=False)
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit() or not digits.isascii():
        return None
    if (len(digits) > 1 and digits[0] == "0") or text == "-0":
        return None
    return int(text)


def decode_terms(ids: Iterable[int]) -> list[int]:
    """The complete terms in ``ids`` (each closed by a separator); a trailing partial term is dropped."""
    terms: list[int] = []
    current: list[int] = []
    for token_id in ids:
        token_id = int(token_id)
        if token_id == SEP_ID:
            value = parse_term_ids(current)
            if value is None:
                raise ValueError(f"malformed term in ids: {decode(current, skip_special=False)!r}")
            terms.append(value)
            current = []
        elif token_id in (BOS_ID, PAD_ID):
            continue
        elif token_id == EOS_ID:
            break
        else:
            current.append(token_id)
    return terms


def build_hf_tokenizer():
    """A ``tokenizers.Tokenizer`` with one token per character and the other characters dropped."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    tokenizer = Tokenizer(
        models.WordLevel({token: i for i, token in enumerate(TOKENS)}, unk_token=None)
    )
    tokenizer.normalizer = normalizers.Replace(Regex(r"[^0-9,\-]"), "")
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer.add_special_tokens([BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, RESERVED_TOKEN])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A $B", special_tokens=[(BOS_TOKEN, BOS_ID)]
    )
    tokenizer.decoder = decoders.Fuse()
    return tokenizer


def save_hf_tokenizer(directory: str | Path, model_max_length: int = 4096) -> None:
    """Write ``tokenizer.json``, ``tokenizer_config.json`` and ``special_tokens_map.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    build_hf_tokenizer().save(str(directory / "tokenizer.json"))
    special = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "pad_token": PAD_TOKEN}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": False,
        "padding_side": "right",
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
