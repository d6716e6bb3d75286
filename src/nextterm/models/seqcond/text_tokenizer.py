"""The Nautile text tokenizer: cl100k_base ids shifted by +1 and four chat specials, as a transformers tokenizer.

The ids are those of :mod:`.text_vocab` (pad 0, rank ``r`` at ``r + 1``, chat specials 100278-100281,
``len(tokenizer) == 100282``); decoding a reserved or out-of-range id is an :class:`UnknownTokenError`.

:func:`build_backend` turns the cl100k_base ranks into a ``tokenizers.Tokenizer`` with transformers'
``TikTokenConverter`` (byte-level BPE, the tiktoken split pattern) and moves every id up by one.
Saved with ``save_pretrained``, the directory holds ``tokenizer.json`` and a ``tokenizer_config.json``
with the specials and the chat template, so plain ``AutoTokenizer.from_pretrained(dir)`` loads it
with no nextterm import and no remote code. Importing this module (or
:mod:`nextterm.models.seqcond.modeling`) registers :class:`SeqCondTextTokenizer` for SeqCond configs;
``AutoTokenizer`` then returns it, with :meth:`~SeqCondTextTokenizer.encode_chat` and
:meth:`~SeqCondTextTokenizer.split_reply`.

Chat format (the training formatting): each message's content is stripped and empty messages are
skipped; a message is ``<|im_start|>{role}\\n{content}\\n<|im_end|>``, and the generation prompt is
``<|im_start|>assistant\\n<|think_start|>``. The model then writes its reasoning, ``<|think_end|>``,
the answer and ``<|im_end|>``.

Special-token text typed inside a message (``"<|im_end|>"``) stays ordinary text: this class applies
transformers' ``sanitize_control_tokens`` by default. Plain ``AutoTokenizer`` users get the same ids
by passing ``apply_chat_template(..., sanitize_control_tokens=True)``; without it, transformers parses
such text as the control token. Likewise ``encode(text)`` parses special-token text unless called
with ``split_special_tokens=True``.

The BPE ranks come from a local ``cl100k_base.tiktoken`` file (an explicit path, ``<model dir>/
cl100k_base.tiktoken`` or ``$NEXTTERM_TIKTOKEN_FILE``), else from tiktoken's cache or download, and
are checked against the file's SHA-256.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, TokenizersBackend

from nextterm.errors import NextTermError
from nextterm.models.seqcond.configuration import SeqCondConfig
from nextterm.models.seqcond.text_vocab import (
    EOS_ID,
    ID_OFFSET,
    IM_END,
    IM_START,
    N_RANKS,
    PAD_ID,
    PAD_TOKEN,
    RESERVED_IDS,
    SPECIAL_IDS,
    TEXT_VOCAB_IDS,
    THINK_END,
    is_token_id,
    reserved_token,
)

RANKS_FILE_NAME = "cl100k_base.tiktoken"
RANKS_ENV = "NEXTTERM_TIKTOKEN_FILE"
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
CL100K_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
ONIG_PATTERN = CL100K_PATTERN.replace(r"\p{N}{1,3}+", r"\p{N}{1,3}")
"""The split pattern for ``tokenizers``, whose Oniguruma regex reads ``{1,3}+`` as "one or more times
``{1,3}``" rather than possessive; nothing follows that alternative, so the plain form is equivalent."""
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('each message needs a role in system, user, assistant; got ' ~ message['role']) }}"
    "{%- elif message['content'] is not string -%}"
    "{{ raise_exception('each message needs a string content') }}"
    "{%- endif -%}"
    "{%- set content = message['content'] | trim -%}"
    "{%- if content -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + content + '\\n<|im_end|>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n<|think_start|>' }}"
    "{%- endif -%}"
)
"""Jinja chat template: strips content, skips empty messages, ends with ``<|think_start|>`` when prompting."""


class TokenizerFileError(NextTermError):
    """No usable cl100k_base ranks file (missing, unreadable, wrong content, or offline)."""


class UnknownTokenError(NextTermError):
    """A token id that the Nautile tokenizer does not define (reserved, negative or past 100281)."""


