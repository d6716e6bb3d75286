"""Next-term decoding of small Qwen3-style checkpoints with numpy alone (no torch, no transformers).

A process that answers one ``nextterm predict`` spends seconds importing torch and transformers
and milliseconds on the answer; for the shipped model (1M parameters) a numpy forward pass is as
fast as torch's on the CPU, so :class:`NumpyEngine` gives the hybrid the engine methods it uses
(:meth:`~NumpyEngine.beam_next_term`, :meth:`~NumpyEngine.score_terms`,
:meth:`~NumpyEngine.next_terms`, :meth:`~NumpyEngine.greedy_next_term`) with the same algorithms
as :class:`nextterm.engine.Engine`: the same prompts, grammar masks, term budgets, beam bookkeeping
and float64 log-probabilities over the model's float32 logits. Its numbers agree with the torch
engine's to float32 rounding (``tests/test_numpy_engine.py``).

The model is the Qwen3 decoder as transformers computes it: RMSNorm, per-head RMSNorm of queries
and keys, rotary embeddings (``rotate_half`` layout, default RoPE), grouped-query causal attention,
SwiGLU MLP; weights read with ``safetensors.numpy``. Rows are left-padded with their own masks and
positions, as in :class:`nextterm.engine.session.KVCacheSession`. :func:`numpy_support` says which
checkpoints it runs (float32 Qwen3 with the digit vocabulary and full attention).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from nextterm.engine.common import (
    MAX_TERM_TOKENS,
    TERM_CAP_SLACK,
    EngineError,
    best_terms,
    fit_prompts,
    plan_scoring,
    split_terms,
    stop_if_cancelled,
    term_caps,
)
from nextterm.engine.grammar import CONTENT_IDS, START, GrammarTables
from nextterm.tokenizer import PAD_ID, SEP_ID, STOP_IDS, VOCAB_SIZE

_STOPS = list(STOP_IDS)
ATTENTION_CHUNK = 1 << 18
"""Attention scores (floats) of a prefill computed at once, about: rows of a batch go through
attention in groups whose scores stay in the CPU's cache."""
QUERY_BLOCK = 64
"""Prompt tokens whose attention is computed together (each block over the keys up to its last)."""
_Method = TypeVar("_Method", bound=Callable[..., Any])


def _one_blas_thread(method: _Method) -> _Method:
    """Run ``method`` with BLAS on one thread: this model's products are small, and OpenBLAS's
    threads waiting for each other on a busy machine made a beam search ten times slower."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.threads.limit(limits=1, user_api="blas"):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def numpy_support(config: dict[str, Any], dtypes: set[str]) -> str | None:
    """Why a checkpoint (its ``config.json`` and weight dtypes) cannot run here, or None if it can."""
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    checks = [
        (config.get("model_type") == "qwen3", f"model_type {config.get('model_type')!r}"),
        (config.get("vocab_size") == VOCAB_SIZE, f"vocab_size {config.get('vocab_size')}"),
        (dtypes == {"F32"}, f"weights of dtype {sorted(dtypes)}"),
        (rope.get("rope_type", "default") == "default", f"rope_type {rope.get('rope_type')!r}"),
        (not config.get("use_sliding_window"), "sliding-window attention"),
        (not config.get("attention_bias"), "attention biases"),
        (config.get("hidden_act", "silu") == "silu", f"hidden_act {config.get('hidden_act')!r}"),
    ]
    reasons = [reason for ok, reason in checks if not ok]
    return ", ".join(reasons) if reasons else None


def _rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    variance = np.mean(np.square(x), axis=-1, keepdims=True)
    return weight * (x / np.sqrt(variance + np.float32(eps)))


def _rotate_half(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Float64 log-softmax over the last axis (as the torch engine's ``log_softmax(x.double())``)."""
    x = logits.astype(np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=-1, keepdims=True)))[..., 0]


