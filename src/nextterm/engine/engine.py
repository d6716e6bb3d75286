"""Batched next-term decoding over a :class:`~nextterm.engine.session.DecodeSession`.

* :meth:`Engine.next_terms`: greedy, batched, ``n_terms`` terms per sequence, the term grammar
  enforced by masking logits (see :mod:`nextterm.engine.grammar`); after each term the separator
  ``,`` is fed whatever stop id the model chose, as in the training text.
* :meth:`Engine.beam_next_term`: beam search over whole terms; returns the ``top_k`` integers with
  their probabilities under the model (product of the digit probabilities times the probability of
  stopping, i.e. of any of ``,`` EOS PAD). Distinct terms are disjoint events, so they sum to <= 1.
* :meth:`Engine.generate`: raw token generation with no grammar (the HTTP server's path), each row
  with its own :class:`Sampling` (token budget, temperature, top-p, stop ids, and a seed that gives
  the row its own random generator, so a seeded row samples the same tokens whatever it is batched
  with); a callback sees every step's tokens (streaming) and may end rows early (stop strings,
  callers that went away). :meth:`Engine.generate_tokens` is the same with one setting for all rows.

Rows finish independently and leave the batch (``session.select``), so a batch of short and long
answers costs what its rows need. Inputs longer than the context are cut from the left at a term
boundary, BOS kept first; a sequence whose last term alone does not fit gets no model answer
(``None`` / no candidates) rather than an error, so that callers such as the hybrid predictor can
answer it by other means. Each term is at most ``max_term_tokens`` (192) tokens, separator
included; a term that does not finish within it is ``None``.

Decoding in a thread can be stopped from outside: inside :func:`cancel_when`, every decode step
first checks the given condition and raises :class:`Cancelled` once it holds.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nextterm.engine.common import (
    MAX_TERM_TOKENS,
    TERM_CAP_SLACK,
    Cancelled,
    EngineError,
    best_terms,
    cancel_when,
    fit_prompt,
    fit_prompts,
    plan_scoring,
    split_terms,
    term_caps,
)
from nextterm.engine.common import stop_if_cancelled as _stop_if_cancelled
from nextterm.engine.grammar import CONTENT_IDS, START, TermGrammar
from nextterm.engine.session import DecodeSession, open_session
from nextterm.tokenizer import SEP_ID, STOP_IDS, VOCAB_SIZE

__all__ = [
    "Cancelled",
    "Engine",
    "EngineError",
    "Generation",
    "Sampling",
    "cancel_when",
    "context_groups",
    "default_device",
    "derive_seed",
    "fit_prompt",
]


def default_device() -> str:
    """``cuda`` when torch sees a CUDA device, else ``cpu``: the device a model loads on by default."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def derive_seed(seed: int, index: int) -> int:
    """A seed for the ``index``-th sampled row of a request seeded with ``seed`` (rows differ from
    each other, and no two (seed, index) pairs share a stream as ``seed + index`` would)."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True)
class Sampling:
    """How :meth:`Engine.generate` continues one prompt.

    Attributes:
        max_new_tokens: most tokens to generate (the stop id included).
        temperature: 0 for greedy decoding; otherwise the softmax temperature (any positive value:
            tiny ones are computed safely and tend to greedy).
        top_p: nucleus mass in (0, 1]; the most probable token is always kept.
        seed: seeds this row's own random generator; None draws from torch's global one.
        stop_ids: the row ends after generating one of these ids.
    """

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop_ids: frozenset[int] = frozenset(STOP_IDS)


@dataclass(frozen=True)
class Generation:
    """Tokens generated for one prompt (the stop id included when ``finish_reason == "stop"``).

    ``top_logprobs`` holds, per token, the ``(id, logprob)`` pairs of the most probable tokens at
    that step when :meth:`Engine.generate` was asked for them (else it is empty).
    """

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str  # "stop" | "length" | "cancelled" (ended by the step callback)
    top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)


StepCallback = Callable[
    [list[int], list[int], list[float], list[list[tuple[int, float]]]], Iterable[int]
]
"""``on_step(rows, tokens, logprobs, top_logprobs)`` of :meth:`Engine.generate`: after each step,
the prompt indices still decoding, the token each generated, its log-probability and its top
alternatives (empty lists unless asked for); returns the prompt indices to end now."""


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


def context_groups(
    lengths: Sequence[int], budgets: Sequence[int], max_context: int
) -> list[list[int]]:
    """Indices of prompts (``lengths`` tokens, ``budgets`` new tokens each) in groups that decode
    together: rows are left-padded to the group's longest prompt and step as long as its largest
    budget, so a group is formed only where every prompt plus that budget fits the context."""
    groups: list[list[int]] = []
    group_budgets: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -budgets[i]):
        for group, budget in zip(groups, group_budgets):
            if lengths[index] + budget <= max_context:
                group.append(index)
                break
        else:
            groups.append([index])
            group_budgets.append(budgets[index])
    return groups


def _choose_tokens(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_p: torch.Tensor,
    generators: list[torch.Generator | None],
) -> torch.Tensor:
    """Next token of each row: argmax where ``temperature`` is 0, else a nucleus sample.

    Sampling works in float64 on logits shifted so that their maximum is 0: the best token's
    scaled logit is exactly 0 for any positive temperature, so no temperature gives inf or nan.
    Each sampled row draws one uniform number from its own generator (or the global one).
    """
    tokens = logits.argmax(-1)
    sampled = torch.nonzero(temperature > 0).flatten()
    if len(sampled) == 0:
        return tokens
    rows = logits.index_select(0, sampled).double()
    scaled = (rows - rows.max(-1, keepdim=True).values) / temperature[sampled].unsqueeze(1)
    sorted_probs, order = torch.softmax(scaled, -1).sort(-1, descending=True)
    drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p[sampled].unsqueeze(1)
    drop[:, 0] = False  # the smallest prefix whose mass reaches top_p: the best token always stays
    cdf = sorted_probs.masked_fill(drop, 0.0).cumsum(-1)
    draws = [
        torch.rand((), dtype=torch.float64, generator=generators[row]) for row in sampled.tolist()
    ]
    uniform = 1.0 - torch.stack(draws).to(logits.device)  # in (0, 1]: never picks a zero-mass token
    pick = torch.searchsorted(cdf, (uniform * cdf[:, -1]).unsqueeze(1)).clamp_(max=cdf.shape[1] - 1)
    tokens[sampled] = order.gather(1, pick).squeeze(1)
    return tokens


class Engine:
    """Next-term decoding for a causal LM over the 16-token digit vocabulary."""

    def __init__(
        self,
        model,
        device: str | torch.device | None = None,
        max_term_tokens: int = MAX_TERM_TOKENS,
        static_cache: bool = False,
        compile: bool = False,
        adaptive_term_cap: bool = True,
    ) -> None:
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
    def from_pretrained(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        dtype=None,
        subfolder: str | None = None,
    ) -> Engine:
        """An engine over :func:`nextterm.models.checkpoint.load_checkpoint` of ``path``, on ``device``
        (default: :func:`default_device`)."""
        from nextterm.models.checkpoint import load_checkpoint

        model = load_checkpoint(
            path, subfolder=subfolder, device=str(device or default_device()), dtype=dtype
        )
        return cls(model)

    def session(self) -> DecodeSession:
        """A fresh decode session for one batch."""
        length = self.max_context if self.static_cache else None
        return open_session(self.model, static_length=length, compile=self.compile)

    def _prompts(
        self, sequences: list[list[int]], reserve: int
    ) -> tuple[list[list[int]], list[int]]:
        """Prompts of the sequences that fit the context less ``reserve``, and their indices."""
        return fit_prompts(sequences, self.max_context - reserve)

    def _term_caps(self, sequences: list[list[int]]) -> torch.Tensor:
        """Per-row token budget of one new term (see :func:`~nextterm.engine.common.term_caps`)."""
        caps = term_caps(sequences, self.max_term_tokens, self.adaptive_term_cap)
        return torch.tensor(caps, dtype=torch.long, device=self.device)

    def next_terms(self, sequences: list[list[int]], n_terms: int = 1) -> list[list[int | None]]:
        """Greedy continuation: for each sequence its next ``n_terms`` terms (None where the model
        did not finish a term within ``max_term_tokens`` or the context, or the sequence's last
        term does not fit the context)."""
        return self._greedy(sequences, n_terms)[0]

    def greedy_next_term(self, sequences: list[list[int]]) -> list[tuple[int | None, float]]:
        """Greedy next term of each sequence with the model's probability of it (the product of
        its digits' probabilities and of stopping after them, as in :meth:`beam_next_term`)."""
        terms, probabilities = self._greedy(sequences, 1)
        return [(row[0], probability) for row, probability in zip(terms, probabilities)]

    @torch.inference_mode()
    def _greedy(
        self, sequences: list[list[int]], n_terms: int
    ) -> tuple[list[list[int | None]], list[float]]:
        if n_terms < 1:
            raise EngineError(f"n_terms must be at least 1, got {n_terms}")
        terms: list[list[int | None]] = [[None] * n_terms for _ in sequences]
        probabilities = [0.0] * len(sequences)
        reserve = min(n_terms * self.max_term_tokens, self.max_context // 4)
        prompts, fitting = self._prompts(sequences, reserve)
        if fitting:
            found, found_probabilities = self._greedy_rows(
                prompts, [sequences[i] for i in fitting], n_terms
            )
            for index, row, probability in zip(fitting, found, found_probabilities):
                terms[index], probabilities[index] = row, probability
        return terms, probabilities

    def _greedy_rows(
        self, prompts: list[list[int]], sequences: list[list[int]], n_terms: int
    ) -> tuple[list[list[int | None]], list[float]]:
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
            _stop_if_cancelled()
            tokens = logits.masked_fill(~grammar.allowed[state], -math.inf).argmax(-1)
            logp = torch.log_softmax(logits.double(), -1)
            step_logp = torch.where(
                grammar.is_stop[tokens],
                torch.logsumexp(logp[:, stop_ids], -1),
                logp.gather(1, tokens.unsqueeze(1)).squeeze(1),
            )
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
                state, term_length, terms_done, room = (
                    state[keep],
                    term_length[keep],
                    terms_done[keep],
                    room[keep],
                )
                caps = caps[keep]
            logits = session.step(torch.where(stopped, SEP_ID, tokens))
        terms = [split_terms(ids, n_terms) for ids in batch.per_row(rows)]
        probabilities = [
            math.exp(value) if row[0] is not None else 0.0
            for value, row in zip(first_logp.tolist(), terms)
        ]
        return terms, probabilities

    @torch.inference_mode()
    def beam_next_term(
        self, sequences: list[list[int]], beam_width: int = 8, top_k: int = 5
    ) -> list[list[tuple[int, float]]]:
        """Beam search over whole next terms: per sequence, up to ``top_k`` ``(term, probability)``
        pairs, most probable first (none for a sequence whose last term does not fit the context)."""
        if beam_width < 1 or top_k < 1:
            raise EngineError(f"beam_width and top_k must be at least 1, got {beam_width}, {top_k}")
        results: list[list[tuple[int, float]]] = [[] for _ in sequences]
        prompts, fitting = self._prompts(
            sequences, min(self.max_term_tokens, self.max_context // 4)
        )
        if fitting:
            found = self._beam_rows(prompts, [sequences[i] for i in fitting], beam_width, top_k)
            for index, options in zip(fitting, found):
                results[index] = options
        return results

    def _beam_rows(
        self, prompts: list[list[int]], sequences: list[list[int]], beam_width: int, top_k: int
    ) -> list[list[tuple[int, float]]]:
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
            _stop_if_cancelled()
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
            score = score.masked_fill(
                self._settled(found, score, top_k) | (caps <= length + 1), -math.inf
            )
            if bool(torch.isinf(score).all()):
                break
            state = grammar.transition[state.gather(1, parent), tokens]
            history = torch.cat(
                [history.gather(1, parent.unsqueeze(-1).expand_as(history)), tokens.unsqueeze(-1)],
                dim=-1,
            )
            session.select((base + parent).flatten())
            logits = session.step(tokens.flatten())
        return best_terms(found, top_k)

    @staticmethod
    def _collect(
        found: list[list[tuple[float, list[int]]]], stop: torch.Tensor, history: torch.Tensor
    ) -> None:
        finite = torch.nonzero(torch.isfinite(stop)).tolist()
        if not finite:
            return
        values = stop.cpu()
        paths = history.cpu()
        for row, beam in finite:
            found[row].append((float(values[row, beam]), paths[row, beam].tolist()))

    @staticmethod
    def _settled(
        found: list[list[tuple[float, list[int]]]], score: torch.Tensor, top_k: int
    ) -> torch.Tensor:
        """[rows, 1] mask of sequences whose ``top_k`` finished terms all beat every live beam."""
        bars = []
        for candidates in found:
            values = sorted((value for value, _ in candidates), reverse=True)
            bars.append(values[top_k - 1] if len(values) >= top_k else -math.inf)
        bar = torch.tensor(bars, dtype=score.dtype, device=score.device)
        return (score.max(-1).values <= bar).unsqueeze(-1)

    @torch.inference_mode()
    def score_terms(
        self, sequences: list[list[int]], candidates: list[list[int]], context: int | None = None
    ) -> list[list[float | None]]:
        """The model's log-probability of each given candidate next term, teacher-forced: the sum
        of its digits' log-probabilities and of stopping after them (as in :meth:`beam_next_term`,
        so ``exp`` of a beam term's score is its beam probability). One prefill per sequence is
        shared by all of its candidates. ``None`` where the sequence and candidate do not fit the
        context, or the candidate is longer than the term budget decoding would allow
        (:meth:`_term_caps`: the model would never write it). ``context`` cuts each prompt to at
        most that many tokens (at a term boundary): cheaper, and close for a model that attends
        mostly to the last terms."""
        results: list[list[float | None]] = [[None] * len(options) for options in candidates]
        caps = self._term_caps(sequences).tolist() if sequences else []
        plan = plan_scoring(sequences, candidates, caps, self.max_context, context)
        if plan is not None:
            scores = self._score_rows(plan.prompts, plan.owners, plan.targets)
            for (index, slot), value in zip(plan.places, scores):
                results[index][slot] = value
        return results

    def _score_rows(
        self, prompts: list[list[int]], owners: list[int], targets: list[list[int]]
    ) -> list[float]:
        """Teacher-forced log-probabilities of ``targets`` (digit ids), row ``i`` continuing
        ``prompts[owners[i]]``: each prompt is prefilled once, then forked per candidate."""
        owner_rows = torch.tensor(owners, device=self.device)
        session = self.session()
        logits = session.prefill(prompts).index_select(0, owner_rows)
        session.select(owner_rows)
        order = sorted(
            range(len(targets)), key=lambda row: len(targets[row])
        )  # short ones leave first
        lengths = torch.tensor([len(targets[row]) for row in order], device=self.device)
        session.select(torch.tensor(order, device=self.device))
        logits = logits.index_select(0, torch.tensor(order, device=self.device))
        padded = torch.full(
            (len(order), int(lengths.max()) + 1), SEP_ID, dtype=torch.long, device=self.device
        )
        for row, original in enumerate(order):
            padded[row, : len(targets[original])] = torch.tensor(
                targets[original], dtype=torch.long
            )
        total = torch.zeros(len(order), dtype=torch.float64, device=self.device)
        live = torch.arange(len(order), device=self.device)  # rows still being fed, into ``total``
        stop_ids = list(STOP_IDS)
        for position in range(int(lengths.max()) + 1):
            _stop_if_cancelled()
            logp = torch.log_softmax(logits.double(), -1)
            digit = logp.gather(1, padded[live, position : position + 1]).squeeze(1)
            stop = torch.logsumexp(logp[:, stop_ids], -1)
            total[live] += torch.where(position < lengths[live], digit, stop)
            keep = torch.nonzero(lengths[live] > position).flatten()
            if len(keep) == 0:
                break
            if len(keep) < len(live):
                session.select(keep)
                live = live[keep]
            logits = session.step(padded[live, position])
        scores = [0.0] * len(order)
        for row, original in enumerate(order):
            scores[original] = float(total[row])
        return scores

    def generate_tokens(
        self,
        prompts: list[list[int]],
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop_ids: Iterable[int] = STOP_IDS,
        seed: int | None = None,
    ) -> list[Generation]:
        """:meth:`generate` with one setting for every prompt; with a ``seed``, row ``i`` samples
        from its own generator seeded with :func:`derive_seed` ``(seed, i)``."""
        stops = frozenset(stop_ids)
        settings = [
            Sampling(
                max_new_tokens,
                temperature,
                top_p,
                None if seed is None else derive_seed(seed, row),
                stops,
            )
            for row in range(len(prompts))
        ]
        return self.generate(prompts, settings)

    def _check_generation(
        self, prompts: list[list[int]], settings: Sequence[Sampling], top_logprobs: int
    ) -> None:
        if len(settings) != len(prompts):
            raise EngineError(f"{len(prompts)} prompts but {len(settings)} sampling settings")
        if not 0 <= top_logprobs <= VOCAB_SIZE:
            raise EngineError(
                f"top_logprobs must be between 0 and {VOCAB_SIZE}, got {top_logprobs}"
            )
        for prompt in prompts:
            if not prompt or any(not isinstance(t, int) or not 0 <= t < VOCAB_SIZE for t in prompt):
                raise EngineError(
                    f"a prompt must be a non-empty list of token ids 0..{VOCAB_SIZE - 1}"
                )
        for setting in settings:
            if not 1 <= setting.max_new_tokens < self.max_context:
                raise EngineError(
                    f"max_new_tokens must be between 1 and {self.max_context - 1}, "
                    f"got {setting.max_new_tokens}"
                )
            if not (
                math.isfinite(setting.temperature)
                and setting.temperature >= 0
                and 0 < setting.top_p <= 1
            ):
                raise EngineError(
                    f"need a finite temperature >= 0 and 0 < top_p <= 1, "
                    f"got {setting.temperature}, {setting.top_p}"
                )
            if any(not 0 <= token < VOCAB_SIZE for token in setting.stop_ids):
                raise EngineError(f"stop ids must be token ids 0..{VOCAB_SIZE - 1}")

    @torch.inference_mode()
    def generate(
        self,
        prompts: list[list[int]],
        settings: Sequence[Sampling],
        top_logprobs: int = 0,
        on_step: StepCallback | None = None,
    ) -> list[Generation]:
        """Raw generation for token-id prompts, each row by its own :class:`Sampling`.

        ``logprobs`` are the model's log-probabilities (temperature 1) of the chosen tokens;
        ``top_logprobs`` > 0 also records that many most probable tokens per step. Each prompt is
        cut from the left at a separator to leave room for its ``max_new_tokens``; prompts that
        cannot share padded positions within the context decode in separate groups
        (:func:`context_groups`). ``on_step`` (see :data:`StepCallback`) sees every step and may
        end rows, which then finish with ``"cancelled"``.
        """
        self._check_generation(prompts, settings, top_logprobs)
        fitted = [
            fit_prompt(list(prompt), self.max_context - setting.max_new_tokens)
            for prompt, setting in zip(prompts, settings)
        ]
        results: list[Generation | None] = [None] * len(prompts)
        budgets = [setting.max_new_tokens for setting in settings]
        for group in context_groups([len(prompt) for prompt in fitted], budgets, self.max_context):
            generations = self._generate_group(
                [fitted[i] for i in group],
                [settings[i] for i in group],
                group,
                top_logprobs,
                on_step,
            )
            for index, generation in zip(group, generations):
                results[index] = generation
        return results  # type: ignore[return-value]

    def _generate_group(
        self,
        prompts: list[list[int]],
        settings: list[Sampling],
        names: list[int],
        top_logprobs: int,
        on_step: StepCallback | None,
    ) -> list[Generation]:
        """One padded batch; ``names`` are the rows' indices as the caller knows them."""
        device, rows = self.device, len(prompts)
        temperature = torch.tensor(
            [s.temperature for s in settings], dtype=torch.float64, device=device
        )
        top_p = torch.tensor([s.top_p for s in settings], dtype=torch.float64, device=device)
        generators = [
            None if s.seed is None or s.temperature == 0 else torch.Generator().manual_seed(s.seed)
            for s in settings
        ]
        stop_table = torch.zeros((rows, VOCAB_SIZE), dtype=torch.bool, device=device)
        for row, setting in enumerate(settings):
            stop_table[row, sorted(setting.stop_ids)] = True
        limits = [s.max_new_tokens for s in settings]
        tokens_of: list[list[int]] = [[] for _ in range(rows)]
        logprobs_of: list[list[float]] = [[] for _ in range(rows)]
        tops_of: list[list[list[tuple[int, float]]]] = [[] for _ in range(rows)]
        reasons = ["length"] * rows
        live = list(range(rows))  # group rows still decoding, in session order
        session = self.session()
        logits = session.prefill(prompts)
        for step in range(max(limits)):
            _stop_if_cancelled()
            logp = torch.log_softmax(logits.float(), -1)
            index = torch.tensor(live, device=device)
            tokens = _choose_tokens(
                logits, temperature[index], top_p[index], [generators[r] for r in live]
            )
            chosen = logp.gather(1, tokens.unsqueeze(1)).squeeze(1).tolist()
            stopped = stop_table[index, tokens].tolist()
            token_list = tokens.tolist()
            tops: list[list[tuple[int, float]]] = [[] for _ in live]
            if top_logprobs:
                values, ids = logp.topk(top_logprobs, -1)
                tops = [list(zip(i, v)) for i, v in zip(ids.tolist(), values.tolist())]
            ended: set[int] = set()
            for position, row in enumerate(live):
                tokens_of[row].append(token_list[position])
                logprobs_of[row].append(chosen[position])
                if top_logprobs:
                    tops_of[row].append(tops[position])
                if stopped[position]:
                    reasons[row] = "stop"
                    ended.add(row)
                elif step + 1 >= limits[row]:
                    ended.add(row)
            if on_step is not None:
                by_name = {name: row for row, name in enumerate(names)}
                for name in on_step([names[row] for row in live], token_list, chosen, tops):
                    row = by_name[name]
                    if row in live and row not in ended:
                        reasons[row] = "cancelled"
                        ended.add(row)
            if ended:
                keep = [position for position, row in enumerate(live) if row not in ended]
                if not keep:
                    break
                live = [live[position] for position in keep]
                session.select(torch.tensor(keep, device=device))
                tokens = tokens[keep]
            logits = session.step(tokens)
        return [
            Generation(tokens_of[row], logprobs_of[row], reasons[row], tops_of[row])
            for row in range(rows)
        ]
