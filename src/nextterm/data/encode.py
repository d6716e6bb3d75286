"""Fast conversion of canonical sequence text (``"1,2,3,"``) to the token ids stored in packed files.

A stored sequence is ``BOS`` + the characters of the canonical text + ``EOS``; the OEIS stripped
format already holds that text, so ids come from one table lookup over the bytes instead of a
Python loop per character (the result equals :func:`nextterm.tokenizer.encode_terms` plus EOS).
"""

from __future__ import annotations

import re

import numpy as np

from nextterm.data import DataError
from nextterm.sequences import format_terms
from nextterm.tokenizer import BOS_ID, EOS_ID, MINUS_ID, SEP_ID

_TABLE = bytes.maketrans(b"0123456789-,", bytes([*range(10), MINUS_ID, SEP_ID]))
_NOT_TOKEN = re.compile(r"[^0-9,\-]")
_BOS, _EOS = bytes([BOS_ID]), bytes([EOS_ID])


def truncate_text(text: str, max_tokens: int) -> str:
    """The longest prefix of canonical ``text`` ending on a separator whose BOS+text+EOS fits."""
    if len(text) + 2 <= max_tokens:
        return text
    cut = text.rfind(",", 0, max_tokens - 2)
    return text[: cut + 1]


def encode_text_ids(text: str, max_tokens: int | None = None) -> np.ndarray:
    """``BOS`` + ids of canonical ``text`` + ``EOS`` (read-only uint8 array), cut to ``max_tokens`` on a term boundary.

    Raises:
        ValueError: ``text`` holds a character other than digits, ``-`` and ``,``.
    """
    if max_tokens is not None:
        text = truncate_text(text, max_tokens)
    bad = _NOT_TOKEN.search(text)
    if bad is not None:
        raise DataError(
            f"sequence text has a character other than digits, '-' and ',': {bad.group()!r}"
        )
    return np.frombuffer(_BOS + text.encode("ascii").translate(_TABLE) + _EOS, dtype=np.uint8)


def encode_sequence(terms: list[int], max_tokens: int | None = None) -> np.ndarray:
    """``BOS t1 , t2 , ... , EOS`` as uint8 ids, cut to ``max_tokens`` on a term boundary."""
    return encode_text_ids(format_terms(terms), max_tokens)