class Qwen3Numpy:
    """The Qwen3 causal LM forward pass over float32 numpy weights (a ``model.safetensors`` dict)."""

    def __init__(self, config: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        self.heads = int(config["num_attention_heads"])
        self.kv_heads = int(config.get("num_key_value_heads") or self.heads)
        self.head_dim = int(config.get("head_dim") or config["hidden_size"] // self.heads)
        self.eps = float(config["rms_norm_eps"])
        rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
        theta = np.float32(rope.get("rope_theta", config.get("rope_theta", 10000.0)))
        exponents = np.arange(0, self.head_dim, 2).astype(np.float32) / np.float32(self.head_dim)
        self.inv_freq = (np.float32(1.0) / theta**exponents).astype(np.float32)
        self.embed = weights["model.embed_tokens.weight"]
        self.head = weights.get("lm_head.weight", self.embed)
        self.norm = weights["model.norm.weight"]
        names = ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm")
        self.layers = []
        for index in range(int(config["num_hidden_layers"])):
            prefix = f"model.layers.{index}."
            layer = {name: weights[f"{prefix}self_attn.{name}.weight"] for name in names}
            for name in ("gate_proj", "up_proj", "down_proj"):
                layer[name] = weights[f"{prefix}mlp.{name}.weight"]
            layer["input"] = weights[f"{prefix}input_layernorm.weight"]
            layer["post"] = weights[f"{prefix}post_attention_layernorm.weight"]
            self.layers.append(layer)

    def prefill(
        self, ids: np.ndarray, positions: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, PromptCache]:
        """Logits ``[P, V]`` after the last of ``ids`` ``[P, T]`` (at ``positions`` ``[P, T]``;
        ``valid`` marks the real, not padded, tokens) and the prompts' keys and values."""
        length = ids.shape[1]
        cos, sin = self._rotary(positions)
        causal = np.arange(length)[None, :] <= np.arange(length)[:, None]
        allowed = causal[None] & valid[:, None, :]
        allowed |= np.eye(length, dtype=bool)[None]  # a padded query attends to itself
        bias = np.where(allowed, np.float32(0.0), np.float32(-np.inf))[:, None, None]
        x = self.embed[ids]
        layers = []
        for index, layer in enumerate(self.layers):
            q, k, v = self._project(layer, x, cos, sin)
            layers.append((k, v))
            if index == len(self.layers) - 1:  # past its keys and values, only the last token
                q, bias, x = q[:, :, -1:], bias[..., -1:, :], x[:, -1:]
            x = x + self._prompt_attention(layer, q, k, v, bias)
            x = x + self._mlp(layer, _rms_norm(x, layer["post"], self.eps))
        padding = np.where(valid, np.float32(0.0), np.float32(-np.inf))
        return self._logits(x[:, -1]), PromptCache(layers, padding)

    def decode(
        self, tokens: np.ndarray, prompt: PromptCache, state: DecodeState
    ) -> tuple[np.ndarray, DecodeState]:
        """Logits ``[N, V]`` after one more token per decode row, and the rows' new state."""
        cos, sin = self._rotary(state.positions[:, None])
        order = np.argsort(state.owner, kind="stable")
        first = np.searchsorted(state.owner[order], state.owner[order])
        slot = np.empty(len(order), dtype=np.int64)
        slot[order] = np.arange(len(order)) - first
        rows = _PromptRows(state.owner, slot, int(slot.max()) + 1, prompt.padding[state.owner])
        x = self.embed[np.asarray(tokens).reshape(-1, 1)]
        layers = []
        for (prompt_k, prompt_v), (own_k, own_v), layer in zip(
            prompt.layers, state.layers, self.layers
        ):
            q, k, v = self._project(layer, x, cos, sin)
            own_k = np.concatenate([own_k, k], axis=2)
            own_v = np.concatenate([own_v, v], axis=2)
            layers.append((own_k, own_v))
            x = x + self._decode_attention(layer, q, (prompt_k, prompt_v), (own_k, own_v), rows)
            x = x + self._mlp(layer, _rms_norm(x, layer["post"], self.eps))
        return self._logits(x[:, -1]), DecodeState(state.owner, state.positions + 1, layers)

    def _rotary(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cosines and sines ``[B, 1, T, d]`` at ``positions`` ``[B, T]``, once per forward."""
        angles = positions[..., None].astype(np.float32) * self.inv_freq
        angles = np.concatenate([angles, angles], axis=-1)[:, None]
        return np.cos(angles), np.sin(angles)

    def _logits(self, last: np.ndarray) -> np.ndarray:
        return _rms_norm(last, self.norm, self.eps) @ self.head.T

    def _project(self, layer, x: np.ndarray, cos: np.ndarray, sin: np.ndarray):
        """Queries, keys and values ``[B, heads, T, d]`` of ``x`` ``[B, T, hidden]``, rotated."""
        rows, length, _ = x.shape
        h = _rms_norm(x, layer["input"], self.eps)

        def heads(weight: np.ndarray, count: int, norm: np.ndarray | None) -> np.ndarray:
            projected = (h @ weight.T).reshape(rows, length, count, self.head_dim)
            if norm is not None:
                projected = _rms_norm(projected, norm, self.eps)
            return projected.transpose(0, 2, 1, 3)

        q = heads(layer["q_proj"], self.heads, layer["q_norm"])
        k = heads(layer["k_proj"], self.kv_heads, layer["k_norm"])
        v = heads(layer["v_proj"], self.kv_heads, None)
        return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin, v

    @staticmethod
    def _mlp(layer, h: np.ndarray) -> np.ndarray:
        """SwiGLU, in place on the gate (a prefill's activations are large)."""
        gate = h @ layer["gate_proj"].T
        denominator = np.exp(-gate)
        denominator += 1.0
        gate /= denominator
        gate *= h @ layer["up_proj"].T
        return gate @ layer["down_proj"].T

    def _prompt_attention(self, layer, q, k, v, bias) -> np.ndarray:
        rows, _, length, d = q.shape
        grouped = q.reshape(rows, self.kv_heads, self.heads // self.kv_heads, length, d)
        keys_t, values = k[:, :, None].swapaxes(-1, -2), v[:, :, None]
        scale = np.float32(d**-0.5)
        offset = k.shape[2] - length  # the queries are the last `length` of the keys' positions
        out = np.empty_like(grouped)
        # A few rows and queries at a time, in place: a prefill's scores of every row at once
        # are hundreds of megabytes, whose passes (max, exp, sum, divide) ran at memory speed;
        # and a block of queries needs no key after its last one (causal).
        step = max(1, ATTENTION_CHUNK // (self.heads * length * k.shape[2]))
        for start in range(0, rows, step):
            part = slice(start, start + step)
            for first in range(0, length, QUERY_BLOCK):
                block = slice(first, min(first + QUERY_BLOCK, length))
                seen = block.stop + offset
                scores = grouped[part, :, :, block] @ keys_t[part, ..., :seen]
                scores *= scale
                scores += bias[part, ..., block, :seen]
                scores -= scores.max(axis=-1, keepdims=True)
                np.exp(scores, out=scores)
                scores /= scores.sum(axis=-1, keepdims=True)
                out[part, :, :, block] = scores @ values[part, :, :, :seen]
        out = out.reshape(rows, self.heads, length, d).transpose(0, 2, 1, 3)
        return out.reshape(rows, length, self.heads * d) @ layer["o_proj"].T

    def _decode_attention(self, layer, q, prompt_kv, own_kv, rows: _PromptRows) -> np.ndarray:
        """One query per decode row over its prompt's keys (shared, read in place: the queries of
        a prompt's rows are gathered into slots instead) and over its own generated keys."""
        count, d = len(rows.owner), self.head_dim
        groups = self.heads // self.kv_heads
        (prompt_k, prompt_v), (own_k, own_v) = prompt_kv, own_kv
        prompts, length = prompt_k.shape[0], prompt_k.shape[2]
        grouped = q.reshape(count, self.kv_heads, groups, d)

        def slotted(per_row: np.ndarray) -> np.ndarray:
            """``[N, kv, G, X]`` into ``[P, kv, slots * G, X]`` (empty slots zero)."""
            padded = np.zeros((prompts, rows.width, *per_row.shape[1:]), dtype=per_row.dtype)
            padded[rows.owner, rows.slot] = per_row
            padded = padded.transpose(0, 2, 1, 3, 4)
            return padded.reshape(prompts, self.kv_heads, rows.width * groups, -1)

        def unslotted(per_slot: np.ndarray) -> np.ndarray:
            shaped = per_slot.reshape(prompts, self.kv_heads, rows.width, groups, -1)
            return shaped[rows.owner, :, rows.slot]

        scores = np.concatenate(
            [
                unslotted(slotted(grouped) @ prompt_k.swapaxes(-1, -2)),
                (grouped[:, :, :, None] @ own_k[:, :, None].swapaxes(-1, -2))[:, :, :, 0],
            ],
            axis=-1,
        )
        scores *= np.float32(d**-0.5)
        scores[..., :length] += rows.padding[:, None, None, :]
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        out = unslotted(slotted(scores[..., :length]) @ prompt_v)
        out += (scores[:, :, :, None, length:] @ own_v[:, :, None])[:, :, :, 0]
        return out.reshape(count, 1, self.heads * d) @ layer["o_proj"].T


@dataclass(frozen=True)
class PromptCache:
    """A prefill's keys and values (per layer ``[P, kv heads, T, d]``) and ``padding``
    ``[P, T]`` (0 at real tokens, -inf at padding): shared by every decode row of a prompt."""

    layers: list[tuple[np.ndarray, np.ndarray]]
    padding: np.ndarray

    def take(self, prompts: np.ndarray) -> PromptCache:
        return PromptCache(
            [(k[prompts], v[prompts]) for k, v in self.layers], self.padding[prompts]
        )


@dataclass(frozen=True)
class DecodeState:
    """Per decode row: the prompt it continues (``owner``), the position of its next token, and
    the keys and values of the tokens it added (per layer ``[N, kv heads, t, d]``)."""

    owner: np.ndarray
    positions: np.ndarray
    layers: list[tuple[np.ndarray, np.ndarray]]

    def select(self, rows: np.ndarray) -> DecodeState:
        """The state of ``rows`` (repeated to fork a row, left out to drop it)."""
        return DecodeState(
            self.owner[rows], self.positions[rows], [(k[rows], v[rows]) for k, v in self.layers]
        )


@dataclass(frozen=True)
class _PromptRows:
    """Where each decode row's query goes among its prompt's: prompt, slot, slots per prompt,
    and the padding of its prompt."""

    owner: np.ndarray
    slot: np.ndarray
    width: int
    padding: np.ndarray


class NumpySession:
    """A decode session over :class:`Qwen3Numpy` (``prefill`` / ``step`` / ``select``): the
    prompts' keys and values are computed once and shared by all rows forked from a prompt."""

    prompt: PromptCache
    state: DecodeState

    def __init__(self, model: Qwen3Numpy) -> None:
        self.model = model

    def prefill(self, prompts: list[list[int]]) -> np.ndarray:
        width = max(len(prompt) for prompt in prompts)
        ids = np.full((len(prompts), width), PAD_ID, dtype=np.int64)
        valid = np.zeros((len(prompts), width), dtype=bool)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = prompt
            valid[row, width - len(prompt) :] = True
        positions = np.maximum(np.cumsum(valid, axis=1) - 1, 0)
        logits, self.prompt = self.model.prefill(ids, positions, valid)
        kv_shape = (len(prompts), self.model.kv_heads, 0, self.model.head_dim)
        empty = [(np.zeros(kv_shape, np.float32),) * 2 for _ in self.model.layers]
        self.state = DecodeState(np.arange(len(prompts)), positions[:, -1] + 1, empty)
        return logits

    def step(self, tokens: np.ndarray) -> np.ndarray:
        logits, self.state = self.model.decode(tokens, self.prompt, self.state)
        return logits

    def select(self, rows: np.ndarray) -> None:
        self.state = self.state.select(rows)
        live = np.unique(self.state.owner)
        if 2 * len(live) <= len(self.prompt.padding):  # most prompts done: stop reading them
            self.prompt = self.prompt.take(live)
            self.state = replace(self.state, owner=np.searchsorted(live, self.state.owner))


class NumpyEngine:
    """The decoding methods of :class:`nextterm.engine.Engine` that the predictors use, in numpy."""

    device = "cpu"

    def __init__(
        self,
        model: Qwen3Numpy,
        max_context: int,
        max_term_tokens: int = MAX_TERM_TOKENS,
        adaptive_term_cap: bool = True,
    ) -> None:
        self.model = model
        self.max_context = max_context
        self.max_term_tokens = max_term_tokens
        self.adaptive_term_cap = adaptive_term_cap
        self.grammar = GrammarTables.build()
        from threadpoolctl import ThreadpoolController

        self.threads = ThreadpoolController()

    @classmethod
    def from_pretrained(cls, path: str | Path, max_parameters: int | None = None) -> NumpyEngine:
        """An engine over the checkpoint directory (or hub id) ``path``, checked as
        :func:`nextterm.models.checkpoint.load_checkpoint` checks it; raises
        :class:`EngineError` for a checkpoint this engine cannot run (see :func:`numpy_support`)
        or one of more than ``max_parameters`` parameters."""
        from safetensors.numpy import load_file

        from nextterm.models.checkpoint import (
            check_tokenizer,
            read_config,
            resolve_checkpoint,
            weight_dtypes,
            weight_shapes,
        )

        directory = resolve_checkpoint(path)
        config = read_config(directory)
        check_tokenizer(directory, "digit")
        files = weight_dtypes(directory)
        reason = numpy_support(config, set().union(*files.values()))
        parameters = sum(math.prod(shape) for shape in weight_shapes(directory).values())
        if reason is None and max_parameters is not None and parameters > max_parameters:
            reason = f"{parameters:,} parameters (more than {max_parameters:,})"
        if reason is not None:
            raise EngineError(f"the numpy engine cannot run {directory}: {reason}")
        weights: dict[str, np.ndarray] = {}
        for name in sorted(files):
            weights.update(load_file(str(directory / name)))
        return cls(Qwen3Numpy(config, weights), int(config["max_position_embeddings"]))

    def _caps(self, sequences: list[list[int]]) -> np.ndarray:
        return np.array(
            term_caps(sequences, self.max_term_tokens, self.adaptive_term_cap), dtype=np.int64
        )

    @_one_blas_thread
    def next_terms(self, sequences: list[list[int]], n_terms: int = 1) -> list[list[int | None]]:
        """As :meth:`nextterm.engine.Engine.next_terms`."""
        return self._greedy(sequences, n_terms)[0]

    @_one_blas_thread
    def greedy_next_term(self, sequences: list[list[int]]) -> list[tuple[int | None, float]]:
        """As :meth:`nextterm.engine.Engine.greedy_next_term`."""
        terms, probabilities = self._greedy(sequences, 1)
        return [(row[0], probability) for row, probability in zip(terms, probabilities)]

    def _greedy(
        self, sequences: list[list[int]], n_terms: int
    ) -> tuple[list[list[int | None]], list[float]]:
        if n_terms < 1:
            raise EngineError(f"n_terms must be at least 1, got {n_terms}")
        terms: list[list[int | None]] = [[None] * n_terms for _ in sequences]
        probabilities = [0.0] * len(sequences)
        reserve = min(n_terms * self.max_term_tokens, self.max_context // 4)
        prompts, fitting = fit_prompts(sequences, self.max_context - reserve)
        if fitting:
            found, found_probabilities = self._greedy_rows(
                prompts, [sequences[i] for i in fitting], n_terms
            )
            for index, row, probability in zip(fitting, found, found_probabilities):
                terms[index], probabilities[index] = row, probability
        return terms, probabilities

    def _greedy_rows(self, prompts, sequences, n_terms):
        grammar, session, rows = self.grammar, NumpySession(self.model), len(prompts)
        logits = session.prefill(prompts)
        owners = np.arange(rows)
        generated: list[list[int]] = [[] for _ in range(rows)]
        room = np.array([self.max_context - len(p) for p in prompts])
        state = np.full(rows, START, dtype=np.int64)
        term_length = np.zeros(rows, dtype=np.int64)
        terms_done = np.zeros(rows, dtype=np.int64)
        caps = self._caps(sequences)
        first_logp = np.zeros(rows, dtype=np.float64)
        for _ in range(n_terms * self.max_term_tokens):
            stop_if_cancelled()
            tokens = np.where(grammar.allowed[state], logits, -np.inf).argmax(-1)
            logp = _log_softmax(logits)
            stopped = grammar.is_stop[tokens]
            step_logp = np.where(
                stopped, _logsumexp(logp[:, _STOPS]), logp[np.arange(len(tokens)), tokens]
            )
            first_logp[owners] += np.where(terms_done == 0, step_logp, 0.0)
            for owner, token in zip(owners.tolist(), tokens.tolist()):
                generated[owner].append(token)
            terms_done += stopped
            grown = np.minimum(2 * term_length + TERM_CAP_SLACK, self.max_term_tokens)
            caps = np.where(stopped, np.maximum(caps, grown), caps)
            term_length = np.where(stopped, 0, term_length + 1)
            state = np.where(stopped, START, grammar.transition[state, tokens])
            room -= 1
            finished = (terms_done >= n_terms) | (term_length >= caps) | (room <= 0)
            if finished.any():
                keep = np.flatnonzero(~finished)
                if len(keep) == 0:
                    break
                session.select(keep)
                owners, tokens, stopped = owners[keep], tokens[keep], stopped[keep]
                state, term_length = state[keep], term_length[keep]
                terms_done, room, caps = terms_done[keep], room[keep], caps[keep]
            logits = session.step(np.where(stopped, SEP_ID, tokens))
        terms = [split_terms(ids, n_terms) for ids in generated]
        probabilities = [
            math.exp(value) if row[0] is not None else 0.0
            for value, row in zip(first_logp.tolist(), terms)
        ]
        return terms, probabilities

    @_one_blas_thread
    def beam_next_term(
        self, sequences: list[list[int]], beam_width: int = 8, top_k: int = 5
    ) -> list[list[tuple[int, float]]]:
        """As :meth:`nextterm.engine.Engine.beam_next_term`."""
        if beam_width < 1 or top_k < 1:
            raise EngineError(f"beam_width and top_k must be at least 1, got {beam_width}, {top_k}")
        results: list[list[tuple[int, float]]] = [[] for _ in sequences]
        reserve = min(self.max_term_tokens, self.max_context // 4)
        prompts, fitting = fit_prompts(sequences, self.max_context - reserve)
        if fitting:
            found = self._beam_rows(prompts, [sequences[i] for i in fitting], beam_width, top_k)
            for index, options in zip(fitting, found):
                results[index] = options
        return results

    def _beam_rows(self, prompts, sequences, width, top_k):
        caps = self._caps(sequences)[:, None]
        max_length = min(int(caps.max()), self.max_context - max(len(p) for p in prompts))
        grammar, session = self.grammar, NumpySession(self.model)
        rows, content = len(prompts), len(CONTENT_IDS)
        logits = session.prefill(prompts)
        fork = np.repeat(np.arange(rows), width)
        session.select(fork)
        logits = logits[fork]
        score = np.full((rows, width), -np.inf)
        score[:, 0] = 0.0
        state = np.full((rows, width), START, dtype=np.int64)
        history = np.zeros((rows, width, 0), dtype=np.int64)
        found: list[list[tuple[float, list[int]]]] = [[] for _ in range(rows)]
        base = (np.arange(rows) * width)[:, None]
        for length in range(max_length):
            stop_if_cancelled()
            logp = _log_softmax(logits).reshape(rows, width, VOCAB_SIZE)
            stop = np.where(grammar.can_stop[state], score + _logsumexp(logp[..., _STOPS]), -np.inf)
            for row, beam in np.argwhere(np.isfinite(stop)).tolist():
                found[row].append((float(stop[row, beam]), history[row, beam].tolist()))
            if length == max_length - 1:
                break
            extend = np.where(
                grammar.allowed[state][..., :content],
                score[..., None] + logp[..., :content],
                -np.inf,
            ).reshape(rows, width * content)
            index = np.argsort(-extend, axis=1, kind="stable")[:, :width]
            score = np.take_along_axis(extend, index, axis=1)
            parent, tokens = index // content, index % content
            score = np.where(_settled(found, score, top_k) | (caps <= length + 1), -np.inf, score)
            if np.isinf(score).all():
                break
            state = grammar.transition[np.take_along_axis(state, parent, axis=1), tokens]
            history = np.concatenate(
                [history[np.arange(rows)[:, None], parent], tokens[..., None]], axis=-1
            )
            session.select((base + parent).ravel())
            logits = session.step(tokens.ravel())
        return best_terms(found, top_k)

    @_one_blas_thread
    def score_terms(
        self, sequences: list[list[int]], candidates: list[list[int]], context: int | None = None
    ) -> list[list[float | None]]:
        """As :meth:`nextterm.engine.Engine.score_terms`."""
        results: list[list[float | None]] = [[None] * len(options) for options in candidates]
        caps = self._caps(sequences).tolist() if sequences else []
        plan = plan_scoring(sequences, candidates, caps, self.max_context, context)
        if plan is not None:
            scores = self._score_rows(plan.prompts, plan.owners, plan.targets)
            for (index, slot), value in zip(plan.places, scores):
                results[index][slot] = value
        return results

    def _score_rows(self, prompts, owners, targets) -> list[float]:
        session = NumpySession(self.model)
        logits = session.prefill(prompts)
        order = np.array(sorted(range(len(targets)), key=lambda row: len(targets[row])))
        rows = np.asarray(owners)[order]  # short targets first: they leave first
        session.select(rows)
        logits = logits[rows]
        lengths = np.array([len(targets[row]) for row in order])
        padded = np.full((len(order), int(lengths.max()) + 1), SEP_ID, dtype=np.int64)
        for row, original in enumerate(order):
            padded[row, : len(targets[original])] = targets[original]
        total = np.zeros(len(order), dtype=np.float64)
        live = np.arange(len(order))
        for position in range(int(lengths.max()) + 1):
            stop_if_cancelled()
            logp = _log_softmax(logits)
            digit = logp[np.arange(len(live)), padded[live, position]]
            stop = _logsumexp(logp[:, _STOPS])
            total[live] += np.where(position < lengths[live], digit, stop)
            keep = np.flatnonzero(lengths[live] > position)
            if len(keep) == 0:
                break
            if len(keep) < len(live):
                session.select(keep)
                live = live[keep]
            logits = session.step(padded[live, position])
        scores = [0.0] * len(order)
        for row, original in enumerate(order.tolist()):
            scores[original] = float(total[row])
        return scores


def _settled(
    found: list[list[tuple[float, list[int]]]], score: np.ndarray, top_k: int
) -> np.ndarray:
    """[rows, 1] mask of sequences whose ``top_k`` finished terms all beat every live beam."""
    bars = []
    for candidates in found:
        values = sorted((value for value, _ in candidates), reverse=True)
        bars.append(values[top_k - 1] if len(values) >= top_k else -math.inf)
    return (score.max(-1) <= np.array(bars))[:, None]
