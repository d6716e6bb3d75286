"""A GGUF file run by llama.cpp (``llama-cpp-python``) where the engine expects a model.

:class:`LlamaCppModel` loads the file with llama.cpp's C API and offers what
:class:`~nextterm.engine.Engine` reads from a model (``config.max_position_embeddings``,
``parameters()`` for the device, ``eval()``) plus ``decode_session()``, the hook through which a
backbone supplies its own :class:`~nextterm.engine.DecodeSession`. So ``Engine(LlamaCppModel(path))``
decodes with llama.cpp's logits through the engine's own loop (term grammar, term budgets, stop
ids): greedy or beam terms that differ from the torch engine's can only come from the logits.

The session keeps one llama.cpp sequence per batch row in a unified KV cache and decodes every row's
token in one ``llama_decode`` call per step; ``select`` drops sequences and copies them for
repeated rows (beams). One session at a time per model. Also: :meth:`LlamaCppModel.logits` (every
position of one prompt) and :meth:`LlamaCppModel.tokenize` (llama.cpp's own tokenizer).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from nextterm.errors import NextTermError


class LlamaCppError(NextTermError):
    """llama.cpp is missing, cannot load the file, or cannot decode a batch."""


_GGML_LOG_LEVEL_ERROR = 4
_log_callback = None  # kept referenced: llama.cpp calls it for as long as the process lives


def _print_errors(level: int, text: bytes, user_data) -> None:
    if level == _GGML_LOG_LEVEL_ERROR:
        sys.stderr.write(text.decode(errors="replace"))


def _llama_cpp():
    global _log_callback
    try:
        import llama_cpp
    except ImportError as error:
        raise LlamaCppError(
            "llama-cpp-python is not installed: pip install 'nextterm[dev]' (it builds llama.cpp)"
        ) from error
    if _log_callback is None:
        # llama.cpp's load and context chatter (its warnings included: a digit vocabulary has no
        # newline token) stays quiet; its errors still reach stderr. llama-cpp-python's own
        # callback maps ggml's log levels one step off, so it would print the warnings.
        _log_callback = llama_cpp.llama_log_callback(_print_errors)
        llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
    return llama_cpp


class LlamaCppModel:
    """A GGUF file loaded by llama.cpp on the CPU, ready for ``Engine(LlamaCppModel(path))``."""

    def __init__(
        self,
        path: str | Path,
        max_rows: int = 32,
        context: int | None = None,
        threads: int | None = None,
        exact_attention: bool = True,
    ) -> None:
        """``max_rows``: most rows (prompts or beams) one session decodes at once. ``context``:
        tokens each row may hold (default and most: the model's context); the KV cache holds
        ``max_rows * context`` positions. ``threads``: CPU threads (default: every core available).
        ``exact_attention``: keep the KV cache in f32 and flash attention off, so that only the
        file's weights differ from torch; False gives llama.cpp's defaults (f16 cache, flash
        attention on the CPU), which round attention to f16 as LM Studio or Ollama would."""
        lib = _llama_cpp()
        self._lib = lib
        path = Path(path)
        if not path.is_file():
            raise LlamaCppError(f"no GGUF file at {str(path)!r}")
        lib.llama_backend_init()
        self._model = lib.llama_model_load_from_file(
            str(path).encode(), lib.llama_model_default_params()
        )
        if not self._model:
            raise LlamaCppError(f"llama.cpp cannot load {path}")
        self._vocab = lib.llama_model_get_vocab(self._model)
        self.n_vocab = lib.llama_vocab_n_tokens(self._vocab)
        trained = lib.llama_model_n_ctx_train(self._model)
        if context is not None and not 1 <= context <= trained:
            lib.llama_model_free(self._model)
            raise LlamaCppError(f"context must be between 1 and the model's {trained} tokens")
        context = context or trained
        self.config = SimpleNamespace(max_position_embeddings=context)
        self.max_rows = max_rows
        params = lib.llama_context_default_params()
        params.n_ctx = context * max_rows
        params.n_batch = params.n_ubatch = min(params.n_ctx, 2048)
        params.n_seq_max = max_rows
        params.kv_unified = True  # rows share one cache, so any row may use the whole context
        if exact_attention:
            params.type_k = params.type_v = lib.GGML_TYPE_F32
            params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.n_threads = params.n_threads_batch = threads or len(os.sched_getaffinity(0))
        self._ctx = lib.llama_init_from_model(self._model, params)
        if not self._ctx:
            lib.llama_model_free(self._model)
            raise LlamaCppError(f"llama.cpp cannot create a context for {path}")
        self._memory = lib.llama_get_memory(self._ctx)
        self._batch_size = params.n_batch
        self._batch = lib.llama_batch_init(self._batch_size, 0, 1)

    def close(self) -> None:
        """Free llama.cpp's context and model (the object is unusable afterwards)."""
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._lib.llama_model_free(self._model)
            self._ctx = self._model = None

    def __enter__(self) -> LlamaCppModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # What the engine reads from a model.
    def parameters(self):
        yield torch.empty(0)  # the engine takes its device (the CPU) from the first parameter

    def eval(self) -> LlamaCppModel:
        return self

    def decode_session(self) -> LlamaCppSession:
        return LlamaCppSession(self)

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        """llama.cpp's own tokenization of ``text`` (with the file's BOS when ``add_bos``)."""
        raw = text.encode()
        room = len(raw) + 2
        tokens = (self._lib.llama_token * room)()
        count = self._lib.llama_tokenize(self._vocab, raw, len(raw), tokens, room, add_bos, False)
        if count < 0:
            raise LlamaCppError(f"llama.cpp could not tokenize {text!r}")
        return list(tokens[:count])

    def logits(self, ids: list[int]) -> np.ndarray:
        """``[len(ids), vocab]`` next-token logits at every position of one prompt."""
        self.clear()
        return self.decode([(token, position, 0, True) for position, token in enumerate(ids)])

    def clear(self) -> None:
        """Forget every sequence in the KV cache."""
        self._lib.llama_memory_clear(self._memory, True)

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> np.ndarray:
        """Feed ``(token, position, sequence, wants_logits)`` entries (in order within each
        sequence); returns the logits of the entries that want them, in entry order."""
        lib, batch, rows = self._lib, self._batch, []
        for start in range(0, len(entries), self._batch_size):
            chunk = entries[start : start + self._batch_size]
            for index, (token, position, sequence, wanted) in enumerate(chunk):
                batch.token[index] = int(token)
                batch.pos[index] = position
                batch.n_seq_id[index] = 1
                batch.seq_id[index][0] = sequence
                batch.logits[index] = wanted
            batch.n_tokens = len(chunk)
            status = lib.llama_decode(self._ctx, batch)
            if status != 0:
                raise LlamaCppError(f"llama_decode failed with status {status}")
            for index, entry in enumerate(chunk):
                if entry[3]:
                    pointer = lib.llama_get_logits_ith(self._ctx, index)
                    rows.append(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy())
        return np.stack(rows) if rows else np.zeros((0, self.n_vocab), dtype=np.float32)

    def copy_sequence(self, source: int, target: int) -> None:
        self._lib.llama_memory_seq_cp(self._memory, source, target, -1, -1)

    def drop_sequence(self, sequence: int) -> None:
        self._lib.llama_memory_seq_rm(self._memory, sequence, -1, -1)


class LlamaCppSession:
    """One llama.cpp sequence per batch row (the engine's ``DecodeSession`` protocol)."""

    def __init__(self, model: LlamaCppModel) -> None:
        self.model = model
        self.sequences: list[int] = []
        self.positions: list[int] = []
        self.free: list[int] = []

    def prefill(self, prompts: list[list[int]]) -> torch.Tensor:
        if not prompts or any(len(prompt) == 0 for prompt in prompts):
            raise ValueError("every prompt needs at least one token")
        if len(prompts) > self.model.max_rows:
            raise LlamaCppError(
                f"{len(prompts)} prompts in one batch; this LlamaCppModel decodes at most "
                f"{self.model.max_rows} (max_rows)"
            )
        self.model.clear()
        self.sequences = list(range(len(prompts)))
        self.free = list(range(len(prompts), self.model.max_rows))
        self.positions = [len(prompt) for prompt in prompts]
        entries = [
            (token, position, row, position == len(prompt) - 1)
            for row, prompt in enumerate(prompts)
            for position, token in enumerate(prompt)
        ]
        return torch.from_numpy(self.model.decode(entries))

    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        entries = [
            (token, position, sequence, True)
            for token, position, sequence in zip(token_ids.tolist(), self.positions, self.sequences)
        ]
        self.positions = [position + 1 for position in self.positions]
        return torch.from_numpy(self.model.decode(entries))

    def select(self, rows: torch.Tensor) -> None:
        rows = rows.tolist()
        kept = {self.sequences[row] for row in rows}
        for sequence in self.sequences:
            if sequence not in kept:
                self.model.drop_sequence(sequence)
                self.free.append(sequence)
        sequences, seen = [], set()
        for row in rows:
            source = self.sequences[row]
            if source in seen:  # a repeated row (a beam that forks): its own copy of the cache
                if not self.free:
                    raise LlamaCppError(
                        f"more than {self.model.max_rows} rows (max_rows) in one batch"
                    )
                target = self.free.pop()
                self.model.copy_sequence(source, target)
                source = target
            seen.add(self.sequences[row])
            sequences.append(source)
        self.positions = [self.positions[row] for row in rows]
        self.sequences = sequences
