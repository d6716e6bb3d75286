"""The Nautile text tokenizer: cl100k_base (tiktoken) ids shifted by +1, four chat specials.

Id 0 is padding; BPE rank ``r`` is id ``r + 1``; ``<|im_start|>`` 100278, ``<|im_end|>`` 100279 (EOS),
``<|think_start|>`` 100280, ``<|think_end|>`` 100281. The chat prompt is
``<|im_start|>user\\n{prompt}\\n<|im_end|><|im_start|>assistant\\n<|think_start|>``; the model writes its
reasoning, ``<|think_end|>``, the answer and ``<|im_end|>``.

The BPE ranks come from a local ``cl100k_base.tiktoken`` file (an explicit path, ``<model dir>/
cl100k_base.tiktoken`` or ``$NEXTTERM_TIKTOKEN_FILE``), else from tiktoken's own cache / download.
Text inside messages is always encoded as ordinary text, so a literal ``<|im_end|>`` typed by a
user cannot inject a control token.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nextterm.errors import NextTermError

PAD_ID = 0
ID_OFFSET = 1
IM_START, IM_END, THINK_START, THINK_END = "<|im_start|>", "<|im_end|>", "<|think_start|>", "<|think_end|>"
SPECIAL_IDS: dict[str, int] = {IM_START: 100278, IM_END: 100279, THINK_START: 100280, THINK_END: 100281}
EOS_ID = SPECIAL_IDS[IM_END]
VOCAB_SIZE = 100300
RANKS_FILE_NAME = "cl100k_base.tiktoken"
RANKS_ENV = "NEXTTERM_TIKTOKEN_FILE"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
ROLES = ("system", "user", "assistant")


class TokenizerFileError(NextTermError):
    """No usable cl100k_base ranks file (missing, unreadable, wrong content, or offline)."""


def _load_ranks(path: Path) -> dict[bytes, int]:
    from tiktoken.load import load_tiktoken_bpe

    if not path.is_file():
        raise TokenizerFileError(f"cl100k_base ranks file not found: {path}")
    try:
        return load_tiktoken_bpe(str(path), expected_hash=CL100K_SHA256)
    except ValueError as error:
        raise TokenizerFileError(f"{path} is not the cl100k_base ranks file ({error})") from error


def _default_encoding():
    import tiktoken

    try:
        return tiktoken.get_encoding("cl100k_base")
    except Exception as error:  # network errors of any kind when offline
        raise TokenizerFileError(
            "cannot load the cl100k_base BPE ranks offline: pass --tokenizer-file PATH (a cl100k_base.tiktoken "
            f"file), put {RANKS_FILE_NAME} in the model directory or set ${RANKS_ENV} ({type(error).__name__})"
        ) from error


@dataclass(frozen=True)
class ChatReply:
    """A decoded assistant turn: the reasoning (between the think markers) and the answer."""

    reasoning: str
    answer: str


class SeqCondTextTokenizer:
    """Encode / decode Nautile token ids; build the chat prompt."""

    pad_token_id = PAD_ID
    eos_token_id = EOS_ID

    def __init__(self, ranks_file: str | Path | None = None, model_dir: str | Path | None = None) -> None:
        import tiktoken

        candidates = [ranks_file]
        if model_dir is not None:
            candidates.append(Path(model_dir) / RANKS_FILE_NAME)
        candidates.append(os.environ.get(RANKS_ENV))
        chosen = next((Path(c) for c in candidates if c and (c is ranks_file or Path(c).is_file())), None)
        if chosen is not None:
            ranks = _load_ranks(chosen)
        else:
            ranks = _default_encoding()._mergeable_ranks
        self.n_ranks = len(ranks)
        self._encoding = tiktoken.Encoding(
            name="nautile_cl100k", pat_str=CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={}
        )
        self._special_by_id = {token_id: text for text, token_id in SPECIAL_IDS.items()}

    @property
    def vocab_size(self) -> int:
        return VOCAB_SIZE

    def encode(self, text: str) -> list[int]:
        """Ids of plain ``text`` (special-token strings are encoded as ordinary text)."""
        return [rank + ID_OFFSET for rank in self._encoding.encode_ordinary(text)]

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """Text of ``ids``; padding and unknown ids are dropped, specials kept unless skipped."""
        pieces: list[str] = []
        ranks: list[int] = []
        for token_id in ids:
            token_id = int(token_id)
            if ID_OFFSET <= token_id < self.n_ranks + ID_OFFSET:
                ranks.append(token_id - ID_OFFSET)
                continue
            if token_id in self._special_by_id and not skip_special_tokens:
                pieces.append(self._encoding.decode(ranks))
                ranks = []
                pieces.append(self._special_by_id[token_id])
        pieces.append(self._encoding.decode(ranks))
        return "".join(pieces)

    def apply_chat_template(
        self,
        messages: Sequence[dict[str, str]],
        add_generation_prompt: bool = True,
        tokenize: bool = True,
    ) -> list[int] | str:
        """Ids (or the text) of ``messages`` (``{"role", "content"}``) in the Nautile chat format.

        Each message is ``<|im_start|>{role}\\n{content}\\n<|im_end|>``; the generation prompt is
        ``<|im_start|>assistant\\n<|think_start|>``.
        """
        parts: list[tuple[str, bool]] = []  # (text, is_special)
        for message in messages:
            role, content = message.get("role"), message.get("content")
            if role not in ROLES or not isinstance(content, str):
                raise ValueError(f"each message needs a role in {ROLES} and a string content, got {message!r}")
            parts += [(IM_START, True), (f"{role}\n{content}\n", False), (IM_END, True)]
        if add_generation_prompt:
            parts += [(IM_START, True), ("assistant\n", False), (THINK_START, True)]
        if not tokenize:
            return "".join(text for text, _ in parts)
        ids: list[int] = []
        for text, special in parts:
            ids += [SPECIAL_IDS[text]] if special else self.encode(text)
        return ids

    def encode_chat(self, prompt: str) -> list[int]:
        """Ids of a one-turn chat prompt, ending with ``<|think_start|>`` (the model reasons next)."""
        return self.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True)

    def split_reply(self, ids: Sequence[int]) -> ChatReply:
        """Split generated ids into reasoning (before ``<|think_end|>``) and answer (before EOS)."""
        ids = list(ids)
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        think_end = SPECIAL_IDS[THINK_END]
        if think_end in ids:
            cut = ids.index(think_end)
            return ChatReply(self.decode(ids[:cut]).strip(), self.decode(ids[cut + 1 :]).strip())
        return ChatReply(self.decode(ids).strip(), "")
