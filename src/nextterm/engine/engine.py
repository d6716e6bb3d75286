"""Batched next-term decoding over a :class:`~nextterm.engine.session.DecodeSession`.

* :meth:`Engine.next_terms`: greedy, batched, ``n_terms`` terms per sequence, the term grammar
  enforced by masking logits (see :mod:`nextterm.engine.grammar`); after each term the separator
  ``,`` is fed whatever stop id the model chose, as in the training text.
* :meth:`Engine.beam_next_term`: beam search over whole terms; returns the ``top_k`` integers with
  their probabilities under the model (product of the digit probabilities times the probability of
  stopping, i.e. of any of ``,`` EOS PAD). Distinct terms are disjoint events, so they sum to <= 1.
* :meth:`Engine.generate_tokens`: raw token generation with temperature / top-p and stop ids and no
  grammar (the HTTP server's path).

Rows finish independently and leave the batch (``session.select``), so a batch of short and long
answers costs what its rows need. Inputs longer than the context are cut from the left at a term
boundary, BOS kept first. Each term is at most ``max_term_tokens`` (192) tokens, separator
included; a term that does not finish within it is ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nextterm.engine.grammar import CONTENT_IDS, START, TermGrammar
from nextterm.engine.session import DecodeSession, open_session
from nextterm.errors import NextTermError
from nextterm.sequences import validate_terms
from nextterm.tokenizer import BOS_ID, SEP_ID, STOP_IDS, VOCAB_SIZE, encode_terms, parse_term_ids

MAX_TERM_TOKENS = 192


TERM_CAP_WINDOW = 8
"""How many of the last given terms set the length budget of a new term."""
TERM_CAP_SLACK = 8
"""Tokens allowed beyond twice the longest recent term."""


class EngineError(NextTermError):
    """A request the engine cannot serve (bad prompt, no room in the context, bad parameters)."""


@dataclass(frozen=True)
class Generation:
    """Tokens generated for one prompt (the stop id included when ``finish_reason == "stop"``)."""

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str  # "stop" | "length"


@dataclass
class _Batch:
    """Book-keeping of the rows still decoding: which input each session row belongs to."""

    owners: torch.Tensor
    columns: list[torch.Tensor] = field(default_factory=list)
    tokens: list[torch.Tensor] = field(default_factory=list)

    def record(self, tokens: torch.Tensor) -> None:
        self.columns.append(self.owners)
        self.tokens.append(tokens)

    def per_row(self, rows: int) -> list[list[int]]:
        result: list[list[int]] = [[] for _ in range(rows)]
        if self.tokens:
            owners = torch.cat(self.columns).tolist()
            tokens = torch.cat(self.tokens).tolist()
            for owner, token in zip(owners, tokens):
                result[owner].append(token)
        return result


def _terms(sequence) -> list[int]:
    """A sequence's terms, checked; an empty list is allowed (the model then starts a sequence)."""
    if isinstance(sequence, (list, tuple)) and len(sequence) == 0:
        return []
    return validate_terms(sequence)


def fit_prompt(ids: list[int], limit: int) -> list[int]:
    """``ids`` cut from the left to at most ``limit`` tokens, starting after a separator, BOS kept."""
    if len(ids) <= limit:
        return ids
    head = [BOS_ID] if ids and ids[0] == BOS_ID else []
    budget = limit - len(head)
    start = len(ids) - budget
    for cut in range(max(start, len(head)), len(ids)):
        if ids[cut - 1] == SEP_ID:
            return head + ids[cut:]
    raise EngineError(f"the last term of the input does not fit in {limit} tokens of context")