def resolve_ranks_source(
    ranks_file: str | Path | None = None, model_dir: str | Path | None = None
) -> str:
    """The path (or tiktoken URL) of the cl100k_base ranks, checked against their SHA-256.

    Order: ``ranks_file``, ``<model_dir>/cl100k_base.tiktoken``, ``$NEXTTERM_TIKTOKEN_FILE``, then the
    tiktoken URL (served from tiktoken's cache, else downloaded).
    """
    from tiktoken.load import load_tiktoken_bpe

    local = Path(model_dir) / RANKS_FILE_NAME if model_dir is not None else None
    if ranks_file is not None:
        path = Path(ranks_file)
    elif local is not None and local.is_file():
        path = local
    elif os.environ.get(RANKS_ENV):
        path = Path(os.environ[RANKS_ENV])
    else:
        try:
            load_tiktoken_bpe(CL100K_URL, expected_hash=CL100K_SHA256)
        except Exception as error:  # network errors of any kind when offline
            raise TokenizerFileError(
                "cannot load the cl100k_base BPE ranks offline: pass --tokenizer-file PATH (a cl100k_base.tiktoken "
                f"file), put {RANKS_FILE_NAME} in the model directory or set ${RANKS_ENV} ({type(error).__name__})"
            ) from error
        return CL100K_URL
    if not path.is_file():
        raise TokenizerFileError(f"cl100k_base ranks file not found: {path}")
    try:
        load_tiktoken_bpe(str(path), expected_hash=CL100K_SHA256)
    except (OSError, ValueError) as error:
        raise TokenizerFileError(f"{path} is not the cl100k_base ranks file ({error})") from error
    return str(path)


def build_backend(ranks_source: str):
    """A ``tokenizers.Tokenizer`` of the Nautile ids from a checked cl100k_base ranks file (or URL).

    The converter writes rank ``r`` as id ``r``; the vocabulary is renumbered to ``r + 1`` with
    ``<|pad|>`` at 0 and placeholders at the reserved ids, so that the four chat specials, added
    last, land on 100278-100281 (``tokenizers`` numbers added tokens after the model's vocabulary).
    """
    from tokenizers import AddedToken, Tokenizer
    from transformers.convert_slow_tokenizer import TikTokenConverter

    spec = json.loads(
        TikTokenConverter(vocab_file=ranks_source, pattern=ONIG_PATTERN).converted().to_str()
    )
    vocab = {token: rank + ID_OFFSET for token, rank in spec["model"]["vocab"].items()}
    vocab[PAD_TOKEN] = PAD_ID
    vocab.update({reserved_token(token_id): token_id for token_id in RESERVED_IDS})
    spec["model"]["vocab"] = vocab
    backend = Tokenizer.from_str(json.dumps(spec))
    specials = [
        AddedToken(token, special=True, normalized=False) for token in (PAD_TOKEN, *SPECIAL_IDS)
    ]
    backend.add_special_tokens(specials)
    expected = {PAD_TOKEN: PAD_ID, **SPECIAL_IDS}
    actual = {token: backend.token_to_id(token) for token in expected}
    if actual != expected or backend.get_vocab_size(with_added_tokens=True) != TEXT_VOCAB_IDS:
        raise TokenizerFileError(
            f"{ranks_source} does not give the Nautile ids (special ids {actual})"
        )
    return backend


def tokenizer_settings(model_max_length: int = 4096) -> dict[str, Any]:
    """The ``tokenizer_config.json`` values of the Nautile tokenizer (besides its class)."""
    return {
        "eos_token": IM_END,
        "pad_token": PAD_TOKEN,
        "extra_special_tokens": list(SPECIAL_IDS),
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": model_max_length,
        "padding_side": "right",  # SeqCond's prefill takes right-padded batches only
        "clean_up_tokenization_spaces": False,
    }


@dataclass(frozen=True)
class ChatReply:
    """A decoded assistant turn: the reasoning (between the think markers) and the answer."""

    reasoning: str
    answer: str


