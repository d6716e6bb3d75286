"""The ids of the Nautile text vocabulary, without importing transformers (checkpoint checks use them).

Id 0 is ``<|pad|>``; cl100k_base BPE rank ``r`` is id ``r + 1`` (1-100256); 100257-100277 are reserved
(placeholders that no text encodes to); ``<|im_start|>`` 100278, ``<|im_end|>`` 100279 (EOS),
``<|think_start|>`` 100280, ``<|think_end|>`` 100281. The tokenizer defines 100,282 ids; the Nautile
embedding has 100,300 rows.
"""

from __future__ import annotations

PAD_ID = 0
PAD_TOKEN = "<|pad|>"
ID_OFFSET = 1
N_RANKS = 100256
IM_START, IM_END, THINK_START, THINK_END = (
    "<|im_start|>",
    "<|im_end|>",
    "<|think_start|>",
    "<|think_end|>",
)
SPECIAL_IDS: dict[str, int] = {
    IM_START: 100278,
    IM_END: 100279,
    THINK_START: 100280,
    THINK_END: 100281,
}
EOS_ID = SPECIAL_IDS[IM_END]
RESERVED_IDS = range(N_RANKS + ID_OFFSET, SPECIAL_IDS[IM_START])
TEXT_VOCAB_IDS = SPECIAL_IDS[THINK_END] + 1
"""Ids the tokenizer defines (0-100281): ``len(tokenizer)``."""
EMBEDDING_ROWS = 100300
"""The Nautile ``vocab_size``: the embedding is larger than the tokenizer."""


def reserved_token(token_id: int) -> str:
    """The placeholder name of a reserved id; encoding never produces it."""
    return f"<|reserved_{token_id}|>"


def is_token_id(token_id: int) -> bool:
    """Whether ``token_id`` is padding, a BPE rank or a chat special (not reserved, not out of range)."""
    return 0 <= token_id <= N_RANKS or SPECIAL_IDS[IM_START] <= token_id < TEXT_VOCAB_IDS