class Engine:
    """Next-term decoding for a causal LM over the 16-token digit vocabulary."""

    def __init__(self, model, device: str | torch.device | None = None,
                 max_term_tokens: int = MAX_TERM_TOKENS, static_cache: bool = False,
                 compile: bool = False, adaptive_term_cap: bool = True) -> None:
        """``static_cache``: preallocated KV buffers of ``max_context`` positions (fixed shapes);
        ``compile``: with it, ``torch.compile`` the one-token step (CUDA graphs on a GPU);
        ``adaptive_term_cap``: budget each new term by the length of the given ones (see
        :meth:`_term_caps`) instead of the flat ``max_term_tokens``."""
        if device is not None:
            model = model.to(device)
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.max_context = int(model.config.max_position_embeddings)
        self.max_term_tokens = max_term_tokens
        self.grammar = TermGrammar.build(self.device)
        self.static_cache, self.compile = static_cache, compile
        self.adaptive_term_cap = adaptive_term_cap

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None, dtype=None,
                        subfolder: str | None = None) -> "Engine":
        """An engine over :func:`nextterm.models.checkpoint.load_checkpoint` of ``path``."""
        from nextterm.models.checkpoint import load_checkpoint

        model = load_checkpoint(path, subfolder=subfolder, device=str(device or "cpu"), dtype=dtype)
        return cls(model)

    def session(self) -> DecodeSession:
        """A fresh decode session for one batch."""
        length = self.max_context if self.static_cache else None
        return open_session(self.model, static_length=length, compile=self.compile)

    def _prompts(self, sequences: list[list[int]], reserve: int) -> list[list[int]]:
        if isinstance(sequences, (str, bytes)) or not isinstance(sequences, (list, tuple)):
            raise EngineError("sequences must be a list of integer lists")
        limit = self.max_context - reserve
        return [fit_prompt(encode_terms(_terms(sequence)), limit) for sequence in sequences]

    def _term_caps(self, sequences: list[list[int]]) -> torch.Tensor:
        """Per-row token budget of one new term: twice the longest of the last terms plus slack.

        A next term rarely has more than twice the digits of its predecessors (squaring doubles
        them); capping there stops an unsure model from spelling digits up to ``max_term_tokens``
        while the rest of its batch waits.
        """
        if not self.adaptive_term_cap:
            return torch.full((len(sequences),), self.max_term_tokens, device=self.device)
        caps = [
            2 * max((len(str(term)) for term in list(sequence)[-TERM_CAP_WINDOW:]), default=1) + TERM_CAP_SLACK
            for sequence in sequences
        ]
        return torch.tensor(caps, device=self.device).clamp_(max=self.max_term_tokens)

    def next_terms(self, sequences: list[list[int]], n_terms: int = 1) -> list[list[int | None]]:
        """Greedy continuation: for each sequence its next ``n_terms`` terms (None where the model
        did not finish a term within ``max_term_tokens`` or the context)."""
        return self._greedy(sequences, n_terms)[0]

    def greedy_next_term(self, sequences: list[list[int]]) -> list[tuple[int | None, float]]:
        """Greedy next term of each sequence with the model's probability of it (the product of
        its digits' probabilities and of stopping after them, as in :meth:`beam_next_term`)."""
        terms, probabilities = self._greedy(sequences, 1)
        return [(row[0], probability) for row, probability in zip(terms, probabilities)]

    @torch.inference_mode()
    def _greedy(self, sequences: list[list[int]], n_terms: int) -> tuple[list[list[int | None]], list[float]]:
        if n_terms < 1:
            raise EngineError(f"n_terms must be at least 1, got {n_terms}")
        if not sequences:
            return [], []
        reserve = min(n_terms * self.max_term_tokens, self.max_context // 4)
        prompts = self._prompts(sequences, reserve)
        grammar, session = self.grammar, self.session()
        logits = session.prefill(prompts)
        rows = len(prompts)
        batch = _Batch(owners=torch.arange(rows, device=self.device))
        room = torch.tensor([self.max_context - len(p) for p in prompts], device=self.device)
        state = torch.full((rows,), START, dtype=torch.long, device=self.device)
        term_length = torch.zeros(rows, dtype=torch.long, device=self.device)
        terms_done = torch.zeros(rows, dtype=torch.long, device=self.device)
        caps = self._term_caps(sequences)
        first_logp = torch.zeros(rows, dtype=torch.float64, device=self.device)
        stop_ids = list(STOP_IDS)
        for _ in range(n_terms * self.max_term_tokens):
            tokens = logits.masked_fill(~grammar.allowed[state], -math.inf).argmax(-1)
            logp = torch.log_softmax(logits.double(), -1)
            step_logp = torch.where(grammar.is_stop[tokens], torch.logsumexp(logp[:, stop_ids], -1),
                                    logp.gather(1, tokens.unsqueeze(1)).squeeze(1))
            first_logp.index_add_(0, batch.owners, torch.where(terms_done == 0, step_logp, 0.0))
            batch.record(tokens)
            stopped = grammar.is_stop[tokens]
            terms_done += stopped
            # A finished term widens the budget of the next one (sequences grow).
            grown = (2 * term_length + TERM_CAP_SLACK).clamp(max=self.max_term_tokens)
            caps = torch.where(stopped, torch.maximum(caps, grown), caps)
            term_length = torch.where(stopped, 0, term_length + 1)
            state = torch.where(stopped, START, grammar.transition[state, tokens])
            room -= 1
            finished = (terms_done >= n_terms) | (term_length >= caps) | (room <= 0)
            if bool(finished.any()):
                keep = torch.nonzero(~finished).flatten()
                if len(keep) == 0:
                    break
                session.select(keep)
                batch.owners, tokens, stopped = batch.owners[keep], tokens[keep], stopped[keep]
                state, term_length, terms_done, room = state[keep], term_length[keep], terms_done[keep], room[keep]
                caps = caps[keep]
            logits = session.step(torch.where(stopped, SEP_ID, tokens))
        terms = [self._split_terms(ids, n_terms) for ids in batch.per_row(rows)]
        probabilities = [math.exp(value) if row[0] is not None else 0.0
                         for value, row in zip(first_logp.tolist(), terms)]
        return terms, probabilities

    @staticmethod
    def _split_terms(ids: list[int], n_terms: int) -> list[int | None]:
        terms: list[int | None] = []
        current: list[int] = []
        for token in ids:
            if token in STOP_IDS:
                terms.append(parse_term_ids(current))
                current = []
            else:
                current.append(token)
        return (terms + [None] * n_terms)[:n_terms]

    @torch.inference_mode()
    def beam_next_term(self, sequences: list[list[int]], beam_width: int = 8,
                       top_k: int = 5) -> list[list[tuple[int, float]]]:
        """Beam search over whole next terms: per sequence, up to ``top_k`` ``(term, probability)``
        pairs, most probable first."""
        if beam_width < 1 or top_k < 1:
            raise EngineError(f"beam_width and top_k must be at least 1, got {beam_width}, {top_k}")
        if not sequences:
            return []
        prompts = self._prompts(sequences, min(self.max_term_tokens, self.max_context // 4))
        caps = self._term_caps(sequences).unsqueeze(1)
        max_length = min(int(caps.max()), self.max_context - max(len(p) for p in prompts))
        grammar, session, width = self.grammar, self.session(), beam_width
        rows, content = len(prompts), len(CONTENT_IDS)
        logits = session.prefill(prompts)
        fork = torch.arange(rows, device=self.device).repeat_interleave(width)
        session.select(fork)
        logits = logits.index_select(0, fork)
        score = torch.full((rows, width), -math.inf, dtype=torch.float64, device=self.device)
        score[:, 0] = 0.0
        state = torch.full((rows, width), START, dtype=torch.long, device=self.device)
        history = torch.zeros((rows, width, 0), dtype=torch.long, device=self.device)
        found: list[list[tuple[float, list[int]]]] = [[] for _ in range(rows)]
        base = (torch.arange(rows, device=self.device) * width).unsqueeze(1)
        for length in range(max_length):
            logp = torch.log_softmax(logits.double(), -1).view(rows, width, VOCAB_SIZE)
            stop = score + torch.logsumexp(logp[..., list(STOP_IDS)], -1)
            stop = stop.masked_fill(~grammar.can_stop[state], -math.inf)
            self._collect(found, stop, history)
            if length == max_length - 1:
                break
            extend = score.unsqueeze(-1) + logp[..., :content]
            extend = extend.masked_fill(~grammar.allowed[state][..., :content], -math.inf)
            score, index = extend.view(rows, width * content).topk(width, dim=-1)
            parent, tokens = index // content, index % content
            score = score.masked_fill(self._settled(found, score, top_k) | (caps <= length + 1), -math.inf)
            if bool(torch.isinf(score).all()):
                break
            state = grammar.transition[state.gather(1, parent), tokens]
            history = torch.cat([history.gather(1, parent.unsqueeze(-1).expand_as(history)),
                                 tokens.unsqueeze(-1)], dim=-1)
            session.select((base + parent).flatten())
            logits = session.step(tokens.flatten())
        results = []
        for candidates in found:
            best = sorted(candidates, key=lambda item: -item[0])[:top_k]
            results.append([(parse_term_ids(ids), math.exp(value)) for value, ids in best])
        return results

    @staticmethod
    def _collect(found: list[list[tuple[float, list[int]]]], stop: torch.Tensor, history: torch.Tensor) -> None:
        finite = torch.nonzero(torch.isfinite(stop)).tolist()
        if not finite:
            return
        values = stop.cpu()
        paths = history.cpu()
        for row, beam in finite:
            found[row].append((float(values[row, beam]), paths[row, beam].tolist()))

    @staticmethod
    def _settled(found: list[list[tuple[float, list[int]]]], score: torch.Tensor, top_k: int) -> torch.Tensor:
        """[rows, 1] mask of sequences whose ``top_k`` finished terms all beat every live beam."""
        bars = []
        for candidates in found:
            values = sorted((value for value, _ in candidates), reverse=True)
            bars.append(values[top_k - 1] if len(values) >= top_k else -math.inf)
        bar = torch.tensor(bars, dtype=score.dtype, device=score.device)
        return (score.max(-1).values <= bar).unsqueeze(-1)

    @torch.inference_mode()
    def generate_tokens(self, prompts: list[list[int]], max_new_tokens: int, temperature: float = 0.0,
                        top_p: float = 1.0, stop_ids=STOP_IDS, seed: int | None = None) -> list[Generation]:
        """Raw generation for token-id prompts: greedy when ``temperature == 0``, else sampling with
        nucleus ``top_p``. ``logprobs`` are the model's log-probabilities (temperature 1) of the chosen
        tokens. Prompts are cut from the left at a separator to leave room for ``max_new_tokens``."""
        if not 1 <= max_new_tokens < self.max_context:
            raise EngineError(f"max_new_tokens must be between 1 and {self.max_context - 1}, got {max_new_tokens}")
        if temperature < 0 or not 0 < top_p <= 1:
            raise EngineError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
        if not prompts:
            return []
        for prompt in prompts:
            if not prompt or any(not isinstance(t, int) or not 0 <= t < VOCAB_SIZE for t in prompt):
                raise EngineError(f"a prompt must be a non-empty list of token ids 0..{VOCAB_SIZE - 1}")
        prompts = [fit_prompt(list(prompt), self.max_context - max_new_tokens) for prompt in prompts]
        stops = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=self.device)
        generator = None
        if seed is not None and temperature > 0:
            generator = torch.Generator(device=self.device).manual_seed(seed)
        session = self.session()
        logits = session.prefill(prompts)
        rows = len(prompts)
        batch = _Batch(owners=torch.arange(rows, device=self.device))
        scores = _Batch(owners=batch.owners)
        stopped_rows = torch.zeros(rows, dtype=torch.bool, device=self.device)
        for step in range(max_new_tokens):
            logp = torch.log_softmax(logits.float(), -1)
            if temperature == 0:
                tokens = logp.argmax(-1)
            else:
                tokens = _sample(logits.float() / temperature, top_p, generator)
            batch.record(tokens)
            scores.owners = batch.owners
            scores.record(logp.gather(1, tokens.unsqueeze(1)).squeeze(1))
            stopped = torch.isin(tokens, stops)
            if bool(stopped.any()):
                stopped_rows[batch.owners[stopped]] = True
                keep = torch.nonzero(~stopped).flatten()
                if len(keep) == 0 or step == max_new_tokens - 1:
                    break
                session.select(keep)
                batch.owners, tokens = batch.owners[keep], tokens[keep]
            elif step == max_new_tokens - 1:
                break
            logits = session.step(tokens)
        stopped_list = stopped_rows.tolist()
        return [
            Generation(ids, values, "stop" if stopped_list[row] else "length")
            for row, (ids, values) in enumerate(zip(batch.per_row(rows), scores.per_row(rows)))
        ]


def _sample(logits: torch.Tensor, top_p: float, generator: torch.Generator | None) -> torch.Tensor:
    probs = torch.softmax(logits, -1)
    if top_p < 1:
        sorted_probs, order = probs.sort(-1, descending=True)
        # keep the smallest prefix whose mass reaches top_p (the first token always stays)
        drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)