class SeqCondTextTokenizer(TokenizersBackend):
    """The Nautile tokenizer: a transformers fast tokenizer plus the chat helpers of the SeqCond models."""

    padding_side = "right"
    model_input_names = ["input_ids", "attention_mask"]

    @classmethod
    def from_ranks(
        cls,
        ranks_file: str | Path | None = None,
        model_dir: str | Path | None = None,
        model_max_length: int = 4096,
    ) -> SeqCondTextTokenizer:
        """Build the tokenizer from the cl100k_base ranks (see :func:`resolve_ranks_source`)."""
        backend = build_backend(resolve_ranks_source(ranks_file, model_dir))
        return cls(tokenizer_object=backend, **tokenizer_settings(model_max_length))

    def apply_chat_template(self, conversation, *args, tokenize: bool = True, **kwargs):
        """transformers' ``apply_chat_template`` with ``sanitize_control_tokens`` on by default.

        Special-token text inside messages is then encoded as ordinary text (it cannot inject a
        control token); pass ``sanitize_control_tokens=False`` for transformers' plain behaviour.
        """
        if tokenize and not kwargs.get("return_assistant_tokens_mask"):
            kwargs.setdefault("sanitize_control_tokens", True)
        return super().apply_chat_template(conversation, *args, tokenize=tokenize, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' ``save_pretrained``, with the chat template kept in ``tokenizer_config.json``."""
        kwargs.setdefault(
            "save_jinja_files", False
        )  # also readable by runtimes that predate chat_template.jinja
        return super().save_pretrained(save_directory, *args, **kwargs)

    def encode_chat(self, prompt: str) -> list[int]:
        """Ids of a one-turn chat prompt, ending with ``<|think_start|>`` (the model reasons next)."""
        messages = [{"role": "user", "content": prompt}]
        return self.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)

    def split_reply(self, ids: Sequence[int]) -> ChatReply:
        """Split generated ids into reasoning (before ``<|think_end|>``) and answer (before EOS)."""
        ids = [int(token_id) for token_id in ids]
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        think_end = SPECIAL_IDS[THINK_END]
        if think_end in ids:
            cut = ids.index(think_end)
            before, after = ids[:cut], ids[cut + 1 :]
            return ChatReply(
                self.decode(before, skip_special_tokens=True).strip(),
                self.decode(after, skip_special_tokens=True).strip(),
            )
        return ChatReply(self.decode(ids, skip_special_tokens=True).strip(), "")

    def _decode(
        self,
        token_ids,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces=None,
        **kwargs,
    ) -> str:
        """transformers' decoding, which would silently drop unknown ids: here they raise instead."""
        if isinstance(token_ids, dict):
            token_ids = token_ids["input_ids"]
        for token_id in [token_ids] if isinstance(token_ids, int) else token_ids:
            if not is_token_id(int(token_id)):
                raise UnknownTokenError(
                    f"token id {int(token_id)} is not a Nautile token (ids 0-{N_RANKS} and "
                    f"{SPECIAL_IDS[IM_START]}-{TEXT_VOCAB_IDS - 1}; "
                    f"{RESERVED_IDS.start}-{RESERVED_IDS.stop - 1} are reserved)"
                )
        return super()._decode(
            token_ids, skip_special_tokens, clean_up_tokenization_spaces, **kwargs
        )


def load_text_tokenizer(
    model_dir: str | Path | None = None, ranks_file: str | Path | None = None
) -> SeqCondTextTokenizer:
    """The tokenizer saved in ``model_dir`` (its ``tokenizer.json``), else one built from the ranks.

    An explicit ``ranks_file`` always builds from the ranks. A saved tokenizer that is not the
    Nautile one (for instance the 16-token digit tokenizer) is a :class:`TokenizerFileError`.
    """
    if (
        ranks_file is None
        and model_dir is not None
        and (Path(model_dir) / "tokenizer.json").is_file()
    ):
        try:
            tokenizer = SeqCondTextTokenizer.from_pretrained(model_dir)
        except (OSError, ValueError) as error:
            raise TokenizerFileError(
                f"cannot load the tokenizer in {model_dir}: {error}"
            ) from error
        if len(tokenizer) != TEXT_VOCAB_IDS or tokenizer.convert_tokens_to_ids(IM_END) != EOS_ID:
            raise TokenizerFileError(
                f"{model_dir}/tokenizer.json is not the Nautile text tokenizer ({len(tokenizer)} ids, not "
                f"{TEXT_VOCAB_IDS}); pass --tokenizer-file PATH to build it from a cl100k_base.tiktoken file"
            )
        return tokenizer
    return SeqCondTextTokenizer.from_ranks(ranks_file, model_dir)


def register_auto_tokenizer() -> None:
    """Make ``AutoTokenizer`` return :class:`SeqCondTextTokenizer` for SeqCond text checkpoints."""
    AutoTokenizer.register(SeqCondConfig, tokenizer_class=SeqCondTextTokenizer, exist_ok=True)


register_auto_tokenizer()
